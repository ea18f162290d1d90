//! Test samples: one event of every variant, shared by the event tests and
//! the format-1 golden records (`src/format_v1_tests.rs`). A new variant
//! gets its sample here; the golden test then asks for its record.

use super::*;

/// One event of every variant (two for the variants with alternative
/// shapes), every string field a distinct `planted-N`.
pub(crate) fn every_variant_with_planted_strings() -> (Vec<EventPayload<()>>, usize) {
    let mut planted = 0;
    let mut s = || {
        planted += 1;
        format!("planted-{planted}")
    };
    let events = vec![
        EventPayload::RolloutStarted {
            trace_id: s(),
            root_thread_id: s(),
        },
        EventPayload::RolloutEnded {
            status: RolloutStatus::Completed,
        },
        EventPayload::ThreadStarted {
            thread_id: s(),
            agent_path: s(),
            metadata_payload: Some(()),
        },
        EventPayload::ThreadEnded {
            thread_id: s(),
            status: RolloutStatus::Completed,
        },
        EventPayload::CodexTurnStarted {
            codex_turn_id: s(),
            thread_id: s(),
        },
        EventPayload::CodexTurnEnded {
            codex_turn_id: s(),
            status: ExecutionStatus::Completed,
        },
        EventPayload::InferenceStarted {
            inference_call_id: s(),
            thread_id: s(),
            codex_turn_id: s(),
            model: s(),
            provider_name: s(),
            request_input_mode: Some(InferenceRequestInputMode::Incremental {
                previous_response_id: s(),
            }),
            request_payload: (),
        },
        EventPayload::InferenceStarted {
            inference_call_id: s(),
            thread_id: s(),
            codex_turn_id: s(),
            model: s(),
            provider_name: s(),
            request_input_mode: Some(InferenceRequestInputMode::IncrementalWithUntracedPrefix {
                previous_response_id: s(),
                prefix_payload: (),
            }),
            request_payload: (),
        },
        EventPayload::InferenceCompleted {
            inference_call_id: s(),
            response_id: Some(s()),
            upstream_request_id: Some(s()),
            response_payload: (),
        },
        EventPayload::InferenceFailed {
            inference_call_id: s(),
            upstream_request_id: Some(s()),
            error: s(),
            partial_response_payload: None,
        },
        EventPayload::InferenceCancelled {
            inference_call_id: s(),
            upstream_request_id: Some(s()),
            reason: s(),
            partial_response_payload: None,
        },
        EventPayload::ToolCallStarted {
            tool_call_id: s(),
            model_visible_call_id: Some(s()),
            code_mode_runtime_tool_id: Some(s()),
            requester: RawToolCallRequester::CodeCell {
                runtime_cell_id: s(),
            },
            kind: ToolCallKind::Mcp {
                server: s(),
                tool: s(),
            },
            summary: ToolCallSummary::Agent {
                target_agent_path: s(),
                task_name: Some(s()),
                message_preview: s(),
            },
            invocation_payload: Some(()),
        },
        EventPayload::ToolCallStarted {
            tool_call_id: s(),
            model_visible_call_id: None,
            code_mode_runtime_tool_id: None,
            requester: RawToolCallRequester::Model,
            kind: ToolCallKind::Other { name: s() },
            summary: ToolCallSummary::Generic {
                label: s(),
                input_preview: Some(s()),
                output_preview: Some(s()),
            },
            invocation_payload: None,
        },
        EventPayload::ToolCallStarted {
            tool_call_id: s(),
            model_visible_call_id: None,
            code_mode_runtime_tool_id: None,
            requester: RawToolCallRequester::Model,
            kind: ToolCallKind::ExecCommand,
            summary: ToolCallSummary::Terminal { operation_id: s() },
            invocation_payload: None,
        },
        EventPayload::ToolCallStarted {
            tool_call_id: s(),
            model_visible_call_id: None,
            code_mode_runtime_tool_id: None,
            requester: RawToolCallRequester::Model,
            kind: ToolCallKind::WaitAgent,
            summary: ToolCallSummary::WaitAgent {
                target_agent_path: Some(s()),
                timeout_ms: Some(5),
            },
            invocation_payload: None,
        },
        EventPayload::McpToolCallCorrelationAssigned {
            tool_call_id: s(),
            mcp_call_id: s(),
        },
        EventPayload::ToolCallRuntimeStarted {
            tool_call_id: s(),
            runtime_payload: (),
        },
        EventPayload::ToolCallRuntimeEnded {
            tool_call_id: s(),
            status: ExecutionStatus::Completed,
            runtime_payload: (),
        },
        EventPayload::ToolCallEnded {
            tool_call_id: s(),
            status: ExecutionStatus::Completed,
            result_payload: None,
        },
        EventPayload::CodeCellStarted {
            runtime_cell_id: s(),
            model_visible_call_id: s(),
            source_js: s(),
        },
        EventPayload::CodeCellInitialResponse {
            runtime_cell_id: s(),
            status: CodeCellRuntimeStatus::Running,
            response_payload: None,
        },
        EventPayload::CodeCellEnded {
            runtime_cell_id: s(),
            status: CodeCellRuntimeStatus::Completed,
            response_payload: None,
        },
        EventPayload::CompactionRequestStarted {
            compaction_id: s(),
            compaction_request_id: s(),
            thread_id: s(),
            codex_turn_id: s(),
            model: s(),
            provider_name: s(),
            request_payload: (),
        },
        EventPayload::CompactionRequestCompleted {
            compaction_id: s(),
            compaction_request_id: s(),
            response_payload: (),
        },
        EventPayload::CompactionRequestFailed {
            compaction_id: s(),
            compaction_request_id: s(),
            error: s(),
        },
        EventPayload::CompactionInstalled {
            compaction_id: s(),
            checkpoint_payload: (),
        },
        EventPayload::AgentResultObserved {
            edge_id: s(),
            child_thread_id: s(),
            child_codex_turn_id: s(),
            parent_thread_id: s(),
            message: s(),
            carried_payload: None,
        },
        EventPayload::ProtocolEventObserved {
            event_type: s(),
            event_payload: (),
        },
        EventPayload::Other {
            kind: s(),
            summary: s(),
            payloads: vec![()],
            metadata: JsonText(format!("{{\"{}\":\"{}\"}}", s(), s())),
        },
        EventPayload::ThreadResumed {
            thread_id: s(),
            agent_path: s(),
            metadata_payload: None,
        },
        EventPayload::TerminalSessionEnded {
            terminal_id: s(),
            thread_id: s(),
            status: ExecutionStatus::Completed,
            exit_code: Some(0),
            runtime_payload: None,
        },
        EventPayload::LocalCompactionInstalled {
            compaction_id: s(),
            inference_call_id: Some(s()),
            checkpoint_payload: (),
        },
        EventPayload::EventsDropped {
            count: 1,
            reason: s(),
        },
        EventPayload::CodeCellStoredValues {
            runtime_cell_id: s(),
            stored_values_payload: (),
        },
        EventPayload::SourceLine {
            file: s(),
            line: 7,
            line_payload: (),
        },
    ];
    (events, planted)
}
