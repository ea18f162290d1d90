//! How code mode is traced: the sink trait a host implements, and the
//! events the service records through it, in the reference's order.
//!
//! This module builds events and hands them to the sink; it never stores,
//! orders or drops events itself, and never fails the runtime (a sink is
//! best effort, like the recorder behind it).

use serde_json::{Value, json};

use crate::event::{
    CodeCellRuntimeStatus, EventPayload, ExecutionStatus, RawToolCallRequester, ToolCallKind,
    ToolCallSummary,
};

use super::types::{NestedToolCall, RuntimeResponse, StoredValues, WaitRequest};

/// Where code mode's trace events go. Payloads are inline JSON values; the
/// host (the recorder) stores them as payloads. `record` must not block for
/// long and must not panic.
///
/// The recorder's [`TurnRecorder`](crate::recorder::TurnRecorder) is the
/// sink a host normally passes; a sink of one's own sees the events as
/// made:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use serde_json::Value;
/// use tracefold::codemode::{
///     CodeModeService, CodeModeTraceSink, ExecuteRequest, NestedToolCall, ToolHost,
/// };
/// use tracefold::event::EventPayload;
///
/// #[derive(Default)]
/// struct Collect(Mutex<Vec<EventPayload<Value>>>);
/// impl CodeModeTraceSink for Collect {
///     fn record(&self, payload: EventPayload<Value>) {
///         self.0.lock().unwrap().push(payload);
///     }
/// }
/// struct NoTools;
/// impl ToolHost for NoTools {
///     fn call_tool(&self, _call: NestedToolCall) -> Result<Value, String> {
///         Err("no tools".to_string())
///     }
/// }
///
/// let service = CodeModeService::quickjs(Arc::new(NoTools));
/// let sink = Arc::new(Collect::default());
/// let request = ExecuteRequest {
///     cell_id: service.allocate_cell_id(),
///     tool_call_id: "call_1".to_string(),
///     enabled_tools: Vec::new(),
///     source: "text('hi');".to_string(),
///     stored_values: Default::default(),
///     yield_time_ms: None,
///     max_output_tokens: None,
/// };
/// service.execute(request, sink.clone()).unwrap();
/// let events = sink.0.lock().unwrap();
/// // Started, first response (already the result), ended.
/// assert_eq!(events.len(), 3);
/// assert!(matches!(events[0], EventPayload::CodeCellStarted { .. }));
/// ```
pub trait CodeModeTraceSink: Send + Sync {
    /// Takes one event: a cell's `CodeCellStarted`, `CodeCellInitialResponse`,
    /// `CodeCellStoredValues` and `CodeCellEnded`, and `ToolCallStarted` /
    /// `ToolCallEnded` for its nested tool calls and traced waits. Called
    /// from the observing caller's thread and from nested-call threads,
    /// each event once; a cell's start always comes before its nested
    /// calls. There is no error path: an event the sink cannot keep is lost.
    fn record(&self, payload: EventPayload<Value>);
}

/// A sink that records nothing (tracing off).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopTraceSink;

impl CodeModeTraceSink for NoopTraceSink {
    fn record(&self, _payload: EventPayload<Value>) {}
}

/// The lifecycle status a response stands for.
pub fn runtime_status(response: &RuntimeResponse) -> CodeCellRuntimeStatus {
    match response {
        RuntimeResponse::Yielded { .. } => CodeCellRuntimeStatus::Yielded,
        RuntimeResponse::Terminated { .. } => CodeCellRuntimeStatus::Terminated,
        RuntimeResponse::Result {
            error_text: None, ..
        } => CodeCellRuntimeStatus::Completed,
        RuntimeResponse::Result {
            error_text: Some(_),
            ..
        } => CodeCellRuntimeStatus::Failed,
    }
}

/// The payload of a response event: `{"response": <RuntimeResponse>}`.
pub fn response_payload(response: &RuntimeResponse) -> Value {
    json!({ "response": response })
}

/// The invocation payload of a model-visible `wait` call. Its
/// `payload.arguments` is a JSON string holding `cell_id`, which is how the
/// reducer links the wait to its cell.
pub fn wait_invocation_payload(request: &WaitRequest) -> Value {
    let arguments = json!({
        "cell_id": request.cell_id,
        "yield_time_ms": request.yield_time_ms,
        "max_tokens": request.max_output_tokens,
        "terminate": request.terminate,
    });
    json!({
        "tool_name": "wait",
        "tool_namespace": null,
        "payload": { "type": "function", "arguments": arguments.to_string() },
    })
}

