//! Provider payload shapes: reading an inference request or response
//! payload, whatever API it was written for, into normalised conversation
//! items, a response id and token usage.
//!
//! The shape is told from the payload itself, never from the event's
//! `provider_name`: a host may put any provider behind any name.
//!
//! **Requests** (the first key that matches decides):
//! - a JSON list, or an object with `input` (a list): OpenAI Responses items,
//!   read by [`normalize_items`] (the reference's shape);
//! - an object with `messages` (a list): Anthropic Messages or OpenAI Chat
//!   Completions (see [`messages_request_items`]). The two dialects share no
//!   construct that they read differently, so each message is read by what
//!   it carries and a payload mixing them (as some gateways send) reads too.
//!
//! **Responses** (see [`read_response`]):
//! - `output_items` (a list): the Codex trace shape `{response_id,
//!   upstream_request_id, token_usage, output_items}` of the reference;
//! - `output` (a list): a Responses API response object (`id`, `usage`);
//! - `choices` (a list): a Chat Completions response; the first choice's
//!   `message` is what the model said (a host continues with one choice);
//! - `content` (a list): an Anthropic Messages response (`id`, `role`,
//!   `content`, `stop_reason`, `usage`).
//!
//! Items of every shape normalise into the same kinds, roles, bodies and
//! call ids as their Responses twin, so full-snapshot reuse and tool-call
//! linking (an Anthropic `tool_use` id or a Chat `tool_calls` id is the
//! model-visible call id) behave the same. This file does no I/O and keeps
//! no state; errors name the payload.

use serde_json::Value;

use super::conversation::{
    Normalized, SourcePayload, image_part, json_part, normalize_items, payload_ref_part, role_of,
    text_or_json_body, without_cache_control,
};
use crate::model::{
    ConversationBody, ConversationChannel, ConversationItemKind as Kind, ConversationPart,
    ConversationRole as Role, TokenUsage,
};

/// The normalised items of a request payload (any accepted shape, see the
/// module doc), in the order the model reads them.
///
/// Errors: `inference request payload P did not contain input` when the
/// payload has neither `input` nor `messages` (the reference's message),
/// `had non-array input` / `had non-array messages`, and any item or message
/// error.
pub(crate) fn request_items(
    request: &Value,
    raw_payload_id: SourcePayload<'_>,
) -> Result<Vec<Normalized>, String> {
    if let Value::Array(items) = request {
        return normalize_items(items, raw_payload_id);
    }
    match (request.get("input"), request.get("messages")) {
        (Some(Value::Array(items)), _) => normalize_items(items, raw_payload_id),
        (Some(_), _) => Err(format!(
            "request payload {raw_payload_id} had non-array input"
        )),
        (None, Some(_)) => messages_request_items(request, raw_payload_id),
        (None, None) => Err(format!(
            "inference request payload {raw_payload_id} did not contain input"
        )),
    }
}

/// What a response payload says: the items the model produced, the
/// response id it carries, and token usage.
#[derive(Debug)]
pub(crate) struct Reply {
    pub items: Vec<Normalized>,
    pub response_id: Option<String>,
    pub usage: Option<TokenUsage>,
}

