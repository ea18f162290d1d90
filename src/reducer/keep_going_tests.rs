//! Tests of the keep-going fold (`ReduceOptions::keep_going`): a failed
//! event leaves the state as it was before it, becomes a `reduce_error`
//! diagnostic naming its seq and ids, and the fold goes on; the strict fold
//! is unchanged.

use std::cell::RefCell;
use std::sync::Arc;

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::event::{Event, EventPayload, ExecutionStatus, Hash, PayloadRef};
use crate::model::{Diagnostic, RolloutTrace};
use crate::reducer::test_support::{Log, ROOT, function_call, message};
use crate::reducer::{
    MemoryPayloads, PayloadSource, ReduceError, ReduceOptions, Reducer, reduce, reduce_with,
    state_to_json,
};

fn keep_going(log: &Log) -> RolloutTrace {
    reduce_with(
        "rollout-test",
        &log.events,
        &log.payloads,
        ReduceOptions::keep_going(),
    )
    .expect("a keep-going reduction of an in-memory log does not fail")
}

/// `log` with the events at `failed` seqs replaced by what a skipped event
/// still does: cite its payloads (one `protocol_event_observed` per cited
/// payload, same seq), which registers them in the same order.
fn without_events(log: &Log, failed: &[u64]) -> Log {
    let mut out = Log {
        events: Vec::new(),
        payloads: log.payloads.clone(),
    };
    for event in &log.events {
        if !failed.contains(&event.seq) {
            out.events.push(event.clone());
            continue;
        }
        for cited in event.payload.payload_refs() {
            out.events.push(Event {
                seq: event.seq,
                wall_time_unix_ms: event.wall_time_unix_ms,
                thread_id: None,
                codex_turn_id: None,
                payload: EventPayload::ProtocolEventObserved {
                    event_type: "skipped".to_string(),
                    event_payload: cited.clone(),
                },
            });
        }
    }
    out
}

/// The state without its `reduce_error` diagnostics.
fn without_reduce_errors(mut state: RolloutTrace) -> RolloutTrace {
    state.diagnostics.retain(|d| !d.is_reduce_error());
    state
}

fn reduce_error_seqs(state: &RolloutTrace) -> Vec<u64> {
    state
        .diagnostics
        .iter()
        .filter(|d| d.is_reduce_error())
        .filter_map(|d| d.seq)
        .collect()
}

/// A full-snapshot request that creates two items and then fails: its third
/// item reuses the second's call id with other arguments.
fn half_applying_request(log: &mut Log, turn: &str, id: &str) -> u64 {
    log.inference(
        ROOT,
        turn,
        id,
        vec![
            message("user", "poisoned request"),
            function_call("call-poison", "shell", "{\"cmd\":\"ls\"}"),
            function_call("call-poison", "shell", "{\"cmd\":\"rm -rf /\"}"),
        ],
    )
}

/// A rollout with a good inference, a bad one in the middle, then more
/// good events in the same and a new turn.
fn log_with_a_bad_event_in_the_middle() -> (Log, u64) {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hello")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![message("assistant", "hi")],
    );
    let bad = half_applying_request(&mut log, "turn-1", "inf-bad");
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("user", "hello"),
            message("assistant", "hi"),
            message("user", "again"),
        ],
    );
    log.complete(
        ROOT,
        "turn-1",
        "inf-2",
        "resp-2",
        vec![message("assistant", "done")],
    );
    log.end_turn(ROOT, "turn-1", ExecutionStatus::Completed);
    log.turn(ROOT, "turn-2");
    log.end_turn(ROOT, "turn-2", ExecutionStatus::Completed);
    (log, bad)
}

#[test]
fn a_failed_event_leaves_the_state_as_it_was_and_the_fold_goes_on() {
    let (log, bad) = log_with_a_bad_event_in_the_middle();
    let state = keep_going(&log);

    // Everything before and after the bad event is there; nothing of it.
    assert!(state.inference_calls.contains_key("inf-1"));
    assert!(state.inference_calls.contains_key("inf-2"));
    assert!(!state.inference_calls.contains_key("inf-bad"));
    assert_eq!(
        state.codex_turns.keys().collect::<Vec<_>>(),
        ["turn-1", "turn-2"]
    );
    assert!(!state.codex_turns["turn-2"].execution.is_running());
    assert!(
        state
            .conversation_items
            .values()
            .all(|item| item.first_seen_seq != bad),
        "an item of the failed event survived"
    );

    // Exactly the state of the log without the event (whose payload stays
    // registered), plus its diagnostic.
    let expected = reduce(
        "rollout-test",
        &without_events(&log, &[bad]).events,
        &log.payloads,
    )
    .expect("the log without the bad event reduces");
    assert_eq!(
        state_to_json(&without_reduce_errors(state.clone())),
        state_to_json(&expected)
    );
    assert_eq!(reduce_error_seqs(&state), [bad]);
}

