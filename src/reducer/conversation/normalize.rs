//! Normalising model items: Responses-shaped JSON items (the other providers'
//! shapes are read into the same items by `providers.rs`) become
//! [`Normalized`] items with the reference's bodies: text, JSON parts (a
//! bounded summary plus the hash of the canonical JSON), labelled payload
//! references and images.
//!
//! Pure functions of the JSON and the payload it came from: no reducer state.
//! Unknown item types are errors, never skipped.

use serde_json::Value;

use super::identity::Normalized;
use crate::event::{Hash, truncate_utf8};
use crate::model::{
    AgentMessageMetadata, ConversationBody, ConversationChannel, ConversationItemKind,
    ConversationPart, ConversationRole,
};
use crate::reducer::spelling::{KeyOrder, ParsedJson, has_float, write_json};

/// The payload conversation parts are read from: its raw payload id (what
/// it displays as, in parts and in messages) and its parsed JSON, whose
/// number spellings JSON parts keep (see `spelling.rs`; a value that is not
/// a node of `json`, such as a copy, is written as serde_json writes it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourcePayload<'a> {
    pub id: &'a str,
    pub json: &'a ParsedJson<'a>,
}

impl<'a> SourcePayload<'a> {
    /// Parts read from `json`, the payload `id`.
    pub(crate) fn new(id: &'a str, json: &'a ParsedJson<'a>) -> SourcePayload<'a> {
        SourcePayload { id, json }
    }
}

impl std::fmt::Display for SourcePayload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

/// Maximum bytes of a JSON part summary.
pub(crate) const JSON_SUMMARY_BYTES_MAX: usize = 240;

/// A JSON part: bounded UTF-8-safe summary plus the hash of the full body.
/// The summary is the compact JSON the reference writes: numbers as the
/// payload spells them (see `spelling.rs`).
pub(crate) fn json_part(value: &Value, raw_payload_id: SourcePayload<'_>) -> ConversationPart {
    let json = has_float(value).then_some(raw_payload_id.json);
    let mut canonical = Vec::with_capacity(256);
    write_json(value, json, KeyOrder::Sorted, &mut canonical);
    let compact = match json {
        None => value.to_string(),
        Some(json) => {
            let mut out = Vec::with_capacity(256);
            write_json(value, Some(json), KeyOrder::AsGiven, &mut out);
            // Only serde_json's output and number tokens of a UTF-8 text.
            String::from_utf8(out).unwrap_or_else(|_| value.to_string())
        }
    };
    ConversationPart::Json {
        summary: truncate_utf8(&compact, JSON_SUMMARY_BYTES_MAX).to_string(),
        raw_payload_id: raw_payload_id.to_string(),
        blake3: Hash::of(&canonical).to_hex(),
    }
}

fn call_id_of(item: &Value) -> Option<String> {
    item.get("call_id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A part kept by reference to its payload, labelled `label` (the
/// reference's labels: `content` for content that is not a list,
/// `empty_content` for a list with nothing inlined, `payload` for missing
/// arguments, `tool_output` for a missing output, `input_image`, or the type
/// of a content part the normaliser does not inline). `blake3` hashes the
/// canonical JSON of `value`, the value at that place (`null` when absent).
pub(crate) fn payload_ref_part(
    label: &str,
    value: &Value,
    raw_payload_id: SourcePayload<'_>,
) -> ConversationPart {
    let mut canonical = Vec::with_capacity(64);
    write_json(
        value,
        has_float(value).then_some(raw_payload_id.json),
        KeyOrder::Sorted,
        &mut canonical,
    );
    ConversationPart::PayloadRef {
        label: label.to_string(),
        raw_payload_id: raw_payload_id.to_string(),
        blake3: Hash::of(&canonical).to_hex(),
    }
}

/// An image part: `payload_ref{label: "input_image"}`, as the reference
/// reduces a Responses `input_image`. Its `blake3` hashes the image's
/// source, not the part's JSON, so one image compares equal however it is
/// wrapped: `url:` and the URL (an inline image as its `data:` URL, built
/// from an Anthropic base64 source the same way), or `file_id:` and the file
/// id. Accepted shapes: Responses `{image_url: "..."}` or `{file_id}`, Chat
/// Completions `{image_url: {url}}`, Anthropic `{source: {type: base64,
/// media_type, data} | {type: url, url} | {type: file, file_id}}`. Any other
/// shape hashes its canonical JSON without `cache_control`.
pub(crate) fn image_part(part: &Value, raw_payload_id: SourcePayload<'_>) -> ConversationPart {
    const LABEL: &str = "input_image";
    fn text(value: Option<&Value>) -> Option<&str> {
        value.and_then(Value::as_str)
    }
    let url = match part.get("image_url") {
        Some(Value::String(url)) => Some(url.as_str()),
        Some(object) => text(object.get("url")),
        None => None,
    };
    let source = part.get("source");
    let source_type = text(source.and_then(|source| source.get("type")));
    let mut hasher = blake3::Hasher::new();
    if let Some(url) = url.or_else(|| {
        (source_type == Some("url"))
            .then(|| text(source.and_then(|source| source.get("url"))))
            .flatten()
    }) {
        hasher.update(b"url:");
        hasher.update(url.as_bytes());
    } else if let (Some("base64"), Some(media_type), Some(data)) = (
        source_type,
        text(source.and_then(|source| source.get("media_type"))),
        text(source.and_then(|source| source.get("data"))),
    ) {
        // The data URL, fed in pieces (no copy of the image).
        hasher.update(b"url:data:");
        hasher.update(media_type.as_bytes());
        hasher.update(b";base64,");
        hasher.update(data.as_bytes());
    } else if let Some(file_id) =
        text(part.get("file_id")).or_else(|| text(source.and_then(|source| source.get("file_id"))))
    {
        hasher.update(b"file_id:");
        hasher.update(file_id.as_bytes());
    } else {
        return payload_ref_part(LABEL, &without_cache_control(part), raw_payload_id);
    }
    ConversationPart::PayloadRef {
        label: LABEL.to_string(),
        raw_payload_id: raw_payload_id.to_string(),
        blake3: Hash(*hasher.finalize().as_bytes()).to_hex(),
    }
}

/// `value` without an Anthropic `cache_control` marker: hosts move cache
/// breakpoints between requests, and a moved marker is not new content.
pub(crate) fn without_cache_control(value: &Value) -> std::borrow::Cow<'_, Value> {
    match value {
        Value::Object(map) if map.contains_key("cache_control") => {
            let mut map = map.clone();
            map.shift_remove("cache_control");
            std::borrow::Cow::Owned(Value::Object(map))
        }
        _ => std::borrow::Cow::Borrowed(value),
    }
}

/// Arguments (as the reference reads them): a string that parses as JSON,
/// scalars included, is JSON, other strings are text, any other value is
/// JSON, and missing arguments are `payload_ref{label: "payload"}`.
pub(crate) fn text_or_json_body(
    value: Option<&Value>,
    raw_payload_id: SourcePayload<'_>,
) -> ConversationBody {
    let part = match value {
        None => payload_ref_part("payload", &Value::Null, raw_payload_id),
        Some(Value::String(text)) => match ParsedJson::parse_str(text) {
            Ok(parsed) => json_part(&parsed, SourcePayload::new(raw_payload_id.id, &parsed)),
            Err(_) => ConversationPart::Text { text: text.clone() },
        },
        Some(other) => json_part(other, raw_payload_id),
    };
    ConversationBody { parts: vec![part] }
}

/// A tool output (as the reference reads it): a string is text, a list of
/// content items (how codex-protocol serialises a function output with
/// content items) is read like message content (one text part per text
/// item), any other value is JSON, and a missing output is
/// `payload_ref{label: "tool_output"}`.
fn output_body(value: Option<&Value>, raw_payload_id: SourcePayload<'_>) -> ConversationBody {
    let parts = match value {
        Some(Value::String(text)) => vec![ConversationPart::Text { text: text.clone() }],
        Some(Value::Array(_)) => content_parts(value, raw_payload_id),
        Some(other) => vec![json_part(other, raw_payload_id)],
        None => vec![payload_ref_part(
            "tool_output",
            &Value::Null,
            raw_payload_id,
        )],
    };
    ConversationBody { parts }
}

pub(crate) fn role_of(role: &str) -> Option<ConversationRole> {
    match role {
        "system" => Some(ConversationRole::System),
        "developer" => Some(ConversationRole::Developer),
        "user" => Some(ConversationRole::User),
        "assistant" => Some(ConversationRole::Assistant),
        "tool" => Some(ConversationRole::Tool),
        _ => None,
    }
}

/// A message `phase` as a channel. Only the phases the reference maps set
/// one (`commentary`, `final_answer`, `summary`); any other phase
/// (`analysis`, `final`, ...) leaves the channel null, as there.
fn channel_of_phase(phase: &str) -> Option<ConversationChannel> {
    match phase {
        "commentary" => Some(ConversationChannel::Commentary),
        "final_answer" => Some(ConversationChannel::Final),
        "summary" => Some(ConversationChannel::Summary),
        _ => None,
    }
}

/// Message content (as the reference reads it): a list gives one text part
/// per `input_text`/`output_text`/`text` entry with string text (an entry
/// without one gives nothing), an image part per `input_image`, and a
/// `payload_ref` labelled with the type of any other entry (`content` when
/// it has none); content that is not a list is `payload_ref{label:
/// "content"}`, and a list that gives no part is `payload_ref{label:
/// "empty_content"}`.
fn content_parts(
    content: Option<&Value>,
    raw_payload_id: SourcePayload<'_>,
) -> Vec<ConversationPart> {
    let Some(list @ Value::Array(entries)) = content else {
        return vec![payload_ref_part(
            "content",
            content.unwrap_or(&Value::Null),
            raw_payload_id,
        )];
    };
    let mut parts = Vec::with_capacity(entries.len());
    for entry in entries {
        match entry.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => {
                if let Some(text) = entry.get("text").and_then(Value::as_str) {
                    parts.push(ConversationPart::Text {
                        text: text.to_string(),
                    });
                }
            }
            Some("input_image") => parts.push(image_part(entry, raw_payload_id)),
            Some(other) => parts.push(payload_ref_part(other, entry, raw_payload_id)),
            None => parts.push(payload_ref_part("content", entry, raw_payload_id)),
        }
    }
    if parts.is_empty() {
        parts.push(payload_ref_part("empty_content", list, raw_payload_id));
    }
    parts
}

fn reasoning_parts(
    item: &Value,
    raw_payload_id: SourcePayload<'_>,
) -> Result<Vec<ConversationPart>, String> {
    let mut parts = Vec::new();
    for (name, is_summary) in [("content", false), ("summary", true)] {
        let Some(entries) = item.get(name) else {
            continue;
        };
        if entries.is_null() {
            continue;
        }
        let Some(entries) = entries.as_array() else {
            return Err(format!(
                "reasoning item in payload {raw_payload_id} had non-array {name}"
            ));
        };
        for entry in entries {
            let entry_type = entry.get("type").and_then(Value::as_str).unwrap_or("");
            let allowed = if is_summary {
                entry_type == "summary_text"
            } else {
                matches!(entry_type, "reasoning_text" | "text")
            };
            if !allowed {
                return Err(format!(
                    "reasoning item in payload {raw_payload_id} had unsupported {name} type {entry_type:?}"
                ));
            }
            let Some(text) = entry.get("text").and_then(Value::as_str) else {
                return Err(format!(
                    "reasoning item in payload {raw_payload_id} had a {name} entry without string text"
                ));
            };
            let text = text.to_string();
            parts.push(if is_summary {
                ConversationPart::Summary { text }
            } else {
                ConversationPart::Text { text }
            });
        }
    }
    match item.get("encrypted_content") {
        None | Some(Value::Null) => {}
        Some(Value::String(value)) => parts.push(ConversationPart::Encoded {
            label: "encrypted_content".to_string(),
            value: value.clone(),
        }),
        Some(_) => {
            return Err(format!(
                "reasoning item in payload {raw_payload_id} had non-string encrypted_content"
            ));
        }
    }
    // Reasoning kept by the provider (Responses `store: true`) carries its
    // `id` and often nothing else: the id is then what identifies it, as the
    // encrypted blob does otherwise. With an encrypted blob the id is not
    // part of the body.
    let has_encrypted = parts
        .iter()
        .any(|part| matches!(part, ConversationPart::Encoded { .. }));
    if !has_encrypted
        && let Some(id) = item.get("id").and_then(Value::as_str)
        && !id.is_empty()
    {
        parts.push(ConversationPart::Encoded {
            label: "id".to_string(),
            value: id.to_string(),
        });
    }
    if parts.is_empty() {
        return Err(format!(
            "reasoning item in payload {raw_payload_id} contained no content, summary, or encrypted_content"
        ));
    }
    Ok(parts)
}

fn agent_message_item(
    item: &Value,
    raw_payload_id: SourcePayload<'_>,
) -> Result<Normalized, String> {
    let author = item.get("author").and_then(Value::as_str);
    let recipient = item.get("recipient").and_then(Value::as_str);
    let (Some(author), Some(recipient)) = (author, recipient) else {
        return Err(format!(
            "agent_message item in payload {raw_payload_id} did not contain string author and recipient"
        ));
    };
    let mut parts = Vec::new();
    match item.get("content") {
        Some(Value::Array(entries)) => {
            for entry in entries {
                if let Some(value) = entry.get("encrypted_content").and_then(Value::as_str) {
                    parts.push(ConversationPart::Encoded {
                        label: "encrypted_content".to_string(),
                        value: value.to_string(),
                    });
                } else if let Some(text) = entry.get("text").and_then(Value::as_str) {
                    parts.push(ConversationPart::Text {
                        text: text.to_string(),
                    });
                } else {
                    return Err(format!(
                        "agent_message item in payload {raw_payload_id} had unsupported content"
                    ));
                }
            }
        }
        Some(Value::String(text)) => parts.push(ConversationPart::Text { text: text.clone() }),
        _ => {}
    }
    if let Some(value) = item.get("encrypted_content").and_then(Value::as_str) {
        parts.push(ConversationPart::Encoded {
            label: "encrypted_content".to_string(),
            value: value.to_string(),
        });
    }
    if parts.is_empty() {
        return Err(format!(
            "agent_message item in payload {raw_payload_id} contained no content"
        ));
    }
    Ok(Normalized::new(
        ConversationRole::Assistant,
        Some(ConversationChannel::Analysis),
        ConversationItemKind::Message,
        Some(AgentMessageMetadata {
            author: author.to_string(),
            recipient: recipient.to_string(),
        }),
        ConversationBody { parts },
        None,
    ))
}

/// Harness metadata a host attaches to items it sends (Codex, after June
/// 2026); the model never sees it, so it is no part of an item's identity.
const METADATA_PASSTHROUGH: &str = "internal_chat_message_metadata_passthrough";

/// Normalises one Responses item; `None` for an item that is not
/// conversation: `additional_tools` (tool declarations placed in a request's
/// input). `internal_chat_message_metadata_passthrough` is removed first, so
/// it reaches neither identity nor a JSON body. Unknown item types are
/// errors, never skipped.
pub(crate) fn normalize_item(
    item: &Value,
    raw_payload_id: SourcePayload<'_>,
) -> Result<Option<Normalized>, String> {
    if item.get("type").and_then(Value::as_str) == Some("additional_tools") {
        return Ok(None);
    }
    if let Value::Object(map) = item
        && map.contains_key(METADATA_PASSTHROUGH)
    {
        let mut map = map.clone();
        map.shift_remove(METADATA_PASSTHROUGH);
        return normalize_model_item(&Value::Object(map), raw_payload_id).map(Some);
    }
    normalize_model_item(item, raw_payload_id).map(Some)
}

fn normalize_model_item(
    item: &Value,
    raw_payload_id: SourcePayload<'_>,
) -> Result<Normalized, String> {
    use ConversationItemKind as Kind;
    use ConversationRole as Role;
    let Some(item_type) = item.get("type").and_then(Value::as_str) else {
        // Responses accepts role-only messages without a type.
        if item.get("role").is_some() {
            return message_item(item, raw_payload_id);
        }
        return Err(format!(
            "model item in payload {raw_payload_id} did not contain a string type"
        ));
    };
    let commentary = Some(ConversationChannel::Commentary);
    Ok(match item_type {
        "message" => return message_item(item, raw_payload_id),
        "agent_message" => return agent_message_item(item, raw_payload_id),
        "reasoning" => Normalized::new(
            Role::Assistant,
            Some(ConversationChannel::Analysis),
            Kind::Reasoning,
            None,
            ConversationBody {
                parts: reasoning_parts(item, raw_payload_id)?,
            },
            None,
        ),
        "function_call" => Normalized::new(
            Role::Assistant,
            commentary,
            Kind::FunctionCall,
            None,
            text_or_json_body(item.get("arguments"), raw_payload_id),
            call_id_of(item),
        ),
        "function_call_output" => Normalized::new(
            Role::Tool,
            commentary,
            Kind::FunctionCallOutput,
            None,
            output_body(item.get("output"), raw_payload_id),
            call_id_of(item),
        ),
        "custom_tool_call" => Normalized::new(
            Role::Assistant,
            commentary,
            Kind::CustomToolCall,
            None,
            custom_tool_call_body(item, raw_payload_id),
            call_id_of(item),
        ),
        "custom_tool_call_output" => Normalized::new(
            Role::Tool,
            commentary,
            Kind::CustomToolCallOutput,
            None,
            output_body(item.get("output"), raw_payload_id),
            call_id_of(item),
        ),
        "tool_search_call" | "web_search_call" | "image_generation_call" | "local_shell_call" => {
            Normalized::new(
                Role::Assistant,
                commentary,
                Kind::FunctionCall,
                None,
                json_body(item, raw_payload_id),
                call_id_of(item),
            )
        }
        "tool_search_output" | "mcp_tool_call_output" => Normalized::new(
            Role::Tool,
            commentary,
            Kind::FunctionCallOutput,
            None,
            json_body(item, raw_payload_id),
            call_id_of(item),
        ),
        "compaction" | "compaction_summary" | "context_compaction" => Normalized::new(
            Role::Assistant,
            Some(ConversationChannel::Summary),
            Kind::Message,
            None,
            ConversationBody {
                parts: vec![compaction_part(item, item_type, raw_payload_id)?],
            },
            None,
        ),
        other => {
            return Err(format!(
                "unsupported model item type {other} in payload {raw_payload_id}"
            ));
        }
    })
}

/// A body of one JSON part: the whole item (for tool items whose fields the
/// reference does not pick apart).
fn json_body(item: &Value, raw_payload_id: SourcePayload<'_>) -> ConversationBody {
    ConversationBody {
        parts: vec![json_part(item, raw_payload_id)],
    }
}

/// A custom tool call's input: JavaScript source for code mode's `exec`,
/// else text; a call without a string input is its JSON.
fn custom_tool_call_body(item: &Value, raw_payload_id: SourcePayload<'_>) -> ConversationBody {
    let input = item.get("input").and_then(Value::as_str);
    let is_exec = item.get("name").and_then(Value::as_str) == Some("exec");
    match input {
        Some(source) if is_exec => ConversationBody {
            parts: vec![ConversationPart::Code {
                language: "javascript".to_string(),
                source: source.to_string(),
            }],
        },
        Some(text) => ConversationBody {
            parts: vec![ConversationPart::Text {
                text: text.to_string(),
            }],
        },
        None => json_body(item, raw_payload_id),
    }
}

/// The part of a compaction item (`item_type` one of `compaction`,
/// `compaction_summary`, `context_compaction`): its encrypted content, which
/// a `compaction` item must have; the others without it are their JSON.
fn compaction_part(
    item: &Value,
    item_type: &str,
    raw_payload_id: SourcePayload<'_>,
) -> Result<ConversationPart, String> {
    match item.get("encrypted_content").and_then(Value::as_str) {
        Some(value) => Ok(ConversationPart::Encoded {
            label: "encrypted_content".to_string(),
            value: value.to_string(),
        }),
        None if item_type == "compaction" => Err(format!(
            "compaction item in payload {raw_payload_id} did not contain encrypted_content"
        )),
        None => Ok(json_part(item, raw_payload_id)),
    }
}

fn message_item(item: &Value, raw_payload_id: SourcePayload<'_>) -> Result<Normalized, String> {
    let Some(role) = item.get("role").and_then(Value::as_str) else {
        return Err(format!(
            "message item in payload {raw_payload_id} did not contain a string role"
        ));
    };
    let Some(role) = role_of(role) else {
        return Err(format!(
            "unsupported message role {role} in payload {raw_payload_id}"
        ));
    };
    Ok(Normalized::new(
        role,
        item.get("phase")
            .and_then(Value::as_str)
            .and_then(channel_of_phase),
        ConversationItemKind::Message,
        None,
        ConversationBody {
            parts: content_parts(item.get("content"), raw_payload_id),
        },
        None,
    ))
}

/// Normalises a list of items, failing on the first bad one and leaving
/// out the ones that are not conversation (see [`normalize_item`]).
pub(crate) fn normalize_items(
    items: &[Value],
    raw_payload_id: SourcePayload<'_>,
) -> Result<Vec<Normalized>, String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(item) = normalize_item(item, raw_payload_id)? {
            out.push(item);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
