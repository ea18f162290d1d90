//! Rollout, thread and turn lifecycle: starts, ends, resumes, spawn origins
//! from thread metadata, and a turn end closing its running children.
//!
//! Never creates interaction edges (spawn delivery edges come from tool
//! runtime payloads, in `agents.rs`) and never reads payloads other than the
//! thread metadata.

use serde_json::Value;

use super::{PayloadSource, Reducer, Res, invalid, unknown};
use crate::event::{CodeCellRuntimeStatus, Event, ExecutionStatus, PayloadRef, RolloutStatus};
use crate::model::{AgentOrigin, AgentThread, CodexTurn, ExecutionWindow};

/// The fields of a `thread_started` or `thread_resumed` event.
#[derive(Clone, Copy)]
pub(crate) struct Start<'a> {
    pub thread_id: &'a str,
    pub agent_path: &'a str,
    pub metadata_payload: Option<&'a PayloadRef>,
}

/// Fields read from a thread's session metadata payload.
struct ThreadMetadata {
    agent_path: Option<String>,
    nickname: Option<String>,
    default_model: Option<String>,
    origin: AgentOrigin,
    raw_payload_id: Option<String>,
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_string)
}

/// The stable spawn edge id between two threads.
pub(crate) fn spawn_edge_id(parent_thread_id: &str, child_thread_id: &str) -> String {
    format!("edge:spawn:{parent_thread_id}:{child_thread_id}")
}

fn status_of_thread(status: RolloutStatus) -> ExecutionStatus {
    match status {
        RolloutStatus::Running => ExecutionStatus::Running,
        RolloutStatus::Completed => ExecutionStatus::Completed,
        RolloutStatus::Failed => ExecutionStatus::Failed,
        RolloutStatus::Aborted => ExecutionStatus::Aborted,
    }
}

impl Reducer {
    pub(super) fn rollout_started(
        &mut self,
        event: &Event,
        trace_id: &str,
        root_thread_id: &str,
    ) -> Res<()> {
        if let Some(existing) = &self.trace.trace_id {
            return invalid(format!(
                "duplicate rollout start for trace {trace_id} (already started as trace {existing})"
            ));
        }
        self.trace.trace_id = Some(trace_id.to_string());
        self.trace.root_thread_id = Some(root_thread_id.to_string());
        self.trace.started_at_unix_ms = Some(event.wall_time_unix_ms);
        self.trace.status = RolloutStatus::Running;
        Ok(())
    }

    /// What a thread's metadata payload says: its origin (spawned when the
    /// metadata carries Codex's `session_source.subagent.thread_spawn`), and
    /// its agent path (the spawn's, else the metadata's, else `agent_path`
    /// of the event).
    fn thread_metadata(
        &mut self,
        src: &dyn PayloadSource,
        start: Start<'_>,
    ) -> Res<ThreadMetadata> {
        let Start {
            thread_id,
            agent_path,
            metadata_payload,
        } = start;
        let Some(payload) = metadata_payload else {
            return Ok(ThreadMetadata {
                agent_path: None,
                nickname: None,
                default_model: None,
                origin: AgentOrigin::Root,
                raw_payload_id: None,
            });
        };
        let raw_payload_id = self.raw_payload_id(payload);
        let meta = self.payload_json(src, payload)?;
        let mut origin = AgentOrigin::Root;
        let mut path = text(&meta, "agent_path");
        if let Some(spawn) = meta.pointer("/session_source/subagent/thread_spawn")
            && let Some(parent) = spawn.get("parent_thread_id").and_then(Value::as_str)
        {
            path = text(spawn, "agent_path").or(path);
            let task_name = text(spawn, "task_name")
                .or_else(|| text(&meta, "task_name"))
                .unwrap_or_else(|| {
                    let full = path.as_deref().unwrap_or(agent_path);
                    full.rsplit('/').next().unwrap_or_default().to_string()
                });
            origin = AgentOrigin::Spawned {
                parent_thread_id: parent.to_string(),
                spawn_edge_id: spawn_edge_id(parent, thread_id),
                task_name,
                agent_role: text(spawn, "agent_role")
                    .or_else(|| text(&meta, "agent_role"))
                    .unwrap_or_default(),
            };
        }
        let agent_path = path;
        Ok(ThreadMetadata {
            agent_path,
            nickname: text(&meta, "nickname"),
            default_model: text(&meta, "model"),
            origin,
            raw_payload_id: Some(raw_payload_id),
        })
    }

    pub(super) fn thread_started(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        start: Start<'_>,
    ) -> Res<()> {
        let thread_id = start.thread_id;
        if self.trace.threads.contains_key(thread_id) {
            return invalid(format!("duplicate thread start for {thread_id}"));
        }
        let meta = self.thread_metadata(src, start)?;
        self.insert_thread(event, start, meta, Vec::new());
        Ok(())
    }

    fn insert_thread(
        &mut self,
        event: &Event,
        start: Start<'_>,
        meta: ThreadMetadata,
        resumed_at_seqs: Vec<u64>,
    ) {
        let Start {
            thread_id,
            agent_path,
            ..
        } = start;
        self.trace.threads.insert(
            thread_id.to_string(),
            AgentThread {
                thread_id: thread_id.to_string(),
                agent_path: meta.agent_path.unwrap_or_else(|| agent_path.to_string()),
                nickname: meta.nickname,
                origin: meta.origin,
                execution: ExecutionWindow::running(event.wall_time_unix_ms, event.seq),
                default_model: meta.default_model,
                conversation_item_ids: Vec::new(),
                raw_metadata_payload_id: meta.raw_payload_id,
                resumed_at_seqs,
            },
        );
    }

