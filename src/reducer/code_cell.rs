//! Code-mode cells: a `code_cell_started` waits in a pending queue until the
//! model-visible `exec` custom tool call item exists in the thread; lifecycle
//! events for a pending cell wait too and are replayed in seq order when it
//! materialises. Also nested tool calls, `wait` calls, outputs (including
//! `notify` outputs) and stored values.
//!
//! Runtime cell ids are scoped per thread. Code cell ids are the reference's
//! `code_cell:{exec call_id}`, or `code_cell:{thread_id}:{exec call_id}` for
//! a cell whose call id a cell of another thread already has (where the
//! reference fails). Nothing pending is ever dropped:
//! leftovers become diagnostics at `finish`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::InThread;
use super::tool::invocation_arguments;
use super::{PayloadSource, Reducer, Res, invalid, unknown};
use crate::event::{CodeCellRuntimeStatus, Event, ExecutionStatus, PayloadRef};
use crate::model::{CodeCell, ConversationItemKind, ExecutionWindow, ItemId, ProducerRef};

/// A code cell start waiting for its `exec` item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingCodeCell {
    code_cell_id: String,
    thread_id: String,
    codex_turn_id: String,
    runtime_cell_id: String,
    model_visible_call_id: String,
    source_js: String,
    started_at_unix_ms: i64,
    started_seq: u64,
    nested_tool_call_ids: Vec<String>,
    wait_tool_call_ids: Vec<String>,
}

/// A `wait` tool call, whose invocation payload names the cell it waits on.
pub(crate) struct WaitCall<'a> {
    pub tool_call_id: &'a str,
    pub thread_id: &'a str,
    pub invocation_payload: &'a PayloadRef,
}

/// What a lifecycle event says about a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "status")]
pub(crate) enum LifecycleKind {
    InitialResponse(CodeCellRuntimeStatus),
    Ended(CodeCellRuntimeStatus),
    StoredValues,
}

impl LifecycleKind {
    fn describe(self) -> &'static str {
        match self {
            LifecycleKind::InitialResponse(_) => "code cell initial response",
            LifecycleKind::Ended(_) => "code cell end",
            LifecycleKind::StoredValues => "code cell stored values",
        }
    }
}

/// A lifecycle event waiting for its cell to materialise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingLifecycle {
    seq: u64,
    wall_time_unix_ms: i64,
    kind: LifecycleKind,
    raw_payload_id: Option<String>,
}

fn execution_status(status: CodeCellRuntimeStatus) -> Option<ExecutionStatus> {
    match status {
        CodeCellRuntimeStatus::Completed => Some(ExecutionStatus::Completed),
        CodeCellRuntimeStatus::Failed => Some(ExecutionStatus::Failed),
        CodeCellRuntimeStatus::Terminated => Some(ExecutionStatus::Cancelled),
        CodeCellRuntimeStatus::Starting
        | CodeCellRuntimeStatus::Running
        | CodeCellRuntimeStatus::Yielded => None,
    }
}

/// The reference's id of the code cell for an `exec` call.
fn plain_code_cell_id(call_id: &str) -> String {
    format!("code_cell:{call_id}")
}

/// The id of a cell whose call id another thread's cell already holds.
fn scoped_code_cell_id(thread_id: &str, call_id: &str) -> String {
    format!("code_cell:{thread_id}:{call_id}")
}

impl Reducer {
    /// The id of the code cell (started or pending) of `call_id` in
    /// `thread_id`: `code_cell:{call_id}` as the reference names it, unless a
    /// cell of another thread holds that id (the reference fails there), then
    /// `code_cell:{thread_id}:{call_id}`.
    fn code_cell_id(&self, thread_id: &str, call_id: &str) -> String {
        let plain = plain_code_cell_id(call_id);
        let other_thread = self
            .trace
            .code_cells
            .get(&plain)
            .map(|cell| cell.thread_id.as_str())
            .or_else(|| {
                self.cells
                    .pending
                    .get(&plain)
                    .map(|pending| pending.thread_id.as_str())
            })
            .is_some_and(|holder| holder != thread_id);
        if other_thread {
            scoped_code_cell_id(thread_id, call_id)
        } else {
            plain
        }
    }

