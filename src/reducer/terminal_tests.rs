//! Tests for terminal operations and sessions.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::event::{
    EventPayload, ExecutionStatus, RawToolCallRequester, ToolCallKind, ToolCallSummary,
};
use crate::model::{
    ExecutionWindow, TerminalModelObservation, TerminalObservationSource, TerminalOperation,
    TerminalOperationKind, TerminalRequest, TerminalResult,
};
use crate::reducer::test_support::{Log, ROOT, function_call, function_output, item_ids, message};

fn stdin_invocation(session: u64, chars: &str) -> serde_json::Value {
    json!({"tool_name": "write_stdin", "tool_namespace": null, "payload": {"type": "function",
        "arguments": json!({"session_id": session, "chars": chars, "yield_time_ms": 250, "max_output_tokens": 2000}).to_string()}})
}

#[test]
fn exec_tool_reduces_to_terminal_operation_and_session() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "run tests")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![function_call(
            "call-1",
            "exec_command",
            "{\"cmd\":\"cargo test\"}",
        )],
    );
    log.tool_start(ROOT, "turn-1", "tool-1", Some("call-1"), RawToolCallRequester::Model, ToolCallKind::ExecCommand,
        Some(json!({"tool_name": "exec_command", "payload": {"type": "function", "arguments": "{\"cmd\":\"cargo test\"}"}})));
    let begin = log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-1",
        true,
        &json!({"call_id": "tool-1", "command": ["cargo", "test"], "cwd": "/repo"}),
    );
    let end = log.tool_runtime(ROOT, "turn-1", "tool-1", false, &json!({"call_id": "tool-1", "process_id": "pty-1", "stdout": "ok\n", "stderr": "", "exit_code": 0, "formatted_output": "ok\n"}));
    log.tool_end(
        ROOT,
        "turn-1",
        "tool-1",
        Some(
            json!({"type": "direct_response", "response_item": function_output("call-1", "ok\n")}),
        ),
    );
    log.inference_request(
        ROOT,
        "turn-1",
        "inf-2",
        &json!({"previous_response_id": "resp-1", "input": [function_output("call-1", "ok\n")]}),
    );
    let state = log.reduce_ok();
    let operation_id = "terminal_operation:000001".to_string();
    let tool = &state.tool_calls["tool-1"];
    assert_eq!(
        tool.terminal_operation_id.as_deref(),
        Some(operation_id.as_str())
    );
    assert_eq!(
        tool.summary,
        ToolCallSummary::Terminal {
            operation_id: operation_id.clone()
        }
    );
    assert_eq!(
        tool.raw_runtime_payload_ids,
        vec!["raw_payload:000004", "raw_payload:000005"]
    );
    assert_eq!(
        state.terminal_operations[&operation_id],
        TerminalOperation {
            operation_id: operation_id.clone(),
            terminal_id: Some("pty-1".to_string()),
            tool_call_id: "tool-1".to_string(),
            kind: TerminalOperationKind::ExecCommand,
            execution: ExecutionWindow {
                started_at_unix_ms: 1_000 + begin as i64,
                started_seq: begin,
                ended_at_unix_ms: Some(1_000 + end as i64),
                ended_seq: Some(end),
                status: ExecutionStatus::Completed
            },
            request: TerminalRequest::ExecCommand {
                command: vec!["cargo".to_string(), "test".to_string()],
                display_command: "cargo test".to_string(),
                cwd: "/repo".to_string(),
                yield_time_ms: None,
                max_output_tokens: None
            },
            result: Some(TerminalResult {
                exit_code: Some(0),
                stdout: "ok\n".to_string(),
                stderr: String::new(),
                formatted_output: Some("ok\n".to_string()),
                original_token_count: None,
                chunk_id: None
            }),
            model_observations: vec![TerminalModelObservation {
                call_item_ids: item_ids(&["conversation_item:000002"]),
                output_item_ids: item_ids(&["conversation_item:000003"]),
                source: TerminalObservationSource::DirectToolCall,
            }],
            raw_payload_ids: vec![
                "raw_payload:000004".to_string(),
                "raw_payload:000005".to_string()
            ],
        }
    );
    let session = &state.terminal_sessions["pty-1"];
    assert_eq!(session.created_by_operation_id, operation_id);
    assert_eq!(session.execution.status, ExecutionStatus::Running);
}

#[test]
fn write_stdin_operation_reuses_existing_terminal_session() {
    let mut log = Log::started();
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-start",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::ExecCommand,
        None,
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-start",
        true,
        &json!({"process_id": "pty-1", "command": ["bash"], "cwd": "/repo"}),
    );
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-stdin",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::WriteStdin,
        None,
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-stdin",
        true,
        &json!({"process_id": "pty-1", "interaction_input": "echo hi\n"}),
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.terminal_sessions["pty-1"].operation_ids,
        vec!["terminal_operation:000001", "terminal_operation:000002"]
    );
    assert_eq!(
        state.terminal_operations["terminal_operation:000002"].request,
        TerminalRequest::WriteStdin {
            stdin: "echo hi\n".to_string(),
            yield_time_ms: None,
            max_output_tokens: None
        }
    );
}

