//! The wire `type` name of each [`EventPayload`] variant: the list of known
//! names (in variant order, which a test checks against the bincode variant
//! index) and the exhaustive `type_name` match. No I/O.

use super::EventPayload;

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
    "source_line",
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
            EventPayload::SourceLine { .. } => "source_line",
            EventPayload::Unknown { type_name, .. } => type_name,
        }
    }
}