#[test]
fn the_rollback_scenario_really_half_applies_its_event() {
    // Guard for the test above: the bad request does create items before it
    // fails, so passing there needs the rollback (if the conversation
    // reducer ever checks before it creates, this scenario stops proving it).
    let (log, bad) = log_with_a_bad_event_in_the_middle();
    let mut reducer = Reducer::new("rollout-test");
    for event in &log.events {
        if event.seq == bad {
            let before = reducer.state().conversation_items.len();
            assert!(reducer.apply(event, &log.payloads).is_err());
            assert!(reducer.state().conversation_items.len() > before);
            return;
        }
        reducer.apply(event, &log.payloads).expect("good event");
    }
    panic!("the bad event was not found");
}

#[test]
fn the_diagnostic_names_the_seq_the_event_type_and_the_ids() {
    let (log, bad) = log_with_a_bad_event_in_the_middle();
    let state = keep_going(&log);
    let diagnostic = state
        .diagnostics
        .iter()
        .find(|d| d.is_reduce_error())
        .expect("a reduce_error diagnostic");
    let strict = reduce("rollout-test", &log.events, &log.payloads).expect_err("strict fails");
    let mut expected = Diagnostic::new(Some(bad), Diagnostic::REDUCE_ERROR, strict.detail());
    expected.event_type = Some("inference_started".to_string());
    for (name, value) in [
        ("rollout_id", "rollout-test"),
        ("thread_id", ROOT),
        ("codex_turn_id", "turn-1"),
        ("inference_call_id", "inf-bad"),
    ] {
        expected.ids.insert(name.to_string(), value.to_string());
    }
    assert_eq!(diagnostic, &expected);
    assert!(
        diagnostic
            .message
            .starts_with("model-visible call id call-poison was reused with different content"),
        "{}",
        diagnostic.message
    );
    // The JSON carries the new keys.
    let json: serde_json::Value = serde_json::from_str(&state_to_json(&state)).expect("state json");
    assert_eq!(
        json["diagnostics"][0],
        json!({
            "seq": bad,
            "code": "reduce_error",
            "message": diagnostic.message,
            "event_type": "inference_started",
            "ids": {
                "rollout_id": "rollout-test",
                "thread_id": ROOT,
                "codex_turn_id": "turn-1",
                "inference_call_id": "inf-bad"
            }
        })
    );
}

#[test]
fn strict_reduction_still_stops_at_the_bad_event() {
    let (log, bad) = log_with_a_bad_event_in_the_middle();
    let err = reduce("rollout-test", &log.events, &log.payloads).expect_err("strict fails");
    assert_eq!(err.seq(), Some(bad));
    assert!(
        err.to_string()
            .starts_with(&format!("seq {bad}: model-visible call id call-poison")),
        "{err}"
    );
    let default = reduce_with(
        "rollout-test",
        &log.events,
        &log.payloads,
        ReduceOptions::default(),
    );
    assert_eq!(default.map(|_| ()), Err(err));
}

#[test]
fn a_log_without_errors_reduces_to_the_same_bytes_either_way() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hello")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![message("assistant", "hi")],
    );
    log.end_turn(ROOT, "turn-1", ExecutionStatus::Completed);
    let strict = log.reduce_ok();
    assert_eq!(state_to_json(&keep_going(&log)), state_to_json(&strict));
}

#[test]
fn every_failure_of_a_cascade_is_a_diagnostic_in_seq_order() {
    let mut log = Log::started();
    // Unknown turn; then the completion of the call that never started.
    let unknown_turn = log.inference(ROOT, "turn-missing", "inf-a", vec![message("user", "a")]);
    let orphan = log.complete(ROOT, "turn-missing", "inf-a", "resp-a", vec![]);
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hello")]);
    // A half-applied failure, twice in a row, then its orphan completion.
    let bad_1 = half_applying_request(&mut log, "turn-1", "inf-bad-1");
    let bad_2 = half_applying_request(&mut log, "turn-1", "inf-bad-2");
    let orphan_2 = log.complete(ROOT, "turn-1", "inf-bad-2", "resp-bad", vec![]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![message("assistant", "hi")],
    );
    log.end_turn(ROOT, "turn-1", ExecutionStatus::Completed);

    let state = keep_going(&log);
    let failed = [unknown_turn, orphan, bad_1, bad_2, orphan_2];
    assert_eq!(reduce_error_seqs(&state), failed);
    let expected = reduce(
        "rollout-test",
        &without_events(&log, &failed).events,
        &log.payloads,
    )
    .expect("the rest reduces");
    assert_eq!(
        state_to_json(&without_reduce_errors(state.clone())),
        state_to_json(&expected)
    );
    assert_eq!(
        state.inference_calls["inf-1"].response_item_ids.len(),
        1,
        "the good call completed after the failures"
    );
}

