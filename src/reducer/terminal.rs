//! Terminal operations and sessions, derived from `exec_command` and
//! `write_stdin` tool calls: runtime begin/end payloads, the dispatch
//! invocation (write_stdin has no runtime begin) and the dispatch result when
//! there was no runtime payload; plus our `terminal_session_ended`.
//!
//! Sessions are keyed by the runtime's process/session id and must stay in one
//! thread. This file never touches conversation items.

use serde_json::Value;

use super::tool::{End, Runtime, invocation_arguments};
use super::{PayloadSource, Reducer, Res, invalid, unknown};
use crate::event::{Event, ExecutionStatus, PayloadRef, ToolCallKind, ToolCallSummary};
use crate::model::{
    ExecutionWindow, TerminalModelObservation, TerminalObservationSource, TerminalOperation,
    TerminalOperationKind, TerminalRequest, TerminalResult, TerminalSession, ToolCallRequester,
};

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn text(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(str::to_string)
}

fn u64_field(value: &Value, name: &str) -> Option<u64> {
    value.get(name).and_then(Value::as_u64)
}

fn exit_code(value: &Value) -> Option<i32> {
    value
        .get("exit_code")
        .and_then(Value::as_i64)
        .and_then(|code| i32::try_from(code).ok())
}

fn command_of(value: &Value) -> (Vec<String>, String) {
    match value.get("command").or_else(|| value.get("cmd")) {
        Some(Value::Array(parts)) => {
            let parts: Vec<String> = parts
                .iter()
                .map(|part| {
                    part.as_str()
                        .map_or_else(|| part.to_string(), str::to_string)
                })
                .collect();
            let display = parts.join(" ");
            (parts, display)
        }
        Some(Value::String(text)) => (vec![text.clone()], text.clone()),
        _ => (Vec::new(), String::new()),
    }
}

/// The fields of a `terminal_session_ended` event.
pub(crate) struct SessionEnd<'a> {
    pub terminal_id: &'a str,
    pub thread_id: &'a str,
    pub status: ExecutionStatus,
    pub exit_code: Option<i32>,
    pub runtime_payload: Option<&'a PayloadRef>,
}

/// A terminal operation to create for a tool call: what it does, and the
/// terminal session it runs in when the payload names one.
struct NewOperation {
    kind: TerminalOperationKind,
    request: TerminalRequest,
    terminal_id: Option<String>,
}

impl Reducer {
    /// Creates the terminal operation of tool call `tool_call_id`, citing
    /// the payload `raw_payload_id`.
    fn create_terminal_operation(
        &mut self,
        event: &Event,
        tool_call_id: &str,
        raw_payload_id: &str,
        operation: NewOperation,
    ) -> Res<String> {
        let NewOperation {
            kind,
            request,
            terminal_id,
        } = operation;
        let Some(tool) = self.trace.tool_calls.get(tool_call_id) else {
            return unknown(format!(
                "terminal operation referenced unknown tool call {tool_call_id}"
            ));
        };
        if let Some(existing) = &tool.terminal_operation_id {
            return invalid(format!(
                "tool runtime start for {tool_call_id} would create a second terminal operation (already {existing})"
            ));
        }
        let thread_id = tool.thread_id.clone();
        let operation_id = self.trace.terminal_operations.next_id();
        self.trace.terminal_operations.push(TerminalOperation {
            operation_id: operation_id.clone(),
            terminal_id: None,
            tool_call_id: tool_call_id.to_string(),
            kind,
            execution: ExecutionWindow::running(event.wall_time_unix_ms, event.seq),
            request,
            result: None,
            model_observations: Vec::new(),
            raw_payload_ids: vec![raw_payload_id.to_string()],
        });
        if let Some(tool) = self.trace.tool_calls.get_mut(tool_call_id) {
            tool.terminal_operation_id = Some(operation_id.clone());
            tool.summary = ToolCallSummary::Terminal {
                operation_id: operation_id.clone(),
            };
        }
        if let Some(terminal_id) = terminal_id {
            self.attach_operation_to_session(event, &operation_id, &thread_id, &terminal_id)?;
        }
        Ok(operation_id)
    }

