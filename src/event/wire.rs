//! The JSON wire format: one raw event per line, the reference's envelope.
//!
//! Parsing is strict about the envelope and the known event types, and keeps
//! unknown event types verbatim. This module does no I/O: resolving a
//! payload reference (reading a file, storing bytes) is the caller's job.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::{
    EventPayload, Hash, JsonText, KNOWN_EVENT_TYPES, PayloadKind, RAW_EVENT_SCHEMA_VERSION,
};

/// A payload reference as it appears on the wire, in one of three forms.
#[derive(Debug, Clone)]
pub enum WirePayloadRef {
    /// The reference's form: a file relative to the JSONL file's directory.
    File {
        /// The reference's `raw_payload:N` id (kept for export; not stored).
        raw_payload_id: String,
        /// What the payload is.
        kind: PayloadKind,
        /// The file, relative to the JSONL file's directory.
        path: String,
    },
    /// The value inline; it is stored as compact JSON.
    Inline {
        /// What the payload is.
        kind: PayloadKind,
        /// The payload.
        value: serde_json::Value,
    },
    /// The payload's exact bytes as a JSON string (used on export when the
    /// bytes are UTF-8 but not compact JSON, so they round-trip byte for byte).
    InlineText {
        /// What the payload is.
        kind: PayloadKind,
        /// The payload's bytes.
        text: String,
    },
    /// The payload's exact bytes, base64 (standard alphabet, padded): any
    /// bytes, used on export when they are not UTF-8.
    InlineBase64 {
        /// What the payload is.
        kind: PayloadKind,
        /// The payload's bytes, decoded.
        bytes: Vec<u8>,
    },
    /// A payload the store already holds, as printed by `events`.
    Stored {
        /// The `raw_payload:N` id it was exported with, if any.
        raw_payload_id: Option<String>,
        /// What the payload is.
        kind: PayloadKind,
        /// The stored payload's hash.
        blake3: Hash,
        /// Its exact stored size, checked against the store.
        size_bytes: u64,
    },
}

impl PartialEq for WirePayloadRef {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                WirePayloadRef::File {
                    raw_payload_id: a_id,
                    kind: a_kind,
                    path: a_path,
                },
                WirePayloadRef::File {
                    raw_payload_id: b_id,
                    kind: b_kind,
                    path: b_path,
                },
            ) => a_id == b_id && a_kind == b_kind && a_path == b_path,
            (
                WirePayloadRef::Inline {
                    kind: a_kind,
                    value: a_value,
                },
                WirePayloadRef::Inline {
                    kind: b_kind,
                    value: b_value,
                },
            ) => a_kind == b_kind && a_value == b_value,
            (
                WirePayloadRef::InlineText {
                    kind: a_kind,
                    text: a_text,
                },
                WirePayloadRef::InlineText {
                    kind: b_kind,
                    text: b_text,
                },
            ) => a_kind == b_kind && a_text == b_text,
            (
                WirePayloadRef::InlineBase64 {
                    kind: a_kind,
                    bytes: a_bytes,
                },
                WirePayloadRef::InlineBase64 {
                    kind: b_kind,
                    bytes: b_bytes,
                },
            ) => a_kind == b_kind && a_bytes == b_bytes,
            (
                WirePayloadRef::Stored {
                    raw_payload_id: a_id,
                    kind: a_kind,
                    blake3: a_hash,
                    size_bytes: a_size,
                },
                WirePayloadRef::Stored {
                    raw_payload_id: b_id,
                    kind: b_kind,
                    blake3: b_hash,
                    size_bytes: b_size,
                },
            ) => a_id == b_id && a_kind == b_kind && a_hash == b_hash && a_size == b_size,
            _ => false,
        }
    }
}

