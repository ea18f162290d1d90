//! Runtime object types of the reduced state: threads, turns, inference
//! calls, tool calls, code cells, terminals, compactions and interaction
//! edges.
//!
//! Plain data only, with the reference's field names (our additions are extra
//! keys). Nothing here may read payloads or depend on reducer state.

use serde::{Deserialize, Serialize};

use super::{ExecutionWindow, ItemId};
use crate::event::{CodeCellRuntimeStatus, ToolCallKind, ToolCallSummary};

/// One agent thread (the root or a spawned child).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentThread {
    pub thread_id: String,
    pub agent_path: String,
    pub nickname: Option<String>,
    pub origin: AgentOrigin,
    pub execution: ExecutionWindow,
    pub default_model: Option<String>,
    /// Ordered, append-only, without duplicates.
    pub conversation_item_ids: Vec<ItemId>,
    pub raw_metadata_payload_id: Option<String>,
    /// Our addition: seqs of `thread_resumed` events for this thread.
    pub resumed_at_seqs: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum AgentOrigin {
    Root,
    Spawned {
        parent_thread_id: String,
        spawn_edge_id: String,
        /// The spawn's task name, else the metadata's, else the last segment
        /// of the thread's agent path (the reference's precedence).
        #[serde(deserialize_with = "string_or_null")]
        task_name: String,
        /// The spawn's role, else the metadata's, else `""`.
        #[serde(deserialize_with = "string_or_null")]
        agent_role: String,
    },
}

/// A string field that states saved before it was always a string may hold
/// as `null`.
fn string_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodexTurn {
    pub codex_turn_id: String,
    pub thread_id: String,
    pub execution: ExecutionWindow,
    pub input_item_ids: Vec<ItemId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_output_tokens: u64,
    /// Input tokens written to the provider's prompt cache (part of
    /// `input_tokens`, like `cached_input_tokens`); 0 when not reported.
    #[serde(default)]
    pub cache_write_input_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceCall {
    pub inference_call_id: String,
    pub thread_id: String,
    pub codex_turn_id: String,
    pub execution: ExecutionWindow,
    pub model: String,
    pub provider_name: String,
    pub response_id: Option<String>,
    pub upstream_request_id: Option<String>,
    pub request_item_ids: Vec<ItemId>,
    pub response_item_ids: Vec<ItemId>,
    pub tool_call_ids_started_by_response: Vec<String>,
    pub usage: Option<TokenUsage>,
    pub raw_request_payload_id: String,
    pub raw_response_payload_id: Option<String>,
    /// Our addition: the failure or cancellation text, when there was one.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCell {
    pub code_cell_id: String,
    pub model_visible_call_id: String,
    pub thread_id: String,
    pub codex_turn_id: String,
    pub source_item_id: ItemId,
    pub output_item_ids: Vec<ItemId>,
    pub runtime_cell_id: Option<String>,
    pub execution: ExecutionWindow,
    pub runtime_status: CodeCellRuntimeStatus,
    pub initial_response_at_unix_ms: Option<i64>,
    pub initial_response_seq: Option<u64>,
    pub yielded_at_unix_ms: Option<i64>,
    pub yielded_seq: Option<u64>,
    pub source_js: String,
    pub nested_tool_call_ids: Vec<String>,
    pub wait_tool_call_ids: Vec<String>,
    /// Our addition: initial and final runtime response payloads.
    pub raw_response_payload_ids: Vec<String>,
    /// Our addition: the stored values the cell committed.
    pub stored_values_raw_payload_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ToolCallRequester {
    Model,
    CodeCell { code_cell_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool_call_id: String,
    pub mcp_call_id: Option<String>,
    pub model_visible_call_id: Option<String>,
    pub code_mode_runtime_tool_id: Option<String>,
    pub thread_id: String,
    pub started_by_codex_turn_id: Option<String>,
    pub execution: ExecutionWindow,
    pub requester: ToolCallRequester,
    pub kind: ToolCallKind,
    pub model_visible_call_item_ids: Vec<ItemId>,
    pub model_visible_output_item_ids: Vec<ItemId>,
    pub terminal_operation_id: Option<String>,
    pub summary: ToolCallSummary,
    pub raw_invocation_payload_id: Option<String>,
    pub raw_result_payload_id: Option<String>,
    pub raw_runtime_payload_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSession {
    pub terminal_id: String,
    pub thread_id: String,
    pub created_by_operation_id: String,
    pub operation_ids: Vec<String>,
    pub execution: ExecutionWindow,
    /// Our addition: from `terminal_session_ended`.
    pub exit_code: Option<i32>,
    /// Our addition: the session-end runtime payload, when there was one.
    pub raw_end_payload_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalOperationKind {
    ExecCommand,
    WriteStdin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TerminalRequest {
    ExecCommand {
        command: Vec<String>,
        display_command: String,
        cwd: String,
        yield_time_ms: Option<u64>,
        max_output_tokens: Option<u64>,
    },
    WriteStdin {
        stdin: String,
        yield_time_ms: Option<u64>,
        max_output_tokens: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalResult {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub formatted_output: Option<String>,
    pub original_token_count: Option<u64>,
    pub chunk_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalObservationSource {
    DirectToolCall,
    CodeCellOutput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalModelObservation {
    pub call_item_ids: Vec<ItemId>,
    pub output_item_ids: Vec<ItemId>,
    pub source: TerminalObservationSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalOperation {
    pub operation_id: String,
    pub terminal_id: Option<String>,
    pub tool_call_id: String,
    pub kind: TerminalOperationKind,
    pub execution: ExecutionWindow,
    pub request: TerminalRequest,
    pub result: Option<TerminalResult>,
    pub model_observations: Vec<TerminalModelObservation>,
    pub raw_payload_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactionMode {
    Remote,
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    pub compaction_id: String,
    pub thread_id: String,
    pub codex_turn_id: String,
    pub installed_at_unix_ms: i64,
    /// Our addition: the seq of the install event.
    pub installed_seq: u64,
    pub marker_item_id: ItemId,
    pub request_ids: Vec<String>,
    pub input_item_ids: Vec<ItemId>,
    pub replacement_item_ids: Vec<ItemId>,
    /// Our addition: remote (provider request) or local (summarising call).
    pub mode: CompactionMode,
    /// Our addition: the summarising inference call of a local compaction.
    pub inference_call_id: Option<String>,
    pub raw_checkpoint_payload_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionRequest {
    pub compaction_request_id: String,
    pub compaction_id: String,
    pub thread_id: String,
    pub codex_turn_id: String,
    pub execution: ExecutionWindow,
    pub model: String,
    pub provider_name: String,
    pub raw_request_payload_id: String,
    pub raw_response_payload_id: Option<String>,
    /// Our addition: the failure text of a failed request.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionEdgeKind {
    SpawnAgent,
    AssignAgentTask,
    SendMessage,
    AgentResult,
    CloseAgent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TraceAnchor {
    ConversationItem { item_id: ItemId },
    ToolCall { tool_call_id: String },
    Thread { thread_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionEdge {
    pub edge_id: String,
    pub kind: InteractionEdgeKind,
    pub source: TraceAnchor,
    pub target: TraceAnchor,
    pub started_at_unix_ms: i64,
    pub ended_at_unix_ms: Option<i64>,
    pub carried_item_ids: Vec<ItemId>,
    pub carried_raw_payload_ids: Vec<String>,
}
