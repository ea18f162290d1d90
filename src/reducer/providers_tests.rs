//! Tests for provider payload shapes: Anthropic Messages and Chat
//! Completions rollouts reduce to the same items as their Responses twins.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::event::{EventPayload, PayloadKind, RawToolCallRequester, ToolCallKind};
use crate::model::{ConversationPart, ItemId, ProducerRef, RolloutTrace, TokenUsage};
use crate::reducer::test_support::{Log, ROOT, item_ids};

/// Completes `id` with `response` as the whole response payload, and no
/// response id on the event (so the payload's own id is used).
fn complete_with(log: &mut Log, turn: &str, id: &str, response: &Value) -> u64 {
    let payload = log.payload(PayloadKind::InferenceResponse, response);
    log.push(
        Some(ROOT),
        Some(turn),
        EventPayload::InferenceCompleted {
            inference_call_id: id.to_string(),
            response_id: None,
            upstream_request_id: None,
            response_payload: payload,
        },
    )
}

/// What a reduced conversation looks like, ids included: the thread's items
/// in order (kind, role, channel, call id, producers, body), every
/// inference call's request and response items and started tools, and every
/// tool call's model-visible items. Bodies keep text, summaries, code,
/// encoded values and JSON hashes and summaries; labels of encoded parts and
/// payload ids are left out (an Anthropic signature is labelled
/// `signature`, its Responses twin `encrypted_content`).
fn shape(state: &RolloutTrace) -> Value {
    let items: Vec<Value> = state.threads[ROOT]
        .conversation_item_ids
        .iter()
        .map(|id| {
            let item = &state.conversation_items[&**id];
            let body: Vec<Value> = item
                .body
                .parts
                .iter()
                .map(|part| match part {
                    ConversationPart::Text { text } => json!({"text": text}),
                    ConversationPart::Summary { text } => json!({"summary": text}),
                    ConversationPart::Encoded { value, .. } => json!({"encoded": value}),
                    ConversationPart::Json {
                        summary, blake3, ..
                    } => json!({"json": summary, "blake3": blake3}),
                    ConversationPart::Code { language, source } => {
                        json!({"code": source, "language": language})
                    }
                    ConversationPart::PayloadRef { label, blake3, .. } => {
                        json!({"payload_ref": label, "blake3": blake3})
                    }
                })
                .collect();
            let producers: Vec<Value> = item
                .produced_by
                .iter()
                .map(|producer| serde_json::to_value(producer).expect("json"))
                .collect();
            json!({
                "id": id.to_string(),
                "kind": item.kind,
                "role": item.role,
                "channel": item.channel,
                "call_id": item.call_id,
                "produced_by": producers,
                "body": body,
            })
        })
        .collect();
    let calls: Vec<Value> = state
        .inference_calls
        .values()
        .map(|call| {
            json!({
                "id": call.inference_call_id,
                "request": call.request_item_ids,
                "response": call.response_item_ids,
                "tools": call.tool_call_ids_started_by_response,
            })
        })
        .collect();
    let tools: Vec<Value> = state
        .tool_calls
        .values()
        .map(|tool| {
            json!({
                "id": tool.tool_call_id,
                "calls": tool.model_visible_call_item_ids,
                "outputs": tool.model_visible_output_item_ids,
            })
        })
        .collect();
    json!({"items": items, "inference_calls": calls, "tool_calls": tools})
}

/// The conversation every dialect below spells: a system prompt, a question,
/// reasoning + a sentence + a tool call, the tool's result, an answer, and a
/// second turn. Each request is a full snapshot of the history.
struct Dialect {
    request: fn(&[Value]) -> Value,
    /// The messages (or items) of each step, in the dialect.
    system_and_question: Vec<Value>,
    reply_1: Value,
    reply_1_history: Vec<Value>,
    tool_result: Vec<Value>,
    reply_2: Value,
    reply_2_history: Vec<Value>,
    thanks: Vec<Value>,
    reply_3: Value,
}

