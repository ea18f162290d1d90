//! Tests for code cells: pending starts, lifecycle, nested tools, waits.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::event::{
    CodeCellRuntimeStatus, EventPayload, ExecutionStatus, PayloadKind, RawToolCallRequester,
    ToolCallKind,
};
use crate::model::{ProducerRef, ToolCallRequester};
use crate::reducer::test_support::{Log, ROOT, custom_output, exec_call, item_ids, message};

const CELL: &str = "code_cell:call-exec";

fn start_cell(log: &mut Log, runtime: &str) -> u64 {
    log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::CodeCellStarted {
            runtime_cell_id: runtime.to_string(),
            model_visible_call_id: "call-exec".to_string(),
            source_js: "await tools.search({})".to_string(),
        },
    )
}

fn lifecycle(log: &mut Log, runtime: &str, status: CodeCellRuntimeStatus, end: bool) -> u64 {
    let payload = Some(log.payload(
        PayloadKind::ToolResult,
        &json!({"response": {"status": format!("{status:?}")}}),
    ));
    let event = if end {
        EventPayload::CodeCellEnded {
            runtime_cell_id: runtime.to_string(),
            status,
            response_payload: payload,
        }
    } else {
        EventPayload::CodeCellInitialResponse {
            runtime_cell_id: runtime.to_string(),
            status,
            response_payload: payload,
        }
    };
    log.push(Some(ROOT), Some("turn-1"), event)
}

fn wait_invocation(cell: &str) -> serde_json::Value {
    json!({"tool_name": "wait", "payload": {"type": "function", "arguments": json!({"cell_id": cell}).to_string()}})
}

#[test]
fn code_cell_lifecycle_links_nested_tools_waits_and_outputs() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "go")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![exec_call("call-exec", "await tools.search({})")],
    );
    let started = start_cell(&mut log, "1");
    log.tool_start(
        ROOT,
        "turn-1",
        "exec-tool-1",
        None,
        RawToolCallRequester::CodeCell {
            runtime_cell_id: "1".to_string(),
        },
        ToolCallKind::Other {
            name: "search".to_string(),
        },
        None,
    );
    let yielded = lifecycle(&mut log, "1", CodeCellRuntimeStatus::Yielded, false);
    log.tool_start(
        ROOT,
        "turn-1",
        "wait-1",
        Some("call-wait"),
        RawToolCallRequester::Model,
        ToolCallKind::Other {
            name: "wait".to_string(),
        },
        Some(wait_invocation("1")),
    );
    let ended = lifecycle(&mut log, "1", CodeCellRuntimeStatus::Completed, true);
    let stored = log.payload(PayloadKind::CodeCellStoredValues, &json!({"k": 1}));
    log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::CodeCellStoredValues {
            runtime_cell_id: "1".to_string(),
            stored_values_payload: stored,
        },
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("user", "go"),
            exec_call("call-exec", "await tools.search({})"),
            custom_output("call-exec", "Script running"),
        ],
    );
    let state = log.reduce_ok();
    let cell = &state.code_cells[CELL];
    assert_eq!(&*cell.source_item_id, "conversation_item:000002");
    assert_eq!(
        cell.output_item_ids,
        item_ids(&["conversation_item:000003"])
    );
    assert_eq!(cell.nested_tool_call_ids, vec!["exec-tool-1"]);
    assert_eq!(cell.wait_tool_call_ids, vec!["wait-1"]);
    assert_eq!(cell.execution.started_seq, started);
    assert_eq!(cell.initial_response_seq, Some(yielded));
    assert_eq!(cell.yielded_seq, Some(yielded));
    assert_eq!(cell.execution.ended_seq, Some(ended));
    assert_eq!(cell.execution.status, ExecutionStatus::Completed);
    assert_eq!(cell.runtime_status, CodeCellRuntimeStatus::Completed);
    assert_eq!(cell.stored_values_raw_payload_ids.len(), 1);
    assert_eq!(
        state.tool_calls["exec-tool-1"].requester,
        ToolCallRequester::CodeCell {
            code_cell_id: CELL.to_string()
        }
    );
    assert!(
        state.conversation_items["conversation_item:000003"]
            .produced_by
            .contains(&ProducerRef::CodeCell {
                code_cell_id: CELL.to_string()
            })
    );
    assert!(state.diagnostics.is_empty());
}