impl WirePayloadRef {
    /// The payload kind, whatever the form.
    pub fn kind(&self) -> &PayloadKind {
        match self {
            WirePayloadRef::File { kind, .. }
            | WirePayloadRef::Inline { kind, .. }
            | WirePayloadRef::InlineText { kind, .. }
            | WirePayloadRef::InlineBase64 { kind, .. }
            | WirePayloadRef::Stored { kind, .. } => kind,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WirePayloadRefFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw_payload_id: Option<String>,
    kind: PayloadKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    // A `Value`, not a `RawValue`: refs sit inside internally tagged enums,
    // which buffer their content, and `RawValue` cannot come from a buffer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inline: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inline_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inline_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blake3: Option<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size_bytes: Option<u64>,
}

impl Serialize for WirePayloadRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = match self {
            WirePayloadRef::File {
                raw_payload_id,
                kind,
                path,
            } => WirePayloadRefFields {
                raw_payload_id: Some(raw_payload_id.clone()),
                kind: kind.clone(),
                path: Some(path.clone()),
                inline: None,
                inline_text: None,
                inline_base64: None,
                blake3: None,
                size_bytes: None,
            },
            WirePayloadRef::Inline { kind, value } => WirePayloadRefFields {
                raw_payload_id: None,
                kind: kind.clone(),
                path: None,
                inline: Some(value.clone()),
                inline_text: None,
                inline_base64: None,
                blake3: None,
                size_bytes: None,
            },
            WirePayloadRef::InlineText { kind, text } => WirePayloadRefFields {
                raw_payload_id: None,
                kind: kind.clone(),
                path: None,
                inline: None,
                inline_text: Some(text.clone()),
                inline_base64: None,
                blake3: None,
                size_bytes: None,
            },
            WirePayloadRef::InlineBase64 { kind, bytes } => WirePayloadRefFields {
                raw_payload_id: None,
                kind: kind.clone(),
                path: None,
                inline: None,
                inline_text: None,
                inline_base64: Some(BASE64.encode(bytes)),
                blake3: None,
                size_bytes: None,
            },
            WirePayloadRef::Stored {
                raw_payload_id,
                kind,
                blake3,
                size_bytes,
            } => WirePayloadRefFields {
                raw_payload_id: raw_payload_id.clone(),
                kind: kind.clone(),
                path: None,
                inline: None,
                inline_text: None,
                inline_base64: None,
                blake3: Some(*blake3),
                size_bytes: Some(*size_bytes),
            },
        };
        fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for WirePayloadRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let fields = WirePayloadRefFields::deserialize(deserializer)?;
        let forms = [
            fields.path.is_some(),
            fields.inline.is_some(),
            fields.inline_text.is_some(),
            fields.inline_base64.is_some(),
            fields.blake3.is_some(),
        ];
        match forms.iter().filter(|present| **present).count() {
            0 => {
                return Err(D::Error::custom(
                    "payload reference needs one of `path`, `inline`, `inline_text`, `inline_base64` or `blake3`",
                ));
            }
            1 => {}
            _ => {
                return Err(D::Error::custom(
                    "payload reference has more than one of `path`, `inline`, `inline_text`, `inline_base64` and `blake3`",
                ));
            }
        }
        let kind = fields.kind;
        if let Some(text) = fields.inline_text {
            return Ok(WirePayloadRef::InlineText { kind, text });
        }
        if let Some(encoded) = fields.inline_base64 {
            let bytes = BASE64
                .decode(encoded.as_bytes())
                .map_err(|err| D::Error::custom(format!("inline_base64 is not base64: {err}")))?;
            return Ok(WirePayloadRef::InlineBase64 { kind, bytes });
        }
        if let Some(value) = fields.inline {
            return Ok(WirePayloadRef::Inline { kind, value });
        }
        if let Some(blake3) = fields.blake3 {
            let size_bytes = fields.size_bytes.ok_or_else(|| {
                D::Error::custom("payload reference with blake3 needs size_bytes")
            })?;
            return Ok(WirePayloadRef::Stored {
                raw_payload_id: fields.raw_payload_id,
                kind,
                blake3,
                size_bytes,
            });
        }
        Ok(WirePayloadRef::File {
            raw_payload_id: fields.raw_payload_id.unwrap_or_default(),
            kind,
            path: fields.path.unwrap_or_default(),
        })
    }
}