#[test]
fn a_skipped_events_payloads_stay_registered_so_the_ids_in_its_message_resolve() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hello")]);
    let bad = log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![json!({"type": "new_unhandled_model_item"})],
    );
    log.inference(ROOT, "turn-1", "inf-3", vec![message("user", "later")]);
    let state = keep_going(&log);
    let diagnostic = &state.diagnostics[0];
    assert_eq!(diagnostic.seq, Some(bad));
    assert_eq!(
        diagnostic.message,
        "unsupported model item type new_unhandled_model_item in payload raw_payload:000002"
    );
    let EventPayload::InferenceStarted {
        request_payload, ..
    } = &log.events[bad as usize - 1].payload
    else {
        panic!("seq {bad} is an inference start");
    };
    assert_eq!(
        state.raw_payloads["raw_payload:000002"].blake3,
        request_payload.hash
    );
    // The next event's payload is the next id, as in a strict reduction.
    assert_eq!(
        state.inference_calls["inf-3"].raw_request_payload_id,
        "raw_payload:000003"
    );
}

#[test]
fn ids_keep_an_envelope_thread_or_turn_that_differs_from_the_payloads() {
    let mut log = Log::started();
    log.turn(ROOT, "turn-2");
    // The envelope says turn-2; the payload names a turn that does not exist.
    let bad = log.push(
        Some(ROOT),
        Some("turn-2"),
        EventPayload::CodexTurnEnded {
            codex_turn_id: "turn-9".to_string(),
            status: ExecutionStatus::Completed,
        },
    );
    let state = keep_going(&log);
    let diagnostic = &state.diagnostics[0];
    assert_eq!(diagnostic.seq, Some(bad));
    assert_eq!(diagnostic.event_type.as_deref(), Some("codex_turn_ended"));
    let ids: Vec<(&str, &str)> = diagnostic
        .ids
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("rollout_id", "rollout-test"),
            ("thread_id", ROOT),
            ("codex_turn_id", "turn-9"),
            ("envelope_codex_turn_id", "turn-2"),
        ]
    );
}

/// Answers each payload once; a second read of the same hash fails.
struct ReadsOnce {
    inner: MemoryPayloads,
    read: RefCell<Vec<Hash>>,
}

impl PayloadSource for ReadsOnce {
    fn read_payload(&self, payload: &PayloadRef) -> Result<Arc<[u8]>, String> {
        let mut read = self.read.borrow_mut();
        if read.contains(&payload.hash) {
            return Err("the disk went away".to_string());
        }
        read.push(payload.hash);
        self.inner.read_payload(payload)
    }
}

#[test]
fn a_payload_that_cannot_be_read_again_while_rebuilding_is_an_error() {
    let (log, _) = log_with_a_bad_event_in_the_middle();
    let source = ReadsOnce {
        inner: log.payloads.clone(),
        read: RefCell::new(Vec::new()),
    };
    let err = reduce_with(
        "rollout-test",
        &log.events,
        &source,
        ReduceOptions::keep_going(),
    )
    .expect_err("rebuilding reads inf-1's request again");
    assert!(
        matches!(err, ReduceError::PayloadUnavailable { seq: 4, .. }),
        "{err}"
    );
}

#[test]
fn a_failure_found_before_anything_changed_is_skipped_without_rebuilding() {
    // The unknown turn is found before the handler writes anything, so the
    // fold goes on without rebuilding: no payload is read twice.
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hello")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![message("assistant", "hi")],
    );
    let bad = log.inference(ROOT, "turn-missing", "inf-2", vec![message("user", "x")]);
    log.inference(
        ROOT,
        "turn-1",
        "inf-3",
        vec![
            message("user", "hello"),
            message("assistant", "hi"),
            message("user", "again"),
        ],
    );
    let source = ReadsOnce {
        inner: log.payloads.clone(),
        read: RefCell::new(Vec::new()),
    };
    let state = reduce_with(
        "rollout-test",
        &log.events,
        &source,
        ReduceOptions::keep_going(),
    )
    .expect("no payload is read twice");
    assert_eq!(reduce_error_seqs(&state), [bad]);
    let expected = reduce(
        "rollout-test",
        &without_events(&log, &[bad]).events,
        &log.payloads,
    )
    .expect("the rest reduces");
    assert_eq!(
        state_to_json(&without_reduce_errors(state)),
        state_to_json(&expected)
    );
}
