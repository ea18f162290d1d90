//! The raw event model: the envelope, every event variant, payload kinds and
//! payload references.
//!
//! One generic enum, [`EventPayload<R>`], serves every representation: `R` is
//! the payload-reference type. The JSON wire format parses into
//! `EventPayload<WirePayloadRef>`, the store keeps `EventPayload<PayloadRef>`
//! (a BLAKE3 hash, a size and a kind), and export maps refs back out. Serde
//! attributes give the reference's JSON names; the derived bincode
//! `Encode`/`Decode` ignore them and give the stored form.
//!
//! This module does no I/O.

mod starts;
mod types;
pub(crate) mod wire;

pub(crate) use starts::{DuplicateStart, StartTracker};

use std::fmt;
use std::str::FromStr;

use bincode::{Decode, Encode};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use types::{
    CodeCellRuntimeStatus, ExecutionStatus, RawToolCallRequester, RolloutStatus, ToolCallKind,
    ToolCallSummary, truncate_utf8,
};

/// Writer-assigned position of an event in its rollout's log, from 1.
pub type Seq = u64;

/// Wire `schema_version` of the raw event envelope (the reference's value).
pub const RAW_EVENT_SCHEMA_VERSION: u32 = 1;

/// A BLAKE3 digest: the identity of a payload or a chunk.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The BLAKE3 hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// Error parsing a hex BLAKE3 hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid BLAKE3 hash {0:?}: expected 64 hex digits")]
pub struct ParseHashError(pub String);

impl FromStr for Hash {
    type Err = ParseHashError;

    fn from_str(text: &str) -> Result<Hash, ParseHashError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(ParseHashError(text.to_string()));
        }
        let mut out = [0u8; 32];
        for (index, pair) in bytes.chunks_exact(2).enumerate() {
            let high = hex_digit(pair[0]).ok_or_else(|| ParseHashError(text.to_string()))?;
            let low = hex_digit(pair[1]).ok_or_else(|| ParseHashError(text.to_string()))?;
            out[index] = (high << 4) | low;
        }
        Ok(Hash(out))
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// Coarse role of a payload. Wire shape: `{"type":"inference_request"}`.
///
/// Kinds this build does not know are kept by name (`Other`), so a newer
/// producer's payloads still import and export unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub enum PayloadKind {
    InferenceRequest,
    InferenceResponse,
    CompactionRequest,
    CompactionCheckpoint,
    CompactionResponse,
    ToolInvocation,
    ToolResult,
    ToolRuntimeEvent,
    TerminalRuntimeEvent,
    ProtocolEvent,
    SessionMetadata,
    AgentResult,
    /// Our addition: the stored values a code cell committed.
    CodeCellStoredValues,
    /// A kind name this build does not know.
    Other(String),
}

impl PayloadKind {
    /// Whether the reference has this kind (all but our additions and kind
    /// names this build does not know).
    pub fn is_reference_kind(&self) -> bool {
        !matches!(
            self,
            PayloadKind::CodeCellStoredValues | PayloadKind::Other(_)
        )
    }
}

const PAYLOAD_KIND_NAMES: &[(&str, PayloadKind)] = &[
    ("inference_request", PayloadKind::InferenceRequest),
    ("inference_response", PayloadKind::InferenceResponse),
    ("compaction_request", PayloadKind::CompactionRequest),
    ("compaction_checkpoint", PayloadKind::CompactionCheckpoint),
    ("compaction_response", PayloadKind::CompactionResponse),
    ("tool_invocation", PayloadKind::ToolInvocation),
    ("tool_result", PayloadKind::ToolResult),
    ("tool_runtime_event", PayloadKind::ToolRuntimeEvent),
    ("terminal_runtime_event", PayloadKind::TerminalRuntimeEvent),
    ("protocol_event", PayloadKind::ProtocolEvent),
    ("session_metadata", PayloadKind::SessionMetadata),
    ("agent_result", PayloadKind::AgentResult),
    ("code_cell_stored_values", PayloadKind::CodeCellStoredValues),
];

impl PayloadKind {
    /// The snake_case wire name.
    pub fn name(&self) -> &str {
        if let PayloadKind::Other(name) = self {
            return name;
        }
        PAYLOAD_KIND_NAMES
            .iter()
            .find(|(_, kind)| kind == self)
            .map_or("other", |(name, _)| name)
    }

    /// Parses a wire name; unknown names become `Other`.
    pub fn from_name(name: &str) -> PayloadKind {
        PAYLOAD_KIND_NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map_or_else(
                || PayloadKind::Other(name.to_string()),
                |(_, kind)| kind.clone(),
            )
    }
}

#[derive(Serialize, Deserialize)]
struct PayloadKindWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