#[test]
fn dispatch_write_stdin_payload_reduces_to_terminal_operation() {
    let mut log = Log::started();
    let start = log.tool_start(
        ROOT,
        "turn-1",
        "tool-stdin",
        Some("call-stdin"),
        RawToolCallRequester::Model,
        ToolCallKind::WriteStdin,
        Some(stdin_invocation(123, "echo hi\n")),
    );
    let end = log.tool_end(ROOT, "turn-1", "tool-stdin", Some(json!({"type": "direct_response", "response_item": function_output("call-stdin", "hi\n")})));
    let state = log.reduce_ok();
    let operation = &state.terminal_operations["terminal_operation:000001"];
    assert_eq!(operation.terminal_id.as_deref(), Some("123"));
    assert_eq!(operation.execution.started_seq, start);
    assert_eq!(operation.execution.ended_seq, Some(end));
    assert_eq!(
        operation.request,
        TerminalRequest::WriteStdin {
            stdin: "echo hi\n".to_string(),
            yield_time_ms: Some(250),
            max_output_tokens: Some(2000)
        }
    );
    assert_eq!(
        operation
            .result
            .as_ref()
            .map(|result| result.stdout.as_str()),
        Some("hi\n")
    );
    assert_eq!(
        operation.raw_payload_ids,
        vec!["raw_payload:000001", "raw_payload:000002"]
    );
    assert_eq!(
        state.terminal_sessions["123"].created_by_operation_id,
        "terminal_operation:000001"
    );
}

#[test]
fn code_mode_write_stdin_result_projects_structured_exec_fields() {
    let mut log = Log::started();
    log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::CodeCellStarted {
            runtime_cell_id: "1".to_string(),
            model_visible_call_id: "call-code".to_string(),
            source_js: "x".to_string(),
        },
    );
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-stdin",
        None,
        RawToolCallRequester::CodeCell {
            runtime_cell_id: "1".to_string(),
        },
        ToolCallKind::WriteStdin,
        Some(stdin_invocation(456, "")),
    );
    log.tool_end(ROOT, "turn-1", "tool-stdin", Some(json!({"type": "code_mode_response", "value": {"chunk_id": "abc123", "wall_time_seconds": 1.25, "exit_code": 0, "original_token_count": 3, "output": "done\n"}})));
    let state = log.reduce_ok();
    assert_eq!(
        state.terminal_operations["terminal_operation:000001"].result,
        Some(TerminalResult {
            exit_code: Some(0),
            stdout: "done\n".to_string(),
            stderr: String::new(),
            formatted_output: Some("done\n".to_string()),
            original_token_count: Some(3),
            chunk_id: Some("abc123".to_string())
        })
    );
}

#[test]
fn terminal_session_end_closes_the_session() {
    let mut log = Log::started();
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::ExecCommand,
        None,
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-1",
        true,
        &json!({"process_id": "pty-1", "command": ["bash"], "cwd": "/"}),
    );
    let end = log.push(
        Some(ROOT),
        None,
        EventPayload::TerminalSessionEnded {
            terminal_id: "pty-1".to_string(),
            thread_id: ROOT.to_string(),
            status: ExecutionStatus::Completed,
            exit_code: Some(0),
            runtime_payload: None,
        },
    );
    let state = log.reduce_ok();
    let session = &state.terminal_sessions["pty-1"];
    assert_eq!(session.execution.ended_seq, Some(end));
    assert_eq!(session.exit_code, Some(0));
}

#[test]
fn terminal_session_end_from_another_thread_is_a_mismatch() {
    let mut log = Log::started();
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::ExecCommand,
        None,
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-1",
        true,
        &json!({"process_id": "pty-1", "command": ["bash"], "cwd": "/"}),
    );
    let seq = log.push(
        None,
        None,
        EventPayload::TerminalSessionEnded {
            terminal_id: "pty-1".to_string(),
            thread_id: "thread-2".to_string(),
            status: ExecutionStatus::Completed,
            exit_code: None,
            runtime_payload: None,
        },
    );
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: terminal session pty-1 belongs to thread thread-root, not thread-2")
    );
}

#[test]
fn second_runtime_start_for_one_exec_is_rejected() {
    let mut log = Log::started();
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::ExecCommand,
        None,
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-1",
        true,
        &json!({"command": ["a"], "cwd": "/"}),
    );
    let seq = log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-1",
        true,
        &json!({"command": ["b"], "cwd": "/"}),
    );
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: tool runtime start for tool-1 would create a second terminal operation (already terminal_operation:000001)"
        )
    );
}
