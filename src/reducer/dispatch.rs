//! The dispatch table: one exhaustive `match` over event payloads, sending
//! each to the domain file that handles it, and the mapping of a handler's
//! [`Fail`] to a [`ReduceError`] with the event's seq.
//!
//! Owns no state and decides nothing itself beyond the events without a
//! domain (rollout end, dropped, protocol, other and unknown events).

use super::{
    Fail, PayloadSource, ReduceError, Reducer, Res, agents, code_cell, compaction, inference,
    terminal, thread, tool,
};
use crate::event::{Event, EventPayload, ExecutionStatus};

impl Reducer {
    /// Handles `event`, whose payloads [`Reducer::register_cited`] registered.
    pub(super) fn dispatch_cited(
        &mut self,
        event: &Event,
        payloads: &dyn PayloadSource,
    ) -> Result<(), ReduceError> {
        let seq = event.seq;
        match self.dispatch(event, payloads) {
            Ok(()) => Ok(()),
            Err(Fail::Unknown(message)) if *self.events_dropped => {
                self.diagnose(Some(seq), "unresolved_reference", message);
                Ok(())
            }
            Err(Fail::Invalid(message) | Fail::Unknown(message)) => {
                Err(ReduceError::Event { seq, message })
            }
            Err(Fail::Payload { hash, reason }) => Err(ReduceError::PayloadUnavailable {
                seq,
                hash: hash.to_hex(),
                reason,
            }),
        }
    }