    fn attach_operation_to_session(
        &mut self,
        event: &Event,
        operation_id: &str,
        thread_id: &str,
        terminal_id: &str,
    ) -> Res<()> {
        let Some(operation) = self.trace.terminal_operations.get_mut(operation_id) else {
            return Ok(());
        };
        match &operation.terminal_id {
            Some(existing) if existing == terminal_id => return Ok(()),
            Some(existing) => {
                return invalid(format!(
                    "terminal operation {operation_id} changed process id from {existing} to {terminal_id}"
                ));
            }
            None => operation.terminal_id = Some(terminal_id.to_string()),
        }
        match self.trace.terminal_sessions.get_mut(terminal_id) {
            Some(session) if session.thread_id != thread_id => invalid(format!(
                "terminal session {terminal_id} belongs to thread {}, not {thread_id}",
                session.thread_id
            )),
            Some(session) => {
                session.operation_ids.push(operation_id.to_string());
                Ok(())
            }
            None => {
                let started = self.trace.terminal_operations.get(operation_id).map_or(
                    ExecutionWindow::running(event.wall_time_unix_ms, event.seq),
                    |operation| {
                        ExecutionWindow::running(
                            operation.execution.started_at_unix_ms,
                            operation.execution.started_seq,
                        )
                    },
                );
                self.trace.terminal_sessions.insert(
                    terminal_id.to_string(),
                    TerminalSession {
                        terminal_id: terminal_id.to_string(),
                        thread_id: thread_id.to_string(),
                        created_by_operation_id: operation_id.to_string(),
                        operation_ids: vec![operation_id.to_string()],
                        execution: started,
                        exit_code: None,
                        raw_end_payload_id: None,
                    },
                );
                Ok(())
            }
        }
    }

    pub(super) fn write_stdin_from_invocation(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        tool_call_id: &str,
        payload: &PayloadRef,
    ) -> Res<()> {
        let payload_id = self.raw_payload_id(payload);
        let invocation = self.payload_json(src, payload)?;
        let Some(arguments) = invocation_arguments(&invocation) else {
            return invalid(format!(
                "write_stdin invocation payload {payload_id} of tool call {tool_call_id} had unparsable arguments"
            ));
        };
        let Some(session_id) = id_text(arguments.get("session_id")) else {
            return invalid(format!(
                "write_stdin invocation payload {payload_id} of tool call {tool_call_id} did not contain session_id"
            ));
        };
        let request = TerminalRequest::WriteStdin {
            stdin: text(&arguments, "chars").unwrap_or_default(),
            yield_time_ms: u64_field(&arguments, "yield_time_ms"),
            max_output_tokens: u64_field(&arguments, "max_output_tokens"),
        };
        let operation = NewOperation {
            kind: TerminalOperationKind::WriteStdin,
            request,
            terminal_id: Some(session_id),
        };
        self.create_terminal_operation(event, tool_call_id, &payload_id, operation)?;
        Ok(())
    }

