//! Tests for conversation normalisation and reconciliation.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::model::{ConversationItemKind, ConversationPart, ProducerRef};
use crate::reducer::Reducer;
use crate::reducer::test_support::{
    Log, ROOT, custom_output, exec_call, function_call, function_output, message,
};

fn ids(items: &[&str]) -> Vec<crate::model::ItemId> {
    items
        .iter()
        .map(|id| format!("conversation_item:{id}").into())
        .collect()
}

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
fn json_summary_never_splits_a_multibyte_character() {
    let text = "\u{1F600}".repeat(100);
    let arguments = json!({ "text": text }).to_string();
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![function_call("call-1", "f", &arguments)],
    );
    let state = log.reduce_ok();
    let ConversationPart::Json { summary, .. } =
        &state.conversation_items["conversation_item:000001"]
            .body
            .parts[0]
    else {
        panic!("json part");
    };
    assert!(summary.len() <= 240);
    assert!(arguments.starts_with(summary.as_str()));
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
fn unsupported_model_item_is_reducer_error() {
    let mut log = Log::started();
    let seq = log.inference(ROOT, "turn-1", "inf-1", vec![json!({"type": "hologram"})]);
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: unsupported model item type hologram in payload raw_payload:000001")
    );
}

#[test]
fn request_without_input_is_reducer_error() {
    let mut log = Log::started();
    let seq = log.inference_request(ROOT, "turn-1", "inf-1", &json!({"model": "x"}));
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: inference request payload raw_payload:000001 did not contain input")
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

/// The parts of item `n` of a state.
fn parts(state: &crate::model::RolloutTrace, n: &str) -> Vec<ConversationPart> {
    state.conversation_items[&*format!("conversation_item:{n}")]
        .body
        .parts
        .clone()
}

/// A payload reference part's label and payload id.
fn payload_ref(part: &ConversationPart) -> (&str, &str) {
    match part {
        ConversationPart::PayloadRef {
            label,
            raw_payload_id,
            blake3,
        } => {
            assert_eq!(blake3.len(), 64);
            (label.as_str(), raw_payload_id.as_str())
        }
        other => panic!("expected a payload_ref part, got {other:?}"),
    }
}

fn text(text: &str) -> ConversationPart {
    ConversationPart::Text {
        text: text.to_string(),
    }
}

/// codex-protocol serialises a function output that has content items as a
/// list of them: each `input_text` is a text part (not one JSON part).
#[test]
fn function_output_given_as_content_items_is_one_text_part_per_input_text() {
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![
            json!({"type": "function_call_output", "call_id": "call-1", "output": [
                {"type": "input_text", "text": "line one"},
                {"type": "input_text", "text": "line two"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
            ]}),
        ],
    );
    let state = log.reduce_ok();
    let body = parts(&state, "000001");
    assert_eq!(body[..2], [text("line one"), text("line two")]);
    assert_eq!(payload_ref(&body[2]), ("input_image", "raw_payload:000001"));
    assert_eq!(body.len(), 3);
}

/// An image is a `payload_ref{label: "input_image"}` citing the payload, and
/// the state never holds its base64 data.
#[test]
fn input_image_is_a_payload_ref_and_its_data_stays_in_the_payload() {
    let mut log = Log::started();
    let image = json!({"type": "input_image", "image_url": "data:image/png;base64,SECRETPIXELS"});
    let input = vec![json!({"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "what is this?"}, image,
    ]})];
    log.inference(ROOT, "turn-1", "inf-1", input.clone());
    log.inference(ROOT, "turn-1", "inf-2", input);
    let state = log.reduce_ok();
    let body = parts(&state, "000001");
    assert_eq!(body[0], text("what is this?"));
    assert_eq!(payload_ref(&body[1]), ("input_image", "raw_payload:000001"));
    let json = crate::reducer::state_to_json(&state);
    assert!(!json.contains("SECRETPIXELS"));
    // A later full request resends the image in another payload: the item
    // is reused (the reference compared the payload id and made a new one).
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001"])
    );
}

/// The reference's labelled references for bodies it does not inline.
#[test]
fn empty_string_and_missing_bodies_are_labelled_payload_refs() {
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![
            json!({"type": "message", "role": "user", "content": []}),
            json!({"type": "message", "role": "user", "content": "plain string"}),
            json!({"type": "message", "role": "user"}),
            json!({"type": "message", "role": "user", "content": [{"type": "input_text"}]}),
            json!({"type": "message", "role": "user", "content": [{"type": "input_audio", "data": "x"}]}),
            json!({"type": "function_call", "name": "f", "call_id": "call-1"}),
            json!({"type": "function_call_output", "call_id": "call-1"}),
            json!({"type": "custom_tool_call_output", "call_id": "call-2"}),
            json!({"type": "function_call_output", "call_id": "call-3", "output": []}),
        ],
    );
    let state = log.reduce_ok();
    let labels: Vec<String> = (1..=9)
        .map(|n| {
            let body = parts(&state, &format!("{n:06}"));
            assert_eq!(body.len(), 1, "item {n}: {body:?}");
            let (label, payload) = payload_ref(&body[0]);
            assert_eq!(payload, "raw_payload:000001");
            label.to_string()
        })
        .collect();
    assert_eq!(
        labels,
        [
            "empty_content",
            "content",
            "content",
            "empty_content",
            "input_audio",
            "payload",
            "tool_output",
            "tool_output",
            "empty_content",
        ]
    );
}

