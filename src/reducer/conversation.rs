//! Conversation items: normalising Responses-shaped JSON items (the other
//! providers' shapes are read into the same items by `providers.rs`), content
//! identity, and reconciling requests, responses and compaction histories
//! into stable item ids; plus the hooks that link each new item to tools,
//! code cells and agent edges through indexes.
//!
//! Identity is a BLAKE3 over role, channel, kind, agent metadata, call id and
//! body, where JSON bodies count by the hash of their canonical JSON (never by
//! their 240-byte summary) and reasoning counts by its encrypted content. This
//! file never scans all items: every lookup is an index.

use std::collections::VecDeque;

use serde_json::Value;

use super::spelling::{KeyOrder, ParsedJson, has_float, write_json};
use super::{Reducer, Res, invalid, key, push_unique, push_unique_item};
use crate::event::{Event, Hash, truncate_utf8};
use crate::model::{
    AgentMessageMetadata, ConversationBody, ConversationChannel, ConversationItem,
    ConversationItemKind, ConversationPart, ConversationRole, ItemId, ProducerRef,
};

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

/// A model item parsed from JSON, before it gets an id.
#[derive(Debug, Clone)]
pub(crate) struct Normalized {
    pub role: ConversationRole,
    pub channel: Option<ConversationChannel>,
    pub kind: ConversationItemKind,
    pub agent_message: Option<AgentMessageMetadata>,
    pub body: ConversationBody,
    pub call_id: Option<String>,
    pub identity: Hash,
}

impl Normalized {
    pub(crate) fn new(
        role: ConversationRole,
        channel: Option<ConversationChannel>,
        kind: ConversationItemKind,
        agent_message: Option<AgentMessageMetadata>,
        body: ConversationBody,
        call_id: Option<String>,
    ) -> Normalized {
        let identity = identity_of(
            role,
            channel,
            kind,
            agent_message.as_ref(),
            call_id.as_deref(),
            &body,
        );
        Normalized {
            role,
            channel,
            kind,
            agent_message,
            body,
            call_id,
            identity,
        }
    }

    /// The compaction marker item (empty body, unique per compaction, no
    /// channel, as the reference makes it).
    pub(crate) fn compaction_marker(compaction_id: &str) -> Normalized {
        let mut hasher = blake3::Hasher::new();
        field(&mut hasher, "compaction_marker");
        field(&mut hasher, compaction_id);
        Normalized {
            role: ConversationRole::Assistant,
            channel: None,
            kind: ConversationItemKind::CompactionMarker,
            agent_message: None,
            body: ConversationBody::default(),
            call_id: None,
            identity: Hash(*hasher.finalize().as_bytes()),
        }
    }
}

/// One item of a request or history as the reconciler sees it: normalised,
/// or only known by identity (its exact JSON text was normalised before, see
/// [`Reducer::request_sightings`]) and normalised only if it becomes a new
/// item.
pub(crate) enum Sighting<'r> {
    Parsed(Normalized),
    Known {
        identity: Hash,
        /// The item's JSON text, inside the payload `raw_payload_id`.
        raw: &'r serde_json::value::RawValue,
        raw_payload_id: &'r str,
    },
}

impl Sighting<'_> {
    pub(crate) fn identity(&self) -> Hash {
        match self {
            Sighting::Parsed(item) => item.identity,
            Sighting::Known { identity, .. } => *identity,
        }
    }

    /// The normalised item, parsing a known one again (with this payload's
    /// id, as a first sighting here would have had).
    fn into_normalized(self) -> Res<Normalized> {
        match self {
            Sighting::Parsed(item) => Ok(item),
            Sighting::Known {
                raw,
                raw_payload_id,
                ..
            } => {
                let value = ParsedJson::parse_str(raw.get()).map_err(|err| {
                    super::Fail::Invalid(format!(
                        "model item in payload {raw_payload_id} is not valid JSON: {err}"
                    ))
                })?;
                match normalize_item(&value, SourcePayload::new(raw_payload_id, &value)) {
                    Ok(Some(item)) => Ok(item),
                    // A known text was normalised to an item before, so it
                    // is never a skipped one.
                    Ok(None) => Err(super::Fail::Invalid(format!(
                        "model item in payload {raw_payload_id} is not a conversation item"
                    ))),
                    Err(message) => Err(super::Fail::Invalid(message)),
                }
            }
        }
    }
}

