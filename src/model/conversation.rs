//! Model-visible conversation types: items, their bodies and who produced
//! them.
//!
//! Plain data only; identity and reuse rules live in the reducer. Nothing
//! here may read payloads or depend on reducer state.

use serde::{Deserialize, Serialize};

use super::ItemId;

/// One item the model saw (or produced), with a stable id.
///
/// Items are created by the reducer from inference requests and responses
/// and from compaction checkpoints. A later request that resends the same
/// content in the same thread reuses the item (same id) instead of creating
/// a new one; see the reducer's reconciliation rules in DESIGN.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItem {
    /// `conversation_item:{n:06}`, minted by the reducer in creation order.
    pub item_id: ItemId,
    /// The thread whose conversation holds the item: the thread of the
    /// request, response or compaction that first showed it. Items are never
    /// shared between threads.
    pub thread_id: String,
    /// The Codex turn of the event that first showed the item. This reducer
    /// always sets it; it is optional in the reference's schema.
    pub codex_turn_id: Option<String>,
    /// Wall time (ms since the Unix epoch) of the event that first showed
    /// the item (`inference_started` for a request item,
    /// `inference_completed` / `_failed` / `_cancelled` for a response item,
    /// the install event for a compaction's items).
    pub first_seen_at_unix_ms: i64,
    /// Our addition: the seq of the event that first showed this item (0
    /// when read from a state without it, the reference's).
    #[serde(default)]
    pub first_seen_seq: u64,
    /// Who speaks in the item, from the model item's `role` or its type.
    pub role: ConversationRole,
    /// The message channel: set from a message's `phase` (`commentary`,
    /// `final_answer`, `summary`) and by item type (reasoning and
    /// inter-agent messages are `analysis`, tool calls and outputs
    /// `commentary`, compaction summaries `summary`); `None` for a message
    /// without a mapped phase and for compaction markers.
    pub channel: Option<ConversationChannel>,
    /// The item's shape (message, reasoning, tool call or output, compaction
    /// marker).
    pub kind: ConversationItemKind,
    /// Set only for an `agent_message` item (an inter-agent message); a
    /// legacy inter-agent message serialised into assistant text has none.
    /// Written only when present, as the reference writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_message: Option<AgentMessageMetadata>,
    /// The normalised content: what identity compares, together with role,
    /// channel, kind, `agent_message` and `call_id`.
    pub body: ConversationBody,
    /// The model-visible call id (`call_id`) of a tool call or tool output
    /// item, which links it to the [`ToolCall`](super::ToolCall) or
    /// [`CodeCell`](super::CodeCell) with that `model_visible_call_id` in the
    /// same thread; `None` for messages and reasoning.
    pub call_id: Option<String>,
    /// What produced the item, in the order the links were made: the
    /// inference call whose response held it, the compaction that installed
    /// it, and for a tool output the tool call or code cell it answers
    /// (linked even when the output was first seen in a request). Empty for
    /// other request items: user input, instructions, history whose
    /// production the trace did not see.
    pub produced_by: Vec<ProducerRef>,
}

/// Who speaks in a conversation item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationRole {
    /// A system message (including Anthropic's top-level `system`).
    System,
    /// A developer (instructions) message.
    Developer,
    /// A user message, including context the host injects as the user.
    User,
    /// The model: its messages, reasoning and tool calls, inter-agent
    /// messages, compaction summaries and compaction markers.
    Assistant,
    /// A tool's output returned to the model.
    Tool,
}

/// The channel a conversation item was said on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChannel {
    /// Reasoning, and inter-agent (`agent_message`) messages.
    Analysis,
    /// Tool calls and outputs, and messages with phase `commentary`.
    Commentary,
    /// Messages with phase `final_answer`.
    Final,
    /// Compaction summary items, and messages with phase `summary`.
    Summary,
}

/// The shape of a conversation item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationItemKind {
    /// A message of any role, an inter-agent `agent_message`, or a
    /// compaction summary (`compaction`, `compaction_summary`,
    /// `context_compaction` items).
    Message,
    /// Model reasoning: readable text and summary when the payload has
    /// them, plus its encrypted content (or, without one, its provider
    /// `id`). Reasoning with encrypted content is matched by that alone, so
    /// a later sighting may add text the first lacked.
    Reasoning,
    /// A `function_call`, or a built-in tool call item (`tool_search_call`,
    /// `web_search_call`, `image_generation_call`, `local_shell_call`); an
    /// Anthropic `tool_use` or Chat Completions `tool_calls` entry.
    FunctionCall,
    /// A `function_call_output`, `tool_search_output` or
    /// `mcp_tool_call_output`; an Anthropic `tool_result` or Chat
    /// Completions `tool` message.
    FunctionCallOutput,
    /// A `custom_tool_call`; a code-mode `exec` call is one, with its
    /// JavaScript as a `code` part.
    CustomToolCall,
    /// A `custom_tool_call_output`, including a code cell's outputs and
    /// `notify` messages.
    CustomToolCallOutput,
    /// The empty item the reducer places where a compaction was installed,
    /// produced by that compaction; never sent by a provider.
    CompactionMarker,
}

