//! [`EventPayload<R>`]: the typed payload of one raw event, every variant
//! with its fields, and the wire `type` name of each.
//!
//! The enum is the on-disk format (bincode: variant index, then the fields
//! in declaration order) and the wire format (serde, internally tagged by
//! `type`). Variant order is on-disk format: add new variants at the end.
//! A new variant then needs a line in each exhaustive match the compiler
//! points to: `type_name` below, the reference table in `refs.rs`, the
//! string table in `strings.rs`, the conventional kinds in `kinds.rs`, and a
//! sample in `samples.rs` (the golden format test asks for its record).
//! No I/O.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::{
    CodeCellRuntimeStatus, ExecutionStatus, JsonText, RawToolCallRequester, RolloutStatus,
    ToolCallKind, ToolCallSummary,
};

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
            EventPayload::RolloutStarted { .. } => "rollout_started",
            EventPayload::RolloutEnded { .. } => "rollout_ended",
            EventPayload::ThreadStarted { .. } => "thread_started",
            EventPayload::ThreadEnded { .. } => "thread_ended",
            EventPayload::CodexTurnStarted { .. } => "codex_turn_started",
            EventPayload::CodexTurnEnded { .. } => "codex_turn_ended",
            EventPayload::InferenceStarted { .. } => "inference_started",
            EventPayload::InferenceCompleted { .. } => "inference_completed",
            EventPayload::InferenceFailed { .. } => "inference_failed",
            EventPayload::InferenceCancelled { .. } => "inference_cancelled",
            EventPayload::ToolCallStarted { .. } => "tool_call_started",
            EventPayload::McpToolCallCorrelationAssigned { .. } => {
                "mcp_tool_call_correlation_assigned"
            }
            EventPayload::ToolCallRuntimeStarted { .. } => "tool_call_runtime_started",
            EventPayload::ToolCallRuntimeEnded { .. } => "tool_call_runtime_ended",
            EventPayload::ToolCallEnded { .. } => "tool_call_ended",
            EventPayload::CodeCellStarted { .. } => "code_cell_started",
            EventPayload::CodeCellInitialResponse { .. } => "code_cell_initial_response",
            EventPayload::CodeCellEnded { .. } => "code_cell_ended",
            EventPayload::CompactionRequestStarted { .. } => "compaction_request_started",
            EventPayload::CompactionRequestCompleted { .. } => "compaction_request_completed",
            EventPayload::CompactionRequestFailed { .. } => "compaction_request_failed",
            EventPayload::CompactionInstalled { .. } => "compaction_installed",
            EventPayload::AgentResultObserved { .. } => "agent_result_observed",
            EventPayload::ProtocolEventObserved { .. } => "protocol_event_observed",
            EventPayload::Other { .. } => "other",
            EventPayload::ThreadResumed { .. } => "thread_resumed",
            EventPayload::TerminalSessionEnded { .. } => "terminal_session_ended",
            EventPayload::LocalCompactionInstalled { .. } => "local_compaction_installed",
            EventPayload::EventsDropped { .. } => "events_dropped",
            EventPayload::CodeCellStoredValues { .. } => "code_cell_stored_values",
            EventPayload::Unknown { type_name, .. } => type_name,
        }
    }
}
