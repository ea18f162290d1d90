//! [`DiffPolicy`]: what a comparison sets aside, and which payload keys it
//! drops before payloads are compared.

use serde::Serialize;

/// What the comparison sets aside. The default (documented in DESIGN.md):
/// token usage is ignored, model names, tool output and everything
/// recorded (not only the model-visible conversation) are compared, and the
/// payload keys `response_id`, `upstream_request_id` and `request_id` are
/// dropped before payloads are compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffPolicy {
    /// Ignore token usage (on inference calls and the usage keys in
    /// payloads). Default: true, as caching makes it vary between runs.
    pub ignore_token_usage: bool,
    /// Ignore model names (thread default models, inference calls and the
    /// `model` key in payloads). Default: false.
    pub ignore_model: bool,
    /// Compare only threads, turns and the model-visible conversation items,
    /// not inference calls, tool calls, code cells, terminals, compactions
    /// or edges. Default: false.
    pub model_visible_only: bool,
    /// Treat tool output as opaque: skip tool results, runtime payloads,
    /// terminal output, code-cell responses and the bodies of tool-output
    /// conversation items; inference requests then compare by the items
    /// they send, not by their payload. Default: false.
    pub opaque_tool_output: bool,
    /// Object keys dropped from JSON payloads before they are compared
    /// (only when both sides can read payloads).
    pub ignored_payload_keys: Vec<String>,
}

impl Default for DiffPolicy {
    fn default() -> DiffPolicy {
        DiffPolicy {
            ignore_token_usage: true,
            ignore_model: false,
            model_visible_only: false,
            opaque_tool_output: false,
            ignored_payload_keys: vec![
                "response_id".to_string(),
                "upstream_request_id".to_string(),
                "request_id".to_string(),
            ],
        }
    }
}

impl DiffPolicy {
    /// Whether a JSON object key is dropped from payloads before they are
    /// compared: a listed key, the usage keys when token usage is ignored,
    /// `model` when models are.
    pub(super) fn ignores_payload_key(&self, key: &str) -> bool {
        self.ignored_payload_keys.iter().any(|k| k == key)
            || (self.ignore_token_usage && matches!(key, "token_usage" | "usage"))
            || (self.ignore_model && key == "model")
    }
}

#[cfg(test)]
mod tests {
    use super::DiffPolicy;

    #[test]
    fn the_default_policy_drops_upstream_ids_and_usage_but_keeps_the_model() {
        let policy = DiffPolicy::default();
        for key in [
            "response_id",
            "upstream_request_id",
            "request_id",
            "token_usage",
            "usage",
        ] {
            assert!(policy.ignores_payload_key(key), "{key}");
        }
        for key in ["model", "input", "output_items", "id"] {
            assert!(!policy.ignores_payload_key(key), "{key}");
        }
    }

    #[test]
    fn the_policy_flags_choose_which_keys_are_dropped() {
        let policy = DiffPolicy {
            ignore_token_usage: false,
            ignore_model: true,
            ignored_payload_keys: vec!["trace".to_string()],
            ..DiffPolicy::default()
        };
        assert!(policy.ignores_payload_key("model"));
        assert!(policy.ignores_payload_key("trace"));
        assert!(!policy.ignores_payload_key("usage"));
        assert!(!policy.ignores_payload_key("token_usage"));
        assert!(!policy.ignores_payload_key("response_id"));
    }
}
