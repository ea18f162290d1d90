//! Redaction of secrets before anything is hashed or stored.
//!
//! A [`Redactor`] replaces, with [`MARKER`]: configured secret values
//! wherever they occur; string values under secret-looking keys
//! (`authorization`, `api_key`, `x-api-key`, `token`, `password`, `cookie`,
//! ...); and common key formats inside any string (OpenAI-style `sk-...`,
//! GitHub `ghp_...`/`github_pat_...`, AWS `AKIA...`, Slack `xoxb-...`,
//! `Bearer <token>`, PEM private key blocks). The recorder's writer and
//! ingest/import apply it to payloads (and to the inline text fields of
//! events) before hashing, so a secret never reaches disk.
//!
//! It must never fail, never do I/O, and never recurse on input depth: JSON
//! values are walked with an explicit stack, so a hostile, deeply nested
//! value cannot overflow the stack. It errs on the side of redacting.

use serde_json::Value;

use crate::event::EventPayload;

/// What a secret is replaced with.
pub const MARKER: &str = "[REDACTED]";

/// Key names (lower-case, `-` and `_` removed) whose string values are
/// secrets.
const SECRET_KEYS: &[&str] = &[
    "authorization",
    "proxyauthorization",
    "apikey",
    "xapikey",
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "sessiontoken",
    "authtoken",
    "bearertoken",
    "password",
    "passwd",
    "secret",
    "clientsecret",
    "secretkey",
    "privatekey",
    "cookie",
    "setcookie",
];

/// Key name endings that mark a secret (`openai_api_key`, `github_token`).
const SECRET_KEY_SUFFIXES: &[&str] = &["apikey", "token", "secret", "password", "privatekey"];

/// Replaces secrets with [`MARKER`]. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    known_values: Vec<String>,
}

