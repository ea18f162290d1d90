//! Diagnostics: recording one, and the `reduce_error` diagnostic of an event
//! a keep-going reduction skips, with the ids the event names by wire field
//! name.
//!
//! A diagnostic never changes anything else of the state.

use indexmap::IndexMap;

use super::{ReduceError, Reducer};
use crate::event::{
    Event, EventPayload, InferenceRequestInputMode, PayloadRef, RawToolCallRequester,
};
use crate::model::Diagnostic;

/// A payload's own ids, by wire field name, in the order a diagnostic lists
/// them.
type OwnIds<'e> = Vec<(&'static str, &'e str)>;

/// The ids `event` names, by wire field name (see [`Diagnostic::ids`]).
fn event_ids(rollout_id: &str, event: &Event) -> IndexMap<String, String> {
    let mut own = OwnIds::new();
    lifecycle_and_call_ids(&event.payload, &mut own);
    let mut ids = IndexMap::new();
    ids.insert("rollout_id".to_string(), rollout_id.to_string());
    // The envelope's thread and turn stand in for a payload without its own,
    // and are kept beside a payload's that differs (a mismatch is often the
    // error).
    for (name, envelope, renamed) in [
        ("thread_id", &event.thread_id, "envelope_thread_id"),
        (
            "codex_turn_id",
            &event.codex_turn_id,
            "envelope_codex_turn_id",
        ),
    ] {
        let payload = own
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, v)| *v);
        match (payload, envelope.as_deref()) {
            (Some(value), envelope) => {
                ids.insert(name.to_string(), value.to_string());
                if let Some(envelope) = envelope.filter(|envelope| *envelope != value) {
                    ids.insert(renamed.to_string(), envelope.to_string());
                }
            }
            (None, Some(envelope)) => {
                ids.insert(name.to_string(), envelope.to_string());
            }
            (None, None) => {}
        }
    }
    for (name, value) in own {
        ids.entry(name.to_string())
            .or_insert_with(|| value.to_string());
    }
    ids
}

/// The ids of rollout, thread, turn, inference and tool call payloads; the
/// other payloads' come from [`runtime_ids`].
fn lifecycle_and_call_ids<'e>(payload: &'e EventPayload<PayloadRef>, own: &mut OwnIds<'e>) {
    use EventPayload as P;
    match payload {
        P::RolloutStarted {
            trace_id,
            root_thread_id,
        } => own.extend([
            ("trace_id", &**trace_id),
            ("root_thread_id", root_thread_id),
        ]),
        P::ThreadStarted {
            thread_id,
            agent_path,
            ..
        }
        | P::ThreadResumed {
            thread_id,
            agent_path,
            ..
        } => own.extend([("thread_id", &**thread_id), ("agent_path", agent_path)]),
        P::ThreadEnded { thread_id, .. } => own.push(("thread_id", thread_id)),
        P::CodexTurnStarted {
            codex_turn_id,
            thread_id,
        } => own.extend([
            ("thread_id", &**thread_id),
            ("codex_turn_id", codex_turn_id),
        ]),
        P::CodexTurnEnded { codex_turn_id, .. } => own.push(("codex_turn_id", codex_turn_id)),
        P::InferenceStarted {
            inference_call_id,
            thread_id,
            codex_turn_id,
            request_input_mode,
            ..
        } => {
            own.extend([
                ("thread_id", &**thread_id),
                ("codex_turn_id", codex_turn_id),
                ("inference_call_id", inference_call_id),
            ]);
            own.extend(previous_response_id(request_input_mode.as_ref()));
        }
        P::InferenceCompleted {
            inference_call_id,
            response_id,
            ..
        } => {
            own.push(("inference_call_id", inference_call_id));
            own.extend(response_id.as_deref().map(|id| ("response_id", id)));
        }
        P::InferenceFailed {
            inference_call_id, ..
        }
        | P::InferenceCancelled {
            inference_call_id, ..
        } => own.push(("inference_call_id", inference_call_id)),
        P::ToolCallStarted {
            tool_call_id,
            model_visible_call_id,
            code_mode_runtime_tool_id,
            requester,
            ..
        } => {
            own.push(("tool_call_id", tool_call_id));
            let call = model_visible_call_id.as_deref();
            own.extend(call.map(|call| ("model_visible_call_id", call)));
            let tool = code_mode_runtime_tool_id.as_deref();
            own.extend(tool.map(|tool| ("code_mode_runtime_tool_id", tool)));
            if let RawToolCallRequester::CodeCell { runtime_cell_id } = requester {
                own.push(("runtime_cell_id", runtime_cell_id));
            }
        }
        P::McpToolCallCorrelationAssigned {
            tool_call_id,
            mcp_call_id,
        } => own.extend([
            ("tool_call_id", &**tool_call_id),
            ("mcp_call_id", mcp_call_id),
        ]),
        P::ToolCallRuntimeStarted { tool_call_id, .. }
        | P::ToolCallRuntimeEnded { tool_call_id, .. }
        | P::ToolCallEnded { tool_call_id, .. } => own.push(("tool_call_id", tool_call_id)),
        P::CodeCellStarted { .. }
        | P::CodeCellInitialResponse { .. }
        | P::CodeCellEnded { .. }
        | P::CodeCellStoredValues { .. }
        | P::CompactionRequestStarted { .. }
        | P::CompactionRequestCompleted { .. }
        | P::CompactionRequestFailed { .. }
        | P::CompactionInstalled { .. }
        | P::LocalCompactionInstalled { .. }
        | P::AgentResultObserved { .. }
        | P::TerminalSessionEnded { .. }
        | P::RolloutEnded { .. }
        | P::ProtocolEventObserved { .. }
        | P::Other { .. }
        | P::EventsDropped { .. }
        | P::SourceLine { .. }
        | P::Unknown { .. } => runtime_ids(payload, own),
    }
}