/// Reduces a dialect's rollout: three inference calls over two turns and one
/// tool call, `call_1`, started before the response that carries it.
fn reduce_dialect(dialect: &Dialect) -> RolloutTrace {
    let mut log = Log::started();
    let mut history = dialect.system_and_question.clone();
    log.inference_request(ROOT, "turn-1", "inf-1", &(dialect.request)(&history));
    log.tool_start(
        ROOT,
        "turn-1",
        "tool-1",
        Some("call_1"),
        RawToolCallRequester::Model,
        ToolCallKind::Other {
            name: "shell".to_string(),
        },
        None,
    );
    complete_with(&mut log, "turn-1", "inf-1", &dialect.reply_1);
    log.tool_end(ROOT, "turn-1", "tool-1", None);
    history.extend(dialect.reply_1_history.iter().cloned());
    history.extend(dialect.tool_result.iter().cloned());
    log.inference_request(ROOT, "turn-1", "inf-2", &(dialect.request)(&history));
    complete_with(&mut log, "turn-1", "inf-2", &dialect.reply_2);
    log.turn(ROOT, "turn-2");
    history.extend(dialect.reply_2_history.iter().cloned());
    history.extend(dialect.thanks.iter().cloned());
    log.inference_request(ROOT, "turn-2", "inf-3", &(dialect.request)(&history));
    complete_with(&mut log, "turn-2", "inf-3", &dialect.reply_3);
    log.reduce_ok()
}

const LS: &str = "{\"cmd\":\"ls | wc -l\"}";

fn responses_dialect(signature: Option<&str>) -> Dialect {
    let text = |role: &str, kind: &str, text: &str| json!({"type": "message", "role": role, "content": [{"type": kind, "text": text}]});
    let mut reasoning = json!({
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "need to count"}],
    });
    if let Some(signature) = signature {
        reasoning["encrypted_content"] = json!(signature);
    }
    let reply_1_items = vec![
        reasoning,
        text("assistant", "output_text", "Let me count."),
        json!({"type": "function_call", "name": "shell", "call_id": "call_1", "arguments": LS}),
    ];
    let reply = |items: &[Value]| json!({"response_id": null, "output_items": items});
    Dialect {
        request: |items| json!({"model": "m", "input": items}),
        system_and_question: vec![
            text("system", "input_text", "Be terse."),
            text("user", "input_text", "How many files?"),
        ],
        reply_1: reply(&reply_1_items),
        reply_1_history: reply_1_items,
        tool_result: vec![
            json!({"type": "function_call_output", "call_id": "call_1", "output": "3\n"}),
        ],
        reply_2: reply(&[text("assistant", "output_text", "There are 3 files.")]),
        reply_2_history: vec![text("assistant", "output_text", "There are 3 files.")],
        thanks: vec![text("user", "input_text", "Thanks")],
        reply_3: reply(&[text("assistant", "output_text", "You're welcome.")]),
    }
}

fn anthropic_dialect() -> Dialect {
    let reply_1_content = json!([
        {"type": "thinking", "thinking": "need to count", "signature": "sig-1"},
        {"type": "text", "text": "Let me count."},
        {"type": "tool_use", "id": "call_1", "name": "shell", "input": {"cmd": "ls | wc -l"}},
    ]);
    let reply = |id: &str, content: Value, stop: &str| {
        json!({
            "id": id, "type": "message", "role": "assistant", "model": "claude-test",
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        })
    };
    Dialect {
        request: |messages| {
            json!({
                "model": "claude-test", "max_tokens": 1024,
                "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
                "messages": messages,
            })
        },
        system_and_question: vec![json!({"role": "user", "content": "How many files?"})],
        reply_1: reply("msg_1", reply_1_content.clone(), "tool_use"),
        reply_1_history: vec![json!({"role": "assistant", "content": reply_1_content})],
        tool_result: vec![json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "3\n",
             "cache_control": {"type": "ephemeral"}},
        ]})],
        reply_2: reply(
            "msg_2",
            json!([{"type": "text", "text": "There are 3 files."}]),
            "end_turn",
        ),
        reply_2_history: vec![json!({"role": "assistant", "content": [
            {"type": "text", "text": "There are 3 files."},
        ]})],
        thanks: vec![json!({"role": "user", "content": [{"type": "text", "text": "Thanks"}]})],
        reply_3: reply(
            "msg_3",
            json!([{"type": "text", "text": "You're welcome."}]),
            "end_turn",
        ),
    }
}