impl Serialize for PayloadKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PayloadKindWire {
            kind: std::borrow::Cow::Borrowed(self.name()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PayloadKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PayloadKind, D::Error> {
        let wire = PayloadKindWire::deserialize(deserializer)?;
        Ok(PayloadKind::from_name(&wire.kind))
    }
}

/// A stored payload reference: what an event cites.
///
/// The bytes live once in the store's chunk space; `hash` is the BLAKE3 of the
/// whole payload and is checked on every read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode)]
pub struct PayloadRef {
    pub kind: PayloadKind,
    pub hash: Hash,
    pub size_bytes: u64,
}

/// JSON text kept verbatim (unknown events, `Other` metadata).
///
/// Serialises as the JSON value it holds, not as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode)]
pub struct JsonText(pub String);

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.0.clone()) {
            Ok(raw) => raw.serialize(serializer),
            Err(err) => Err(serde::ser::Error::custom(format!(
                "stored JSON text is not valid JSON: {err}"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JsonText, D::Error> {
        // Through `Value` (key order kept): inside internally tagged enums the
        // content is buffered, and a `RawValue` cannot be read from a buffer.
        let value = serde_json::Value::deserialize(deserializer)?;
        serde_json::to_string(&value)
            .map(JsonText)
            .map_err(D::Error::custom)
    }
}

/// How an inference request's `input` reduces into conversation state (an
/// optional field from an unmerged reference branch; accepted when present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum InferenceRequestInputMode<R> {
    FullSnapshot,
    Incremental {
        previous_response_id: String,
    },
    IncrementalWithUntracedPrefix {
        previous_response_id: String,
        prefix_payload: R,
    },
}

/// The typed payload of one raw event.
///
/// Variants 0 to 24 are the reference's, with its field names. Variants from
/// `ThreadResumed` on are tracefold additions (see DESIGN.md). `Unknown` keeps
/// an event type from the wire that this build does not know, verbatim.
/// Variant order is on-disk format: add new variants at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Encode, Decode)]
#[serde(
    rename_all = "snake_case",
    tag = "type",
    bound(serialize = "R: Serialize", deserialize = "R: Deserialize<'de>")
)]
pub enum EventPayload<R> {
    RolloutStarted {
        trace_id: String,
        root_thread_id: String,
    },
    RolloutEnded {
        status: RolloutStatus,
    },
    ThreadStarted {
        thread_id: String,
        agent_path: String,
        metadata_payload: Option<R>,
    },
    ThreadEnded {
        thread_id: String,
        status: RolloutStatus,
    },
    CodexTurnStarted {
        codex_turn_id: String,
        thread_id: String,
    },
    CodexTurnEnded {
        codex_turn_id: String,
        status: ExecutionStatus,
    },
    InferenceStarted {
        inference_call_id: String,
        thread_id: String,
        codex_turn_id: String,
        model: String,
        provider_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_input_mode: Option<InferenceRequestInputMode<R>>,
        request_payload: R,
    },
    InferenceCompleted {
        inference_call_id: String,
        response_id: Option<String>,
        upstream_request_id: Option<String>,
        response_payload: R,
    },
    InferenceFailed {
        inference_call_id: String,
        upstream_request_id: Option<String>,
        error: String,
        partial_response_payload: Option<R>,
    },
    InferenceCancelled {
        inference_call_id: String,
        upstream_request_id: Option<String>,
        reason: String,
        partial_response_payload: Option<R>,
    },
    ToolCallStarted {
        tool_call_id: String,
        model_visible_call_id: Option<String>,
        code_mode_runtime_tool_id: Option<String>,
        requester: RawToolCallRequester,
        kind: ToolCallKind,
        summary: ToolCallSummary,
        invocation_payload: Option<R>,
    },
    McpToolCallCorrelationAssigned {
        tool_call_id: String,
        mcp_call_id: String,
    },
    ToolCallRuntimeStarted {
        tool_call_id: String,
        runtime_payload: R,
    },
    ToolCallRuntimeEnded {
        tool_call_id: String,
        status: ExecutionStatus,
        runtime_payload: R,
    },
    ToolCallEnded {
        tool_call_id: String,
        status: ExecutionStatus,
        result_payload: Option<R>,
    },
    CodeCellStarted {
        runtime_cell_id: String,
        model_visible_call_id: String,
        source_js: String,
    },
    CodeCellInitialResponse {
        runtime_cell_id: String,
        status: CodeCellRuntimeStatus,
        response_payload: Option<R>,
    },
    CodeCellEnded {
        runtime_cell_id: String,
        status: CodeCellRuntimeStatus,
        response_payload: Option<R>,
    },
    CompactionRequestStarted {
        compaction_id: String,
        compaction_request_id: String,
        thread_id: String,
        codex_turn_id: String,
        model: String,
        provider_name: String,
        request_payload: R,
    },
    CompactionRequestCompleted {
        compaction_id: String,
        compaction_request_id: String,
        response_payload: R,
    },
    CompactionRequestFailed {
        compaction_id: String,
        compaction_request_id: String,
        error: String,
    },
    CompactionInstalled {
        compaction_id: String,
        checkpoint_payload: R,
    },
    AgentResultObserved {
        edge_id: String,
        child_thread_id: String,
        child_codex_turn_id: String,
        parent_thread_id: String,
        message: String,
        carried_payload: Option<R>,
    },
    ProtocolEventObserved {
        event_type: String,
        event_payload: R,
    },
    Other {
        kind: String,
        summary: String,
        payloads: Vec<R>,
        metadata: JsonText,
    },
    // ---- tracefold additions (DESIGN.md, "Events the reference lacks") ----
    /// A thread that already started (in this rollout or an earlier one) is
    /// traced again after a resume. Never a second `ThreadStarted`.
    ThreadResumed {
        thread_id: String,
        agent_path: String,
        metadata_payload: Option<R>,
    },
    /// A terminal session (process) ended.
    TerminalSessionEnded {
        terminal_id: String,
        thread_id: String,
        status: ExecutionStatus,
        exit_code: Option<i32>,
        runtime_payload: Option<R>,
    },
    /// A local (non-remote) compaction installed replacement history. The
    /// summarisation call, if any, is an ordinary inference call.
    LocalCompactionInstalled {
        compaction_id: String,
        inference_call_id: Option<String>,
        checkpoint_payload: R,
    },
    /// The recorder dropped `count` events (full queue, failed write, ...).
    EventsDropped {
        count: u64,
        reason: String,
    },
    /// The stored values a code cell committed when it finished.
    CodeCellStoredValues {
        runtime_cell_id: String,
        stored_values_payload: R,
    },
    /// An event type this build does not know, kept verbatim: `json` is the
    /// whole wire payload object, `type` included.
    #[serde(skip)]
    Unknown {
        type_name: String,
        json: JsonText,
    },
}

