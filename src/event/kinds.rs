//! [`PayloadKind`]: the coarse role of a payload, its wire names, its serde
//! shape, and the kind each event variant's payloads have by convention.
//!
//! One table (`PAYLOAD_KIND_NAMES`) gives the wire name of every known
//! kind, both ways. Kinds this build does not know keep their name
//! (`Other`), so a newer producer's payloads import and export unchanged.
//! No I/O.

use std::borrow::Cow;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::EventPayload;

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

/// The wire name of every known kind (all but `Other`).
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
    /// Whether the reference has this kind (all but our additions and kind
    /// names this build does not know).
    pub fn is_reference_kind(&self) -> bool {
        !matches!(
            self,
            PayloadKind::CodeCellStoredValues | PayloadKind::Other(_)
        )
    }

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
    kind: Cow<'a, str>,
}

impl Serialize for PayloadKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PayloadKindWire {
            kind: Cow::Borrowed(self.name()),
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

impl<R> EventPayload<R> {
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
            // No payload references.
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
}