/// Reads a response payload of any accepted shape (see the module doc).
///
/// Token usage, all four shapes mapped onto the Codex meaning (input counts
/// every prompt token, cached and cache-written ones included):
/// - Codex `token_usage`: `input_tokens`, `output_tokens` (required),
///   `cached_input_tokens`, `reasoning_output_tokens`,
///   `cache_write_input_tokens` (0 when absent);
/// - Responses `usage`: `input_tokens`, `output_tokens`,
///   `input_tokens_details.cached_tokens`,
///   `output_tokens_details.reasoning_tokens`;
/// - Chat Completions `usage`: `prompt_tokens`, `completion_tokens`,
///   `prompt_tokens_details.cached_tokens`,
///   `completion_tokens_details.reasoning_tokens`;
/// - Anthropic `usage`: `input_tokens` counts only the uncached tokens, so
///   input is `input_tokens + cache_creation_input_tokens +
///   cache_read_input_tokens`, cached is `cache_read_input_tokens`, cache
///   written is `cache_creation_input_tokens`; no reasoning split.
///
/// The response id is `response_id` for the Codex shape and `id` otherwise.
/// `None` for a payload of none of these shapes (see [`NO_RESPONSE_SHAPE`]).
pub(crate) fn read_response(
    response: &Value,
    raw_payload_id: SourcePayload<'_>,
) -> Result<Option<Reply>, String> {
    let text = |name: &str| {
        response
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if let Some(Value::Array(items)) = response.get("output_items") {
        return Ok(Some(Reply {
            items: normalize_items(items, raw_payload_id)?,
            response_id: text("response_id"),
            usage: response.get("token_usage").and_then(codex_usage),
        }));
    }
    if let Some(Value::Array(items)) = response.get("output") {
        return Ok(Some(Reply {
            items: normalize_items(items, raw_payload_id)?,
            response_id: text("id"),
            usage: response.get("usage").and_then(responses_usage),
        }));
    }
    if let Some(Value::Array(choices)) = response.get("choices") {
        let mut items = Vec::new();
        if let Some(message) = choices.first().and_then(|choice| choice.get("message")) {
            read_message(message, raw_payload_id, &mut items)?;
        }
        return Ok(Some(Reply {
            items,
            response_id: text("id"),
            usage: response.get("usage").and_then(chat_usage),
        }));
    }
    if let Some(content @ Value::Array(blocks)) = response.get("content") {
        let mut items = Vec::new();
        // An empty reply (a turn the model ends without a word) says nothing.
        if !blocks.is_empty() {
            read_blocks(Role::Assistant, content, raw_payload_id, &mut items)?;
        }
        return Ok(Some(Reply {
            items,
            response_id: text("id"),
            usage: response.get("usage").and_then(anthropic_usage),
        }));
    }
    Ok(None)
}

/// What a response payload lacks when [`read_response`] finds no shape.
pub(crate) const NO_RESPONSE_SHAPE: &str = "output_items (nor output, choices or content)";

fn count(value: &Value, path: &[&str]) -> Option<u64> {
    path.iter()
        .try_fold(value, |value, name| value.get(name))
        .and_then(Value::as_u64)
}

fn codex_usage(usage: &Value) -> Option<TokenUsage> {
    Some(TokenUsage {
        input_tokens: count(usage, &["input_tokens"])?,
        cached_input_tokens: count(usage, &["cached_input_tokens"]).unwrap_or(0),
        output_tokens: count(usage, &["output_tokens"])?,
        reasoning_output_tokens: count(usage, &["reasoning_output_tokens"]).unwrap_or(0),
        cache_write_input_tokens: count(usage, &["cache_write_input_tokens"]).unwrap_or(0),
    })
}

fn responses_usage(usage: &Value) -> Option<TokenUsage> {
    Some(TokenUsage {
        input_tokens: count(usage, &["input_tokens"])?,
        cached_input_tokens: count(usage, &["input_tokens_details", "cached_tokens"]).unwrap_or(0),
        output_tokens: count(usage, &["output_tokens"])?,
        reasoning_output_tokens: count(usage, &["output_tokens_details", "reasoning_tokens"])
            .unwrap_or(0),
        cache_write_input_tokens: 0,
    })
}

fn chat_usage(usage: &Value) -> Option<TokenUsage> {
    Some(TokenUsage {
        input_tokens: count(usage, &["prompt_tokens"])?,
        cached_input_tokens: count(usage, &["prompt_tokens_details", "cached_tokens"]).unwrap_or(0),
        output_tokens: count(usage, &["completion_tokens"])?,
        reasoning_output_tokens: count(usage, &["completion_tokens_details", "reasoning_tokens"])
            .unwrap_or(0),
        cache_write_input_tokens: 0,
    })
}

fn anthropic_usage(usage: &Value) -> Option<TokenUsage> {
    let uncached = count(usage, &["input_tokens"])?;
    let written = count(usage, &["cache_creation_input_tokens"]).unwrap_or(0);
    let read = count(usage, &["cache_read_input_tokens"]).unwrap_or(0);
    Some(TokenUsage {
        input_tokens: uncached.saturating_add(written).saturating_add(read),
        cached_input_tokens: read,
        output_tokens: count(usage, &["output_tokens"])?,
        reasoning_output_tokens: 0,
        cache_write_input_tokens: written,
    })
}

/// The items of a `messages` request: Anthropic Messages or Chat
/// Completions.
///
/// - A top-level `system` (Anthropic; a string or a list of blocks) is one
///   system message, before the messages.
/// - A message is `{role, content}` with role `system`, `developer`, `user`,
///   `assistant` or `tool` (any other role, the legacy `function` included,
///   is an error). String content is
///   one text part. A content list is read block by block (see
///   [`read_blocks`]): text and image blocks gather into one message item,
///   and each `tool_use`, `tool_result`, `thinking` and `redacted_thinking`
///   block becomes its own item, in order, as the Responses twin lists
///   them. Content that is absent or null is `payload_ref{label:
///   "content"}`, and a list that gives no item is `payload_ref{label:
///   "empty_content"}` (the Responses rules).
/// - Chat Completions `assistant` messages: a `reasoning_content` or
///   `reasoning` string (the field Chat-compatible reasoning models use) is a
///   reasoning item first; then the content (left out when it is absent,
///   null or empty and the message has tool calls); a `refusal` string is a
///   `payload_ref{label: "refusal"}` part (as a Responses refusal part is);
///   then one function call per `tool_calls` entry `{id, type: "function",
///   function: {name, arguments}}` (`type: "custom"` with `custom: {name,
///   input}` is a custom tool call) and one for a legacy `function_call`
///   (no call id).
/// - Chat Completions `tool` messages are function call outputs with the
///   `tool_call_id` as call id; their content is read as a tool output
///   (string: text; list: text and image parts; absent:
///   `payload_ref{label: "tool_output"}`).
fn messages_request_items(
    request: &Value,
    raw_payload_id: SourcePayload<'_>,
) -> Result<Vec<Normalized>, String> {
    let messages = match request.get("messages") {
        Some(Value::Array(messages)) => messages,
        _ => {
            return Err(format!(
                "request payload {raw_payload_id} had non-array messages"
            ));
        }
    };
    let mut items = Vec::with_capacity(messages.len() + 1);
    match request.get("system") {
        None | Some(Value::Null) => {}
        Some(system) => read_content(Role::System, system, raw_payload_id, &mut items)?,
    }
    for message in messages {
        read_message(message, raw_payload_id, &mut items)?;
    }
    Ok(items)
}

/// The items of a history list in either dialect: Responses items, or
/// Anthropic / Chat messages (a list whose first entry has a `role` and no
/// `type`), as a compaction checkpoint of any provider holds them.
pub(crate) fn history_items(
    list: &[Value],
    raw_payload_id: SourcePayload<'_>,
) -> Result<Vec<Normalized>, String> {
    let messages = list
        .first()
        .is_some_and(|first| first.get("role").is_some() && first.get("type").is_none());
    if !messages {
        return normalize_items(list, raw_payload_id);
    }
    let mut items = Vec::with_capacity(list.len());
    for message in list {
        read_message(message, raw_payload_id, &mut items)?;
    }
    Ok(items)
}

/// One message of a `messages` list (or a Chat Completions response
/// message) into its items.
fn read_message(
    message: &Value,
    raw_payload_id: SourcePayload<'_>,
    out: &mut Vec<Normalized>,
) -> Result<(), String> {
    let Some(role_name) = message.get("role").and_then(Value::as_str) else {
        return Err(format!(
            "message in payload {raw_payload_id} did not contain a string role"
        ));
    };
    let content = message.get("content");
    match role_name {
        "tool" => {
            out.push(Normalized::new(
                Role::Tool,
                Some(ConversationChannel::Commentary),
                Kind::FunctionCallOutput,
                None,
                tool_output_body(content, raw_payload_id),
                message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ));
            return Ok(());
        }
        "assistant" => {}
        _ => {
            let Some(role) = role_of(role_name) else {
                return Err(format!(
                    "unsupported message role {role_name} in payload {raw_payload_id}"
                ));
            };
            return read_content(role, content.unwrap_or(&Value::Null), raw_payload_id, out);
        }
    }
    for name in ["reasoning_content", "reasoning"] {
        if let Some(text) = message.get(name).and_then(Value::as_str)
            && !text.is_empty()
        {
            out.push(reasoning(vec![ConversationPart::Text {
                text: text.to_string(),
            }]));
            break;
        }
    }
    let tool_calls = match message.get("tool_calls") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(calls)) => calls.as_slice(),
        Some(_) => {
            return Err(format!(
                "assistant message in payload {raw_payload_id} had non-array tool_calls"
            ));
        }
    };
    let function_call = message.get("function_call").filter(|call| !call.is_null());
    let refusal = message.get("refusal").filter(|refusal| refusal.is_string());
    let calls_only = !tool_calls.is_empty() || function_call.is_some();
    let before = out.len();
    match content {
        None | Some(Value::Null) if calls_only || refusal.is_some() => {}
        Some(Value::String(text)) if text.is_empty() && calls_only => {}
        _ => read_content(
            Role::Assistant,
            content.unwrap_or(&Value::Null),
            raw_payload_id,
            out,
        )?,
    }
    if let Some(refusal) = refusal {
        let part = payload_ref_part("refusal", refusal, raw_payload_id);
        // The refusal joins the message the content made, if it made one.
        let made_message =
            out.len() > before && out.last().is_some_and(|last| last.kind == Kind::Message);
        match out.last_mut() {
            Some(last) if made_message => {
                let mut parts = std::mem::take(&mut last.body.parts);
                parts.push(part);
                *last = message_item(Role::Assistant, parts);
            }
            _ => out.push(message_item(Role::Assistant, vec![part])),
        }
    }
    for call in tool_calls {
        out.push(chat_tool_call(call, raw_payload_id)?);
    }
    if let Some(call) = function_call {
        out.push(function_call_item(
            call.get("arguments"),
            None,
            raw_payload_id,
        ));
    }
    Ok(())
}

