//! Tests for the runtime entries: inference and tool calls align by their
//! order in their thread, and the policy chooses their facts.

use pretty_assertions::assert_eq;

use crate::diff::DiffPolicy;
use crate::diff::align::Side;
use crate::diff::fact::Entries;
use crate::diff::test_support::small_run;

/// `(thread, category, ordinal, subject)` of the runtime entries.
fn runtime_keys(entries: &Entries) -> Vec<(String, &'static str, usize, String)> {
    entries
        .iter()
        .filter(|(key, _)| matches!(key.category.name(), "inference" | "tool"))
        .map(|(key, entry)| {
            (
                key.thread.clone(),
                key.category.name(),
                key.ordinal,
                entry.subject.clone(),
            )
        })
        .collect()
}

/// The fact labels of the entry with `subject` in `thread`.
fn labels(entries: &Entries, thread: &str, subject: &str) -> Vec<&'static str> {
    entries
        .values()
        .find(|e| e.thread == thread && e.subject == subject)
        .map(|e| e.facts.iter().map(|f| f.label).collect())
        .unwrap_or_default()
}

#[test]
fn inference_and_tool_calls_align_by_their_order_in_their_thread() {
    let trace = small_run(1, "done").trace();
    let policy = DiffPolicy::default();
    let entries = Side::new(&trace, None, &policy).entries();
    let key = |thread: &str, category, ordinal, subject: &str| {
        (thread.to_string(), category, ordinal, subject.to_string())
    };
    assert_eq!(
        runtime_keys(&entries),
        vec![
            key("/root", "inference", 1, "inference call 1"),
            key("/root", "inference", 2, "inference call 2"),
            key("/root", "tool", 1, "tool call exec_command"),
            key("/root/worker", "inference", 1, "inference call 1"),
        ]
    );
    // The second root call starts after the tool and the worker's call.
    let seqs: Vec<u64> = entries
        .iter()
        .filter(|(key, _)| key.category.name() == "inference")
        .map(|(_, entry)| entry.seq)
        .collect();
    assert!(seqs[0] < seqs[2] && seqs[2] < seqs[1], "{seqs:?}");
}

#[test]
fn an_inference_call_compares_its_payloads_items_and_error_by_default() {
    let trace = small_run(1, "done").trace();
    let policy = DiffPolicy::default();
    let entries = Side::new(&trace, None, &policy).entries();
    assert_eq!(
        labels(&entries, "/root", "inference call 2"),
        [
            "status",
            "provider",
            "model",
            "request payload",
            "response payload",
            "response items",
            "tool calls started",
            "error",
        ]
    );
    let call = entries
        .values()
        .find(|e| e.thread == "/root" && e.subject == "inference call 2");
    let items = call
        .and_then(|e| e.facts.iter().find(|f| f.label == "response items"))
        .map(|f| f.key.clone());
    assert_eq!(items.as_deref(), Some("/root item 3"));
}

#[test]
fn the_policy_drops_models_and_tool_output_and_can_add_token_usage() {
    let trace = small_run(1, "done").trace();
    let policy = DiffPolicy {
        ignore_model: true,
        opaque_tool_output: true,
        ignore_token_usage: false,
        ..DiffPolicy::default()
    };
    let entries = Side::new(&trace, None, &policy).entries();
    assert_eq!(
        labels(&entries, "/root", "inference call 1"),
        [
            "status",
            "provider",
            "request items",
            "response payload",
            "response items",
            "tool calls started",
            "token usage",
            "error",
        ]
    );
    assert_eq!(
        labels(&entries, "/root", "tool call exec_command"),
        [
            "kind",
            "requester",
            "call id",
            "arguments",
            "invocation payload",
            "status",
            "summary",
            "call items",
            "output items",
        ]
    );
    let with_output = DiffPolicy::default();
    let entries = Side::new(&trace, None, &with_output).entries();
    let tool = labels(&entries, "/root", "tool call exec_command");
    assert_eq!(
        tool[tool.len() - 2..],
        ["result payload", "runtime payloads"]
    );
}