/// Author and recipient agent paths of an inter-agent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMessageMetadata {
    /// The sending agent's path (the item's `author`), matching an
    /// [`AgentThread::agent_path`](super::AgentThread::agent_path).
    pub author: String,
    /// The receiving agent's path (the item's `recipient`); the item is a
    /// delivery for an interaction edge when this is its own thread's path.
    pub recipient: String,
}

/// The normalised content of a conversation item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConversationBody {
    /// Content parts in the item's order; empty only for a compaction
    /// marker.
    pub parts: Vec<ConversationPart>,
}

/// One part of an item's body. Short content is inline; structured or
/// binary content is summarised and points at the raw payload it was read
/// from (`raw_payload_id`, a `raw_payload:{n:06}` key of
/// [`RolloutTrace::raw_payloads`](super::RolloutTrace::raw_payloads)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ConversationPart {
    /// Readable text: message text, reasoning content, a string tool output,
    /// the input of a custom tool other than `exec`, or arguments that are
    /// not JSON.
    Text {
        /// The text, verbatim.
        text: String,
    },
    /// A reasoning summary entry (`summary_text`).
    Summary {
        /// The summary text, verbatim.
        text: String,
    },
    /// An opaque value kept inline: the `encrypted_content` of reasoning,
    /// inter-agent messages and compaction items, or the provider `id` of
    /// reasoning that has nothing else.
    Encoded {
        /// Where the value came from: `encrypted_content` or `id`.
        label: String,
        /// The value, verbatim (often a long base64 blob).
        value: String,
    },
    /// A JSON body: a UTF-8-safe summary of at most 240 bytes, the payload it
    /// was read from, and (our addition) the BLAKE3 of its canonical JSON,
    /// which is what identity compares.
    Json {
        /// The compact JSON, cut at a character boundary to at most 240
        /// bytes; numbers are spelled as in the payload.
        summary: String,
        /// The payload the item was created from (a request, response or
        /// checkpoint); the full JSON is inside it.
        raw_payload_id: String,
        /// Lower-case hex BLAKE3 of the value's canonical JSON (sorted keys);
        /// empty when read from a state without it (the reference's).
        #[serde(default)]
        blake3: String,
    },
    /// Source code: the JavaScript of a code-mode `exec` call.
    Code {
        /// The language, `javascript` for `exec`.
        language: String,
        /// The source, verbatim.
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
        /// What was left out: `input_image`, the type of another content
        /// entry, `content` (content that is not a list), `empty_content`,
        /// `payload` (missing arguments) or `tool_output` (missing output).
        label: String,
        /// The payload the item was created from; the content is inside it.
        raw_payload_id: String,
        /// Lower-case hex BLAKE3 of what the part stands for: an image's URL
        /// (a `data:` URL for an inline image) or file id, else the canonical
        /// JSON at that place. Empty when read from a state without it (the
        /// reference's).
        #[serde(default)]
        blake3: String,
    },
}

/// What produced an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ProducerRef {
    /// The user typed it. Part of the reference's schema; this reducer never
    /// sets it (request items carry no producer).
    UserInput,
    /// An item of an inference call's response (completed, or the partial
    /// response of a failed or cancelled call).
    Inference {
        /// The [`InferenceCall`](super::InferenceCall) whose response held
        /// the item.
        inference_call_id: String,
    },
    /// A tool output item, linked to its tool call by call id.
    Tool {
        /// The [`ToolCall`](super::ToolCall) whose `model_visible_call_id`
        /// is the item's `call_id`.
        tool_call_id: String,
    },
    /// A code cell's output item (`custom_tool_call_output` with the `exec`
    /// call id, `notify` outputs included).
    CodeCell {
        /// The [`CodeCell`](super::CodeCell) that produced it.
        code_cell_id: String,
    },
    /// Delivered by a multi-agent edge. Part of the reference's schema; this
    /// reducer never sets it (edges name their items instead).
    InteractionEdge {
        /// The [`InteractionEdge`](super::InteractionEdge) id.
        edge_id: String,
    },
    /// The marker or a replacement item of a compaction.
    Compaction {
        /// The [`Compaction`](super::Compaction) that installed it.
        compaction_id: String,
    },
    /// Injected by the harness. Part of the reference's schema; this
    /// reducer never sets it.
    Harness,
}