impl From<Normalized> for Sighting<'_> {
    fn from(item: Normalized) -> Self {
        Sighting::Parsed(item)
    }
}

fn field(hasher: &mut blake3::Hasher, text: &str) {
    hasher.update(&(text.len() as u64).to_le_bytes());
    hasher.update(text.as_bytes());
}

fn identity_of(
    role: ConversationRole,
    channel: Option<ConversationChannel>,
    kind: ConversationItemKind,
    agent_message: Option<&AgentMessageMetadata>,
    call_id: Option<&str>,
    body: &ConversationBody,
) -> Hash {
    let mut hasher = blake3::Hasher::new();
    field(&mut hasher, kind_name(kind));
    let encrypted: Vec<&str> = body
        .parts
        .iter()
        .filter_map(|part| match part {
            ConversationPart::Encoded { value, .. } => Some(value.as_str()),
            _ => None,
        })
        .collect();
    if kind == ConversationItemKind::Reasoning && !encrypted.is_empty() {
        // Reasoning is matched by its encrypted blob: the readable text may
        // come and go between sightings of the same reasoning.
        for value in encrypted {
            field(&mut hasher, value);
        }
        return Hash(*hasher.finalize().as_bytes());
    }
    // The field `{role:?}/{channel:?}`, fed in pieces (same bytes, no
    // allocation).
    let (role, channel) = (role_name(role), channel_name(channel));
    hasher.update(&((role.len() + 1 + channel.len()) as u64).to_le_bytes());
    hasher.update(role.as_bytes());
    hasher.update(b"/");
    hasher.update(channel.as_bytes());
    if let Some(meta) = agent_message {
        field(&mut hasher, &meta.author);
        field(&mut hasher, &meta.recipient);
    }
    field(&mut hasher, call_id.unwrap_or("\u{0}"));
    for part in &body.parts {
        match part {
            ConversationPart::Text { text } => {
                field(&mut hasher, "text");
                field(&mut hasher, text);
            }
            ConversationPart::Summary { text } => {
                field(&mut hasher, "summary");
                field(&mut hasher, text);
            }
            ConversationPart::Encoded { label, value } => {
                field(&mut hasher, "encoded");
                field(&mut hasher, label);
                field(&mut hasher, value);
            }
            ConversationPart::Json { blake3, .. } => {
                field(&mut hasher, "json");
                field(&mut hasher, blake3);
            }
            ConversationPart::Code { language, source } => {
                field(&mut hasher, "code");
                field(&mut hasher, language);
                field(&mut hasher, source);
            }
            // By what the part stands for, not by the payload it was read
            // from: every full request is a different payload.
            ConversationPart::PayloadRef { label, blake3, .. } => {
                field(&mut hasher, "payload_ref");
                field(&mut hasher, label);
                field(&mut hasher, blake3);
            }
        }
    }
    Hash(*hasher.finalize().as_bytes())
}

/// `format!("{kind:?}")` without allocating.
fn kind_name(kind: ConversationItemKind) -> &'static str {
    match kind {
        ConversationItemKind::Message => "Message",
        ConversationItemKind::Reasoning => "Reasoning",
        ConversationItemKind::FunctionCall => "FunctionCall",
        ConversationItemKind::FunctionCallOutput => "FunctionCallOutput",
        ConversationItemKind::CustomToolCall => "CustomToolCall",
        ConversationItemKind::CustomToolCallOutput => "CustomToolCallOutput",
        ConversationItemKind::CompactionMarker => "CompactionMarker",
    }
}