fn chat_dialect() -> Dialect {
    let assistant_1 = json!({
        "role": "assistant",
        "reasoning_content": "need to count",
        "content": "Let me count.",
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "shell", "arguments": LS}}],
    });
    let reply = |id: &str, message: Value, finish: &str| {
        json!({
            "id": id, "object": "chat.completion", "model": "gpt-test",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        })
    };
    let said = |text: &str| json!({"role": "assistant", "content": text});
    Dialect {
        request: |messages| json!({"model": "gpt-test", "messages": messages}),
        system_and_question: vec![
            json!({"role": "system", "content": "Be terse."}),
            json!({"role": "user", "content": "How many files?"}),
        ],
        reply_1: reply("chatcmpl-1", assistant_1.clone(), "tool_calls"),
        reply_1_history: vec![assistant_1],
        tool_result: vec![json!({"role": "tool", "tool_call_id": "call_1", "content": "3\n"})],
        reply_2: reply("chatcmpl-2", said("There are 3 files."), "stop"),
        reply_2_history: vec![said("There are 3 files.")],
        thanks: vec![json!({"role": "user", "content": [{"type": "text", "text": "Thanks"}]})],
        reply_3: reply("chatcmpl-3", said("You're welcome."), "stop"),
    }
}

/// The structure both twins must have: items reused across the three full
/// requests, the tool linked to its call and output.
fn assert_expected_structure(state: &RolloutTrace) {
    let ids = |ids: &[&str]| -> Vec<ItemId> {
        ids.iter()
            .map(|id| format!("conversation_item:{id}").into())
            .collect()
    };
    // system, question | reasoning, sentence, call | output | answer |
    // thanks | welcome.
    assert_eq!(state.conversation_items.len(), 9);
    let calls = &state.inference_calls;
    assert_eq!(calls["inf-1"].request_item_ids, ids(&["000001", "000002"]));
    assert_eq!(
        calls["inf-1"].response_item_ids,
        ids(&["000003", "000004", "000005"])
    );
    assert_eq!(
        calls["inf-2"].request_item_ids,
        ids(&["000001", "000002", "000003", "000004", "000005", "000006"])
    );
    assert_eq!(
        calls["inf-3"].request_item_ids,
        ids(&[
            "000001", "000002", "000003", "000004", "000005", "000006", "000007", "000008"
        ])
    );
    assert_eq!(
        calls["inf-1"].tool_call_ids_started_by_response,
        vec!["tool-1"]
    );
    let tool = &state.tool_calls["tool-1"];
    assert_eq!(tool.model_visible_call_item_ids, ids(&["000005"]));
    assert_eq!(tool.model_visible_output_item_ids, ids(&["000006"]));
    assert_eq!(
        state.conversation_items["conversation_item:000006"].produced_by,
        vec![ProducerRef::Tool {
            tool_call_id: "tool-1".to_string()
        }]
    );
}

#[test]
fn anthropic_messages_rollout_reduces_like_its_responses_twin() {
    let anthropic = reduce_dialect(&anthropic_dialect());
    let twin = reduce_dialect(&responses_dialect(Some("sig-1")));
    assert_expected_structure(&twin);
    assert_eq!(shape(&anthropic), shape(&twin));
    assert_eq!(
        anthropic.inference_calls["inf-1"].response_id.as_deref(),
        Some("msg_1")
    );
}

#[test]
fn chat_completions_rollout_reduces_like_its_responses_twin() {
    let chat = reduce_dialect(&chat_dialect());
    let twin = reduce_dialect(&responses_dialect(None));
    assert_expected_structure(&twin);
    assert_eq!(shape(&chat), shape(&twin));
    assert_eq!(
        chat.inference_calls["inf-2"].response_id.as_deref(),
        Some("chatcmpl-2")
    );
}