    /// A resume re-opens a known thread, or creates an unknown one (its start
    /// may be in an earlier rollout): never an error.
    pub(super) fn thread_resumed(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        start: Start<'_>,
    ) -> Res<()> {
        let thread_id = start.thread_id;
        // A resumed root thread runs the rollout again (a resumed session).
        if self.trace.root_thread_id.as_deref() == Some(thread_id) {
            self.trace.status = RolloutStatus::Running;
            self.trace.ended_at_unix_ms = None;
        }
        if let Some(thread) = self.trace.threads.get_mut(thread_id) {
            thread.execution.status = ExecutionStatus::Running;
            thread.execution.ended_at_unix_ms = None;
            thread.execution.ended_seq = None;
            thread.resumed_at_seqs.push(event.seq);
            if let Some(payload) = start.metadata_payload {
                let id = self.raw_payload_id(payload);
                if let Some(thread) = self.trace.threads.get_mut(thread_id) {
                    thread.raw_metadata_payload_id.get_or_insert(id);
                }
            }
            return Ok(());
        }
        let meta = self.thread_metadata(src, start)?;
        self.insert_thread(event, start, meta, vec![event.seq]);
        Ok(())
    }

    pub(super) fn thread_ended(
        &mut self,
        event: &Event,
        thread_id: &str,
        status: RolloutStatus,
    ) -> Res<()> {
        let Some(thread) = self.trace.threads.get_mut(thread_id) else {
            return unknown(format!("thread end referenced unknown thread {thread_id}"));
        };
        thread
            .execution
            .end(event.wall_time_unix_ms, event.seq, status_of_thread(status));
        Ok(())
    }

    pub(super) fn turn_started(
        &mut self,
        event: &Event,
        turn_id: &str,
        thread_id: &str,
    ) -> Res<()> {
        if let Some(existing) = self.trace.codex_turns.get(turn_id) {
            return invalid(format!(
                "duplicate codex turn start {turn_id} in thread {thread_id} (started at seq {})",
                existing.execution.started_seq
            ));
        }
        self.require_thread(thread_id, &format!("codex turn start {turn_id}"))?;
        if let Some(envelope) = event.thread_id.as_deref()
            && envelope != thread_id
        {
            return invalid(format!(
                "codex turn start {turn_id} names thread {thread_id}, but the event came from thread {envelope}"
            ));
        }
        self.trace.codex_turns.insert(
            turn_id.to_string(),
            CodexTurn {
                codex_turn_id: turn_id.to_string(),
                thread_id: thread_id.to_string(),
                execution: ExecutionWindow::running(event.wall_time_unix_ms, event.seq),
                input_item_ids: Vec::new(),
            },
        );
        Ok(())
    }

    pub(super) fn turn_ended(
        &mut self,
        event: &Event,
        turn_id: &str,
        status: ExecutionStatus,
    ) -> Res<()> {
        let Some(turn) = self.trace.codex_turns.get_mut(turn_id) else {
            return unknown(format!("codex turn end referenced unknown turn {turn_id}"));
        };
        if let Some(envelope) = event.thread_id.as_deref()
            && envelope != turn.thread_id
        {
            return invalid(format!(
                "codex turn end for {turn_id} used thread {envelope}, but the turn belongs to {}",
                turn.thread_id
            ));
        }
        turn.execution
            .end(event.wall_time_unix_ms, event.seq, status);
        self.close_turn_children(event, turn_id, status);
        Ok(())
    }

    /// A turn end closes its running inference calls; a failed, cancelled or
    /// aborted turn also ends its running code cells (a completed turn does
    /// not: yielded cells may outlive it).
    fn close_turn_children(&mut self, event: &Event, turn_id: &str, status: ExecutionStatus) {
        let inference_status = match status {
            ExecutionStatus::Completed | ExecutionStatus::Cancelled | ExecutionStatus::Running => {
                ExecutionStatus::Cancelled
            }
            ExecutionStatus::Failed => ExecutionStatus::Failed,
            ExecutionStatus::Aborted => ExecutionStatus::Aborted,
        };
        if let Some(ids) = self.inference.by_turn.get(turn_id) {
            for id in ids {
                if let Some(call) = self.trace.inference_calls.get_mut(id)
                    && call.execution.is_running()
                {
                    call.execution
                        .end(event.wall_time_unix_ms, event.seq, inference_status);
                }
            }
        }
        let cell_status = match status {
            ExecutionStatus::Failed => {
                Some((CodeCellRuntimeStatus::Failed, ExecutionStatus::Failed))
            }
            ExecutionStatus::Cancelled => Some((
                CodeCellRuntimeStatus::Terminated,
                ExecutionStatus::Cancelled,
            )),
            ExecutionStatus::Aborted => {
                Some((CodeCellRuntimeStatus::Terminated, ExecutionStatus::Aborted))
            }
            ExecutionStatus::Completed | ExecutionStatus::Running => None,
        };
        let Some((runtime_status, execution_status)) = cell_status else {
            return;
        };
        if let Some(ids) = self.cells.by_turn.get(turn_id) {
            for id in ids {
                if let Some(cell) = self.trace.code_cells.get_mut(id)
                    && cell.execution.is_running()
                {
                    cell.runtime_status = runtime_status;
                    cell.execution
                        .end(event.wall_time_unix_ms, event.seq, execution_status);
                    // A cell that ends before its initial response responds
                    // with its end, as the reference records it.
                    cell.initial_response_at_unix_ms
                        .get_or_insert(event.wall_time_unix_ms);
                    cell.initial_response_seq.get_or_insert(event.seq);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "thread_tests.rs"]
mod tests;
