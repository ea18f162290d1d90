//! The output limit: cuts a response's content to its token budget and says
//! so with a marker.
//!
//! Tokens are estimated as [`BYTES_PER_TOKEN`] bytes of UTF-8 text each (no
//! tokenizer). Images are kept and not counted. This never splits a UTF-8
//! character and never drops output silently.

use super::types::{BYTES_PER_TOKEN, ContentItem, DEFAULT_MAX_OUTPUT_TOKENS};

/// The start of the marker appended to truncated output.
pub const TRUNCATION_MARKER: &str = "[output truncated:";

/// Keeps text items up to `max_output_tokens` (estimated) and appends a
/// marker naming the bytes dropped, including `already_omitted_bytes` the
/// cell's buffer dropped before.
pub fn limit_output(
    items: Vec<ContentItem>,
    already_omitted_bytes: usize,
    max_output_tokens: Option<usize>,
) -> Vec<ContentItem> {
    let max_tokens = max_output_tokens.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
    let budget_bytes = max_tokens.saturating_mul(BYTES_PER_TOKEN);
    let mut used_bytes = 0usize;
    let mut omitted_bytes = already_omitted_bytes;
    let mut out = Vec::with_capacity(items.len() + 1);
    for item in items {
        match item {
            ContentItem::InputText { text } => {
                let room = budget_bytes - used_bytes;
                if text.len() <= room {
                    used_bytes += text.len();
                    out.push(ContentItem::InputText { text });
                } else {
                    let kept = super::truncate_utf8(&text, room);
                    used_bytes += kept.len();
                    omitted_bytes += text.len() - kept.len();
                    if !kept.is_empty() {
                        out.push(ContentItem::text(kept));
                    }
                }
            }
            image @ ContentItem::InputImage { .. } => out.push(image),
        }
    }
    if omitted_bytes > 0 {
        out.push(ContentItem::text(format!(
            "{TRUNCATION_MARKER} {omitted_bytes} bytes over the {max_tokens}-token limit omitted]"
        )));
    }
    out
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