impl Redactor {
    /// A redactor with the built-in key names and formats, and no known values.
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Also redacts this exact value wherever it occurs (empty values and
    /// values shorter than 4 bytes are ignored: they would redact noise).
    pub fn with_known_secret(mut self, value: impl Into<String>) -> Redactor {
        let value = value.into();
        if value.len() >= 4 && !self.known_values.contains(&value) {
            self.known_values.push(value);
        }
        self
    }

    /// Whether a JSON object key names a secret.
    pub fn is_secret_key(&self, key: &str) -> bool {
        // Fast path without allocating: ASCII keys normalised on the stack.
        let mut buffer = [0u8; 64];
        if key.is_ascii() && key.len() <= buffer.len() {
            let mut len = 0;
            for byte in key.bytes().filter(|b| *b != b'-' && *b != b'_') {
                buffer[len] = byte.to_ascii_lowercase();
                len += 1;
            }
            let normal = &buffer[..len];
            return SECRET_KEYS.iter().any(|known| known.as_bytes() == normal)
                || SECRET_KEY_SUFFIXES
                    .iter()
                    .any(|suffix| normal.ends_with(suffix.as_bytes()));
        }
        let normal: String = key
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        SECRET_KEYS.contains(&normal.as_str())
            || SECRET_KEY_SUFFIXES
                .iter()
                .any(|suffix| normal.ends_with(suffix))
    }

    /// `text` with known values and key formats redacted; `None` when
    /// nothing changed.
    pub fn redact_str(&self, text: &str) -> Option<String> {
        let mut current: Option<String> = None;
        for known in &self.known_values {
            let source = current.as_deref().unwrap_or(text);
            if source.contains(known.as_str()) {
                current = Some(source.replace(known.as_str(), MARKER));
            }
        }
        let source = current.as_deref().unwrap_or(text);
        if let Some(scanned) = scan_formats(source) {
            current = Some(scanned);
        }
        current
    }

    /// Redacts a JSON value in place; returns whether anything changed.
    pub fn redact_json(&self, value: &mut Value) -> bool {
        let mut changed = false;
        let mut stack: Vec<&mut Value> = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(text) => {
                    if let Some(redacted) = self.redact_str(text) {
                        *text = redacted;
                        changed = true;
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    for (key, item) in map.iter_mut() {
                        if let Value::String(text) = item
                            && self.is_secret_key(key)
                        {
                            if text != MARKER {
                                *text = MARKER.to_string();
                                changed = true;
                            }
                            continue;
                        }
                        stack.push(item);
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        changed
    }

    /// Redacts payload bytes: JSON is parsed, redacted and re-serialised
    /// (compact, key order kept) only if something changed; other UTF-8 text
    /// is redacted as a string; other bytes only lose known values. `None`
    /// when nothing changed, so unchanged payloads keep their exact bytes.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if let Ok(mut value) = serde_json::from_slice::<Value>(bytes) {
            if self.redact_json(&mut value) {
                // A parsed value always serialises (string keys only).
                return serde_json::to_vec(&value).ok();
            }
            return None;
        }
        if let Ok(text) = std::str::from_utf8(bytes) {
            return self.redact_str(text).map(String::into_bytes);
        }
        let mut current: Option<Vec<u8>> = None;
        for known in &self.known_values {
            let source = current.as_deref().unwrap_or(bytes);
            if let Some(replaced) = replace_bytes(source, known.as_bytes(), MARKER.as_bytes()) {
                current = Some(replaced);
            }
        }
        current
    }

    /// Redacts the inline text fields of an event (code cell source, error
    /// and cancellation messages, agent results); returns whether anything
    /// changed. Payload references are left to the payload path.
    pub fn redact_event_text<R>(&self, payload: &mut EventPayload<R>) -> bool {
        let field: Option<&mut String> = match payload {
            EventPayload::CodeCellStarted { source_js, .. } => Some(source_js),
            EventPayload::InferenceFailed { error, .. } => Some(error),
            EventPayload::InferenceCancelled { reason, .. } => Some(reason),
            EventPayload::CompactionRequestFailed { error, .. } => Some(error),
            EventPayload::AgentResultObserved { message, .. } => Some(message),
            _ => None,
        };
        match field {
            Some(text) => match self.redact_str(text) {
                Some(redacted) => {
                    *text = redacted;
                    true
                }
                None => false,
            },
            None => false,
        }
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut index = 0;
    let mut changed = false;
    while index < haystack.len() {
        if haystack[index..].starts_with(needle) {
            out.extend_from_slice(with);
            index += needle.len();
            changed = true;
        } else {
            out.push(haystack[index]);
            index += 1;
        }
    }
    changed.then_some(out)
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// Length of the run of bytes at `start` satisfying `allowed`.
fn run_len(bytes: &[u8], start: usize, allowed: impl Fn(u8) -> bool) -> usize {
    bytes[start.min(bytes.len())..]
        .iter()
        .take_while(|byte| allowed(**byte))
        .count()
}

/// If a secret key format starts at `index`, the number of bytes to redact
/// and how many leading bytes to keep (`Bearer `).
fn secret_at(bytes: &[u8], index: usize) -> Option<(usize, usize)> {
    let rest = &bytes[index..];
    let at_boundary = index == 0 || !is_token_byte(bytes[index - 1]);
    if !at_boundary {
        return None;
    }
    // Prefixed tokens: the prefix, then at least `min` token bytes.
    const PREFIXED: &[(&str, usize)] = &[
        ("sk-", 20),
        ("ghp_", 20),
        ("gho_", 20),
        ("ghu_", 20),
        ("ghs_", 20),
        ("ghr_", 20),
        ("github_pat_", 20),
        ("xoxb-", 10),
        ("xoxp-", 10),
        ("xoxa-", 10),
        ("xoxr-", 10),
        ("xoxs-", 10),
    ];
    for (prefix, min) in PREFIXED {
        if rest.starts_with(prefix.as_bytes()) {
            let body = run_len(bytes, index + prefix.len(), is_token_byte);
            if body >= *min {
                return Some((prefix.len() + body, 0));
            }
        }
    }
    for prefix in ["AKIA", "ASIA"] {
        if rest.starts_with(prefix.as_bytes()) {
            let body = run_len(bytes, index + 4, |b| {
                b.is_ascii_uppercase() || b.is_ascii_digit()
            });
            if body >= 16 {
                return Some((4 + body, 0));
            }
        }
    }
    if rest.len() > 7 && rest[..7].eq_ignore_ascii_case(b"bearer ") {
        let body = run_len(bytes, index + 7, |b| {
            is_token_byte(b) || matches!(b, b'.' | b'~' | b'+' | b'/' | b'=')
        });
        if body >= 8 {
            return Some((7 + body, 7));
        }
    }
    if rest.starts_with(b"-----BEGIN ") {
        let header_end = rest
            .iter()
            .skip(11)
            .position(|b| *b == b'\n')
            .map(|p| p + 11);
        let header = &rest[..header_end.unwrap_or(rest.len()).min(80)];
        if header.windows(11).any(|w| w == b"PRIVATE KEY") {
            let end = find(rest, b"-----END ")
                .and_then(|start| find(&rest[start + 9..], b"-----").map(|e| start + 9 + e + 5))
                .unwrap_or(rest.len());
            return Some((end, 0));
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where a secret format may start: every prefix `secret_at` knows, found
/// with a SIMD-accelerated multi-pattern search (case-insensitive, so it over-
/// reports; `secret_at` decides exactly). `None` only if the automaton could
/// not be built, which the fixed patterns rule out.
fn format_starts() -> Option<&'static aho_corasick::AhoCorasick> {
    static STARTS: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::OnceLock::new();
    const PREFIXES: &[&str] = &[
        "sk-",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "xoxr-",
        "xoxs-",
        "AKIA",
        "ASIA",
        "bearer ",
        "-----BEGIN ",
    ];
    STARTS
        .get_or_init(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(PREFIXES)
                .ok()
        })
        .as_ref()
}

/// The next position at or after `from` where a format may start.
fn next_start(bytes: &[u8], from: usize) -> Option<usize> {
    match format_starts() {
        Some(starts) => starts
            .find(&bytes[from..])
            .map(|found| from + found.start()),
        None => bytes[from..]
            .iter()
            .position(|byte| matches!(byte, b's' | b'g' | b'x' | b'A' | b'b' | b'B' | b'-'))
            .map(|offset| from + offset),
    }
}

/// Redacts key formats in `text`; `None` when there is none.
fn scan_formats(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut index = 0;
    while index < bytes.len() {
        let Some(at) = next_start(bytes, index) else {
            break;
        };
        // Every format is ASCII, so `at` and `at + len` are char boundaries.
        match secret_at(bytes, at) {
            Some((len, keep)) => {
                let buffer = out.get_or_insert_with(|| String::with_capacity(text.len()));
                buffer.push_str(&text[copied..at + keep]);
                buffer.push_str(MARKER);
                index = at + len;
                copied = index;
            }
            None => index = at + 1,
        }
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_formats_inside_strings_are_redacted() {
        let redactor = Redactor::new();
        let text = "key sk-proj-abcdefghijklmnopqrstuvwxyz012345 and ghp_abcdefghijklmnopqrstuvwxyz0123 \
                    AKIAIOSFODNN7EXAMPLE xoxb-1234567890-abcdef Authorization: Bearer abc.def-ghi_jkl";
        let out = redactor.redact_str(text).expect("changed");
        for secret in [
            "sk-proj-",
            "ghp_",
            "AKIAIOSFODNN7EXAMPLE",
            "xoxb-",
            "abc.def",
        ] {
            assert!(!out.contains(secret), "{secret} survived in {out}");
        }
        assert!(out.contains("Bearer [REDACTED]"));
    }

    #[test]
    fn pem_private_key_blocks_are_redacted_whole() {
        let text =
            "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nafter";
        let out = Redactor::new().redact_str(text).expect("changed");
        assert_eq!(out, "before\n[REDACTED]\nafter");
    }

    #[test]
    fn values_under_secret_keys_and_known_values_are_redacted() {
        let redactor = Redactor::new().with_known_secret("hunter2-very-secret");
        let mut value = json!({
            "headers": {"Authorization": "x", "X-Api-Key": "y", "content-type": "json"},
            "openai_api_key": "z", "max_tokens": 5,
            "note": "the password is hunter2-very-secret!"
        });
        assert!(redactor.redact_json(&mut value));
        assert_eq!(
            value,
            json!({
                "headers": {"Authorization": MARKER, "X-Api-Key": MARKER, "content-type": "json"},
                "openai_api_key": MARKER, "max_tokens": 5,
                "note": "the password is [REDACTED]!"
            })
        );
    }

    #[test]
    fn unchanged_payload_bytes_are_left_alone() {
        let redactor = Redactor::new();
        assert_eq!(redactor.redact_bytes(b"{ \"a\" : 1 }"), None);
        assert_eq!(redactor.redact_bytes(&[0xff, 0xfe, 0x00]), None);
        assert_eq!(redactor.redact_str("sk-short and task-list"), None);
    }

    #[test]
    fn deeply_nested_values_are_walked_without_recursion() {
        let mut value = json!("sk-abcdefghijklmnopqrstuvwxyz");
        for _ in 0..100_000 {
            value = Value::Array(vec![value]);
        }
        assert!(Redactor::new().redact_json(&mut value));
        // Dropping a deep value recurses in serde_json; unwind it by hand.
        let mut current = value;
        while let Value::Array(mut items) = current {
            current = items.pop().unwrap_or(Value::Null);
        }
        assert_eq!(current, json!(MARKER));
    }
}
