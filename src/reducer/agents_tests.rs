//! Tests for multi-agent interaction edges.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::event::{EventPayload, PayloadKind, RawToolCallRequester, RolloutStatus, ToolCallKind};
use crate::model::{InteractionEdgeKind, TraceAnchor};
use crate::reducer::test_support::{Log, ROOT, item_ids, message};

const CHILD: &str = "thread-child";

fn agent_message(author: &str, recipient: &str, text: &str) -> serde_json::Value {
    json!({"type": "agent_message", "author": author, "recipient": recipient, "content": [{"type": "input_text", "text": text}]})
}

fn spawn(log: &mut Log) {
    log.tool_start(ROOT, "turn-1", "tool-spawn", Some("call-spawn"), RawToolCallRequester::Model, ToolCallKind::SpawnAgent,
        Some(json!({"tool_name": "spawn_agent", "payload": {"type": "function", "arguments": "{\"message\":\"review it\"}"}})));
    log.child_thread(CHILD, "/root/child", ROOT);
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-spawn",
        false,
        &json!({"sender_thread_id": ROOT, "new_thread_id": CHILD, "prompt": "review it"}),
    );
    log.tool_end(ROOT, "turn-1", "tool-spawn", Some(json!({"type": "direct_response", "response_item": {"type": "function_call_output", "call_id": "call-spawn", "output": "ok"}})));
}

#[test]
fn spawn_runtime_payload_targets_child_delivery_item() {
    let mut log = Log::started();
    spawn(&mut log);
    log.turn(CHILD, "turn-c");
    log.inference(
        CHILD,
        "turn-c",
        "inf-c",
        vec![agent_message("/root", "/root/child", "review it")],
    );
    let state = log.reduce_ok();
    let edge = &state.interaction_edges["edge:spawn:thread-root:thread-child"];
    assert_eq!(edge.kind, InteractionEdgeKind::SpawnAgent);
    assert_eq!(
        edge.source,
        TraceAnchor::ToolCall {
            tool_call_id: "tool-spawn".to_string()
        }
    );
    assert_eq!(
        edge.target,
        TraceAnchor::ConversationItem {
            item_id: "conversation_item:000001".into()
        }
    );
    assert_eq!(edge.carried_raw_payload_ids.len(), 3);
}

#[test]
fn spawn_runtime_payload_falls_back_to_child_thread_without_delivery_item() {
    let mut log = Log::started();
    spawn(&mut log);
    let state = log.reduce_ok();
    let edge = &state.interaction_edges["edge:spawn:thread-root:thread-child"];
    assert_eq!(
        edge.target,
        TraceAnchor::Thread {
            thread_id: CHILD.to_string()
        }
    );
    assert!(state.diagnostics.is_empty());
}

#[test]
fn send_message_runtime_payload_targets_delivered_child_message() {
    let mut log = Log::started();
    log.child_thread(CHILD, "/root/child", ROOT);
    log.turn(CHILD, "turn-c");
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-send",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::SendMessage,
        None,
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-send",
        true,
        &json!({"receiver_thread_id": CHILD, "prompt": "hello"}),
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-send",
        false,
        &json!({"receiver_thread_id": CHILD, "prompt": "hello"}),
    );
    log.inference(
        CHILD,
        "turn-c",
        "inf-c",
        vec![agent_message("/root", "/root/child", "hello")],
    );
    let state = log.reduce_ok();
    let edge = &state.interaction_edges["edge:tool:tool-send"];
    assert_eq!(edge.kind, InteractionEdgeKind::SendMessage);
    assert_eq!(
        edge.target,
        TraceAnchor::ConversationItem {
            item_id: "conversation_item:000001".into()
        }
    );
    assert_eq!(
        edge.carried_item_ids,
        item_ids(&["conversation_item:000001"])
    );
}

#[test]
fn followup_activity_uses_invocation_message_and_legacy_delivery_shape() {
    let mut log = Log::started();
    log.child_thread(CHILD, "/root/child", ROOT);
    log.turn(CHILD, "turn-c");
    log.tool_start(ROOT, "turn-1", "tool-task", None, RawToolCallRequester::Model, ToolCallKind::AssignAgentTask,
        Some(json!({"tool_name": "followup_task", "payload": {"type": "function", "arguments": "{\"message\":\"do more\"}"}})));
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-task",
        false,
        &json!({"agent_thread_id": CHILD, "kind": "interacted"}),
    );
    let legacy =
        json!({"author": "/root", "recipient": "/root/child", "content": "do more"}).to_string();
    log.inference(
        CHILD,
        "turn-c",
        "inf-c",
        vec![message("assistant", &legacy)],
    );
    let state = log.reduce_ok();
    let edge = &state.interaction_edges["edge:tool:tool-task"];
    assert_eq!(edge.kind, InteractionEdgeKind::AssignAgentTask);
    assert_eq!(
        edge.target,
        TraceAnchor::ConversationItem {
            item_id: "conversation_item:000001".into()
        }
    );
}

#[test]
fn undelivered_message_edge_becomes_a_diagnostic() {
    let mut log = Log::started();
    log.child_thread(CHILD, "/root/child", ROOT);
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-send",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::SendMessage,
        None,
    );
    let seq = log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-send",
        true,
        &json!({"receiver_thread_id": CHILD, "prompt": "hello"}),
    );
    let state = log.reduce_ok();
    assert!(state.interaction_edges.is_empty());
    assert_eq!(state.diagnostics.len(), 1);
    assert_eq!(state.diagnostics[0].seq, Some(seq));
    assert_eq!(state.diagnostics[0].code, "undelivered_interaction_edge");
}