/// The wire `type` names this build knows, in variant order.
pub const KNOWN_EVENT_TYPES: &[&str] = &[
    "rollout_started",
    "rollout_ended",
    "thread_started",
    "thread_ended",
    "codex_turn_started",
    "codex_turn_ended",
    "inference_started",
    "inference_completed",
    "inference_failed",
    "inference_cancelled",
    "tool_call_started",
    "mcp_tool_call_correlation_assigned",
    "tool_call_runtime_started",
    "tool_call_runtime_ended",
    "tool_call_ended",
    "code_cell_started",
    "code_cell_initial_response",
    "code_cell_ended",
    "compaction_request_started",
    "compaction_request_completed",
    "compaction_request_failed",
    "compaction_installed",
    "agent_result_observed",
    "protocol_event_observed",
    "other",
    "thread_resumed",
    "terminal_session_ended",
    "local_compaction_installed",
    "events_dropped",
    "code_cell_stored_values",
];

impl<R> EventPayload<R> {
    /// The wire `type` name of this event.
    pub fn type_name(&self) -> &str {
        match self {
            EventPayload::Unknown { type_name, .. } => type_name,
            known => KNOWN_EVENT_TYPES[known.variant_index()],
        }
    }

    fn variant_index(&self) -> usize {
        match self {
            EventPayload::RolloutStarted { .. } => 0,
            EventPayload::RolloutEnded { .. } => 1,
            EventPayload::ThreadStarted { .. } => 2,
            EventPayload::ThreadEnded { .. } => 3,
            EventPayload::CodexTurnStarted { .. } => 4,
            EventPayload::CodexTurnEnded { .. } => 5,
            EventPayload::InferenceStarted { .. } => 6,
            EventPayload::InferenceCompleted { .. } => 7,
            EventPayload::InferenceFailed { .. } => 8,
            EventPayload::InferenceCancelled { .. } => 9,
            EventPayload::ToolCallStarted { .. } => 10,
            EventPayload::McpToolCallCorrelationAssigned { .. } => 11,
            EventPayload::ToolCallRuntimeStarted { .. } => 12,
            EventPayload::ToolCallRuntimeEnded { .. } => 13,
            EventPayload::ToolCallEnded { .. } => 14,
            EventPayload::CodeCellStarted { .. } => 15,
            EventPayload::CodeCellInitialResponse { .. } => 16,
            EventPayload::CodeCellEnded { .. } => 17,
            EventPayload::CompactionRequestStarted { .. } => 18,
            EventPayload::CompactionRequestCompleted { .. } => 19,
            EventPayload::CompactionRequestFailed { .. } => 20,
            EventPayload::CompactionInstalled { .. } => 21,
            EventPayload::AgentResultObserved { .. } => 22,
            EventPayload::ProtocolEventObserved { .. } => 23,
            EventPayload::Other { .. } => 24,
            EventPayload::ThreadResumed { .. } => 25,
            EventPayload::TerminalSessionEnded { .. } => 26,
            EventPayload::LocalCompactionInstalled { .. } => 27,
            EventPayload::EventsDropped { .. } => 28,
            EventPayload::CodeCellStoredValues { .. } => 29,
            EventPayload::Unknown { .. } => usize::MAX,
        }
    }

