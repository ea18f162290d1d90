//! Tests for normalising model items: JSON summaries, labelled payload
//! references, images, channels, stripped metadata, skipped and unsupported
//! item types, and token usage.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::model::ConversationPart;
use crate::reducer::test_support::{Log, ROOT, function_call, ids, message, parts};

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