/// One wire event: the reference's envelope around a typed payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "R: Serialize",
    deserialize = "R: serde::de::DeserializeOwned"
))]
pub struct WireEvent<R> {
    /// The envelope's schema version (`RAW_EVENT_SCHEMA_VERSION`).
    pub schema_version: u32,
    /// The event's position in its rollout's log, as written.
    pub seq: u64,
    /// When the host recorded it, milliseconds since the Unix epoch.
    pub wall_time_unix_ms: i64,
    /// The rollout it belongs to.
    pub rollout_id: String,
    /// The thread it happened in, when it happened in one.
    pub thread_id: Option<String>,
    /// The Codex turn it happened in, when it happened in one.
    pub codex_turn_id: Option<String>,
    /// What happened.
    #[serde(with = "payload_serde")]
    pub payload: EventPayload<R>,
}

impl<R> WireEvent<R> {
    /// The same event with each payload reference mapped by `f`, in
    /// citation order.
    pub fn map_refs<R2>(self, f: impl FnMut(R) -> R2) -> WireEvent<R2> {
        WireEvent {
            schema_version: self.schema_version,
            seq: self.seq,
            wall_time_unix_ms: self.wall_time_unix_ms,
            rollout_id: self.rollout_id,
            thread_id: self.thread_id,
            codex_turn_id: self.codex_turn_id,
            payload: self.payload.map_refs(f),
        }
    }
}

/// Serde for an event payload that keeps unknown `type`s verbatim.
mod payload_serde {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::value::RawValue;

    use super::{EventPayload, JsonText, KNOWN_EVENT_TYPES};

    pub fn serialize<R: Serialize, S: Serializer>(
        payload: &EventPayload<R>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match payload {
            EventPayload::Unknown { json, .. } => json.serialize(serializer),
            known => known.serialize(serializer),
        }
    }

    #[derive(Deserialize)]
    struct TypeProbe {
        #[serde(rename = "type")]
        type_name: String,
    }

    pub fn deserialize<'de, R: DeserializeOwned, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<EventPayload<R>, D::Error> {
        use serde::de::Error;
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let probe: TypeProbe = serde_json::from_str(raw.get())
            .map_err(|err| D::Error::custom(format!("payload: {err}")))?;
        if KNOWN_EVENT_TYPES.contains(&probe.type_name.as_str()) {
            serde_json::from_str(raw.get()).map_err(|err| {
                D::Error::custom(format!("payload of type {}: {err}", probe.type_name))
            })
        } else {
            Ok(EventPayload::Unknown {
                type_name: probe.type_name,
                json: JsonText(raw.get().to_string()),
            })
        }
    }
}

/// Why a wire line was rejected. The caller adds the file and line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("malformed event: {0}")]
    Json(String),
    #[error("unsupported schema_version {0} (this build reads {RAW_EVENT_SCHEMA_VERSION})")]
    SchemaVersion(u32),
    #[error("empty rollout_id")]
    EmptyRolloutId,
}

/// Parses one JSONL line into a wire event.
pub fn parse_line(line: &str) -> Result<WireEvent<WirePayloadRef>, WireError> {
    let event: WireEvent<WirePayloadRef> =
        serde_json::from_str(line).map_err(|err| WireError::Json(err.to_string()))?;
    if event.schema_version != RAW_EVENT_SCHEMA_VERSION {
        return Err(WireError::SchemaVersion(event.schema_version));
    }
    if event.rollout_id.is_empty() {
        return Err(WireError::EmptyRolloutId);
    }
    Ok(event)
}

/// Serialises one wire event as a single compact JSON line (no newline).
pub fn to_line<R: Serialize>(event: &WireEvent<R>) -> String {
    // Serialising our own types into a String cannot fail: every map key is a
    // string and `JsonText` is validated when it is read.
    serde_json::to_string(event)
        .unwrap_or_else(|err| format!("{{\"error\":\"event could not be serialised: {err}\"}}"))
}