#[test]
fn anthropic_usage_counts_cache_reads_and_writes_as_input() {
    let mut log = Log::started();
    log.inference_request(
        ROOT,
        "turn-1",
        "inf-1",
        &json!({"messages": [{"role": "user", "content": "hi"}]}),
    );
    complete_with(
        &mut log,
        "turn-1",
        "inf-1",
        &json!({"id": "msg_1", "role": "assistant", "content": [{"type": "text", "text": "hello"}],
                "usage": {"input_tokens": 3, "output_tokens": 7,
                          "cache_creation_input_tokens": 20, "cache_read_input_tokens": 100}}),
    );
    let state = log.reduce_ok();
    assert_eq!(
        state.inference_calls["inf-1"].usage,
        Some(TokenUsage {
            input_tokens: 123,
            cached_input_tokens: 100,
            output_tokens: 7,
            reasoning_output_tokens: 0,
            cache_write_input_tokens: 20,
        })
    );
}

#[test]
fn chat_and_responses_usage_read_their_detail_fields() {
    let mut log = Log::started();
    log.inference_request(
        ROOT,
        "turn-1",
        "inf-1",
        &json!({"messages": [{"role": "user", "content": "hi"}]}),
    );
    complete_with(
        &mut log,
        "turn-1",
        "inf-1",
        &json!({"id": "c-1", "choices": [{"message": {"role": "assistant", "content": "hello"}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 9,
                          "prompt_tokens_details": {"cached_tokens": 40},
                          "completion_tokens_details": {"reasoning_tokens": 4}}}),
    );
    log.inference_request(
        ROOT,
        "turn-1",
        "inf-2",
        &json!({"input": [{"type": "message", "role": "user",
                           "content": [{"type": "input_text", "text": "hi"}]}]}),
    );
    complete_with(
        &mut log,
        "turn-1",
        "inf-2",
        &json!({"id": "resp_2", "object": "response",
                "output": [{"type": "message", "role": "assistant",
                            "content": [{"type": "output_text", "text": "hello"}]}],
                "usage": {"input_tokens": 60, "output_tokens": 8,
                          "input_tokens_details": {"cached_tokens": 30},
                          "output_tokens_details": {"reasoning_tokens": 2}}}),
    );
    let state = log.reduce_ok();
    let usage = |id: &str| state.inference_calls[id].usage.clone();
    assert_eq!(
        usage("inf-1"),
        Some(TokenUsage {
            input_tokens: 50,
            cached_input_tokens: 40,
            output_tokens: 9,
            reasoning_output_tokens: 4,
            cache_write_input_tokens: 0,
        })
    );
    assert_eq!(
        usage("inf-2"),
        Some(TokenUsage {
            input_tokens: 60,
            cached_input_tokens: 30,
            output_tokens: 8,
            reasoning_output_tokens: 2,
            cache_write_input_tokens: 0,
        })
    );
    assert_eq!(
        state.inference_calls["inf-2"].response_id.as_deref(),
        Some("resp_2")
    );
    assert_eq!(state.inference_calls["inf-2"].response_item_ids.len(), 1);
}

#[test]
fn anthropic_blocks_split_into_items_in_order() {
    let mut log = Log::started();
    log.inference_request(
        ROOT,
        "turn-1",
        "inf-1",
        &json!({
            "system": "Be terse.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}},
                    {"type": "tool_use", "id": "toolu_2", "name": "ping"},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true,
                     "content": [{"type": "text", "text": "no"}, {"type": "text", "text": "such file"}]},
                    {"type": "tool_result", "tool_use_id": "toolu_2"},
                    {"type": "text", "text": "Try again."},
                ]},
                {"role": "assistant", "content": []},
            ],
        }),
    );
    let state = log.reduce_ok();
    let summary: Vec<Value> = state
        .conversation_items
        .values()
        .map(|item| {
            let parts: Vec<Value> = item
                .body
                .parts
                .iter()
                .map(|part| match part {
                    ConversationPart::Text { text } => json!(text),
                    ConversationPart::Encoded { label, value } => json!([label, value]),
                    ConversationPart::Json { summary, .. } => json!({"json": summary}),
                    ConversationPart::PayloadRef { label, .. } => json!({"ref": label}),
                    other => json!(format!("{other:?}")),
                })
                .collect();
            json!([item.kind, item.role, item.call_id, parts])
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!(["message", "system", null, ["Be terse."]]),
            json!(["message", "user", null, ["Look:", {"ref": "input_image"}, {"ref": "document"}]]),
            json!([
                "reasoning",
                "assistant",
                null,
                [["redacted_thinking", "opaque"]]
            ]),
            json!(["function_call", "assistant", "toolu_1", [{"json": "{}"}]]),
            json!(["function_call", "assistant", "toolu_2", [{"ref": "payload"}]]),
            json!([
                "function_call_output",
                "tool",
                "toolu_1",
                ["no", "such file"]
            ]),
            json!(["function_call_output", "tool", "toolu_2", [{"ref": "tool_output"}]]),
            json!(["message", "user", null, ["Try again."]]),
            json!(["message", "assistant", null, [{"ref": "empty_content"}]]),
        ]
    );
}