/// The `previous_response_id` an incremental request names.
fn previous_response_id(
    mode: Option<&InferenceRequestInputMode<PayloadRef>>,
) -> Option<(&'static str, &str)> {
    match mode? {
        InferenceRequestInputMode::FullSnapshot => None,
        InferenceRequestInputMode::Incremental {
            previous_response_id,
        }
        | InferenceRequestInputMode::IncrementalWithUntracedPrefix {
            previous_response_id,
            ..
        } => Some(("previous_response_id", previous_response_id)),
    }
}

/// The ids of code cell, compaction, agent result and terminal session
/// payloads (none for the payloads without ids); [`lifecycle_and_call_ids`]
/// has the others.
fn runtime_ids<'e>(payload: &'e EventPayload<PayloadRef>, own: &mut OwnIds<'e>) {
    use EventPayload as P;
    match payload {
        P::CodeCellStarted {
            runtime_cell_id,
            model_visible_call_id,
            ..
        } => own.extend([
            ("runtime_cell_id", &**runtime_cell_id),
            ("model_visible_call_id", model_visible_call_id),
        ]),
        P::CodeCellInitialResponse {
            runtime_cell_id, ..
        }
        | P::CodeCellEnded {
            runtime_cell_id, ..
        }
        | P::CodeCellStoredValues {
            runtime_cell_id, ..
        } => own.push(("runtime_cell_id", runtime_cell_id)),
        P::CompactionRequestStarted {
            compaction_id,
            compaction_request_id,
            thread_id,
            codex_turn_id,
            ..
        } => own.extend([
            ("thread_id", &**thread_id),
            ("codex_turn_id", codex_turn_id),
            ("compaction_id", compaction_id),
            ("compaction_request_id", compaction_request_id),
        ]),
        P::CompactionRequestCompleted {
            compaction_id,
            compaction_request_id,
            ..
        }
        | P::CompactionRequestFailed {
            compaction_id,
            compaction_request_id,
            ..
        } => own.extend([
            ("compaction_id", &**compaction_id),
            ("compaction_request_id", compaction_request_id),
        ]),
        P::CompactionInstalled { compaction_id, .. } => own.push(("compaction_id", compaction_id)),
        P::LocalCompactionInstalled {
            compaction_id,
            inference_call_id,
            ..
        } => {
            own.push(("compaction_id", compaction_id));
            let call = inference_call_id.as_deref();
            own.extend(call.map(|call| ("inference_call_id", call)));
        }
        P::AgentResultObserved {
            edge_id,
            child_thread_id,
            child_codex_turn_id,
            parent_thread_id,
            ..
        } => own.extend([
            ("edge_id", &**edge_id),
            ("child_thread_id", child_thread_id),
            ("child_codex_turn_id", child_codex_turn_id),
            ("parent_thread_id", parent_thread_id),
        ]),
        P::TerminalSessionEnded {
            terminal_id,
            thread_id,
            ..
        } => own.extend([("thread_id", &**thread_id), ("terminal_id", terminal_id)]),
        P::RolloutEnded { .. }
        | P::ProtocolEventObserved { .. }
        | P::Other { .. }
        | P::EventsDropped { .. }
        | P::SourceLine { .. }
        | P::Unknown { .. } => {}
        // Named by `lifecycle_and_call_ids`, which sends only the others here.
        P::RolloutStarted { .. }
        | P::ThreadStarted { .. }
        | P::ThreadResumed { .. }
        | P::ThreadEnded { .. }
        | P::CodexTurnStarted { .. }
        | P::CodexTurnEnded { .. }
        | P::InferenceStarted { .. }
        | P::InferenceCompleted { .. }
        | P::InferenceFailed { .. }
        | P::InferenceCancelled { .. }
        | P::ToolCallStarted { .. }
        | P::McpToolCallCorrelationAssigned { .. }
        | P::ToolCallRuntimeStarted { .. }
        | P::ToolCallRuntimeEnded { .. }
        | P::ToolCallEnded { .. } => {}
    }
}

impl Reducer {
    /// Records a diagnostic.
    pub(crate) fn diagnose(&mut self, seq: Option<u64>, code: &str, message: String) {
        self.trace
            .diagnostics
            .push(Diagnostic::new(seq, code, message));
    }

    /// Records `event` as skipped by a keep-going reduction: a
    /// `reduce_error` diagnostic names its seq, type, ids and `error`. Its
    /// cited payloads must be registered already (as every cited payload is,
    /// one entry per citation, so the raw payload ids stay those of a strict
    /// fold and the ids in `error` name them). Nothing else of the event is
    /// applied.
    pub(super) fn skip_failed(&mut self, event: &Event, error: &ReduceError) {
        let mut diagnostic =
            Diagnostic::new(Some(event.seq), Diagnostic::REDUCE_ERROR, error.detail());
        diagnostic.event_type = Some(event.payload.type_name().to_string());
        diagnostic.ids = event_ids(&self.trace.rollout_id, event);
        self.trace.diagnostics.push(diagnostic);
    }
}