/// Content that is a list of blocks, a string, or anything else.
fn read_content(
    role: Role,
    content: &Value,
    raw_payload_id: SourcePayload<'_>,
    out: &mut Vec<Normalized>,
) -> Result<(), String> {
    match content {
        Value::Array(_) => read_blocks(role, content, raw_payload_id, out),
        Value::String(text) => {
            out.push(message_item(
                role,
                vec![ConversationPart::Text { text: text.clone() }],
            ));
            Ok(())
        }
        other => {
            out.push(message_item(
                role,
                vec![payload_ref_part("content", other, raw_payload_id)],
            ));
            Ok(())
        }
    }
}

/// A list of content blocks: runs of text and image blocks become one
/// message of `role`; each block the Responses API has as an item of its
/// own becomes that item.
///
/// Blocks: `text` (a text part; one without string text gives nothing),
/// `image` (Anthropic) and `image_url` (Chat Completions) (an image part,
/// see [`image_part`]), `tool_use` `{id, name, input}` (a function call:
/// call id `id`, body the `input` read as arguments), `tool_result`
/// `{tool_use_id, content, is_error}` (a function call output: call id
/// `tool_use_id`, body the `content` read as a tool output; `is_error` is not
/// part of the body), `thinking` `{thinking, signature}` (reasoning: the
/// text, then the signature as `encoded{label: "signature"}`, which
/// identifies it as an encrypted blob does), `redacted_thinking` `{data}`
/// (reasoning: `encoded{label: "redacted_thinking"}`). Any other block is a
/// `payload_ref` labelled with its type (`content` when it has none), hashed
/// without its `cache_control`.
fn read_blocks(
    role: Role,
    list: &Value,
    raw_payload_id: SourcePayload<'_>,
    out: &mut Vec<Normalized>,
) -> Result<(), String> {
    let blocks = list.as_array().map(Vec::as_slice).unwrap_or_default();
    let before = out.len();
    let mut parts = Vec::new();
    let flush = |parts: &mut Vec<ConversationPart>, out: &mut Vec<Normalized>| {
        if !parts.is_empty() {
            out.push(message_item(role, std::mem::take(parts)));
        }
    };
    for block in blocks {
        let block_type = block.get("type").and_then(Value::as_str);
        match block_type {
            Some("text") => {
                if let Some(text) = block.get("text").and_then(Value::as_str) {
                    parts.push(ConversationPart::Text {
                        text: text.to_string(),
                    });
                }
            }
            Some("image" | "image_url") => parts.push(image_part(block, raw_payload_id)),
            Some("tool_use") => {
                flush(&mut parts, out);
                out.push(function_call_item(
                    block.get("input"),
                    block.get("id").and_then(Value::as_str),
                    raw_payload_id,
                ));
            }
            Some("tool_result") => {
                flush(&mut parts, out);
                out.push(Normalized::new(
                    Role::Tool,
                    Some(ConversationChannel::Commentary),
                    Kind::FunctionCallOutput,
                    None,
                    tool_output_body(block.get("content"), raw_payload_id),
                    block
                        .get("tool_use_id")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                ));
            }
            Some("thinking") => {
                flush(&mut parts, out);
                out.push(thinking(block));
            }
            Some("redacted_thinking") => {
                flush(&mut parts, out);
                let Some(data) = block.get("data").and_then(Value::as_str) else {
                    return Err(format!(
                        "redacted_thinking block in payload {raw_payload_id} did not contain string data"
                    ));
                };
                out.push(reasoning(vec![ConversationPart::Encoded {
                    label: "redacted_thinking".to_string(),
                    value: data.to_string(),
                }]));
            }
            Some(other) => parts.push(payload_ref_part(
                other,
                &without_cache_control(block),
                raw_payload_id,
            )),
            None => parts.push(payload_ref_part(
                "content",
                &without_cache_control(block),
                raw_payload_id,
            )),
        }
    }
    flush(&mut parts, out);
    if out.len() == before {
        out.push(message_item(
            role,
            vec![payload_ref_part("empty_content", list, raw_payload_id)],
        ));
    }
    Ok(())
}