    /// Every payload reference this event cites, in field order.
    pub fn payload_refs(&self) -> Vec<&R> {
        let mut refs = Vec::new();
        self.for_each_ref(|r| refs.push(r));
        refs
    }

    /// Calls `f` on every payload reference, in field order.
    pub fn for_each_ref<'a>(&'a self, mut f: impl FnMut(&'a R)) {
        match self {
            EventPayload::ThreadStarted {
                metadata_payload, ..
            }
            | EventPayload::ThreadResumed {
                metadata_payload, ..
            } => metadata_payload.iter().for_each(f),
            EventPayload::InferenceStarted {
                request_input_mode,
                request_payload,
                ..
            } => {
                if let Some(InferenceRequestInputMode::IncrementalWithUntracedPrefix {
                    prefix_payload,
                    ..
                }) = request_input_mode
                {
                    f(prefix_payload);
                }
                f(request_payload);
            }
            EventPayload::InferenceCompleted {
                response_payload: r,
                ..
            }
            | EventPayload::CompactionRequestStarted {
                request_payload: r, ..
            }
            | EventPayload::CompactionRequestCompleted {
                response_payload: r,
                ..
            }
            | EventPayload::CompactionInstalled {
                checkpoint_payload: r,
                ..
            }
            | EventPayload::LocalCompactionInstalled {
                checkpoint_payload: r,
                ..
            }
            | EventPayload::ProtocolEventObserved {
                event_payload: r, ..
            }
            | EventPayload::ToolCallRuntimeStarted {
                runtime_payload: r, ..
            }
            | EventPayload::ToolCallRuntimeEnded {
                runtime_payload: r, ..
            }
            | EventPayload::CodeCellStoredValues {
                stored_values_payload: r,
                ..
            } => f(r),
            EventPayload::InferenceFailed {
                partial_response_payload: r,
                ..
            }
            | EventPayload::InferenceCancelled {
                partial_response_payload: r,
                ..
            }
            | EventPayload::ToolCallStarted {
                invocation_payload: r,
                ..
            }
            | EventPayload::ToolCallEnded {
                result_payload: r, ..
            }
            | EventPayload::CodeCellInitialResponse {
                response_payload: r,
                ..
            }
            | EventPayload::CodeCellEnded {
                response_payload: r,
                ..
            }
            | EventPayload::AgentResultObserved {
                carried_payload: r, ..
            }
            | EventPayload::TerminalSessionEnded {
                runtime_payload: r, ..
            } => r.iter().for_each(f),
            EventPayload::Other { payloads, .. } => payloads.iter().for_each(f),
            EventPayload::RolloutStarted { .. }
            | EventPayload::RolloutEnded { .. }
            | EventPayload::ThreadEnded { .. }
            | EventPayload::CodexTurnStarted { .. }
            | EventPayload::CodexTurnEnded { .. }
            | EventPayload::McpToolCallCorrelationAssigned { .. }
            | EventPayload::CodeCellStarted { .. }
            | EventPayload::CompactionRequestFailed { .. }
            | EventPayload::EventsDropped { .. }
            | EventPayload::Unknown { .. } => {}
        }
    }

    /// The kind each payload reference of this event has by convention (the
    /// reference's producers), in `for_each_ref` order.
    pub fn conventional_payload_kinds(&self) -> Vec<PayloadKind> {
        let kind = match self {
            EventPayload::ThreadStarted { .. } | EventPayload::ThreadResumed { .. } => {
                PayloadKind::SessionMetadata
            }
            EventPayload::InferenceStarted { .. } => PayloadKind::InferenceRequest,
            EventPayload::InferenceCompleted { .. }
            | EventPayload::InferenceFailed { .. }
            | EventPayload::InferenceCancelled { .. } => PayloadKind::InferenceResponse,
            EventPayload::ToolCallStarted { .. } => PayloadKind::ToolInvocation,
            EventPayload::ToolCallRuntimeStarted { .. }
            | EventPayload::ToolCallRuntimeEnded { .. } => PayloadKind::ToolRuntimeEvent,
            EventPayload::ToolCallEnded { .. }
            | EventPayload::CodeCellInitialResponse { .. }
            | EventPayload::CodeCellEnded { .. } => PayloadKind::ToolResult,
            EventPayload::CompactionRequestStarted { .. } => PayloadKind::CompactionRequest,
            EventPayload::CompactionRequestCompleted { .. } => PayloadKind::CompactionResponse,
            EventPayload::CompactionInstalled { .. }
            | EventPayload::LocalCompactionInstalled { .. } => PayloadKind::CompactionCheckpoint,
            EventPayload::AgentResultObserved { .. } => PayloadKind::AgentResult,
            EventPayload::ProtocolEventObserved { .. } => PayloadKind::ProtocolEvent,
            EventPayload::TerminalSessionEnded { .. } => PayloadKind::TerminalRuntimeEvent,
            EventPayload::CodeCellStoredValues { .. } => PayloadKind::CodeCellStoredValues,
            EventPayload::Other { kind, .. } => PayloadKind::Other(kind.clone()),
            EventPayload::RolloutStarted { .. }
            | EventPayload::RolloutEnded { .. }
            | EventPayload::ThreadEnded { .. }
            | EventPayload::CodexTurnStarted { .. }
            | EventPayload::CodexTurnEnded { .. }
            | EventPayload::McpToolCallCorrelationAssigned { .. }
            | EventPayload::CodeCellStarted { .. }
            | EventPayload::CompactionRequestFailed { .. }
            | EventPayload::EventsDropped { .. }
            | EventPayload::Unknown { .. } => return Vec::new(),
        };
        let mut count = 0;
        self.for_each_ref(|_| count += 1);
        vec![kind; count]
    }