/// Arguments that parse as JSON are JSON, scalars included.
#[test]
fn scalar_json_arguments_are_json_parts() {
    let mut log = Log::started();
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![
            function_call("call-1", "f", "42"),
            function_call("call-2", "f", "\"quoted\""),
            function_call("call-3", "f", "not json"),
        ],
    );
    let state = log.reduce_ok();
    let summary = |n: &str| match &parts(&state, n)[..] {
        [ConversationPart::Json { summary, .. }] => summary.clone(),
        other => panic!("expected one JSON part, got {other:?}"),
    };
    assert_eq!(summary("000001"), "42");
    assert_eq!(summary("000002"), "\"quoted\"");
    assert_eq!(parts(&state, "000003"), [text("not json")]);
}

/// Only `commentary`, `final_answer` and `summary` phases set a channel;
/// `analysis` and `final` leave it null, as in the reference.
#[test]
fn only_the_reference_phases_set_a_channel() {
    use crate::model::ConversationChannel as Channel;
    let mut log = Log::started();
    let said = |phase: &str| {
        let mut item = message("assistant", phase);
        item["phase"] = json!(phase);
        item
    };
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        ["analysis", "final", "commentary", "final_answer", "summary"]
            .into_iter()
            .map(said)
            .collect(),
    );
    let state = log.reduce_ok();
    let channels: Vec<Option<Channel>> = state
        .conversation_items
        .values()
        .map(|item| item.channel)
        .collect();
    assert_eq!(
        channels,
        [
            None,
            None,
            Some(Channel::Commentary),
            Some(Channel::Final),
            Some(Channel::Summary)
        ]
    );
}

/// Harness metadata is stripped before identity: an item resent with other
/// metadata is the same item, and a JSON body never shows it.
#[test]
fn metadata_passthrough_is_no_part_of_item_identity() {
    let mut log = Log::started();
    let with = |turn: &str, item: serde_json::Value| {
        let mut item = item;
        item["internal_chat_message_metadata_passthrough"] = json!({"turn_id": turn});
        item
    };
    let search = json!({"type": "web_search_call", "call_id": "ws-1", "action": {"query": "q"}});
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![
            with("t1", message("user", "hi")),
            with("t1", search.clone()),
        ],
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![with("t2", message("user", "hi")), search],
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001", "000002"])
    );
    let ConversationPart::Json { summary, .. } = &parts(&state, "000002")[0] else {
        panic!("json body");
    };
    assert!(!summary.contains("passthrough"), "{summary}");
}

/// `additional_tools` items declare tools inside a request's input; they are
/// not conversation.
#[test]
fn additional_tools_items_in_requests_are_skipped() {
    let mut log = Log::started();
    let tools = json!({"type": "additional_tools", "role": "developer",
                       "tools": [{"type": "function", "name": "f"}]});
    log.inference(
        ROOT,
        "turn-1",
        "inf-1",
        vec![tools.clone(), message("user", "hi")],
    );
    // A bare list, and a repeated key, take the other reading paths.
    log.inference_request_text(
        ROOT,
        "turn-1",
        "inf-2",
        &format!(
            r#"{{"input":[],"input":[{tools},{}]}}"#,
            message("user", "hi")
        ),
    );
    let state = log.reduce_ok();
    assert_eq!(state.conversation_items.len(), 1);
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        ids(&["000001"])
    );
}

#[test]
fn cache_write_input_tokens_are_kept_in_token_usage() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![message("user", "hi")]);
    let payload = log.payload(
        crate::event::PayloadKind::InferenceResponse,
        &json!({"response_id": "resp-1", "output_items": [],
                "token_usage": {"input_tokens": 100, "cached_input_tokens": 60,
                                "cache_write_input_tokens": 30, "output_tokens": 5,
                                "reasoning_output_tokens": 1, "total_tokens": 105}}),
    );
    log.push(
        Some(ROOT),
        Some("turn-1"),
        crate::event::EventPayload::InferenceCompleted {
            inference_call_id: "inf-1".to_string(),
            response_id: Some("resp-1".to_string()),
            upstream_request_id: None,
            response_payload: payload,
        },
    );
    let state = log.reduce_ok();
    let usage = state.inference_calls["inf-1"].usage.clone().expect("usage");
    assert_eq!(usage.cache_write_input_tokens, 30);
    assert_eq!(usage.input_tokens, 100);
    assert_eq!(usage.cached_input_tokens, 60);
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
