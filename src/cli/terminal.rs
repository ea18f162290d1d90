//! Text made safe for a terminal: every id, path and message the CLI prints
//! for a person goes through [`escape`] first.
//!
//! Rollout ids, thread paths and error messages come from input files and
//! stores, so they can hold a newline that forges a line of output, an ANSI
//! escape sequence that recolours or rewrites the screen, or a bidirectional
//! override (U+202E) that shows text in another order than it is. Each such
//! character is written as a visible escape (`\n`, `\x1b`, `\u{202e}`), so
//! what is printed is what is there. Machine outputs (`--json`, `events`,
//! `payload`) never go through here: JSON escapes control characters itself,
//! and payload bytes must stay exact.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character, DEL, C1 control and bidirectional
/// or line-separating format character written as a visible escape; other
/// text (a backslash included) is unchanged. Borrowed when nothing needed
/// escaping.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ch if needs_escape(ch) && ch.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", u32::from(ch));
            }
            ch if needs_escape(ch) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(ch));
            }
            ch => out.push(ch),
        }
    }
    Cow::Owned(out)
}

/// Whether a terminal would act on `ch` (C0 and C1 controls, ESC and DEL)
/// or it would reorder or break the text around it (bidirectional controls,
/// the Unicode line and paragraph separators).
fn needs_escape(ch: char) -> bool {
    matches!(
        ch,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "rollout-1 /root/worker é 日本 \\n";
        assert!(matches!(escape(text), std::borrow::Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn controls_escapes_and_bidirectional_overrides_become_visible() {
        assert_eq!(escape("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escape("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(escape("\u{7}\u{0}\u{7f}"), "\\x07\\x00\\x7f");
        assert_eq!(escape("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(escape("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        for ch in [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{2028}', '\u{2029}', '\u{202a}', '\u{202b}',
            '\u{202c}', '\u{202d}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            let escaped = escape(&ch.to_string()).into_owned();
            assert_eq!(escaped, format!("\\u{{{:x}}}", u32::from(ch)));
        }
    }

    #[test]
    fn nothing_a_terminal_acts_on_survives_escaping() {
        let hostile: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let escaped = escape(&hostile);
        assert!(
            !escaped
                .chars()
                .any(|ch| ch.is_control() || super::needs_escape(ch)),
            "{escaped:?}"
        );
    }
}