    /// Maps every payload reference through `f`, keeping everything else.
    pub fn map_refs<R2>(self, mut f: impl FnMut(R) -> R2) -> EventPayload<R2> {
        let mapped: Result<_, std::convert::Infallible> = self.try_map_refs(|r| Ok(f(r)));
        match mapped {
            Ok(payload) => payload,
            Err(never) => match never {},
        }
    }

    /// Maps every payload reference through `f`, keeping everything else.
    /// Stops at the first error.
    pub fn try_map_refs<R2, E>(
        self,
        mut f: impl FnMut(R) -> Result<R2, E>,
    ) -> Result<EventPayload<R2>, E> {
        let opt = |r: Option<R>, f: &mut dyn FnMut(R) -> Result<R2, E>| r.map(f).transpose();
        Ok(match self {
            EventPayload::RolloutStarted {
                trace_id,
                root_thread_id,
            } => EventPayload::RolloutStarted {
                trace_id,
                root_thread_id,
            },
            EventPayload::RolloutEnded { status } => EventPayload::RolloutEnded { status },
            EventPayload::ThreadStarted {
                thread_id,
                agent_path,
                metadata_payload,
            } => EventPayload::ThreadStarted {
                thread_id,
                agent_path,
                metadata_payload: opt(metadata_payload, &mut f)?,
            },
            EventPayload::ThreadEnded { thread_id, status } => {
                EventPayload::ThreadEnded { thread_id, status }
            }
            EventPayload::CodexTurnStarted {
                codex_turn_id,
                thread_id,
            } => EventPayload::CodexTurnStarted {
                codex_turn_id,
                thread_id,
            },
            EventPayload::CodexTurnEnded {
                codex_turn_id,
                status,
            } => EventPayload::CodexTurnEnded {
                codex_turn_id,
                status,
            },
            EventPayload::InferenceStarted {
                inference_call_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_input_mode,
                request_payload,
            } => {
                let request_input_mode = match request_input_mode {
                    None => None,
                    Some(InferenceRequestInputMode::FullSnapshot) => {
                        Some(InferenceRequestInputMode::FullSnapshot)
                    }
                    Some(InferenceRequestInputMode::Incremental {
                        previous_response_id,
                    }) => Some(InferenceRequestInputMode::Incremental {
                        previous_response_id,
                    }),
                    Some(InferenceRequestInputMode::IncrementalWithUntracedPrefix {
                        previous_response_id,
                        prefix_payload,
                    }) => Some(InferenceRequestInputMode::IncrementalWithUntracedPrefix {
                        previous_response_id,
                        prefix_payload: f(prefix_payload)?,
                    }),
                };
                EventPayload::InferenceStarted {
                    inference_call_id,
                    thread_id,
                    codex_turn_id,
                    model,
                    provider_name,
                    request_input_mode,
                    request_payload: f(request_payload)?,
                }
            }
            EventPayload::InferenceCompleted {
                inference_call_id,
                response_id,
                upstream_request_id,
                response_payload,
            } => EventPayload::InferenceCompleted {
                inference_call_id,
                response_id,
                upstream_request_id,
                response_payload: f(response_payload)?,
            },
            EventPayload::InferenceFailed {
                inference_call_id,
                upstream_request_id,
                error,
                partial_response_payload,
            } => EventPayload::InferenceFailed {
                inference_call_id,
                upstream_request_id,
                error,
                partial_response_payload: opt(partial_response_payload, &mut f)?,
            },
            EventPayload::InferenceCancelled {
                inference_call_id,
                upstream_request_id,
                reason,
                partial_response_payload,
            } => EventPayload::InferenceCancelled {
                inference_call_id,
                upstream_request_id,
                reason,
                partial_response_payload: opt(partial_response_payload, &mut f)?,
            },
            EventPayload::ToolCallStarted {
                tool_call_id,
                model_visible_call_id,
                code_mode_runtime_tool_id,
                requester,
                kind,
                summary,
                invocation_payload,
            } => EventPayload::ToolCallStarted {
                tool_call_id,
                model_visible_call_id,
                code_mode_runtime_tool_id,
                requester,
                kind,
                summary,
                invocation_payload: opt(invocation_payload, &mut f)?,
            },
            EventPayload::McpToolCallCorrelationAssigned {
                tool_call_id,
                mcp_call_id,
            } => EventPayload::McpToolCallCorrelationAssigned {
                tool_call_id,
                mcp_call_id,
            },
            EventPayload::ToolCallRuntimeStarted {
                tool_call_id,
                runtime_payload,
            } => EventPayload::ToolCallRuntimeStarted {
                tool_call_id,
                runtime_payload: f(runtime_payload)?,
            },
            EventPayload::ToolCallRuntimeEnded {
                tool_call_id,
                status,
                runtime_payload,
            } => EventPayload::ToolCallRuntimeEnded {
                tool_call_id,
                status,
                runtime_payload: f(runtime_payload)?,
            },
            EventPayload::ToolCallEnded {
                tool_call_id,
                status,
                result_payload,
            } => EventPayload::ToolCallEnded {
                tool_call_id,
                status,
                result_payload: opt(result_payload, &mut f)?,
            },
            EventPayload::CodeCellStarted {
                runtime_cell_id,
                model_visible_call_id,
                source_js,
            } => EventPayload::CodeCellStarted {
                runtime_cell_id,
                model_visible_call_id,
                source_js,
            },
            EventPayload::CodeCellInitialResponse {
                runtime_cell_id,
                status,
                response_payload,
            } => EventPayload::CodeCellInitialResponse {
                runtime_cell_id,
                status,
                response_payload: opt(response_payload, &mut f)?,
            },
            EventPayload::CodeCellEnded {
                runtime_cell_id,
                status,
                response_payload,
            } => EventPayload::CodeCellEnded {
                runtime_cell_id,
                status,
                response_payload: opt(response_payload, &mut f)?,
            },
            EventPayload::CompactionRequestStarted {
                compaction_id,
                compaction_request_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_payload,
            } => EventPayload::CompactionRequestStarted {
                compaction_id,
                compaction_request_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_payload: f(request_payload)?,
            },
            EventPayload::CompactionRequestCompleted {
                compaction_id,
                compaction_request_id,
                response_payload,
            } => EventPayload::CompactionRequestCompleted {
                compaction_id,
                compaction_request_id,
                response_payload: f(response_payload)?,
            },
            EventPayload::CompactionRequestFailed {
                compaction_id,
                compaction_request_id,
                error,
            } => EventPayload::CompactionRequestFailed {
                compaction_id,
                compaction_request_id,
                error,
            },
            EventPayload::CompactionInstalled {
                compaction_id,
                checkpoint_payload,
            } => EventPayload::CompactionInstalled {
                compaction_id,
                checkpoint_payload: f(checkpoint_payload)?,
            },
            EventPayload::AgentResultObserved {
                edge_id,
                child_thread_id,
                child_codex_turn_id,
                parent_thread_id,
                message,
                carried_payload,
            } => EventPayload::AgentResultObserved {
                edge_id,
                child_thread_id,
                child_codex_turn_id,
                parent_thread_id,
                message,
                carried_payload: opt(carried_payload, &mut f)?,
            },
            EventPayload::ProtocolEventObserved {
                event_type,
                event_payload,
            } => EventPayload::ProtocolEventObserved {
                event_type,
                event_payload: f(event_payload)?,
            },
            EventPayload::Other {
                kind,
                summary,
                payloads,
                metadata,
            } => EventPayload::Other {
                kind,
                summary,
                payloads: payloads.into_iter().map(&mut f).collect::<Result<_, _>>()?,
                metadata,
            },
            EventPayload::ThreadResumed {
                thread_id,
                agent_path,
                metadata_payload,
            } => EventPayload::ThreadResumed {
                thread_id,
                agent_path,
                metadata_payload: opt(metadata_payload, &mut f)?,
            },
            EventPayload::TerminalSessionEnded {
                terminal_id,
                thread_id,
                status,
                exit_code,
                runtime_payload,
            } => EventPayload::TerminalSessionEnded {
                terminal_id,
                thread_id,
                status,
                exit_code,
                runtime_payload: opt(runtime_payload, &mut f)?,
            },
            EventPayload::LocalCompactionInstalled {
                compaction_id,
                inference_call_id,
                checkpoint_payload,
            } => EventPayload::LocalCompactionInstalled {
                compaction_id,
                inference_call_id,
                checkpoint_payload: f(checkpoint_payload)?,
            },
            EventPayload::EventsDropped { count, reason } => {
                EventPayload::EventsDropped { count, reason }
            }
            EventPayload::CodeCellStoredValues {
                runtime_cell_id,
                stored_values_payload,
            } => EventPayload::CodeCellStoredValues {
                runtime_cell_id,
                stored_values_payload: f(stored_values_payload)?,
            },
            EventPayload::Unknown { type_name, json } => EventPayload::Unknown { type_name, json },
        })
    }

