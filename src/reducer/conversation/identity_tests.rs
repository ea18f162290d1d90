//! Tests for item identity and alignment: reuse of history items by position
//! and by content, incremental chains, reasoning matched by its encrypted
//! content or id, call-id consistency, and the identities a saved state must
//! keep in step with its items.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::model::{ConversationItemKind, ConversationPart, ProducerRef};
use crate::reducer::Reducer;
use crate::reducer::test_support::{
    Log, ROOT, custom_output, exec_call, function_call, function_output, ids, message, parts,
};

#[test]
fn request_snapshots_reuse_history_without_deduping_new_identical_items() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "ok")]);
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("user", "ok"),
            message("user", "ack"),
            message("user", "ok"),
        ],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-1"].request_item_ids,
        ids(&["000001"])
    );
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001", "000002", "000003"])
    );
    assert_eq!(state.conversation_items.len(), 3);
    assert_eq!(
        state.threads[ROOT].conversation_item_ids,
        ids(&["000001", "000002", "000003"])
    );
}

#[test]
fn full_request_snapshot_can_reorder_existing_items_and_insert_summary() {
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![message("developer", "rules"), message("user", "hi")],
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("user", "hi"),
            json!({"type": "compaction_summary", "encrypted_content": "blob"}),
            message("developer", "rules"),
        ],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000002", "000003", "000001"])
    );
}

#[test]
fn later_full_request_reuses_prior_json_tool_call_by_position() {
    let mut log = Log::started();
    let call = function_call("call-1", "exec_command", "{\"cmd\":\"ls\"}");
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "list")]);
    log.complete(ROOT, "turn-1", "inf-1", "resp-1", vec![call.clone()]);
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("user", "list"),
            call,
            function_output("call-1", "a b"),
        ],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001", "000002", "000003"])
    );
    let ConversationPart::Json { blake3, .. } =
        &state.conversation_items["conversation_item:000002"]
            .body
            .parts[0]
    else {
        panic!("json arguments");
    };
    assert_eq!(blake3.len(), 64);
}

/// A full request's items are recognised by their exact text when that text
/// was normalised before; an item so recognised that is new in this thread
/// must still come out as if parsed here, citing this request's payload.
#[test]
fn an_item_text_seen_in_another_thread_is_a_new_item_citing_its_own_payload() {
    let mut log = Log::started();
    log.child_thread("child", "/root/child", ROOT);
    log.turn("child", "turn-c");
    let output = function_call("call-1", "exec_command", "{\"cmd\":\"ls\",\"rows\":[1,2]}");
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![message("user", "go"), output.clone()],
    );
    // The same texts again in the root thread (reused), then in the child
    // (new there), then in the child again (reused).
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![message("user", "go"), output.clone()],
    );
    log.inference("child", "turn-c", "inf-3", vec![output.clone()]);
    log.inference("child", "turn-c", "inf-4", vec![output]);
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001", "000002"])
    );
    assert_eq!(
        state.inference_calls["inf-3"].request_item_ids,
        ids(&["000003"])
    );
    assert_eq!(
        state.inference_calls["inf-4"].request_item_ids,
        ids(&["000003"])
    );
    let json_part = |item: &str| match &state.conversation_items[item].body.parts[..] {
        [
            ConversationPart::Json {
                raw_payload_id,
                blake3,
                ..
            },
        ] => (raw_payload_id.clone(), blake3.clone()),
        other => panic!("expected one JSON part, got {other:?}"),
    };
    let (root_payload, root_hash) = json_part("conversation_item:000002");
    let (child_payload, child_hash) = json_part("conversation_item:000003");
    assert_eq!(
        root_payload,
        state.inference_calls["inf-1"].raw_request_payload_id
    );
    assert_eq!(
        child_payload,
        state.inference_calls["inf-3"].raw_request_payload_id
    );
    assert_eq!(root_hash, child_hash);
    assert_eq!(
        state.conversation_items["conversation_item:000003"].thread_id,
        "child"
    );
}

