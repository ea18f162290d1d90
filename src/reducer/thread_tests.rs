//! Tests for rollout, thread and turn lifecycle.

use pretty_assertions::assert_eq;

use crate::event::{EventPayload, ExecutionStatus, RolloutStatus};
use crate::model::AgentOrigin;
use crate::reducer::test_support::{Log, ROOT};

#[test]
fn duplicate_thread_start_is_rejected_with_its_seq() {
    let mut log = Log::started();
    let seq = log.thread(ROOT, "/root");
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: duplicate thread start for thread-root")
    );
}

#[test]
fn duplicate_codex_turn_start_is_rejected_with_its_seq() {
    let mut log = Log::started();
    let seq = log.turn(ROOT, "turn-1");
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: duplicate codex turn start turn-1 in thread thread-root (started at seq 3)"
        )
    );
}

#[test]
fn codex_turn_end_for_unknown_turn_is_rejected() {
    let mut log = Log::started();
    let seq = log.end_turn(ROOT, "turn-9", ExecutionStatus::Completed);
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: codex turn end referenced unknown turn turn-9")
    );
}

#[test]
fn codex_turn_end_from_another_thread_is_a_mismatch() {
    let mut log = Log::started();
    log.thread("thread-2", "/other");
    let seq = log.end_turn("thread-2", "turn-1", ExecutionStatus::Completed);
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: codex turn end for turn-1 used thread thread-2, but the turn belongs to thread-root"
        )
    );
}

#[test]
fn child_thread_metadata_creates_spawn_origin_without_delivery_edge() {
    let mut log = Log::started();
    log.child_thread("thread-child", "/root/child", ROOT);
    let state = log.reduce_ok();
    let child = &state.threads["thread-child"];
    assert_eq!(
        child.origin,
        AgentOrigin::Spawned {
            parent_thread_id: ROOT.to_string(),
            spawn_edge_id: "edge:spawn:thread-root:thread-child".to_string(),
            task_name: "review".to_string(),
            agent_role: "reviewer".to_string(),
        }
    );
    assert_eq!(child.nickname.as_deref(), Some("Ada"));
    assert!(state.interaction_edges.is_empty());
}

#[test]
fn thread_resumed_reopens_a_known_thread_and_creates_an_unknown_one() {
    let mut log = Log::started();
    log.push(
        None,
        None,
        EventPayload::ThreadEnded {
            thread_id: ROOT.to_string(),
            status: RolloutStatus::Completed,
        },
    );
    let resumed = log.push(
        None,
        None,
        EventPayload::ThreadResumed {
            thread_id: ROOT.to_string(),
            agent_path: "/root".to_string(),
            metadata_payload: None,
        },
    );
    let fresh = log.push(
        None,
        None,
        EventPayload::ThreadResumed {
            thread_id: "thread-old".to_string(),
            agent_path: "/old".to_string(),
            metadata_payload: None,
        },
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.threads[ROOT].execution.status,
        ExecutionStatus::Running
    );
    assert_eq!(state.threads[ROOT].execution.ended_seq, None);
    assert_eq!(state.threads[ROOT].resumed_at_seqs, vec![resumed]);
    assert_eq!(state.threads["thread-old"].resumed_at_seqs, vec![fresh]);
}

#[test]
fn rollout_end_sets_status_and_end_time() {
    let mut log = Log::started();
    let seq = log.end_rollout(RolloutStatus::Completed);
    let state = log.reduce_ok();
    assert_eq!(state.status, RolloutStatus::Completed);
    assert_eq!(state.ended_at_unix_ms, Some(1_000 + seq as i64));
    assert_eq!(state.trace_id.as_deref(), Some("trace-1"));
    assert_eq!(state.root_thread_id.as_deref(), Some(ROOT));
}

#[test]
fn unknown_and_other_events_and_drops_become_diagnostics() {
    let mut log = Log::started();
    let unknown = log.push(
        None,
        None,
        EventPayload::Unknown {
            type_name: "future_event".to_string(),
            json: crate::event::JsonText("{}".to_string()),
        },
    );
    let dropped = log.push(
        None,
        None,
        EventPayload::EventsDropped {
            count: 3,
            reason: "queue full".to_string(),
        },
    );
    // After a drop, a reference to something never started is a diagnostic.
    let late = log.end_turn(ROOT, "turn-lost", ExecutionStatus::Completed);
    let state = log.reduce_ok();
    let codes: Vec<(Option<u64>, &str)> = state
        .diagnostics
        .iter()
        .map(|diagnostic| (diagnostic.seq, diagnostic.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (Some(unknown), "unknown_event_type"),
            (Some(dropped), "events_dropped"),
            (Some(late), "unresolved_reference"),
        ]
    );
}
