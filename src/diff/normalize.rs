//! Normalisation: generated ids inside compared text and JSON become the
//! aligned names of what they name, any other UUID becomes `<uuid>`, and
//! the payload keys the policy drops are removed.
//!
//! Linear in the text: a UUID is recognised at a position by its shape
//! alone (8-4-4-4-12 hex digits), so no id is ever searched for.

use serde_json::Value;

use super::align::Side;

/// The length of a hyphenated UUID.
const UUID_LEN: usize = 36;

/// Whether a hyphenated UUID starts at byte `i` of `bytes`.
fn is_uuid_at(bytes: &[u8], i: usize) -> bool {
    if bytes.len() < i + UUID_LEN {
        return false;
    }
    bytes[i..i + UUID_LEN].iter().enumerate().all(|(j, b)| {
        if matches!(j, 8 | 13 | 18 | 23) {
            *b == b'-'
        } else {
            b.is_ascii_hexdigit()
        }
    })
}

impl Side<'_> {
    /// Replaces generated ids inside `text` by their aligned names: the
    /// whole string when it is a known id, else every UUID in it.
    pub fn normalize_text(&self, text: &str) -> String {
        if let Some(name) = self.names.get(text) {
            return format!("<{name}>");
        }
        let bytes = text.as_bytes();
        if bytes.len() < UUID_LEN {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut start = 0;
        let mut i = 0;
        while i + UUID_LEN <= bytes.len() {
            if is_uuid_at(bytes, i)
                && text.is_char_boundary(i)
                && text.is_char_boundary(i + UUID_LEN)
            {
                out.push_str(&text[start..i]);
                let uuid = &text[i..i + UUID_LEN];
                match self.names.get(uuid) {
                    Some(name) => {
                        out.push('<');
                        out.push_str(name);
                        out.push('>');
                    }
                    None => out.push_str("<uuid>"),
                }
                i += UUID_LEN;
                start = i;
            } else {
                i += 1;
            }
        }
        out.push_str(&text[start..]);
        out
    }

    /// `value` with every string and object key normalised and the keys
    /// the policy ignores dropped.
    pub fn normalize_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.normalize_text(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.normalize_value(v)).collect())
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    if self.policy.ignores_payload_key(k) {
                        continue;
                    }
                    out.insert(self.normalize_text(k), self.normalize_value(v));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::is_uuid_at;
    use crate::diff::DiffPolicy;
    use crate::diff::align::Side;
    use crate::model::RolloutTrace;

    const THREAD: &str = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const OTHER: &str = "ffffffff-0000-4000-8000-123456789abc";

    fn side<'a>(trace: &'a RolloutTrace, policy: &'a DiffPolicy) -> Side<'a> {
        let mut side = Side::new(trace, None, policy);
        side.names
            .insert(THREAD.to_string(), "thread /root".to_string());
        side
    }

    #[test]
    fn a_uuid_is_recognised_by_its_shape_only() {
        assert!(is_uuid_at(THREAD.as_bytes(), 0));
        assert!(is_uuid_at(format!("id={OTHER}").as_bytes(), 3));
        assert!(!is_uuid_at(format!("id={OTHER}").as_bytes(), 2));
        assert!(!is_uuid_at(THREAD.replace('-', "_").as_bytes(), 0));
        assert!(!is_uuid_at(&THREAD.as_bytes()[..35], 0));
    }

    #[test]
    fn known_ids_become_aligned_names_and_other_uuids_become_placeholders() {
        let trace = RolloutTrace::new("rollout-1");
        let policy = DiffPolicy::default();
        let side = side(&trace, &policy);
        assert_eq!(side.normalize_text(THREAD), "<thread /root>");
        assert_eq!(side.normalize_text("rollout-1"), "<rollout>");
        assert_eq!(
            side.normalize_text(&format!("from {THREAD} to {OTHER}!")),
            "from <thread /root> to <uuid>!"
        );
        assert_eq!(side.normalize_text("short text"), "short text");
        assert_eq!(side.normalize_text(&format!("é{OTHER}🦀")), "é<uuid>🦀");
    }

    #[test]
    fn json_is_normalised_in_keys_and_values_and_ignored_keys_are_dropped() {
        let trace = RolloutTrace::new("rollout-1");
        let policy = DiffPolicy::default();
        let side = side(&trace, &policy);
        let value = json!({
            "thread": THREAD,
            THREAD: [OTHER, 3, null],
            "response_id": "resp_1",
            "usage": {"input_tokens": 3},
            "model": "gpt",
        });
        assert_eq!(
            side.normalize_value(&value),
            json!({
                "thread": "<thread /root>",
                "<thread /root>": ["<uuid>", 3, null],
                "model": "gpt",
            })
        );
    }
}
