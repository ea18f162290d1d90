//! Tests for tool calls, MCP correlation and model-visible links.

use pretty_assertions::assert_eq;

use crate::event::{EventPayload, RawToolCallRequester, ToolCallKind};
use crate::reducer::test_support::{Log, ROOT, function_call, function_output, item_ids, message};

fn mcp() -> ToolCallKind {
    ToolCallKind::Mcp {
        server: "docs".to_string(),
        tool: "search".to_string(),
    }
}

#[test]
fn tool_call_links_model_visible_items_in_any_order() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "search")]);
    // The tool starts before the response that carries its call is recorded.
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        Some("call-1"),
        RawToolCallRequester::Model,
        mcp(),
        None,
    );
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![function_call("call-1", "search", "{\"q\":1}")],
    );
    log.push(
        None,
        None,
        EventPayload::McpToolCallCorrelationAssigned {
            tool_call_id: "tool-1".to_string(),
            mcp_call_id: "mcp-9".to_string(),
        },
    );
    log.tool_end(ROOT, "turn-1", "tool-1", None);
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("user", "search"),
            function_call("call-1", "search", "{\"q\":1}"),
            function_output("call-1", "found"),
        ],
    );
    let state = log.reduce_ok();
    let tool = &state.tool_calls["tool-1"];
    assert_eq!(tool.mcp_call_id.as_deref(), Some("mcp-9"));
    assert_eq!(
        tool.model_visible_call_item_ids,
        item_ids(&["conversation_item:000002"])
    );
    assert_eq!(
        tool.model_visible_output_item_ids,
        item_ids(&["conversation_item:000003"])
    );
    assert_eq!(
        state.inference_calls["inf-1"].tool_call_ids_started_by_response,
        vec!["tool-1"]
    );
}

#[test]
fn duplicate_tool_call_start_is_rejected_with_its_seq() {
    let mut log = Log::started();
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        None,
        RawToolCallRequester::Model,
        mcp(),
        None,
    );
    let seq = log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        None,
        RawToolCallRequester::Model,
        mcp(),
        None,
    );
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: duplicate tool call start tool-1 in thread thread-root (started at seq 4)"
        )
    );
}

#[test]
fn duplicate_tool_call_for_model_visible_call_id_is_rejected() {
    let mut log = Log::started();
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        Some("call-1"),
        RawToolCallRequester::Model,
        mcp(),
        None,
    );
    let seq = log.tool_start(
        ROOT,
        "turn-1",
        "tool-2",
        Some("call-1"),
        RawToolCallRequester::Model,
        mcp(),
        None,
    );
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: duplicate tool call for model-visible call id call-1 in thread thread-root: tool-1 and tool-2"
        )
    );
}

#[test]
fn same_model_call_id_in_two_threads_is_two_tool_calls() {
    let mut log = Log::started();
    log.thread("thread-2", "/two");
    log.turn("thread-2", "turn-2");
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        Some("call-1"),
        RawToolCallRequester::Model,
        mcp(),
        None,
    );
    log.tool_start(
        "thread-2",
        "turn-2",
        "tool-2",
        Some("call-1"),
        RawToolCallRequester::Model,
        mcp(),
        None,
    );
    assert_eq!(log.reduce_ok().tool_calls.len(), 2);
}

#[test]
fn duplicate_mcp_correlation_is_rejected() {
    let mut log = Log::started();
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        None,
        RawToolCallRequester::Model,
        mcp(),
        None,
    );
    log.push(
        None,
        None,
        EventPayload::McpToolCallCorrelationAssigned {
            tool_call_id: "tool-1".to_string(),
            mcp_call_id: "a".to_string(),
        },
    );
    let seq = log.push(
        None,
        None,
        EventPayload::McpToolCallCorrelationAssigned {
            tool_call_id: "tool-1".to_string(),
            mcp_call_id: "b".to_string(),
        },
    );
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: duplicate MCP correlation for tool call tool-1: a and b")
    );
}

#[test]
fn mcp_correlation_for_unknown_tool_call_is_rejected() {
    let mut log = Log::started();
    let seq = log.push(
        None,
        None,
        EventPayload::McpToolCallCorrelationAssigned {
            tool_call_id: "tool-x".to_string(),
            mcp_call_id: "a".to_string(),
        },
    );
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: MCP correlation a referenced unknown tool call tool-x")
    );
}

#[test]
fn tool_call_start_without_turn_context_is_rejected() {
    let mut log = Log::started();
    let seq = log.push(
        Some(ROOT),
        None,
        EventPayload::ToolCallStarted {
            tool_call_id: "tool-1".to_string(),
            model_visible_call_id: None,
            code_mode_runtime_tool_id: None,
            requester: RawToolCallRequester::Model,
            kind: mcp(),
            summary: crate::event::ToolCallSummary::generic("x"),
            invocation_payload: None,
        },
    );
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: tool call start tool-1 did not include thread or codex turn context")
    );
}

#[test]
fn tool_end_for_unknown_call_is_rejected() {
    let mut log = Log::started();
    let seq = log.tool_end(ROOT, "turn-1", "tool-x", None);
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: tool call end referenced unknown call tool-x")
    );
}