#[test]
fn fast_code_cell_lifecycle_waits_for_source_item() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "go")]);
    start_cell(&mut log, "1");
    let initial = lifecycle(&mut log, "1", CodeCellRuntimeStatus::Completed, false);
    let ended = lifecycle(&mut log, "1", CodeCellRuntimeStatus::Completed, true);
    // Only now does the response carrying the exec item get recorded.
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![exec_call("call-exec", "1")],
    );
    let state = log.reduce_ok();
    let cell = &state.code_cells[CELL];
    assert_eq!(cell.initial_response_seq, Some(initial));
    assert_eq!(cell.execution.ended_seq, Some(ended));
    assert_eq!(cell.raw_response_payload_ids.len(), 2);
}

#[test]
fn cancelled_turn_terminates_unfinished_code_cell() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![exec_call("call-exec", "1")]);
    start_cell(&mut log, "1");
    let end = log.end_turn(ROOT, "turn-1", ExecutionStatus::Cancelled);
    let state = log.reduce_ok();
    let cell = &state.code_cells[CELL];
    assert_eq!(cell.runtime_status, CodeCellRuntimeStatus::Terminated);
    assert_eq!(cell.execution.ended_seq, Some(end));
}

#[test]
fn completed_turn_leaves_yielded_code_cell_running() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![exec_call("call-exec", "1")]);
    start_cell(&mut log, "1");
    lifecycle(&mut log, "1", CodeCellRuntimeStatus::Yielded, false);
    log.end_turn(ROOT, "turn-1", ExecutionStatus::Completed);
    let state = log.reduce_ok();
    assert_eq!(
        state.code_cells[CELL].execution.status,
        ExecutionStatus::Running
    );
}

#[test]
fn duplicate_code_cell_start_is_rejected_with_its_seq() {
    let mut log = Log::started();
    start_cell(&mut log, "1");
    let seq = start_cell(&mut log, "2");
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: duplicate code cell start {CELL} (runtime cell 2)")
    );
}

#[test]
fn nested_tool_with_unknown_runtime_cell_is_rejected() {
    let mut log = Log::started();
    let seq = log.tool_start(
        ROOT,
        "turn-1",
        "t",
        None,
        RawToolCallRequester::CodeCell {
            runtime_cell_id: "9".to_string(),
        },
        ToolCallKind::Web,
        None,
    );
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: code-mode nested tool t referenced unknown runtime cell 9 in thread thread-root"
        )
    );
}

#[test]
fn runtime_cell_ids_are_scoped_per_thread() {
    let mut log = Log::started();
    log.thread("thread-2", "/two");
    log.turn("thread-2", "turn-2");
    start_cell(&mut log, "1");
    log.push(
        Some("thread-2"),
        Some("turn-2"),
        EventPayload::CodeCellStarted {
            runtime_cell_id: "1".to_string(),
            model_visible_call_id: "call-exec".to_string(),
            source_js: "x".to_string(),
        },
    );
    log.inference(ROOT, "turn-1", "inf-1", vec![exec_call("call-exec", "1")]);
    log.inference(
        "thread-2",
        "turn-2",
        "inf-2",
        vec![exec_call("call-exec", "x")],
    );
    let state = log.reduce_ok();
    // The first keeps the reference's id; the second is scoped by thread.
    assert_eq!(state.code_cells.len(), 2);
    assert_eq!(state.code_cells["code_cell:call-exec"].thread_id, ROOT);
    assert_eq!(
        state.code_cells["code_cell:thread-2:call-exec"].thread_id,
        "thread-2"
    );
}

#[test]
fn unmaterialised_code_cell_and_its_events_become_diagnostics() {
    let mut log = Log::started();
    let started = start_cell(&mut log, "1");
    let ended = lifecycle(&mut log, "1", CodeCellRuntimeStatus::Completed, true);
    let state = log.reduce_ok();
    let found: Vec<(Option<u64>, &str)> = state
        .diagnostics
        .iter()
        .map(|d| (d.seq, d.code.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (Some(started), "unmaterialized_code_cell"),
            (Some(ended), "pending_code_cell_event")
        ]
    );
}

#[test]
fn wait_without_cell_id_is_rejected() {
    let mut log = Log::started();
    let seq = log.tool_start(
        ROOT,
        "turn-1",
        "wait-1",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::Other {
            name: "wait".to_string(),
        },
        Some(json!({"tool_name": "wait", "payload": {"type": "function", "arguments": "{}"}})),
    );
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: wait tool request payload raw_payload:000001 of tool call wait-1 did not contain cell_id"
        )
    );
}
