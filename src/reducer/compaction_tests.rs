//! Tests for remote and local compaction.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::event::{EventPayload, ExecutionStatus, PayloadKind};
use crate::model::{CompactionMode, ConversationItemKind, ProducerRef};
use crate::reducer::test_support::{Log, ROOT, item_ids, message};

fn summary() -> serde_json::Value {
    json!({"type": "compaction", "encrypted_content": "summary-blob"})
}

fn request(log: &mut Log, compaction: &str, request: &str) -> u64 {
    let payload = log.payload(PayloadKind::CompactionRequest, &json!({"input": []}));
    log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::CompactionRequestStarted {
            compaction_id: compaction.to_string(),
            compaction_request_id: request.to_string(),
            thread_id: ROOT.to_string(),
            codex_turn_id: "turn-1".to_string(),
            model: "gpt-test".to_string(),
            provider_name: "test-provider".to_string(),
            request_payload: payload,
        },
    )
}

#[test]
fn compaction_boundary_repeats_prefix_and_reuses_replacement_items() {
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![message("developer", "rules"), message("user", "one")],
    );
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![message("assistant", "two")],
    );
    request(&mut log, "cmp-1", "compaction_request:1");
    let payload = log.payload(
        PayloadKind::CompactionResponse,
        &json!({"output_items": [summary()]}),
    );
    log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::CompactionRequestCompleted {
            compaction_id: "cmp-1".to_string(),
            compaction_request_id: "compaction_request:1".to_string(),
            response_payload: payload,
        },
    );
    log.checkpoint(
        ROOT,
        "turn-1",
        "cmp-1",
        vec![
            message("developer", "rules"),
            message("user", "one"),
            message("assistant", "two"),
        ],
        vec![message("user", "one"), summary()],
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("developer", "rules"),
            message("user", "one"),
            summary(),
            message("user", "three"),
        ],
    );
    let state = log.reduce_ok();
    let compaction = &state.compactions["cmp-1"];
    assert_eq!(
        compaction.input_item_ids,
        item_ids(&[
            "conversation_item:000001",
            "conversation_item:000002",
            "conversation_item:000003"
        ])
    );
    assert_eq!(&*compaction.marker_item_id, "conversation_item:000004");
    assert_eq!(
        compaction.replacement_item_ids,
        item_ids(&["conversation_item:000005", "conversation_item:000006"])
    );
    assert_eq!(compaction.request_ids, vec!["compaction_request:1"]);
    assert_eq!(compaction.mode, CompactionMode::Remote);
    let marker = &state.conversation_items["conversation_item:000004"];
    assert_eq!(marker.kind, ConversationItemKind::CompactionMarker);
    assert_eq!(
        marker.produced_by,
        vec![ProducerRef::Compaction {
            compaction_id: "cmp-1".to_string()
        }]
    );
    // The re-injected developer prefix is new; replacement items are reused.
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        item_ids(&[
            "conversation_item:000007",
            "conversation_item:000005",
            "conversation_item:000006",
            "conversation_item:000008"
        ])
    );
    // The request before the boundary keeps its items.
    assert_eq!(
        state.inference_calls["inf-1"].request_item_ids,
        item_ids(&["conversation_item:000001", "conversation_item:000002"])
    );
    assert_eq!(
        state.compaction_requests["compaction_request:1"]
            .execution
            .status,
        ExecutionStatus::Completed
    );
}

#[test]
fn duplicate_compaction_install_is_rejected_with_its_seq() {
    let mut log = Log::started();
    log.checkpoint(ROOT, "turn-1", "cmp-1", vec![], vec![summary()]);
    let seq = log.checkpoint(ROOT, "turn-1", "cmp-1", vec![], vec![summary()]);
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: duplicate compaction install cmp-1 in thread thread-root (installed at seq 4)"
        )
    );
}

#[test]
fn duplicate_compaction_request_start_is_rejected_with_its_seq() {
    let mut log = Log::started();
    request(&mut log, "cmp-1", "req-1");
    let seq = request(&mut log, "cmp-1", "req-1");
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: duplicate compaction request start req-1 for compaction cmp-1 (started at seq 4)"
        )
    );
}

#[test]
fn compaction_completion_with_another_compaction_id_is_a_mismatch() {
    let mut log = Log::started();
    request(&mut log, "cmp-1", "req-1");
    let seq = log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::CompactionRequestFailed {
            compaction_id: "cmp-2".to_string(),
            compaction_request_id: "req-1".to_string(),
            error: "boom".to_string(),
        },
    );
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: compaction request req-1 completion used compaction cmp-2, but start used cmp-1"
        )
    );
}

#[test]
fn compaction_install_without_thread_context_is_rejected() {
    let mut log = Log::started();
    let payload = log.payload(
        PayloadKind::CompactionCheckpoint,
        &json!({"input_history": [], "replacement_history": []}),
    );
    let seq = log.push(
        None,
        None,
        EventPayload::CompactionInstalled {
            compaction_id: "cmp-1".to_string(),
            checkpoint_payload: payload,
        },
    );
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: compaction installed event cmp-1 did not include a thread id")
    );
}

#[test]
fn local_compaction_reduces_like_remote_with_its_summarising_call() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "one")]);
    log.inference(
        ROOT,
        "turn-1",
        "inf-sum",
        vec![message("user", "summarise")],
    );
    let payload = log.payload(
        PayloadKind::CompactionCheckpoint,
        &json!({"input_history": [message("user", "one")], "replacement_history": [message("user", "summary")]}),
    );
    log.push(
        Some(ROOT),
        Some("turn-1"),
        EventPayload::LocalCompactionInstalled {
            compaction_id: "local-1".to_string(),
            inference_call_id: Some("inf-sum".to_string()),
            checkpoint_payload: payload,
        },
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![message("user", "summary"), message("user", "one")],
    );
    let state = log.reduce_ok();
    let compaction = &state.compactions["local-1"];
    assert_eq!(compaction.mode, CompactionMode::Local);
    assert_eq!(compaction.inference_call_id.as_deref(), Some("inf-sum"));
    assert!(compaction.request_ids.is_empty());
    let replacement = compaction.replacement_item_ids[0].clone();
    let request = &state.inference_calls["inf-2"].request_item_ids;
    assert_eq!(request[0], replacement);
    // "one" is pre-boundary: it must not come back under its old id.
    assert_ne!(&*request[1], "conversation_item:000001");
}
