//! Model-visible conversation types: items, their bodies and who produced
//! them.
//!
//! Plain data only; identity and reuse rules live in the reducer. Nothing
//! here may read payloads or depend on reducer state.

use serde::{Deserialize, Serialize};

use super::ItemId;

/// One item the model saw (or produced), with a stable id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItem {
    pub item_id: ItemId,
    pub thread_id: String,
    pub codex_turn_id: Option<String>,
    pub first_seen_at_unix_ms: i64,
    /// Our addition: the seq of the event that first showed this item.
    pub first_seen_seq: u64,
    pub role: ConversationRole,
    pub channel: Option<ConversationChannel>,
    pub kind: ConversationItemKind,
    /// Written only when present, as the reference writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_message: Option<AgentMessageMetadata>,
    pub body: ConversationBody,
    pub call_id: Option<String>,
    pub produced_by: Vec<ProducerRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChannel {
    Analysis,
    Commentary,
    Final,
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationItemKind {
    Message,
    Reasoning,
    FunctionCall,
    FunctionCallOutput,
    CustomToolCall,
    CustomToolCallOutput,
    CompactionMarker,
}

/// Author and recipient agent paths of an inter-agent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMessageMetadata {
    pub author: String,
    pub recipient: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConversationBody {
    pub parts: Vec<ConversationPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ConversationPart {
    Text {
        text: String,
    },
    Summary {
        text: String,
    },
    Encoded {
        label: String,
        value: String,
    },
    /// A JSON body: a UTF-8-safe summary of at most 240 bytes, the payload it
    /// was read from, and (our addition) the BLAKE3 of its canonical JSON,
    /// which is what identity compares.
    Json {
        summary: String,
        raw_payload_id: String,
        blake3: String,
    },
    Code {
        language: String,
        source: String,
    },
    /// A part kept only by reference to its payload: what the normaliser
    /// does not inline (an image, a content part of another type, a missing
    /// or non-list body), labelled as the reference labels it. Our addition:
    /// the BLAKE3 of what the part stands for, which is what identity
    /// compares (the reference compared the payload id, so a resent image
    /// never matched its earlier sighting); see `payload_ref_part` in
    /// `src/reducer/conversation.rs`.
    PayloadRef {
        label: String,
        raw_payload_id: String,
        blake3: String,
    },
}

/// What produced an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ProducerRef {
    UserInput,
    Inference { inference_call_id: String },
    Tool { tool_call_id: String },
    CodeCell { code_cell_id: String },
    InteractionEdge { edge_id: String },
    Compaction { compaction_id: String },
    Harness,
}
