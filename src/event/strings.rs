//! The string visitor redaction relies on: [`EventPayload::for_each_string_mut`]
//! calls a function on every string an event holds, saying what each one is
//! ([`EventString`]).
//!
//! The table in `for_each_string_mut` gives every field of every variant a
//! role: `Id` or `Text` (a string, or an optional one), `Json` (JSON text),
//! `Nested` (a value whose strings have roles of their own, given by its
//! `NestedStrings` impl below), or `_` (no strings: statuses, counts, and
//! payload references, whose bytes are the payload path's). The match the
//! table writes names every field, so a new variant or field cannot be
//! forgotten: the compiler names what a line misses. No I/O.

use super::{
    EventPayload, InferenceRequestInputMode, JsonText, RawToolCallRequester, ToolCallKind,
    ToolCallSummary,
};

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

/// The function a visit calls on each string.
type Visit<'v> = dyn FnMut(EventString, &mut String) + 'v;

/// Writes the exhaustive match of `for_each_string_mut` from its table: per
/// variant, `Variant { field: role, ... }` naming every field in declaration
/// order (the order the strings are visited in).
macro_rules! string_fields {
    ($payload:expr, $f:ident; $($variant:ident { $($field:ident: $role:tt),* $(,)? })*) => {
        match $payload {
            $(EventPayload::$variant { $($field),* } => {
                $(visit_field!($role, $field, $f);)*
            })*
        }
    };
}

/// Visits one field by its role in the table of `string_fields!`.
macro_rules! visit_field {
    (_, $field:ident, $f:ident) => {
        let _ = $field;
    };
    (Nested, $field:ident, $f:ident) => {
        NestedStrings::visit_strings($field, $f)
    };
    ($role:ident, $field:ident, $f:ident) => {
        PlainStrings::visit_as($field, EventString::$role, $f)
    };
}

impl<R> EventPayload<R> {
    /// Calls `f` on every string this event holds, in field order, with
    /// what it is. Payload references are not visited (their bytes are the
    /// payload path's). The table names every field of every variant, so a
    /// new variant or field cannot be forgotten.
    pub fn for_each_string_mut(&mut self, mut f: impl FnMut(EventString, &mut String)) {
        let f: &mut Visit<'_> = &mut f;
        string_fields! { self, f;
            RolloutStarted { trace_id: Id, root_thread_id: Id }
            RolloutEnded { status: _ }
            ThreadStarted { thread_id: Id, agent_path: Id, metadata_payload: _ }
            ThreadEnded { thread_id: Id, status: _ }
            CodexTurnStarted { codex_turn_id: Id, thread_id: Id }
            CodexTurnEnded { codex_turn_id: Id, status: _ }
            InferenceStarted {
                inference_call_id: Id, thread_id: Id, codex_turn_id: Id, model: Id,
                provider_name: Id, request_input_mode: Nested, request_payload: _,
            }
            InferenceCompleted {
                inference_call_id: Id, response_id: Id, upstream_request_id: Id,
                response_payload: _,
            }
            InferenceFailed {
                inference_call_id: Id, upstream_request_id: Id, error: Text,
                partial_response_payload: _,
            }
            InferenceCancelled {
                inference_call_id: Id, upstream_request_id: Id, reason: Text,
                partial_response_payload: _,
            }
            ToolCallStarted {
                tool_call_id: Id, model_visible_call_id: Id, code_mode_runtime_tool_id: Id,
                requester: Nested, kind: Nested, summary: Nested, invocation_payload: _,
            }
            McpToolCallCorrelationAssigned { tool_call_id: Id, mcp_call_id: Id }
            ToolCallRuntimeStarted { tool_call_id: Id, runtime_payload: _ }
            ToolCallRuntimeEnded { tool_call_id: Id, status: _, runtime_payload: _ }
            ToolCallEnded { tool_call_id: Id, status: _, result_payload: _ }
            CodeCellStarted { runtime_cell_id: Id, model_visible_call_id: Id, source_js: Text }
            CodeCellInitialResponse { runtime_cell_id: Id, status: _, response_payload: _ }
            CodeCellEnded { runtime_cell_id: Id, status: _, response_payload: _ }
            CompactionRequestStarted {
                compaction_id: Id, compaction_request_id: Id, thread_id: Id, codex_turn_id: Id,
                model: Id, provider_name: Id, request_payload: _,
            }
            CompactionRequestCompleted {
                compaction_id: Id, compaction_request_id: Id, response_payload: _,
            }
            CompactionRequestFailed { compaction_id: Id, compaction_request_id: Id, error: Text }
            CompactionInstalled { compaction_id: Id, checkpoint_payload: _ }
            AgentResultObserved {
                edge_id: Id, child_thread_id: Id, child_codex_turn_id: Id, parent_thread_id: Id,
                message: Text, carried_payload: _,
            }
            ProtocolEventObserved { event_type: Id, event_payload: _ }
            Other { kind: Id, summary: Text, payloads: _, metadata: Json }
            ThreadResumed { thread_id: Id, agent_path: Id, metadata_payload: _ }
            TerminalSessionEnded {
                terminal_id: Id, thread_id: Id, status: _, exit_code: _, runtime_payload: _,
            }
            LocalCompactionInstalled {
                compaction_id: Id, inference_call_id: Id, checkpoint_payload: _,
            }
            EventsDropped { count: _, reason: Text }
            CodeCellStoredValues { runtime_cell_id: Id, stored_values_payload: _ }
            Unknown { type_name: Id, json: Json }
            SourceLine { file: Id, line: _, line_payload: _ }
        }
    }
}