/// An inline image is identified by its data, whichever API carried it, so
/// the same picture compares equal across requests and shapes.
#[test]
fn an_image_hashes_the_same_in_every_shape() {
    let mut log = Log::started();
    let data_url = "data:image/png;base64,AAAA";
    log.inference_request(
        ROOT,
        "turn-1",
        "inf-1",
        &json!({"messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url, "detail": "high"}}]},
        ]}),
    );
    log.inference(
        ROOT,
        "turn-1",
        "inf-2",
        vec![json!({"type": "message", "role": "user",
                    "content": [{"type": "input_image", "image_url": data_url}]})],
    );
    let state = log.reduce_ok();
    // The Responses request's image reuses the first item, from an earlier
    // payload.
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        item_ids(&["conversation_item:000001"])
    );
    let blake3 = |id: &str| match &state.conversation_items[id].body.parts[..] {
        [ConversationPart::PayloadRef { label, blake3, .. }] if label == "input_image" => {
            blake3.clone()
        }
        other => panic!("image part expected, got {other:?}"),
    };
    assert_eq!(
        blake3("conversation_item:000001"),
        blake3("conversation_item:000002")
    );
}

#[test]
fn chat_assistant_extras_become_items_and_parts() {
    let mut log = Log::started();
    log.inference_request(
        ROOT,
        "turn-1",
        "inf-1",
        &json!({"messages": [
            {"role": "developer", "content": [{"type": "text", "text": "rules"}]},
            {"role": "assistant", "content": null, "refusal": "I can't."},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_x", "type": "custom", "custom": {"name": "exec", "input": "text('hi')"}},
                {"id": "call_y", "type": "function", "function": {"name": "n", "arguments": "42"}},
            ]},
            {"role": "tool", "tool_call_id": "call_x", "content": [{"type": "text", "text": "hi"}]},
        ]}),
    );
    let state = log.reduce_ok();
    let items: Vec<_> = state.conversation_items.values().collect();
    assert_eq!(items.len(), 5);
    assert!(matches!(
        &items[1].body.parts[..],
        [ConversationPart::PayloadRef { label, .. }] if label == "refusal"
    ));
    assert_eq!(
        items[2].body.parts,
        vec![ConversationPart::Code {
            language: "javascript".to_string(),
            source: "text('hi')".to_string()
        }]
    );
    assert!(matches!(
        &items[3].body.parts[..],
        [ConversationPart::Json { summary, .. }] if summary == "42"
    ));
    assert_eq!(items[4].call_id.as_deref(), Some("call_x"));
}

#[test]
fn a_message_with_an_unknown_role_fails_naming_the_payload() {
    let mut log = Log::started();
    let seq = log.inference_request(
        ROOT,
        "turn-1",
        "inf-1",
        &json!({"messages": [{"role": "narrator", "content": "once"}]}),
    );
    assert_eq!(
        log.reduce_err(),
        format!("seq {seq}: unsupported message role narrator in payload raw_payload:000001")
    );
}

#[test]
fn a_response_of_no_known_shape_fails_naming_the_payload_and_call() {
    let mut log = Log::started();
    log.inference(ROOT, "turn-1", "inf-1", vec![]);
    let seq = complete_with(&mut log, "turn-1", "inf-1", &json!({"answer": 42}));
    assert_eq!(
        log.reduce_err(),
        format!(
            "seq {seq}: response payload raw_payload:000002 of inference inf-1 did not contain output_items (nor output, choices or content)"
        )
    );
}
