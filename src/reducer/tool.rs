//! Tool calls: dispatch start and end, MCP correlation, runtime begin/end
//! payloads, and the order-insensitive links to model-visible items and to
//! the inference response that started them.
//!
//! Terminal, agent-edge and code-cell specifics are delegated to their own
//! files. Links go through `(thread, call_id)` indexes, never scans.

use serde_json::Value;

use super::code_cell::WaitCall;
use super::keys::InThread;
use super::{PayloadSource, Reducer, Res, invalid, unknown};
use crate::event::{
    Event, ExecutionStatus, PayloadRef, RawToolCallRequester, ToolCallKind, ToolCallSummary,
};
use crate::model::{ExecutionWindow, ToolCall, ToolCallRequester};

/// The fields of a `tool_call_started` event.
pub(crate) struct Start<'a> {
    pub tool_call_id: &'a str,
    pub model_visible_call_id: Option<&'a str>,
    pub code_mode_runtime_tool_id: Option<&'a str>,
    pub requester: &'a RawToolCallRequester,
    pub kind: &'a ToolCallKind,
    pub summary: &'a ToolCallSummary,
    pub invocation_payload: Option<&'a PayloadRef>,
}

/// The fields of a `tool_call_runtime_ended` event.
pub(crate) struct RuntimeEnd<'a> {
    pub tool_call_id: &'a str,
    pub status: ExecutionStatus,
    pub runtime_payload: &'a PayloadRef,
}

/// The fields of a `tool_call_ended` event.
#[derive(Clone, Copy)]
pub(crate) struct End<'a> {
    pub tool_call_id: &'a str,
    pub status: ExecutionStatus,
    pub result_payload: Option<&'a PayloadRef>,
}

/// A runtime begin or end payload of a tool call, as the terminal and agent
/// handlers read it.
#[derive(Clone, Copy)]
pub(crate) struct Runtime<'a> {
    pub tool_call_id: &'a str,
    /// The kind the tool call started with.
    pub kind: &'a ToolCallKind,
    pub payload: &'a PayloadRef,
    /// The payload's `raw_payload:{n}` id.
    pub payload_id: &'a str,
}

/// The parsed `arguments` of a function-style invocation payload.
pub(crate) fn invocation_arguments(invocation: &Value) -> Option<Value> {
    let arguments = invocation.pointer("/payload/arguments")?;
    match arguments {
        Value::String(text) => serde_json::from_str(text).ok(),
        Value::Object(_) => Some(arguments.clone()),
        _ => None,
    }
}