    pub(super) fn code_cell_started(
        &mut self,
        event: &Event,
        runtime_cell_id: &str,
        call_id: &str,
        source_js: &str,
    ) -> Res<()> {
        let what = format!("code cell start for runtime cell {runtime_cell_id} (call {call_id})");
        let thread_id = Self::envelope_thread(event, &what)?;
        let turn_id = Self::envelope_turn(event, &what)?;
        self.require_thread(thread_id, &what)?;
        self.require_turn_in_thread(turn_id, thread_id, &what)?;
        let cell_id = self.code_cell_id(thread_id, call_id);
        if self.trace.code_cells.contains_key(&cell_id) || self.cells.pending.contains_key(&cell_id)
        {
            return invalid(format!(
                "duplicate code cell start {cell_id} (runtime cell {runtime_cell_id})"
            ));
        }
        let runtime_key = InThread::new(thread_id, runtime_cell_id);
        if let Some(other) = self.cells.by_runtime.get(&runtime_key) {
            return invalid(format!(
                "runtime code cell {runtime_cell_id} in thread {thread_id} mapped to both {other} and {cell_id}"
            ));
        }
        self.cells
            .by_runtime
            .insert(runtime_key.owned(), cell_id.clone());
        let pending = PendingCodeCell {
            code_cell_id: cell_id.clone(),
            thread_id: thread_id.to_string(),
            codex_turn_id: turn_id.to_string(),
            runtime_cell_id: runtime_cell_id.to_string(),
            model_visible_call_id: call_id.to_string(),
            source_js: source_js.to_string(),
            started_at_unix_ms: event.wall_time_unix_ms,
            started_seq: event.seq,
            nested_tool_call_ids: Vec::new(),
            wait_tool_call_ids: Vec::new(),
        };
        let call = InThread::new(thread_id, call_id);
        let source_item = if self.cells.exec_calls.contains(&call) {
            self.conversation
                .items_by_call
                .get(&call)
                .and_then(|items| {
                    items.iter().find(|id| {
                        self.item(id)
                            .is_some_and(|item| item.kind == ConversationItemKind::CustomToolCall)
                    })
                })
        } else {
            None
        };
        match source_item.cloned() {
            Some(source_item_id) => self.materialize_code_cell(pending, source_item_id),
            None => {
                self.cells.pending.insert(cell_id, pending);
                Ok(())
            }
        }
    }

    /// Item hook: an `exec` call item materialises its pending cell; an
    /// output item with the exec call id (including `notify`) is a cell output.
    pub(super) fn link_item_to_code_cell(
        &mut self,
        call: &InThread<&str>,
        item_id: &ItemId,
        is_exec_call: bool,
    ) -> Res<()> {
        let Some(item) = self.item(item_id) else {
            return Ok(());
        };
        if is_exec_call {
            let call_id = item.call_id.clone().unwrap_or_default();
            let cell_id = self.code_cell_id(&item.thread_id, &call_id);
            if let Some(pending) = self.cells.pending.shift_remove(&cell_id) {
                return self.materialize_code_cell(pending, item_id.clone());
            }
            return Ok(());
        }
        if item.kind == ConversationItemKind::CustomToolCallOutput
            && let Some(cell_id) = self.cells.by_call.get(call).cloned()
        {
            self.add_code_cell_output(&cell_id, item_id);
        }
        Ok(())
    }

    fn add_code_cell_output(&mut self, cell_id: &str, item_id: &ItemId) {
        let producer = ProducerRef::CodeCell {
            code_cell_id: cell_id.to_string(),
        };
        if let Some(item) = self.item_mut(item_id)
            && !item.produced_by.contains(&producer)
        {
            item.produced_by.push(producer);
        }
        if let Some(cell) = self.trace.code_cells.get_mut(cell_id) {
            cell.output_item_ids.push(item_id.clone());
        }
    }