    /// Calls `f` on every string this event holds, in field order, with
    /// what it is. Payload references are not visited (their bytes are the
    /// payload path's). The matches name every field of every variant, so a
    /// new variant or field cannot be forgotten.
    pub fn for_each_string_mut(&mut self, mut f: impl FnMut(EventString, &mut String)) {
        use EventString::{Id, Json, Text};
        let f: &mut dyn FnMut(EventString, &mut String) = &mut f;
        match self {
            EventPayload::RolloutStarted {
                trace_id,
                root_thread_id,
            } => {
                f(Id, trace_id);
                f(Id, root_thread_id);
            }
            EventPayload::RolloutEnded { status: _ } => {}
            EventPayload::ThreadStarted {
                thread_id,
                agent_path,
                metadata_payload: _,
            }
            | EventPayload::ThreadResumed {
                thread_id,
                agent_path,
                metadata_payload: _,
            } => {
                f(Id, thread_id);
                f(Id, agent_path);
            }
            EventPayload::ThreadEnded {
                thread_id,
                status: _,
            } => f(Id, thread_id),
            EventPayload::CodexTurnStarted {
                codex_turn_id,
                thread_id,
            } => {
                f(Id, codex_turn_id);
                f(Id, thread_id);
            }
            EventPayload::CodexTurnEnded {
                codex_turn_id,
                status: _,
            } => f(Id, codex_turn_id),
            EventPayload::InferenceStarted {
                inference_call_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_input_mode,
                request_payload: _,
            } => {
                f(Id, inference_call_id);
                f(Id, thread_id);
                f(Id, codex_turn_id);
                f(Id, model);
                f(Id, provider_name);
                match request_input_mode {
                    None | Some(InferenceRequestInputMode::FullSnapshot) => {}
                    Some(InferenceRequestInputMode::Incremental {
                        previous_response_id,
                    })
                    | Some(InferenceRequestInputMode::IncrementalWithUntracedPrefix {
                        previous_response_id,
                        prefix_payload: _,
                    }) => f(Id, previous_response_id),
                }
            }
            EventPayload::InferenceCompleted {
                inference_call_id,
                response_id,
                upstream_request_id,
                response_payload: _,
            } => {
                f(Id, inference_call_id);
                each_some(f, Id, response_id);
                each_some(f, Id, upstream_request_id);
            }
            EventPayload::InferenceFailed {
                inference_call_id,
                upstream_request_id,
                error: text,
                partial_response_payload: _,
            }
            | EventPayload::InferenceCancelled {
                inference_call_id,
                upstream_request_id,
                reason: text,
                partial_response_payload: _,
            } => {
                f(Id, inference_call_id);
                each_some(f, Id, upstream_request_id);
                f(Text, text);
            }
            EventPayload::ToolCallStarted {
                tool_call_id,
                model_visible_call_id,
                code_mode_runtime_tool_id,
                requester,
                kind,
                summary,
                invocation_payload: _,
            } => {
                f(Id, tool_call_id);
                each_some(f, Id, model_visible_call_id);
                each_some(f, Id, code_mode_runtime_tool_id);
                match requester {
                    RawToolCallRequester::Model => {}
                    RawToolCallRequester::CodeCell { runtime_cell_id } => f(Id, runtime_cell_id),
                }
                match kind {
                    ToolCallKind::ExecCommand
                    | ToolCallKind::WriteStdin
                    | ToolCallKind::ApplyPatch
                    | ToolCallKind::Web
                    | ToolCallKind::ImageGeneration
                    | ToolCallKind::SpawnAgent
                    | ToolCallKind::AssignAgentTask
                    | ToolCallKind::SendMessage
                    | ToolCallKind::WaitAgent
                    | ToolCallKind::CloseAgent => {}
                    ToolCallKind::Mcp { server, tool } => {
                        f(Id, server);
                        f(Id, tool);
                    }
                    ToolCallKind::Other { name } => f(Id, name),
                }
                match summary {
                    ToolCallSummary::Terminal { operation_id } => f(Id, operation_id),
                    ToolCallSummary::Agent {
                        target_agent_path,
                        task_name,
                        message_preview,
                    } => {
                        f(Id, target_agent_path);
                        each_some(f, Id, task_name);
                        f(Text, message_preview);
                    }
                    ToolCallSummary::WaitAgent {
                        target_agent_path,
                        timeout_ms: _,
                    } => each_some(f, Id, target_agent_path),
                    ToolCallSummary::Generic {
                        label,
                        input_preview,
                        output_preview,
                    } => {
                        f(Text, label);
                        each_some(f, Text, input_preview);
                        each_some(f, Text, output_preview);
                    }
                }
            }
            EventPayload::McpToolCallCorrelationAssigned {
                tool_call_id,
                mcp_call_id,
            } => {
                f(Id, tool_call_id);
                f(Id, mcp_call_id);
            }
            EventPayload::ToolCallRuntimeStarted {
                tool_call_id,
                runtime_payload: _,
            }
            | EventPayload::ToolCallRuntimeEnded {
                tool_call_id,
                status: _,
                runtime_payload: _,
            }
            | EventPayload::ToolCallEnded {
                tool_call_id,
                status: _,
                result_payload: _,
            } => f(Id, tool_call_id),
            EventPayload::CodeCellStarted {
                runtime_cell_id,
                model_visible_call_id,
                source_js,
            } => {
                f(Id, runtime_cell_id);
                f(Id, model_visible_call_id);
                f(Text, source_js);
            }
            EventPayload::CodeCellInitialResponse {
                runtime_cell_id,
                status: _,
                response_payload: _,
            }
            | EventPayload::CodeCellEnded {
                runtime_cell_id,
                status: _,
                response_payload: _,
            }
            | EventPayload::CodeCellStoredValues {
                runtime_cell_id,
                stored_values_payload: _,
            } => f(Id, runtime_cell_id),
            EventPayload::CompactionRequestStarted {
                compaction_id,
                compaction_request_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_payload: _,
            } => {
                f(Id, compaction_id);
                f(Id, compaction_request_id);
                f(Id, thread_id);
                f(Id, codex_turn_id);
                f(Id, model);
                f(Id, provider_name);
            }
            EventPayload::CompactionRequestCompleted {
                compaction_id,
                compaction_request_id,
                response_payload: _,
            } => {
                f(Id, compaction_id);
                f(Id, compaction_request_id);
            }
            EventPayload::CompactionRequestFailed {
                compaction_id,
                compaction_request_id,
                error,
            } => {
                f(Id, compaction_id);
                f(Id, compaction_request_id);
                f(Text, error);
            }
            EventPayload::CompactionInstalled {
                compaction_id,
                checkpoint_payload: _,
            } => f(Id, compaction_id),
            EventPayload::AgentResultObserved {
                edge_id,
                child_thread_id,
                child_codex_turn_id,
                parent_thread_id,
                message,
                carried_payload: _,
            } => {
                f(Id, edge_id);
                f(Id, child_thread_id);
                f(Id, child_codex_turn_id);
                f(Id, parent_thread_id);
                f(Text, message);
            }
            EventPayload::ProtocolEventObserved {
                event_type,
                event_payload: _,
            } => f(Id, event_type),
            EventPayload::Other {
                kind,
                summary,
                payloads: _,
                metadata,
            } => {
                f(Id, kind);
                f(Text, summary);
                f(Json, &mut metadata.0);
            }
            EventPayload::TerminalSessionEnded {
                terminal_id,
                thread_id,
                status: _,
                exit_code: _,
                runtime_payload: _,
            } => {
                f(Id, terminal_id);
                f(Id, thread_id);
            }
            EventPayload::LocalCompactionInstalled {
                compaction_id,
                inference_call_id,
                checkpoint_payload: _,
            } => {
                f(Id, compaction_id);
                each_some(f, Id, inference_call_id);
            }
            EventPayload::EventsDropped { count: _, reason } => f(Text, reason),
            EventPayload::Unknown { type_name, json } => {
                f(Id, type_name);
                f(Json, &mut json.0);
            }
        }
    }
}

/// What a string of an event holds (see [`EventPayload::for_each_string_mut`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventString {
    /// An identifier or a name: ids, agent paths, model, provider, tool,
    /// kind and event type names.
    Id,
    /// Free text: errors, reasons, messages, code, summaries and previews.
    Text,
    /// JSON text (an unknown event's body, `other` metadata): whatever is
    /// done to it must keep it valid JSON.
    Json,
}

/// Calls `f` on the string of an optional field, if there is one.
fn each_some(
    f: &mut dyn FnMut(EventString, &mut String),
    kind: EventString,
    text: &mut Option<String>,
) {
    if let Some(text) = text {
        f(kind, text);
    }
}

/// One raw event of a stored rollout, as the reducer and the exporters see it.
///
/// The rollout id is not repeated per event: it is the log's.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Event {
    pub seq: Seq,
    pub wall_time_unix_ms: i64,
    pub thread_id: Option<String>,
    pub codex_turn_id: Option<String>,
    pub payload: EventPayload<PayloadRef>,
}

#[cfg(test)]
pub(crate) mod samples;

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