    pub(super) fn terminal_runtime_started(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        runtime: Runtime<'_>,
    ) -> Res<()> {
        let Runtime {
            tool_call_id,
            kind,
            payload,
            payload_id,
        } = runtime;
        let begin = self.payload_json(src, payload)?;
        let process_id = id_text(begin.get("process_id"));
        let existing = self
            .trace
            .tool_calls
            .get(tool_call_id)
            .and_then(|tool| tool.terminal_operation_id.clone());
        if *kind == ToolCallKind::WriteStdin
            && let Some(operation_id) = existing
        {
            // Created from the dispatch invocation: the runtime begin adds
            // evidence and possibly the process id.
            let thread_id = self
                .trace
                .tool_calls
                .get(tool_call_id)
                .map(|tool| tool.thread_id.clone())
                .unwrap_or_default();
            if let Some(operation) = self.trace.terminal_operations.get_mut(&operation_id) {
                operation.raw_payload_ids.push(payload_id.to_string());
            }
            if let Some(process_id) = process_id {
                self.attach_operation_to_session(event, &operation_id, &thread_id, &process_id)?;
            }
            return Ok(());
        }
        let (operation_kind, request) = if *kind == ToolCallKind::WriteStdin {
            (
                TerminalOperationKind::WriteStdin,
                TerminalRequest::WriteStdin {
                    stdin: text(&begin, "interaction_input")
                        .or_else(|| text(&begin, "chars"))
                        .unwrap_or_default(),
                    yield_time_ms: u64_field(&begin, "yield_time_ms"),
                    max_output_tokens: u64_field(&begin, "max_output_tokens"),
                },
            )
        } else {
            let (command, display_command) = command_of(&begin);
            (
                TerminalOperationKind::ExecCommand,
                TerminalRequest::ExecCommand {
                    command,
                    display_command,
                    cwd: text(&begin, "cwd").unwrap_or_default(),
                    yield_time_ms: u64_field(&begin, "yield_time_ms"),
                    max_output_tokens: u64_field(&begin, "max_output_tokens"),
                },
            )
        };
        let operation = NewOperation {
            kind: operation_kind,
            request,
            terminal_id: process_id,
        };
        self.create_terminal_operation(event, tool_call_id, payload_id, operation)?;
        Ok(())
    }

    pub(super) fn terminal_runtime_ended(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        runtime: Runtime<'_>,
        status: ExecutionStatus,
    ) -> Res<()> {
        let Runtime {
            tool_call_id,
            payload,
            payload_id,
            ..
        } = runtime;
        let Some(tool) = self.trace.tool_calls.get(tool_call_id) else {
            return unknown(format!(
                "tool runtime end referenced unknown call {tool_call_id}"
            ));
        };
        let thread_id = tool.thread_id.clone();
        let Some(operation_id) = tool.terminal_operation_id.clone() else {
            return unknown(format!(
                "terminal end for tool call {tool_call_id} referenced unknown operation"
            ));
        };
        let end = self.payload_json(src, payload)?;
        if let Some(process_id) = id_text(end.get("process_id")) {
            self.attach_operation_to_session(event, &operation_id, &thread_id, &process_id)?;
        }
        let result = TerminalResult {
            exit_code: exit_code(&end),
            stdout: text(&end, "stdout").unwrap_or_default(),
            stderr: text(&end, "stderr").unwrap_or_default(),
            formatted_output: text(&end, "formatted_output")
                .or_else(|| text(&end, "aggregated_output")),
            original_token_count: u64_field(&end, "original_token_count"),
            chunk_id: text(&end, "chunk_id"),
        };
        if let Some(operation) = self.trace.terminal_operations.get_mut(&operation_id) {
            operation.raw_payload_ids.push(payload_id.to_string());
            operation.result = Some(result);
            operation
                .execution
                .end(event.wall_time_unix_ms, event.seq, status);
        }
        Ok(())
    }