/// `format!("{role:?}")` without allocating.
fn role_name(role: ConversationRole) -> &'static str {
    match role {
        ConversationRole::System => "System",
        ConversationRole::Developer => "Developer",
        ConversationRole::User => "User",
        ConversationRole::Assistant => "Assistant",
        ConversationRole::Tool => "Tool",
    }
}

/// `format!("{channel:?}")` without allocating.
fn channel_name(channel: Option<ConversationChannel>) -> &'static str {
    match channel {
        None => "None",
        Some(ConversationChannel::Analysis) => "Some(Analysis)",
        Some(ConversationChannel::Commentary) => "Some(Commentary)",
        Some(ConversationChannel::Final) => "Some(Final)",
        Some(ConversationChannel::Summary) => "Some(Summary)",
    }
}

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

/// Whether the reference would see `item` as the same content as `first`:
/// every field equal, JSON parts compared by their summaries only.
fn same_by_summary(first: &ConversationItem, item: &Normalized) -> bool {
    let parts_match = first.body.parts.len() == item.body.parts.len()
        && first
            .body
            .parts
            .iter()
            .zip(&item.body.parts)
            .all(|(a, b)| match (a, b) {
                (
                    ConversationPart::Json { summary: a, .. },
                    ConversationPart::Json { summary: b, .. },
                ) => a == b,
                (
                    ConversationPart::PayloadRef { label: a, .. },
                    ConversationPart::PayloadRef { label: b, .. },
                ) => a == b,
                (a, b) => a == b,
            });
    parts_match
        && first.kind == item.kind
        && first.role == item.role
        && first.channel == item.channel
        && first.agent_message == item.agent_message
        && first.call_id == item.call_id
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
        "custom_tool_call" => {
            let input = item.get("input").and_then(Value::as_str);
            let is_exec = item.get("name").and_then(Value::as_str) == Some("exec");
            let body = match input {
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
                None => ConversationBody {
                    parts: vec![json_part(item, raw_payload_id)],
                },
            };
            Normalized::new(
                Role::Assistant,
                commentary,
                Kind::CustomToolCall,
                None,
                body,
                call_id_of(item),
            )
        }
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
                ConversationBody {
                    parts: vec![json_part(item, raw_payload_id)],
                },
                call_id_of(item),
            )
        }
        "tool_search_output" | "mcp_tool_call_output" => Normalized::new(
            Role::Tool,
            commentary,
            Kind::FunctionCallOutput,
            None,
            ConversationBody {
                parts: vec![json_part(item, raw_payload_id)],
            },
            call_id_of(item),
        ),
        "compaction" | "compaction_summary" | "context_compaction" => {
            let part = match item.get("encrypted_content").and_then(Value::as_str) {
                Some(value) => ConversationPart::Encoded {
                    label: "encrypted_content".to_string(),
                    value: value.to_string(),
                },
                None if item_type == "compaction" => {
                    return Err(format!(
                        "compaction item in payload {raw_payload_id} did not contain encrypted_content"
                    ));
                }
                None => json_part(item, raw_payload_id),
            };
            Normalized::new(
                Role::Assistant,
                Some(ConversationChannel::Summary),
                Kind::Message,
                None,
                ConversationBody { parts: vec![part] },
                None,
            )
        }
        other => {
            return Err(format!(
                "unsupported model item type {other} in payload {raw_payload_id}"
            ));
        }
    })
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