#[test]
fn agent_result_edge_links_child_result_to_parent_notification() {
    let mut log = Log::started();
    log.child_thread(CHILD, "/root/child", ROOT);
    log.turn(CHILD, "turn-c");
    log.inference(CHILD, "turn-c", "inf-c", vec![message("user", "task")]);
    log.complete(
        CHILD,
        "turn-c",
        "inf-c",
        "resp-c",
        vec![message("assistant", "all done")],
    );
    let carried = log.payload(
        PayloadKind::AgentResult,
        &json!({"child_agent_path": "/root/child", "message": "all done", "status": "completed"}),
    );
    log.push(
        Some(CHILD),
        Some("turn-c"),
        EventPayload::AgentResultObserved {
            edge_id: "edge:agent_result:thread-child:turn-c:thread-root".to_string(),
            child_thread_id: CHILD.to_string(),
            child_codex_turn_id: "turn-c".to_string(),
            parent_thread_id: ROOT.to_string(),
            message: "all done".to_string(),
            carried_payload: Some(carried),
        },
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-r",
        vec![agent_message("/root/child", "/root", "all done")],
    );
    let state = log.reduce_ok();
    let edge = &state.interaction_edges["edge:agent_result:thread-child:turn-c:thread-root"];
    assert_eq!(edge.kind, InteractionEdgeKind::AgentResult);
    assert_eq!(
        edge.source,
        TraceAnchor::ConversationItem {
            item_id: "conversation_item:000002".into()
        }
    );
    assert_eq!(
        edge.target,
        TraceAnchor::ConversationItem {
            item_id: "conversation_item:000003".into()
        }
    );
}

#[test]
fn agent_result_edge_falls_back_to_child_thread_without_result_message() {
    let mut log = Log::started();
    log.child_thread(CHILD, "/root/child", ROOT);
    log.turn(CHILD, "turn-c");
    log.inference(
        ROOT,
        "turn-1",
        "inf-r",
        vec![agent_message("/root/child", "/root", "failed")],
    );
    log.push(
        Some(CHILD),
        Some("turn-c"),
        EventPayload::AgentResultObserved {
            edge_id: "edge:agent_result:c".to_string(),
            child_thread_id: CHILD.to_string(),
            child_codex_turn_id: "turn-c".to_string(),
            parent_thread_id: ROOT.to_string(),
            message: "failed".to_string(),
            carried_payload: None,
        },
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.interaction_edges["edge:agent_result:c"].source,
        TraceAnchor::Thread {
            thread_id: CHILD.to_string()
        }
    );
}

#[test]
fn close_agent_runtime_payload_targets_thread() {
    let mut log = Log::started();
    log.child_thread(CHILD, "/root/child", ROOT);
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-close",
        None,
        RawToolCallRequester::Model,
        ToolCallKind::CloseAgent,
        None,
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-close",
        true,
        &json!({"receiver_thread_id": CHILD}),
    );
    log.tool_runtime(
        ROOT,
        "turn-1",
        "tool-close",
        false,
        &json!({"receiver_thread_id": CHILD}),
    );
    log.push(
        None,
        None,
        EventPayload::ThreadEnded {
            thread_id: CHILD.to_string(),
            status: RolloutStatus::Aborted,
        },
    );
    let state = log.reduce_ok();
    let edge = &state.interaction_edges["edge:tool:tool-close"];
    assert_eq!(edge.kind, InteractionEdgeKind::CloseAgent);
    assert_eq!(
        edge.target,
        TraceAnchor::Thread {
            thread_id: CHILD.to_string()
        }
    );
    assert_eq!(state.status, RolloutStatus::Running);
}

#[test]
fn repeated_identical_messages_pair_up_in_order() {
    let mut log = Log::started();
    log.child_thread(CHILD, "/root/child", ROOT);
    log.turn(CHILD, "turn-c");
    for tool in ["tool-a", "tool-b"] {
        log.tool_start(
            ROOT,
            "turn-1",
            tool,
            None,
            RawToolCallRequester::Model,
            ToolCallKind::SendMessage,
            None,
        );
        log.tool_runtime(
            ROOT,
            "turn-1",
            tool,
            true,
            &json!({"receiver_thread_id": CHILD, "prompt": "ping"}),
        );
    }
    log.inference(
        CHILD,
        "turn-c",
        "inf-c",
        vec![
            agent_message("/root", "/root/child", "ping"),
            agent_message("/root", "/root/child", "ping"),
        ],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.interaction_edges["edge:tool:tool-a"].target,
        TraceAnchor::ConversationItem {
            item_id: "conversation_item:000001".into()
        }
    );
    assert_eq!(
        state.interaction_edges["edge:tool:tool-b"].target,
        TraceAnchor::ConversationItem {
            item_id: "conversation_item:000002".into()
        }
    );
}

#[test]
fn agent_result_for_unknown_thread_is_rejected() {
    let mut log = Log::started();
    let seq = log.push(
        None,
        None,
        EventPayload::AgentResultObserved {
            edge_id: "edge:x".to_string(),
            child_thread_id: "ghost".to_string(),
            child_codex_turn_id: "t".to_string(),
            parent_thread_id: ROOT.to_string(),
            message: "m".to_string(),
            carried_payload: None,
        },
    );
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: agent edge edge:x referenced unknown thread ghost")
    );
}