pub(crate) fn cell_started(
    sink: &dyn CodeModeTraceSink,
    cell_id: &str,
    exec_call_id: &str,
    source: &str,
) {
    sink.record(EventPayload::CodeCellStarted {
        runtime_cell_id: cell_id.to_string(),
        model_visible_call_id: exec_call_id.to_string(),
        source_js: source.to_string(),
    });
}

pub(crate) fn cell_initial_response(sink: &dyn CodeModeTraceSink, response: &RuntimeResponse) {
    sink.record(EventPayload::CodeCellInitialResponse {
        runtime_cell_id: response.cell_id().to_string(),
        status: runtime_status(response),
        response_payload: Some(response_payload(response)),
    });
}

pub(crate) fn cell_ended(sink: &dyn CodeModeTraceSink, response: &RuntimeResponse) {
    sink.record(EventPayload::CodeCellEnded {
        runtime_cell_id: response.cell_id().to_string(),
        status: runtime_status(response),
        response_payload: Some(response_payload(response)),
    });
}

/// The stored values a finished cell merged into the session (its writes).
pub(crate) fn cell_stored_values(
    sink: &dyn CodeModeTraceSink,
    cell_id: &str,
    writes: &StoredValues,
) {
    sink.record(EventPayload::CodeCellStoredValues {
        runtime_cell_id: cell_id.to_string(),
        stored_values_payload: json!({ "stored_values": writes }),
    });
}

pub(crate) fn nested_tool_started(sink: &dyn CodeModeTraceSink, call: &NestedToolCall) {
    sink.record(EventPayload::ToolCallStarted {
        tool_call_id: call.tool_call_id.clone(),
        model_visible_call_id: None,
        code_mode_runtime_tool_id: Some(call.runtime_tool_id.clone()),
        requester: RawToolCallRequester::CodeCell {
            runtime_cell_id: call.cell_id.clone(),
        },
        kind: ToolCallKind::from_tool_name(&call.tool_name),
        summary: ToolCallSummary::generic(call.tool_name.clone()),
        invocation_payload: Some(json!({
            "tool_name": call.tool_name,
            "tool_namespace": null,
            "payload": { "type": "function", "arguments": call.input.to_string() },
        })),
    });
}

pub(crate) fn nested_tool_ended(
    sink: &dyn CodeModeTraceSink,
    tool_call_id: &str,
    result: &Result<Value, String>,
) {
    let (status, payload) = match result {
        Ok(value) => (
            ExecutionStatus::Completed,
            json!({ "type": "code_mode_response", "value": value }),
        ),
        Err(error) => (
            ExecutionStatus::Failed,
            json!({ "type": "error", "error": error }),
        ),
    };
    sink.record(EventPayload::ToolCallEnded {
        tool_call_id: tool_call_id.to_string(),
        status,
        result_payload: Some(payload),
    });
}

pub(crate) fn wait_started(sink: &dyn CodeModeTraceSink, call_id: &str, request: &WaitRequest) {
    sink.record(EventPayload::ToolCallStarted {
        tool_call_id: call_id.to_string(),
        model_visible_call_id: Some(call_id.to_string()),
        code_mode_runtime_tool_id: None,
        requester: RawToolCallRequester::Model,
        kind: ToolCallKind::Other {
            name: "wait".to_string(),
        },
        summary: ToolCallSummary::generic("wait"),
        invocation_payload: Some(wait_invocation_payload(request)),
    });
}

pub(crate) fn wait_ended(
    sink: &dyn CodeModeTraceSink,
    call_id: &str,
    result: Result<&RuntimeResponse, &str>,
) {
    let (status, payload) = match result {
        Ok(response) => (
            ExecutionStatus::Completed,
            json!({ "type": "code_mode_response", "value": response_payload(response) }),
        ),
        Err(error) => (
            ExecutionStatus::Failed,
            json!({ "type": "error", "error": error }),
        ),
    };
    sink.record(EventPayload::ToolCallEnded {
        tool_call_id: call_id.to_string(),
        status,
        result_payload: Some(payload),
    });
}
