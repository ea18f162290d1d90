//! Tests of the saved state's shape: the index groups are flattened, so the
//! reducer's fields are saved under the names they had before the grouping,
//! and typed index keys as their parts joined by U+001F.

use pretty_assertions::assert_eq;

use crate::reducer::test_support::{Log, ROOT, function_call, message};

#[test]
fn saved_state_keeps_its_field_names_and_joined_index_keys() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "go")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![
            message("assistant", "ok"),
            function_call("call-1", "f", "{}"),
        ],
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&log.reducer_after_all().save()).expect("saved json");
    let mut fields: Vec<&str> = saved["reducer"]
        .as_object()
        .expect("reducer object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    let mut expected = vec![
        "trace",
        "item_identity",
        "snapshots",
        "inference_by_response",
        "items_by_call",
        "first_item_by_call_kind",
        "exec_calls",
        "tool_by_visible_call",
        "inferences_by_turn",
        "code_cells_by_turn",
        "latest_assistant_message",
        "code_cell_by_runtime",
        "code_cell_by_call",
        "pending_code_cells",
        "pending_code_cell_events",
        "requests_by_compaction",
        "pending_edges",
        "pending_edges_by_delivery",
        "unlinked_agent_items",
        "edge_by_tool",
        "events_dropped",
    ];
    expected.sort_unstable();
    assert_eq!(fields, expected);

    let reducer = &saved["reducer"];
    let call = format!("{ROOT}\u{1f}call-1");
    assert_eq!(
        reducer["items_by_call"][&call],
        serde_json::json!(["conversation_item:000003"])
    );
    assert_eq!(
        reducer["first_item_by_call_kind"][format!("{call}\u{1f}FunctionCall")],
        "conversation_item:000003"
    );
    assert_eq!(
        reducer["inference_by_response"][format!("{ROOT}\u{1f}resp-1")],
        "inf-1"
    );
    assert_eq!(
        reducer["latest_assistant_message"][format!("{ROOT}\u{1f}turn-1")],
        "conversation_item:000002"
    );
}
