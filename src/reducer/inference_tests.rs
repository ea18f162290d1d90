//! Tests for inference call lifecycle.

use pretty_assertions::assert_eq;

use crate::event::{EventPayload, ExecutionStatus};
use crate::reducer::test_support::{Log, ROOT, message};

#[test]
fn inference_start_rejects_unknown_codex_turn() {
    let mut log = Log::started();
    let seq = log.inference(ROOT, "turn-missing", "inf-1", vec![message("user", "hi")]);
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: inference start inf-1 referenced unknown codex turn turn-missing")
    );
}

#[test]
fn duplicate_inference_start_is_rejected_with_its_seq() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    let seq = log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: duplicate inference start inf-1 in thread thread-root (started at seq 4)"
        )
    );
}

#[test]
fn inference_start_with_turn_of_another_thread_is_a_mismatch() {
    let mut log = Log::started();
    log.thread("thread-2", "/two");
    let seq = log.inference("thread-2", "turn-1", "inf-1", vec![message("user", "hi")]);
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: inference start inf-1 used thread thread-2, but codex turn turn-1 belongs to thread-root"
        )
    );
}

#[test]
fn inference_completion_for_unknown_call_is_rejected() {
    let mut log = Log::started();
    let seq = log.complete(ROOT, "turn-1", "inf-x", "resp-1", vec![]);
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: inference completion referenced unknown call inf-x")
    );
}

#[test]
fn cancelled_turn_closes_running_inference_call() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    let end = log.end_turn(ROOT, "turn-1", ExecutionStatus::Cancelled);
    let state = log.reduce_ok();
    let call = &state.inference_calls["inf-1"];
    assert_eq!(call.execution.status, ExecutionStatus::Cancelled);
    assert_eq!(call.execution.ended_seq, Some(end));
}

#[test]
fn late_cancelled_inference_preserves_turn_end_status() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    let end = log.end_turn(ROOT, "turn-1", ExecutionStatus::Failed);
    log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::InferenceCancelled {
            inference_call_id: "inf-1".to_string(),
            upstream_request_id: Some("req-9".to_string()),
            reason: "stream closed".to_string(),
            partial_response_payload: None,
        },
    );
    let state = log.reduce_ok();
    let call = &state.inference_calls["inf-1"];
    assert_eq!(call.execution.status, ExecutionStatus::Failed);
    assert_eq!(call.execution.ended_seq, Some(end));
    assert_eq!(call.upstream_request_id.as_deref(), Some("req-9"));
}

#[test]
fn completion_records_usage_response_id_and_payloads() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![message("assistant", "yo")],
    );
    let state = log.reduce_ok();
    let call = &state.inference_calls["inf-1"];
    assert_eq!(call.response_id.as_deref(), Some("resp-1"));
    assert_eq!(
        call.usage.as_ref().map(|usage| usage.input_tokens),
        Some(10)
    );
    assert_eq!(call.raw_request_payload_id, "raw_payload:000001");
    assert_eq!(
        call.raw_response_payload_id.as_deref(),
        Some("raw_payload:000002")
    );
    assert_eq!(state.raw_payloads.len(), 2);
}

#[test]
fn missing_payload_is_an_error_naming_seq_and_hash() {
    let mut log = Log::started();
    let seq = log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    let hash = match &log.events[seq as usize - 1].payload {
        EventPayload::InferenceStarted {
            request_payload, ..
        } => request_payload.hash,
        _ => unreachable!(),
    };
    log.payloads = crate::reducer::MemoryPayloads::new();
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: payload {hash} is unavailable: no payload with this hash")
    );
}

#[test]
fn malformed_payload_json_is_an_error_naming_the_raw_payload() {
    let mut log = Log::started();
    let hash = log.payloads.insert(b"{not json".to_vec());
    let seq = log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::InferenceStarted {
            inference_call_id: "inf-1".to_string(),
            thread_id: ROOT.to_string(),
            codex_turn_id: "turn-1".to_string(),
            model: "m".to_string(),
            provider_name: "p".to_string(),
            request_input_mode: None,
            request_payload: crate::event::PayloadRef {
                kind: crate::event::PayloadKind::InferenceRequest,
                hash,
                size_bytes: 9,
            },
        },
    );
    let err = log.reduce_err();
    assert!(
        err.starts_with(&format!(
            "seq {seq}: payload raw_payload:000001 (blake3 {hash}) is not valid JSON"
        )),
        "{err}"
    );
}