/// Inter-agent delivery fields of an item: (author, recipient, content).
///
/// Either an `agent_message` item, or the legacy shape: an assistant message
/// whose only text part is a serialised inter-agent communication.
pub(crate) fn inter_agent_fields(item: &ConversationItem) -> Option<(String, String, String)> {
    if item.role != ConversationRole::Assistant || item.kind != ConversationItemKind::Message {
        return None;
    }
    if let Some(meta) = &item.agent_message {
        let content = item
            .body
            .parts
            .iter()
            .find_map(|part| match part {
                ConversationPart::Encoded { value, .. } => Some(value.clone()),
                _ => None,
            })
            .or_else(|| {
                let texts: Vec<&str> = item
                    .body
                    .parts
                    .iter()
                    .filter_map(|part| match part {
                        ConversationPart::Text { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                (!texts.is_empty()).then(|| texts.concat())
            })?;
        return Some((meta.author.clone(), meta.recipient.clone(), content));
    }
    let [ConversationPart::Text { text }] = item.body.parts.as_slice() else {
        return None;
    };
    if !text.starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let author = value.get("author")?.as_str()?.to_string();
    let recipient = value.get("recipient")?.as_str()?.to_string();
    let content = value
        .get("encrypted_content")
        .and_then(Value::as_str)
        .or_else(|| value.get("content").and_then(Value::as_str))?
        .to_string();
    Some((author, recipient, content))
}

/// Where a new item's provenance and turn come from.
pub(crate) struct ItemOrigin<'a> {
    pub thread_id: &'a str,
    pub codex_turn_id: Option<&'a str>,
    pub produced_by: Vec<ProducerRef>,
}

/// Positions of the candidates by content identity, in order.
fn identity_queues(identities: &[Option<Hash>]) -> super::FxIndexMap<Hash, VecDeque<usize>> {
    let mut queues: super::FxIndexMap<Hash, VecDeque<usize>> = super::FxIndexMap::default();
    for (position, identity) in identities.iter().enumerate() {
        if let Some(identity) = identity {
            queues.entry(*identity).or_default().push_back(position);
        }
    }
    queues
}

impl Reducer {
    pub(crate) fn item(&self, id: &str) -> Option<&ConversationItem> {
        self.trace.conversation_items.get(id)
    }

    pub(crate) fn item_mut(&mut self, id: &str) -> Option<&mut ConversationItem> {
        self.trace.conversation_items.get_mut(id)
    }

    /// The content identity of item `id` (found by the id's ordinal, see
    /// [`crate::model::OrdinalMap`]).
    pub(crate) fn identity_of(&self, id: &str) -> Option<Hash> {
        self.trace
            .conversation_items
            .position_of(id)
            .and_then(|index| self.item_identity.get(index).copied())
    }

    /// Full-snapshot reconciliation: reuse the candidate at the same position
    /// when its content matches, else the first unused matching candidate
    /// anywhere, else create a new item. New identical items are never merged
    /// with each other.
    pub(crate) fn reconcile_full(
        &mut self,
        event: &Event,
        origin: &ItemOrigin<'_>,
        items: Vec<Sighting<'_>>,
        candidates: &[ItemId],
    ) -> Res<Vec<ItemId>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut used = vec![false; candidates.len()];
        let candidate_identity: Vec<Option<Hash>> =
            candidates.iter().map(|id| self.identity_of(id)).collect();
        // Candidates by content, built on the first item that does not match
        // its position (a request that only extends the history never needs
        // it).
        let mut by_identity: Option<super::FxIndexMap<Hash, VecDeque<usize>>> = None;
        let mut out = Vec::with_capacity(items.len());
        for (position, item) in items.into_iter().enumerate() {
            let identity = item.identity();
            let mut reused = None;
            if position < candidates.len()
                && !used[position]
                && candidate_identity[position] == Some(identity)
            {
                reused = Some(position);
            } else if let Some(queue) = by_identity
                .get_or_insert_with(|| identity_queues(&candidate_identity))
                .get_mut(&identity)
            {
                while let Some(found) = queue.pop_front() {
                    if !used[found] {
                        reused = Some(found);
                        break;
                    }
                }
            }
            match reused {
                Some(found) => {
                    used[found] = true;
                    let id = candidates[found].clone();
                    self.merge_reasoning(&id, &item);
                    out.push(id);
                }
                None => out.push(self.create_item(event, origin, item.into_normalized()?)?),
            }
        }
        Ok(out)
    }

    /// Reuses the candidate at `position` when it matches, else creates.
    pub(crate) fn reuse_at_or_create(
        &mut self,
        event: &Event,
        origin: &ItemOrigin<'_>,
        item: Sighting<'_>,
        candidate: Option<&ItemId>,
    ) -> Res<ItemId> {
        if let Some(id) = candidate
            && self.identity_of(id) == Some(item.identity())
        {
            let id = id.clone();
            self.merge_reasoning(&id, &item);
            return Ok(id);
        }
        self.create_item(event, origin, item.into_normalized()?)
    }

    /// A later sighting of reasoning may fill in missing readable text or
    /// summary, but never replaces what was seen first.
    fn merge_reasoning(&mut self, id: &str, item: &Sighting<'_>) {
        // A known sighting is never reasoning: reasoning is always parsed.
        let Sighting::Parsed(item) = item else {
            return;
        };
        if item.kind != ConversationItemKind::Reasoning {
            return;
        }
        let Some(existing) = self.item_mut(id) else {
            return;
        };
        let has_text = |parts: &[ConversationPart]| {
            parts
                .iter()
                .any(|part| matches!(part, ConversationPart::Text { .. }))
        };
        let has_summary = |parts: &[ConversationPart]| {
            parts
                .iter()
                .any(|part| matches!(part, ConversationPart::Summary { .. }))
        };
        let fill_text = !has_text(&existing.body.parts) && has_text(&item.body.parts);
        let fill_summary = !has_summary(&existing.body.parts) && has_summary(&item.body.parts);
        if !fill_text && !fill_summary {
            return;
        }
        let mut texts = Vec::new();
        let mut summaries = Vec::new();
        let mut rest = Vec::new();
        for part in existing.body.parts.drain(..) {
            match part {
                ConversationPart::Text { .. } => texts.push(part),
                ConversationPart::Summary { .. } => summaries.push(part),
                other => rest.push(other),
            }
        }
        for part in &item.body.parts {
            match part {
                ConversationPart::Text { .. } if fill_text => texts.push(part.clone()),
                ConversationPart::Summary { .. } if fill_summary => summaries.push(part.clone()),
                _ => {}
            }
        }
        existing.body.parts = texts.into_iter().chain(summaries).chain(rest).collect();
    }

    /// Creates a new item and runs every index hook for it.
    pub(crate) fn create_item(
        &mut self,
        event: &Event,
        origin: &ItemOrigin<'_>,
        item: Normalized,
    ) -> Res<ItemId> {
        let id: ItemId = self.trace.conversation_items.next_id().into();
        let thread_id = origin.thread_id;
        let call_key = item
            .call_id
            .as_deref()
            .map(|call_id| key(thread_id, call_id));
        if let (Some(call_id), Some(call_key)) = (&item.call_id, &call_key) {
            self.check_call_id_reuse(event.seq, thread_id, call_id, call_key, &item, &id)?;
        }
        let identity = item.identity;
        let is_exec_call = item.kind == ConversationItemKind::CustomToolCall
            && matches!(item.body.parts.as_slice(), [ConversationPart::Code { .. }]);
        self.trace.conversation_items.push(ConversationItem {
            item_id: id.clone(),
            thread_id: thread_id.to_string(),
            codex_turn_id: origin.codex_turn_id.map(str::to_string),
            first_seen_at_unix_ms: event.wall_time_unix_ms,
            first_seen_seq: event.seq,
            role: item.role,
            channel: item.channel,
            kind: item.kind,
            agent_message: item.agent_message,
            body: item.body,
            call_id: item.call_id.clone(),
            produced_by: origin.produced_by.clone(),
        });
        self.item_identity.push(identity);
        // Identity alignment: entry n of `item_identity` is item n's.
        debug_assert_eq!(
            self.item_identity.len(),
            self.trace.conversation_items.len()
        );
        if let Some(thread) = self.trace.threads.get_mut(thread_id) {
            thread.conversation_item_ids.push(id.clone());
        }
        if let Some(call_key) = call_key {
            if is_exec_call {
                self.exec_calls.insert(call_key.clone());
            }
            self.items_by_call
                .entry(call_key.clone())
                .or_default()
                .push(id.clone());
            if let Some(tool_id) = self.tool_by_visible_call.get(&call_key).cloned() {
                self.link_item_to_tool(&tool_id, &id);
            }
            self.link_item_to_code_cell(&call_key, &id, is_exec_call)?;
        }
        self.index_message_item(&id)?;
        Ok(id)
    }

    /// The same call id and kind must carry the same content within a thread,
    /// except a code-mode `notify` output, which reuses the `exec` call id.
    #[allow(clippy::too_many_arguments)]
    fn check_call_id_reuse(
        &mut self,
        seq: u64,
        thread_id: &str,
        call_id: &str,
        call_key: &str,
        item: &Normalized,
        new_id: &ItemId,
    ) -> Res<()> {
        let kind_key = key(call_key, kind_name(item.kind));
        let first = match self.first_item_by_call_kind.entry(kind_key) {
            indexmap::map::Entry::Vacant(slot) => {
                slot.insert(new_id.clone());
                return Ok(());
            }
            indexmap::map::Entry::Occupied(slot) => slot.get().clone(),
        };
        if self.identity_of(&first) == Some(item.identity) {
            return Ok(());
        }
        if item.kind == ConversationItemKind::CustomToolCallOutput
            && self.exec_calls.contains(call_key)
        {
            return Ok(());
        }
        // The reference compares JSON bodies by their 240-byte summaries: a
        // difference past them is legal there (hosts rewrite old tool
        // outputs in later requests), so it is a diagnostic here, naming
        // what our full identity sees.
        if self
            .item(&first)
            .is_some_and(|first| same_by_summary(first, item))
        {
            self.diagnose(
                Some(seq),
                "call_id_reused_with_different_json",
                format!(
                    "model-visible call id {call_id} in thread {thread_id} was reused with JSON that differs past its 240-byte summary (first item {first}, now {new_id})"
                ),
            );
            return Ok(());
        }
        invalid(format!(
            "model-visible call id {call_id} was reused with different content in thread {thread_id} (first item {first})"
        ))
    }

    fn index_message_item(&mut self, id: &ItemId) -> Res<()> {
        let Some(item) = self.item(id) else {
            return Ok(());
        };
        if let Some((author, recipient, content)) = inter_agent_fields(item) {
            let thread_id = item.thread_id.clone();
            let is_for_thread = self
                .trace
                .threads
                .get(&thread_id)
                .is_some_and(|thread| thread.agent_path == recipient);
            if is_for_thread {
                return self.deliver_agent_item(&thread_id, &author, &content, id);
            }
            return Ok(());
        }
        if item.role == ConversationRole::Assistant
            && item.kind == ConversationItemKind::Message
            && let Some(turn) = &item.codex_turn_id
        {
            let turn_key = key(&item.thread_id, turn);
            self.latest_assistant_message.insert(turn_key, id.clone());
        }
        Ok(())
    }

    /// Links a model-visible call or output item to its tool call.
    pub(crate) fn link_item_to_tool(&mut self, tool_id: &str, item_id: &ItemId) {
        let Some(item) = self.item_mut(item_id) else {
            return;
        };
        let is_call = matches!(
            item.kind,
            ConversationItemKind::FunctionCall | ConversationItemKind::CustomToolCall
        );
        let inference = item.produced_by.iter().find_map(|producer| match producer {
            ProducerRef::Inference { inference_call_id } => Some(inference_call_id.clone()),
            _ => None,
        });
        if !is_call {
            let producer = ProducerRef::Tool {
                tool_call_id: tool_id.to_string(),
            };
            if !item.produced_by.contains(&producer) {
                item.produced_by.push(producer);
            }
        }
        let Some(tool) = self.trace.tool_calls.get_mut(tool_id) else {
            return;
        };
        if is_call {
            push_unique_item(&mut tool.model_visible_call_item_ids, item_id);
            if let Some(inference) = inference
                && let Some(call) = self.trace.inference_calls.get_mut(&inference)
            {
                push_unique(&mut call.tool_call_ids_started_by_response, tool_id);
            }
        } else {
            push_unique_item(&mut tool.model_visible_output_item_ids, item_id);
        }
    }
}

#[cfg(test)]
#[path = "conversation_tests.rs"]
mod tests;