/// Request texts the quick skim does not take (a repeated `input` key) or
/// takes in another shape (a bare array) reduce as the full JSON path reads
/// them: the last `input` wins.
#[test]
fn odd_request_texts_reduce_as_their_json_reads() {
    let mut log = Log::started();
    let texts = [
        r#"{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"a"}]}],"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"b"}]}]}"#,
        r#" [{"type":"message","role":"user","content":[{"type":"input_text","text":"b"}]}]"#,
    ];
    for (n, text) in texts.iter().enumerate() {
        log.inference_request_text(ROOT, "turn-1", &format!("inf-{n}"), text);
    }
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-0"].request_item_ids,
        ids(&["000001"])
    );
    assert_eq!(
        state.inference_calls["inf-1"].request_item_ids,
        ids(&["000001"])
    );
    assert_eq!(
        state.conversation_items["conversation_item:000001"]
            .body
            .parts,
        [ConversationPart::Text {
            text: "b".to_string()
        }]
    );
}

#[test]
fn incremental_request_carries_prior_request_and_response_items_forward() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "run tests")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![function_call("call-1", "exec_command", "{}")],
    );
    log.inference_request(
        ROOT,
        "turn-1",
        "inf-2",
        &json!({"previous_response_id": "resp-1", "input": [function_output("call-1", "ok")]}),
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001", "000002", "000003"])
    );
}

#[test]
fn unknown_previous_response_id_is_reducer_error() {
    let mut log = Log::started();
    let seq = log.inference_request(
        ROOT,
        "turn-1",
        "inf-1",
        &json!({"previous_response_id": "resp-missing", "input": []}),
    );
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: incremental inference request inf-1 referenced unknown previous_response_id resp-missing in thread thread-root"
        )
    );
}

#[test]
fn response_outputs_enter_thread_conversation_on_completion() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![message("assistant", "hello")],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.threads[ROOT].conversation_item_ids,
        ids(&["000001", "000002"])
    );
    let item = &state.conversation_items["conversation_item:000002"];
    assert_eq!(
        item.produced_by,
        vec![ProducerRef::Inference {
            inference_call_id: "inf-1".to_string()
        }]
    );
    assert_eq!(
        state.inference_calls["inf-1"].response_item_ids,
        ids(&["000002"])
    );
}

#[test]
fn encrypted_reasoning_is_matched_by_encrypted_content() {
    let mut log = Log::started();
    let with_text = json!({"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "think"}], "encrypted_content": "enc-1"});
    let without_text = json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "sum"}], "encrypted_content": "enc-1"});
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    log.complete(ROOT, "turn-1", "inf-1", "resp-1", vec![with_text]);
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![message("user", "hi"), without_text],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001", "000002"])
    );
    assert_eq!(
        state.conversation_items["conversation_item:000002"]
            .body
            .parts,
        vec![
            ConversationPart::Text {
                text: "think".to_string()
            },
            ConversationPart::Summary {
                text: "sum".to_string()
            },
            ConversationPart::Encoded {
                label: "encrypted_content".to_string(),
                value: "enc-1".to_string()
            },
        ]
    );
}

#[test]
fn same_encrypted_reasoning_with_different_text_reuses_first_readable_body() {
    let mut log = Log::started();
    let first = json!({"type": "reasoning", "content": [{"type": "text", "text": "first"}], "encrypted_content": "enc"});
    let second = json!({"type": "reasoning", "content": [{"type": "text", "text": "second"}], "encrypted_content": "enc"});
    log.inference(ROOT, "turn-1", "inf-1", vec![first]);
    log.inference(ROOT, "turn-1", "inf-2", vec![second]);
    let state = log.reduce_ok();
    assert_eq!(state.conversation_items.len(), 1);
    assert_eq!(
        state.conversation_items["conversation_item:000001"]
            .body
            .parts[0],
        ConversationPart::Text {
            text: "first".to_string()
        }
    );
}

#[test]
fn model_visible_call_id_reuse_with_different_content_is_reducer_error() {
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![function_output("call-1", "a")],
    );
    let seq = log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![function_output("call-1", "b")],
    );
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: model-visible call id call-1 was reused with different content in thread thread-root (first item conversation_item:000001)"
        )
    );
}

#[test]
fn json_bodies_with_the_same_summary_prefix_are_different_items() {
    let long = "x".repeat(300);
    let a = format!("{{\"text\":\"{long}a\"}}");
    let b = format!("{{\"text\":\"{long}b\"}}");
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![function_call("call-a", "f", &a)],
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![function_call("call-b", "f", &b)],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000002"])
    );
}