    /// Ends an operation that had no runtime payloads from its dispatch result.
    pub(super) fn terminal_end_from_result(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        operation_id: &str,
        end: End<'_>,
    ) -> Res<()> {
        let End {
            status,
            result_payload,
            ..
        } = end;
        let mut result = None;
        let mut result_id = None;
        if let Some(payload) = result_payload {
            result_id = Some(self.raw_payload_id(payload));
            let value = self.payload_json(src, payload)?;
            result = match value.get("type").and_then(Value::as_str) {
                Some("direct_response") => {
                    let output = value.pointer("/response_item/output");
                    let output = match output {
                        Some(Value::String(text)) => text.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    Some(TerminalResult {
                        exit_code: None,
                        stdout: output.clone(),
                        stderr: String::new(),
                        formatted_output: Some(output),
                        original_token_count: None,
                        chunk_id: None,
                    })
                }
                Some("code_mode_response") => {
                    let inner = value.get("value").cloned().unwrap_or(Value::Null);
                    let output = text(&inner, "output").unwrap_or_default();
                    Some(TerminalResult {
                        exit_code: exit_code(&inner),
                        stdout: output.clone(),
                        stderr: String::new(),
                        formatted_output: Some(output),
                        original_token_count: u64_field(&inner, "original_token_count"),
                        chunk_id: text(&inner, "chunk_id"),
                    })
                }
                Some("error") => Some(TerminalResult {
                    exit_code: None,
                    stdout: String::new(),
                    stderr: value.get("error").map_or_else(String::new, |error| {
                        error
                            .as_str()
                            .map_or_else(|| error.to_string(), str::to_string)
                    }),
                    formatted_output: None,
                    original_token_count: None,
                    chunk_id: None,
                }),
                _ => None,
            };
        }
        if let Some(operation) = self.trace.terminal_operations.get_mut(operation_id) {
            if let Some(result_id) = result_id {
                operation.raw_payload_ids.push(result_id);
            }
            if result.is_some() {
                operation.result = result;
            }
            operation
                .execution
                .end(event.wall_time_unix_ms, event.seq, status);
        }
        Ok(())
    }

    pub(super) fn terminal_session_ended(&mut self, event: &Event, end: SessionEnd<'_>) -> Res<()> {
        let SessionEnd {
            terminal_id,
            thread_id,
            status,
            exit_code,
            runtime_payload,
        } = end;
        let payload_id = runtime_payload.map(|payload| self.raw_payload_id(payload));
        let Some(session) = self.trace.terminal_sessions.get_mut(terminal_id) else {
            return unknown(format!(
                "terminal session end referenced unknown terminal session {terminal_id} in thread {thread_id}"
            ));
        };
        if session.thread_id != thread_id {
            return invalid(format!(
                "terminal session {terminal_id} belongs to thread {}, not {thread_id}",
                session.thread_id
            ));
        }
        session
            .execution
            .end(event.wall_time_unix_ms, event.seq, status);
        session.exit_code = exit_code;
        if payload_id.is_some() {
            session.raw_end_payload_id = payload_id;
        }
        Ok(())
    }

    /// End-of-log: how the model saw each operation (its tool's call and
    /// output items, or the code cell that ran it). Walks the tool calls in
    /// order and reaches each one's operation by its ordinal, so the sweep
    /// reads both collections front to back instead of probing a table per
    /// operation.
    pub(super) fn project_terminal_observations(&mut self) {
        let trace = &mut *self.trace;
        for tool in trace.tool_calls.values() {
            let Some(operation) = tool
                .terminal_operation_id
                .as_deref()
                .and_then(|id| trace.terminal_operations.get_mut(id))
                .filter(|operation| operation.tool_call_id == tool.tool_call_id)
            else {
                continue;
            };
            let observation = match &tool.requester {
                ToolCallRequester::CodeCell { code_cell_id } => trace
                    .code_cells
                    .get(code_cell_id)
                    .map(|cell| TerminalModelObservation {
                        call_item_ids: vec![cell.source_item_id.clone()],
                        output_item_ids: cell.output_item_ids.clone(),
                        source: TerminalObservationSource::CodeCellOutput,
                    }),
                ToolCallRequester::Model => {
                    if tool.model_visible_call_item_ids.is_empty()
                        && tool.model_visible_output_item_ids.is_empty()
                    {
                        None
                    } else {
                        Some(TerminalModelObservation {
                            call_item_ids: tool.model_visible_call_item_ids.clone(),
                            output_item_ids: tool.model_visible_output_item_ids.clone(),
                            source: TerminalObservationSource::DirectToolCall,
                        })
                    }
                }
            };
            operation.model_observations = observation.into_iter().collect();
        }
    }
}

#[cfg(test)]
#[path = "terminal_tests.rs"]
mod tests;