fn message_item(role: Role, parts: Vec<ConversationPart>) -> Normalized {
    Normalized::new(
        role,
        None,
        Kind::Message,
        None,
        ConversationBody { parts },
        None,
    )
}

fn reasoning(parts: Vec<ConversationPart>) -> Normalized {
    Normalized::new(
        Role::Assistant,
        Some(ConversationChannel::Analysis),
        Kind::Reasoning,
        None,
        ConversationBody { parts },
        None,
    )
}

/// An Anthropic `thinking` block: readable text (when not empty) and the
/// signature; a block with neither is a reasoning item with an empty body.
fn thinking(block: &Value) -> Normalized {
    let mut parts = Vec::new();
    if let Some(text) = block.get("thinking").and_then(Value::as_str)
        && !text.is_empty()
    {
        parts.push(ConversationPart::Text {
            text: text.to_string(),
        });
    }
    if let Some(signature) = block.get("signature").and_then(Value::as_str)
        && !signature.is_empty()
    {
        parts.push(ConversationPart::Encoded {
            label: "signature".to_string(),
            value: signature.to_string(),
        });
    }
    // A block with neither (a transcript that strips reasoning, as Claude
    // Code's sanitised exports do) is still a reasoning step the model
    // took: an item with an empty body.
    reasoning(parts)
}