#[test]
fn notify_output_reusing_the_exec_call_id_is_not_a_conflict() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "go")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![exec_call("call-exec", "notify('hi')")],
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("user", "go"),
            exec_call("call-exec", "notify('hi')"),
            custom_output("call-exec", "hi"),
            custom_output("call-exec", "done"),
        ],
    );
    let state = log.reduce_ok();
    assert_eq!(state.inference_calls["inf-2"].request_item_ids.len(), 4);
    assert_eq!(
        state.conversation_items["conversation_item:000004"].kind,
        ConversationItemKind::CustomToolCallOutput
    );
}
#[test]
fn items_are_found_by_ordinal_and_a_saved_state_out_of_step_is_refused() {
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![message("user", "a"), message("user", "b")],
    );
    let mut reducer = Reducer::new("rollout-test");
    for event in &log.events {
        reducer.apply(event, &log.payloads).expect("apply");
    }
    assert_eq!(
        reducer
            .state()
            .conversation_items
            .position_of("conversation_item:000002"),
        Some(1)
    );
    assert_eq!(
        reducer
            .state()
            .conversation_items
            .position_of("conversation_item:2"),
        None
    );
    assert_eq!(
        reducer
            .state()
            .conversation_items
            .position_of("conversation_item:000003"),
        None
    );
    assert_eq!(
        reducer
            .state()
            .conversation_items
            .position_of("conversation_item:x"),
        None
    );
    assert_eq!(
        reducer.identity_of("conversation_item:000001"),
        reducer.identity_of("conversation_item:000001")
    );
    assert_ne!(
        reducer.identity_of("conversation_item:000001"),
        reducer.identity_of("conversation_item:000002")
    );

    // Items reordered in a saved state: refused on resume, naming the item.
    let mut saved: serde_json::Value = serde_json::from_slice(&reducer.save()).expect("saved json");
    let mut reordered = saved.clone();
    let items = reordered["reducer"]["trace"]["conversation_items"]
        .as_object_mut()
        .expect("items");
    let first = items
        .shift_remove("conversation_item:000001")
        .expect("first");
    items.insert("conversation_item:000001".to_string(), first);
    let err = Reducer::resume(&serde_json::to_vec(&reordered).expect("json")).expect_err("refused");
    assert!(
        err.to_string().contains(
            r#"entry 1 is "conversation_item:000002", expected "conversation_item:000001""#
        ),
        "{err}"
    );

    // Another version, or none (a state saved before versions): refused,
    // naming it.
    let mut other_version = saved.clone();
    other_version["saved_state_version"] = serde_json::json!(2);
    let err =
        Reducer::resume(&serde_json::to_vec(&other_version).expect("json")).expect_err("refused");
    assert!(
        err.to_string()
            .contains("saved state version 2; this build resumes version 1"),
        "{err}"
    );
    let unversioned = saved["reducer"].clone();
    let err =
        Reducer::resume(&serde_json::to_vec(&unversioned).expect("json")).expect_err("refused");
    assert!(err.to_string().contains("no saved_state_version"), "{err}");
    assert_eq!(saved["saved_state_version"], 1);

    // One identity missing: refused on resume, naming both counts.
    saved["reducer"]["item_identity"]
        .as_array_mut()
        .expect("identities")
        .pop();
    let err = Reducer::resume(&serde_json::to_vec(&saved).expect("json")).expect_err("refused");
    assert!(
        err.to_string()
            .contains("1 item identities for 2 conversation items"),
        "{err}"
    );
}
/// Reasoning kept by the provider is resent by id alone: it is the same item
/// as the response's reasoning with that id, which keeps its summary.
#[test]
fn reasoning_with_an_id_is_identified_by_it() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    log.complete(
        ROOT,
        "turn-1",
        "inf-1",
        "resp-1",
        vec![json!({"type": "reasoning", "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "thinking about hi"}]})],
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![
            message("user", "hi"),
            json!({"type": "reasoning", "id": "rs_1", "summary": []}),
        ],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001", "000002"])
    );
    assert_eq!(
        parts(&state, "000002"),
        [
            ConversationPart::Summary {
                text: "thinking about hi".to_string()
            },
            ConversationPart::Encoded {
                label: "id".to_string(),
                value: "rs_1".to_string()
            }
        ]
    );
}