    fn materialize_code_cell(
        &mut self,
        pending: PendingCodeCell,
        source_item_id: ItemId,
    ) -> Res<()> {
        let cell_id = pending.code_cell_id.clone();
        let call = InThread::new(&pending.thread_id, &pending.model_visible_call_id).owned();
        self.trace.code_cells.insert(
            cell_id.clone(),
            CodeCell {
                code_cell_id: cell_id.clone(),
                model_visible_call_id: pending.model_visible_call_id,
                thread_id: pending.thread_id,
                codex_turn_id: pending.codex_turn_id.clone(),
                source_item_id,
                output_item_ids: Vec::new(),
                runtime_cell_id: Some(pending.runtime_cell_id),
                execution: ExecutionWindow::running(
                    pending.started_at_unix_ms,
                    pending.started_seq,
                ),
                runtime_status: CodeCellRuntimeStatus::Starting,
                initial_response_at_unix_ms: None,
                initial_response_seq: None,
                yielded_at_unix_ms: None,
                yielded_seq: None,
                source_js: pending.source_js,
                nested_tool_call_ids: pending.nested_tool_call_ids,
                wait_tool_call_ids: pending.wait_tool_call_ids,
                raw_response_payload_ids: Vec::new(),
                stored_values_raw_payload_ids: Vec::new(),
            },
        );
        self.cells.by_call.insert(call.clone(), cell_id.clone());
        self.cells
            .by_turn
            .entry(pending.codex_turn_id)
            .or_default()
            .push(cell_id.clone());
        let outputs: Vec<ItemId> = self
            .conversation
            .items_by_call
            .get(&call)
            .map(|items| {
                items
                    .iter()
                    .filter(|id| {
                        self.item(id).is_some_and(|item| {
                            item.kind == ConversationItemKind::CustomToolCallOutput
                        })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for output in outputs {
            self.add_code_cell_output(&cell_id, &output);
        }
        if let Some(mut events) = self.cells.pending_events.shift_remove(&cell_id) {
            events.sort_by_key(|pending| pending.seq);
            for pending in events {
                self.apply_lifecycle(&cell_id, &pending);
            }
        }
        Ok(())
    }

    pub(super) fn code_cell_lifecycle(
        &mut self,
        event: &Event,
        runtime_cell_id: &str,
        kind: LifecycleKind,
        payload: Option<&PayloadRef>,
    ) -> Res<()> {
        let what = format!("{} for runtime cell {runtime_cell_id}", kind.describe());
        let thread_id = Self::envelope_thread(event, &what)?;
        let Some(cell_id) = self
            .cells
            .by_runtime
            .get(&InThread::new(thread_id, runtime_cell_id))
            .cloned()
        else {
            return unknown(format!(
                "{} referenced unknown cell {runtime_cell_id} in thread {thread_id}",
                kind.describe()
            ));
        };
        let pending = PendingLifecycle {
            seq: event.seq,
            wall_time_unix_ms: event.wall_time_unix_ms,
            kind,
            raw_payload_id: payload.map(|payload| self.raw_payload_id(payload)),
        };
        if self.trace.code_cells.contains_key(&cell_id) {
            self.apply_lifecycle(&cell_id, &pending);
        } else {
            self.cells
                .pending_events
                .entry(cell_id)
                .or_default()
                .push(pending);
        }
        Ok(())
    }

    fn apply_lifecycle(&mut self, cell_id: &str, pending: &PendingLifecycle) {
        let Some(cell) = self.trace.code_cells.get_mut(cell_id) else {
            return;
        };
        let status = match pending.kind {
            LifecycleKind::StoredValues => {
                if let Some(id) = &pending.raw_payload_id {
                    cell.stored_values_raw_payload_ids.push(id.clone());
                }
                return;
            }
            // A cell that ends before its initial response responds with its
            // end, as the reference records it.
            LifecycleKind::InitialResponse(status) | LifecycleKind::Ended(status) => {
                cell.initial_response_at_unix_ms
                    .get_or_insert(pending.wall_time_unix_ms);
                cell.initial_response_seq.get_or_insert(pending.seq);
                status
            }
        };
        if let Some(id) = &pending.raw_payload_id {
            cell.raw_response_payload_ids.push(id.clone());
        }
        cell.runtime_status = status;
        if status == CodeCellRuntimeStatus::Yielded {
            cell.yielded_at_unix_ms = Some(pending.wall_time_unix_ms);
            cell.yielded_seq = Some(pending.seq);
        }
        if let Some(execution_status) = execution_status(status) {
            cell.execution
                .end(pending.wall_time_unix_ms, pending.seq, execution_status);
        }
    }

    /// Records a nested tool call on its (pending or materialised) cell.
    pub(super) fn add_nested_tool(&mut self, cell_id: &str, tool_call_id: &str) {
        if let Some(cell) = self.trace.code_cells.get_mut(cell_id) {
            cell.nested_tool_call_ids.push(tool_call_id.to_string());
        } else if let Some(pending) = self.cells.pending.get_mut(cell_id) {
            pending.nested_tool_call_ids.push(tool_call_id.to_string());
        }
    }

    /// Links a `wait` tool call to the cell named by its `arguments.cell_id`.
    pub(super) fn link_wait_tool(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        wait: WaitCall<'_>,
    ) -> Res<()> {
        let WaitCall {
            tool_call_id,
            thread_id,
            invocation_payload: payload,
        } = wait;
        let payload_id = self.raw_payload_id(payload);
        let invocation = self.payload_json(src, payload)?;
        let runtime_cell_id =
            invocation_arguments(&invocation).and_then(|arguments| {
                match arguments.get("cell_id")? {
                    Value::String(text) => Some(text.clone()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                }
            });
        let Some(runtime_cell_id) = runtime_cell_id else {
            return invalid(format!(
                "wait tool request payload {payload_id} of tool call {tool_call_id} did not contain cell_id"
            ));
        };
        let Some(cell_id) = self
            .cells
            .by_runtime
            .get(&InThread::new(thread_id, &runtime_cell_id))
            .cloned()
        else {
            // A wait on a cell this log never started (e.g. "exec cell N not
            // found"): the wait tool call stays, the link cannot exist.
            self.diagnose(
                Some(event.seq),
                "wait_for_unknown_code_cell",
                format!(
                    "wait tool call {tool_call_id} named runtime cell {runtime_cell_id}, unknown in thread {thread_id}"
                ),
            );
            return Ok(());
        };
        if let Some(cell) = self.trace.code_cells.get_mut(&cell_id) {
            cell.wait_tool_call_ids.push(tool_call_id.to_string());
        } else if let Some(pending) = self.cells.pending.get_mut(&cell_id) {
            pending.wait_tool_call_ids.push(tool_call_id.to_string());
        }
        Ok(())
    }

    /// End-of-log: cells whose `exec` item never appeared, and their events.
    pub(super) fn report_pending_code_cells_at_end(&mut self) {
        let cells = std::mem::take(&mut self.cells.pending);
        for (cell_id, pending) in cells {
            self.diagnose(
                Some(pending.started_seq),
                "unmaterialized_code_cell",
                format!(
                    "code cell {cell_id} (runtime cell {} in thread {}) never saw its exec item for call {}",
                    pending.runtime_cell_id, pending.thread_id, pending.model_visible_call_id
                ),
            );
        }
        let events = std::mem::take(&mut self.cells.pending_events);
        for (cell_id, events) in events {
            for pending in events {
                self.diagnose(
                    Some(pending.seq),
                    "pending_code_cell_event",
                    format!(
                        "{} for code cell {cell_id} was never applied: the cell never materialised",
                        pending.kind.describe()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
#[path = "code_cell_tests.rs"]
mod tests;
