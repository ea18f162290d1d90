use serde_json::json;

use super::*;
use crate::event::{
    Event, ExecutionStatus, PayloadKind, RawToolCallRequester, RolloutStatus, ToolCallKind,
    ToolCallSummary,
};
use crate::store::StoreOptions;

fn events(store: &Store, rollout_id: &str) -> Vec<Event> {
    store
        .events(rollout_id)
        .expect("rollout exists")
        .collect::<Result<_>>()
        .expect("events decode")
}

#[test]
fn a_recorded_rollout_lands_in_order_with_its_payloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rollout = recorder.start_rollout(RolloutStart {
        rollout_id: Some("r1".into()),
        trace_id: Some("t1".into()),
        root: ThreadStart {
            thread_id: "root".into(),
            agent_path: "/root".into(),
            metadata: Some(json!({"cwd": "/tmp"})),
        },
    });
    let turn = rollout.root().start_turn("turn-1");
    let call = turn.start_inference("gpt", "openai", || json!({"input": []}));
    call.completed(Some("resp-1"), None, || json!({"output_items": []}));
    turn.end(ExecutionStatus::Completed);
    rollout.end(RolloutStatus::Completed);
    recorder.flush().expect("flush");

    let events = events(&store, "r1");
    let types: Vec<&str> = events.iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(
        types,
        [
            "rollout_started",
            "thread_started",
            "codex_turn_started",
            "inference_started",
            "inference_completed",
            "codex_turn_ended",
            "thread_ended",
            "rollout_ended"
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    let EventPayload::InferenceStarted {
        request_payload, ..
    } = &events[3].payload
    else {
        panic!("not an inference start");
    };
    assert_eq!(request_payload.kind, PayloadKind::InferenceRequest);
    assert_eq!(
        store.read_payload(&request_payload.hash).expect("payload"),
        br#"{"input":[]}"#
    );
    let manifest = store.manifest("r1").expect("manifest");
    assert_eq!(manifest.status, RolloutStatus::Completed);
    assert_eq!(manifest.trace_id.as_deref(), Some("t1"));
    recorder.shutdown().expect("shutdown");
}

#[test]
fn a_disabled_handle_never_builds_payloads() {
    let turn = TurnRecorder::disabled();
    let call = turn.start_inference("m", "p", || -> Value { panic!("payload built") });
    call.completed(None, None, || -> Value { panic!("payload built") });
    let tool = turn.start_tool_call(
        ToolCallStart {
            tool_call_id: None,
            model_visible_call_id: None,
            code_mode_runtime_tool_id: None,
            requester: RawToolCallRequester::Model,
            kind: ToolCallKind::ExecCommand,
            summary: ToolCallSummary::generic("x"),
        },
        || -> Option<Value> { panic!("payload built") },
    );
    tool.ended(ExecutionStatus::Completed, || -> Option<Value> {
        panic!("payload built")
    });
    assert!(!turn.is_enabled());
}

#[test]
fn an_agent_result_is_recorded_only_after_delivery_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rollout = recorder.start_rollout(RolloutStart {
        rollout_id: Some("r".into()),
        trace_id: None,
        root: ThreadStart {
            thread_id: "parent".into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    });
    let child = rollout.root().spawn_child(ThreadStart {
        thread_id: "child".into(),
        agent_path: "/root/worker".into(),
        metadata: None,
    });
    let turn = child.start_turn("ct");
    let failed: std::result::Result<(), &str> =
        turn.deliver_agent_result("parent", "done", || None::<Value>, || Err("parent gone"));
    assert_eq!(failed, Err("parent gone"));
    let delivered: std::result::Result<u8, &str> =
        turn.deliver_agent_result("parent", "done", || Some(json!({"status": "ok"})), || Ok(7));
    assert_eq!(delivered, Ok(7));
    recorder.flush().expect("flush");
    let results: Vec<Event> = events(&store, "r")
        .into_iter()
        .filter(|e| matches!(e.payload, EventPayload::AgentResultObserved { .. }))
        .collect();
    assert_eq!(results.len(), 1);
    let EventPayload::AgentResultObserved { edge_id, .. } = &results[0].payload else {
        unreachable!();
    };
    assert_eq!(edge_id, "edge:agent_result:child:ct:parent");
}

#[test]
fn a_payload_over_the_limit_drops_its_event_and_records_the_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        max_payload_bytes: 100,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), options).expect("open");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rollout = recorder.start_rollout(RolloutStart {
        rollout_id: Some("r".into()),
        trace_id: None,
        root: ThreadStart {
            thread_id: "root".into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    });
    let turn = rollout.root().start_turn("t");
    turn.protocol_event("warning", || "x".repeat(1000));
    recorder.flush().expect("flush");
    let events = events(&store, "r");
    let last = events.last().expect("events");
    let EventPayload::EventsDropped { count, reason } = &last.payload else {
        panic!("expected a drop record, got {:?}", last.payload);
    };
    assert_eq!(*count, 1);
    assert!(reason.contains("over the limit"), "{reason}");
    assert_eq!(recorder.stats().events_dropped, 1);
}

#[test]
fn events_written_counts_the_events_in_the_log_across_flushes() {
    // Each flush passes every rollout the writer knows to the group commit
    // (to record host-side drops); one with nothing dropped records nothing
    // and must count nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rollout = recorder.start_rollout(RolloutStart {
        rollout_id: Some("r1".into()),
        trace_id: None,
        root: ThreadStart {
            thread_id: "root".into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    });
    recorder.flush().expect("flush");
    let turn = rollout.root().start_turn("turn-1");
    recorder.flush().expect("flush");
    turn.end(ExecutionStatus::Completed);
    recorder.flush().expect("flush");
    rollout.end(RolloutStatus::Completed);
    recorder.shutdown().expect("shutdown");
    let stats = recorder.stats();
    assert_eq!(stats.events_dropped, 0);
    assert_eq!(stats.events_written, events(&store, "r1").len() as u64);
}