    fn dispatch(&mut self, event: &Event, src: &dyn PayloadSource) -> Res<()> {
        match &event.payload {
            EventPayload::RolloutStarted {
                trace_id,
                root_thread_id,
            } => self.rollout_started(event, trace_id, root_thread_id),
            EventPayload::RolloutEnded { status } => {
                self.trace.status = *status;
                self.trace.ended_at_unix_ms = Some(event.wall_time_unix_ms);
                Ok(())
            }
            EventPayload::ThreadStarted {
                thread_id,
                agent_path,
                metadata_payload,
            } => self.thread_started(
                event,
                src,
                thread::Start {
                    thread_id,
                    agent_path,
                    metadata_payload: metadata_payload.as_ref(),
                },
            ),
            EventPayload::ThreadResumed {
                thread_id,
                agent_path,
                metadata_payload,
            } => self.thread_resumed(
                event,
                src,
                thread::Start {
                    thread_id,
                    agent_path,
                    metadata_payload: metadata_payload.as_ref(),
                },
            ),
            EventPayload::ThreadEnded { thread_id, status } => {
                self.thread_ended(event, thread_id, *status)
            }
            EventPayload::CodexTurnStarted {
                codex_turn_id,
                thread_id,
            } => self.turn_started(event, codex_turn_id, thread_id),
            EventPayload::CodexTurnEnded {
                codex_turn_id,
                status,
            } => self.turn_ended(event, codex_turn_id, *status),
            EventPayload::InferenceStarted {
                inference_call_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_input_mode,
                request_payload,
            } => self.inference_started(
                event,
                src,
                inference::Start {
                    inference_call_id,
                    thread_id,
                    codex_turn_id,
                    model,
                    provider_name,
                    request_input_mode: request_input_mode.as_ref(),
                    request_payload,
                },
            ),
            EventPayload::InferenceCompleted {
                inference_call_id,
                response_id,
                upstream_request_id,
                response_payload,
            } => self.inference_completed(
                event,
                src,
                inference::Completion {
                    inference_call_id,
                    response_id: response_id.as_deref(),
                    upstream_request_id: upstream_request_id.as_deref(),
                    response_payload,
                },
            ),
            EventPayload::InferenceFailed {
                inference_call_id,
                upstream_request_id,
                error,
                partial_response_payload,
            } => self.inference_ended_early(
                event,
                src,
                inference::EarlyEnd {
                    inference_call_id,
                    upstream_request_id: upstream_request_id.as_deref(),
                    error,
                    partial_response_payload: partial_response_payload.as_ref(),
                    status: ExecutionStatus::Failed,
                },
            ),
            EventPayload::InferenceCancelled {
                inference_call_id,
                upstream_request_id,
                reason,
                partial_response_payload,
            } => self.inference_ended_early(
                event,
                src,
                inference::EarlyEnd {
                    inference_call_id,
                    upstream_request_id: upstream_request_id.as_deref(),
                    error: reason,
                    partial_response_payload: partial_response_payload.as_ref(),
                    status: ExecutionStatus::Cancelled,
                },
            ),
            EventPayload::ToolCallStarted {
                tool_call_id,
                model_visible_call_id,
                code_mode_runtime_tool_id,
                requester,
                kind,
                summary,
                invocation_payload,
            } => self.tool_started(
                event,
                src,
                tool::Start {
                    tool_call_id,
                    model_visible_call_id: model_visible_call_id.as_deref(),
                    code_mode_runtime_tool_id: code_mode_runtime_tool_id.as_deref(),
                    requester,
                    kind,
                    summary,
                    invocation_payload: invocation_payload.as_ref(),
                },
            ),
            EventPayload::McpToolCallCorrelationAssigned {
                tool_call_id,
                mcp_call_id,
            } => self.mcp_correlation(tool_call_id, mcp_call_id),
            EventPayload::ToolCallRuntimeStarted {
                tool_call_id,
                runtime_payload,
            } => self.tool_runtime_started(event, src, tool_call_id, runtime_payload),
            EventPayload::ToolCallRuntimeEnded {
                tool_call_id,
                status,
                runtime_payload,
            } => self.tool_runtime_ended(
                event,
                src,
                tool::RuntimeEnd {
                    tool_call_id,
                    status: *status,
                    runtime_payload,
                },
            ),
            EventPayload::ToolCallEnded {
                tool_call_id,
                status,
                result_payload,
            } => self.tool_ended(
                event,
                src,
                tool::End {
                    tool_call_id,
                    status: *status,
                    result_payload: result_payload.as_ref(),
                },
            ),
            EventPayload::CodeCellStarted {
                runtime_cell_id,
                model_visible_call_id,
                source_js,
            } => self.code_cell_started(event, runtime_cell_id, model_visible_call_id, source_js),
            EventPayload::CodeCellInitialResponse {
                runtime_cell_id,
                status,
                response_payload,
            } => self.code_cell_lifecycle(
                event,
                runtime_cell_id,
                code_cell::LifecycleKind::InitialResponse(*status),
                response_payload.as_ref(),
            ),
            EventPayload::CodeCellEnded {
                runtime_cell_id,
                status,
                response_payload,
            } => self.code_cell_lifecycle(
                event,
                runtime_cell_id,
                code_cell::LifecycleKind::Ended(*status),
                response_payload.as_ref(),
            ),
            EventPayload::CodeCellStoredValues {
                runtime_cell_id,
                stored_values_payload,
            } => self.code_cell_lifecycle(
                event,
                runtime_cell_id,
                code_cell::LifecycleKind::StoredValues,
                Some(stored_values_payload),
            ),
            EventPayload::CompactionRequestStarted {
                compaction_id,
                compaction_request_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_payload,
            } => self.compaction_request_started(
                event,
                compaction::RequestStart {
                    compaction_id,
                    compaction_request_id,
                    thread_id,
                    codex_turn_id,
                    model,
                    provider_name,
                    request_payload,
                },
            ),
            EventPayload::CompactionRequestCompleted {
                compaction_id,
                compaction_request_id,
                response_payload,
            } => self.compaction_request_ended(
                event,
                compaction_id,
                compaction_request_id,
                Ok(response_payload),
            ),
            EventPayload::CompactionRequestFailed {
                compaction_id,
                compaction_request_id,
                error,
            } => self.compaction_request_ended(
                event,
                compaction_id,
                compaction_request_id,
                Err(error),
            ),
            EventPayload::CompactionInstalled {
                compaction_id,
                checkpoint_payload,
            } => self.compaction_installed(
                event,
                src,
                compaction::Install {
                    compaction_id,
                    local: None,
                    checkpoint_payload,
                },
            ),
            EventPayload::LocalCompactionInstalled {
                compaction_id,
                inference_call_id,
                checkpoint_payload,
            } => self.compaction_installed(
                event,
                src,
                compaction::Install {
                    compaction_id,
                    local: Some(inference_call_id.as_deref()),
                    checkpoint_payload,
                },
            ),
            EventPayload::AgentResultObserved {
                edge_id,
                child_thread_id,
                child_codex_turn_id,
                parent_thread_id,
                message,
                carried_payload,
            } => self.agent_result_observed(
                event,
                agents::AgentResult {
                    edge_id,
                    child_thread_id,
                    child_codex_turn_id,
                    parent_thread_id,
                    message,
                    carried_payload: carried_payload.as_ref(),
                },
            ),
            EventPayload::TerminalSessionEnded {
                terminal_id,
                thread_id,
                status,
                exit_code,
                runtime_payload,
            } => self.terminal_session_ended(
                event,
                terminal::SessionEnd {
                    terminal_id,
                    thread_id,
                    status: *status,
                    exit_code: *exit_code,
                    runtime_payload: runtime_payload.as_ref(),
                },
            ),
            // The reference keeps only the payload ref, registered above.
            EventPayload::ProtocolEventObserved { .. } => Ok(()),
            // An imported file's own line: the events it converted to
            // follow it.
            EventPayload::SourceLine { .. } => Ok(()),
            EventPayload::EventsDropped { count, reason } => {
                *self.events_dropped = true;
                self.diagnose(
                    Some(event.seq),
                    "events_dropped",
                    format!(
                        "{count} event{} dropped: {reason}",
                        if *count == 1 { "" } else { "s" }
                    ),
                );
                Ok(())
            }
            EventPayload::Other { kind, summary, .. } => {
                self.diagnose(
                    Some(event.seq),
                    "other_event",
                    format!("event of kind {kind} has no reducer implementation: {summary}"),
                );
                Ok(())
            }
            EventPayload::Unknown { type_name, .. } => {
                self.diagnose(
                    Some(event.seq),
                    "unknown_event_type",
                    format!("event type {type_name} is not known to this reducer"),
                );
                Ok(())
            }
        }
    }
}