fn function_call_item(
    arguments: Option<&Value>,
    call_id: Option<&str>,
    raw_payload_id: SourcePayload<'_>,
) -> Normalized {
    Normalized::new(
        Role::Assistant,
        Some(ConversationChannel::Commentary),
        Kind::FunctionCall,
        None,
        text_or_json_body(arguments, raw_payload_id),
        call_id.map(str::to_string),
    )
}

/// A Chat Completions `tool_calls` entry.
fn chat_tool_call(call: &Value, raw_payload_id: SourcePayload<'_>) -> Result<Normalized, String> {
    let call_id = call.get("id").and_then(Value::as_str);
    match call.get("type").and_then(Value::as_str) {
        None | Some("function") => Ok(function_call_item(
            call.get("function")
                .and_then(|function| function.get("arguments")),
            call_id,
            raw_payload_id,
        )),
        Some("custom") => {
            let custom = call.get("custom").unwrap_or(&Value::Null);
            let input = custom.get("input").and_then(Value::as_str);
            let body = match input {
                Some(source) if custom.get("name").and_then(Value::as_str) == Some("exec") => {
                    ConversationPart::Code {
                        language: "javascript".to_string(),
                        source: source.to_string(),
                    }
                }
                Some(text) => ConversationPart::Text {
                    text: text.to_string(),
                },
                None => json_part(call, raw_payload_id),
            };
            Ok(Normalized::new(
                Role::Assistant,
                Some(ConversationChannel::Commentary),
                Kind::CustomToolCall,
                None,
                ConversationBody { parts: vec![body] },
                call_id.map(str::to_string),
            ))
        }
        Some(other) => Err(format!(
            "unsupported tool call type {other} in payload {raw_payload_id}"
        )),
    }
}