impl Reducer {
    pub(super) fn tool_started(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        start: Start<'_>,
    ) -> Res<()> {
        let id = start.tool_call_id;
        if let Some(existing) = self.trace.tool_calls.get(id) {
            return invalid(format!(
                "duplicate tool call start {id} in thread {} (started at seq {})",
                existing.thread_id, existing.execution.started_seq
            ));
        }
        let (Some(thread_id), Some(turn_id)) =
            (event.thread_id.as_deref(), event.codex_turn_id.as_deref())
        else {
            return invalid(format!(
                "tool call start {id} did not include thread or codex turn context"
            ));
        };
        let what = format!("tool call start {id}");
        self.require_thread(thread_id, &what)?;
        self.require_turn_in_thread(turn_id, thread_id, &what)?;
        let requester = match start.requester {
            RawToolCallRequester::Model => ToolCallRequester::Model,
            RawToolCallRequester::CodeCell { runtime_cell_id } => {
                let Some(cell_id) = self
                    .cells
                    .by_runtime
                    .get(&InThread::new(thread_id, runtime_cell_id))
                    .cloned()
                else {
                    return unknown(format!(
                        "code-mode nested tool {id} referenced unknown runtime cell {runtime_cell_id} in thread {thread_id}"
                    ));
                };
                ToolCallRequester::CodeCell {
                    code_cell_id: cell_id,
                }
            }
        };
        let visible = start
            .model_visible_call_id
            .map(|call_id| InThread::new(thread_id, call_id));
        if let Some(visible) = &visible
            && let Some(other) = self.tools.by_visible_call.get(visible)
        {
            let call_id = visible.id;
            return invalid(format!(
                "duplicate tool call for model-visible call id {call_id} in thread {thread_id}: {other} and {id}"
            ));
        }
        let raw_invocation_payload_id = start
            .invocation_payload
            .map(|payload| self.raw_payload_id(payload));
        self.trace.tool_calls.insert(
            id.to_string(),
            ToolCall {
                tool_call_id: id.to_string(),
                mcp_call_id: None,
                model_visible_call_id: start.model_visible_call_id.map(str::to_string),
                code_mode_runtime_tool_id: start.code_mode_runtime_tool_id.map(str::to_string),
                thread_id: thread_id.to_string(),
                started_by_codex_turn_id: Some(turn_id.to_string()),
                execution: ExecutionWindow::running(event.wall_time_unix_ms, event.seq),
                requester: requester.clone(),
                kind: start.kind.clone(),
                model_visible_call_item_ids: Vec::new(),
                model_visible_output_item_ids: Vec::new(),
                terminal_operation_id: None,
                summary: start.summary.clone(),
                raw_invocation_payload_id,
                raw_result_payload_id: None,
                raw_runtime_payload_ids: Vec::new(),
            },
        );
        if let ToolCallRequester::CodeCell { code_cell_id } = &requester {
            self.add_nested_tool(code_cell_id, id);
        }
        if let Some(visible) = visible {
            self.tools
                .by_visible_call
                .insert(visible.owned(), id.to_string());
            let existing = self
                .conversation
                .items_by_call
                .get(&visible)
                .cloned()
                .unwrap_or_default();
            for item_id in existing {
                self.link_item_to_tool(id, &item_id);
            }
        }
        match start.kind {
            ToolCallKind::WriteStdin => {
                if let Some(payload) = start.invocation_payload {
                    self.write_stdin_from_invocation(event, src, id, payload)?;
                }
            }
            ToolCallKind::Other { name } if name == "wait" => {
                if let Some(payload) = start.invocation_payload {
                    let wait = WaitCall {
                        tool_call_id: id,
                        thread_id,
                        invocation_payload: payload,
                    };
                    self.link_wait_tool(event, src, wait)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn mcp_correlation(&mut self, tool_call_id: &str, mcp_call_id: &str) -> Res<()> {
        let Some(tool) = self.trace.tool_calls.get_mut(tool_call_id) else {
            return unknown(format!(
                "MCP correlation {mcp_call_id} referenced unknown tool call {tool_call_id}"
            ));
        };
        if let Some(existing) = &tool.mcp_call_id {
            return invalid(format!(
                "duplicate MCP correlation for tool call {tool_call_id}: {existing} and {mcp_call_id}"
            ));
        }
        tool.mcp_call_id = Some(mcp_call_id.to_string());
        Ok(())
    }

    pub(super) fn tool_runtime_started(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        tool_call_id: &str,
        runtime_payload: &PayloadRef,
    ) -> Res<()> {
        let payload_id = self.raw_payload_id(runtime_payload);
        let Some(tool) = self.trace.tool_calls.get_mut(tool_call_id) else {
            return unknown(format!(
                "tool runtime start referenced unknown call {tool_call_id}"
            ));
        };
        tool.raw_runtime_payload_ids.push(payload_id.clone());
        let kind = tool.kind.clone();
        let runtime = Runtime {
            tool_call_id,
            kind: &kind,
            payload: runtime_payload,
            payload_id: &payload_id,
        };
        match kind {
            ToolCallKind::ExecCommand | ToolCallKind::WriteStdin => {
                self.terminal_runtime_started(event, src, runtime)
            }
            ToolCallKind::AssignAgentTask
            | ToolCallKind::SendMessage
            | ToolCallKind::CloseAgent => self.agent_runtime_started(event, src, runtime),
            _ => Ok(()),
        }
    }

    pub(super) fn tool_runtime_ended(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        end: RuntimeEnd<'_>,
    ) -> Res<()> {
        let RuntimeEnd {
            tool_call_id,
            status,
            runtime_payload,
        } = end;
        let payload_id = self.raw_payload_id(runtime_payload);
        let Some(tool) = self.trace.tool_calls.get_mut(tool_call_id) else {
            return unknown(format!(
                "tool runtime end referenced unknown call {tool_call_id}"
            ));
        };
        tool.raw_runtime_payload_ids.push(payload_id.clone());
        let kind = tool.kind.clone();
        let runtime = Runtime {
            tool_call_id,
            kind: &kind,
            payload: runtime_payload,
            payload_id: &payload_id,
        };
        match kind {
            ToolCallKind::ExecCommand | ToolCallKind::WriteStdin => {
                self.terminal_runtime_ended(event, src, runtime, status)
            }
            ToolCallKind::SpawnAgent
            | ToolCallKind::AssignAgentTask
            | ToolCallKind::SendMessage
            | ToolCallKind::CloseAgent => self.agent_runtime_ended(event, src, runtime),
            _ => Ok(()),
        }
    }

    pub(super) fn tool_ended(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        end: End<'_>,
    ) -> Res<()> {
        let End {
            tool_call_id,
            status,
            result_payload,
        } = end;
        let result_id = result_payload.map(|payload| self.raw_payload_id(payload));
        let Some(tool) = self.trace.tool_calls.get_mut(tool_call_id) else {
            return unknown(format!(
                "tool call end referenced unknown call {tool_call_id}"
            ));
        };
        tool.execution
            .end(event.wall_time_unix_ms, event.seq, status);
        if result_id.is_some() {
            tool.raw_result_payload_id = result_id.clone();
        }
        let terminal_operation = tool.terminal_operation_id.clone();
        let had_runtime = !tool.raw_runtime_payload_ids.is_empty();
        if let Some(operation_id) = terminal_operation
            && !had_runtime
        {
            self.terminal_end_from_result(event, src, &operation_id, end)?;
        }
        if let Some(result_id) = result_id {
            self.attach_result_to_edge(tool_call_id, &result_id);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "tool_tests.rs"]
mod tests;