/// A field whose strings all have the role the table gives it.
trait PlainStrings {
    fn visit_as(&mut self, role: EventString, f: &mut Visit<'_>);
}

impl PlainStrings for String {
    fn visit_as(&mut self, role: EventString, f: &mut Visit<'_>) {
        f(role, self);
    }
}

impl PlainStrings for Option<String> {
    fn visit_as(&mut self, role: EventString, f: &mut Visit<'_>) {
        if let Some(text) = self {
            f(role, text);
        }
    }
}

impl PlainStrings for JsonText {
    fn visit_as(&mut self, role: EventString, f: &mut Visit<'_>) {
        f(role, &mut self.0);
    }
}

/// A field whose strings have roles of their own. Each impl matches every
/// variant and names every field, like the table.
trait NestedStrings {
    fn visit_strings(&mut self, f: &mut Visit<'_>);
}

impl<R> NestedStrings for Option<InferenceRequestInputMode<R>> {
    fn visit_strings(&mut self, f: &mut Visit<'_>) {
        match self {
            None | Some(InferenceRequestInputMode::FullSnapshot) => {}
            Some(InferenceRequestInputMode::Incremental {
                previous_response_id,
            })
            | Some(InferenceRequestInputMode::IncrementalWithUntracedPrefix {
                previous_response_id,
                prefix_payload: _,
            }) => f(EventString::Id, previous_response_id),
        }
    }
}

impl NestedStrings for RawToolCallRequester {
    fn visit_strings(&mut self, f: &mut Visit<'_>) {
        match self {
            RawToolCallRequester::Model => {}
            RawToolCallRequester::CodeCell { runtime_cell_id } => {
                f(EventString::Id, runtime_cell_id);
            }
        }
    }
}

impl NestedStrings for ToolCallKind {
    fn visit_strings(&mut self, f: &mut Visit<'_>) {
        match self {
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
                f(EventString::Id, server);
                f(EventString::Id, tool);
            }
            ToolCallKind::Other { name } => f(EventString::Id, name),
        }
    }
}

impl NestedStrings for ToolCallSummary {
    fn visit_strings(&mut self, f: &mut Visit<'_>) {
        use EventString::{Id, Text};
        match self {
            ToolCallSummary::Terminal { operation_id } => f(Id, operation_id),
            ToolCallSummary::Agent {
                target_agent_path,
                task_name,
                message_preview,
            } => {
                f(Id, target_agent_path);
                task_name.visit_as(Id, f);
                f(Text, message_preview);
            }
            ToolCallSummary::WaitAgent {
                target_agent_path,
                timeout_ms: _,
            } => target_agent_path.visit_as(Id, f),
            ToolCallSummary::Generic {
                label,
                input_preview,
                output_preview,
            } => {
                f(Text, label);
                input_preview.visit_as(Text, f);
                output_preview.visit_as(Text, f);
            }
        }
    }
}