/// A tool result's content (Anthropic `tool_result`, Chat `tool` message):
/// a string is text, a list gives text and image parts (other blocks are
/// labelled references, a list that gives nothing is `empty_content`), null
/// or absent is `payload_ref{label: "tool_output"}` (the Responses rules).
fn tool_output_body(
    content: Option<&Value>,
    raw_payload_id: SourcePayload<'_>,
) -> ConversationBody {
    let parts = match content {
        Some(Value::String(text)) => vec![ConversationPart::Text { text: text.clone() }],
        Some(list @ Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for block in blocks {
                match block.get("type").and_then(Value::as_str) {
                    Some("text" | "input_text" | "output_text") => {
                        if let Some(text) = block.get("text").and_then(Value::as_str) {
                            parts.push(ConversationPart::Text {
                                text: text.to_string(),
                            });
                        }
                    }
                    Some("image" | "image_url" | "input_image") => {
                        parts.push(image_part(block, raw_payload_id));
                    }
                    Some(other) => parts.push(payload_ref_part(
                        other,
                        &without_cache_control(block),
                        raw_payload_id,
                    )),
                    None => parts.push(payload_ref_part(
                        "content",
                        &without_cache_control(block),
                        raw_payload_id,
                    )),
                }
            }
            if parts.is_empty() {
                parts.push(payload_ref_part("empty_content", list, raw_payload_id));
            }
            parts
        }
        None | Some(Value::Null) => {
            vec![payload_ref_part(
                "tool_output",
                &Value::Null,
                raw_payload_id,
            )]
        }
        Some(other) => vec![json_part(other, raw_payload_id)],
    };
    ConversationBody { parts }
}

#[cfg(test)]
#[path = "providers_tests.rs"]
mod tests;
