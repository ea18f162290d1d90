//! Multi-agent interaction edges: spawn, task, message, result and close.
//!
//! Delivery edges wait (pending) until the recipient thread shows the
//! inter-agent item they delivered; pending edges and not-yet-targeted items
//! are both indexed by `(recipient thread, author, content)`, so matching is a
//! queue pop, never a scan, and repeated identical messages pair up in order.
//! At `finish` a spawn edge falls back to targeting the child thread; any
//! other undelivered edge becomes a diagnostic, never a silent drop.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{Delivery, InThread};
use super::thread::spawn_edge_id;
use super::tool::Runtime;
use super::{PayloadSource, Reducer, Res, invalid, push_unique, push_unique_item, unknown};
use crate::event::{Event, PayloadRef, ToolCallKind};
use crate::model::{InteractionEdge, InteractionEdgeKind, ItemId, TraceAnchor};

/// A delivery edge waiting for its recipient-side item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PendingEdge {
    edge_id: String,
    kind: InteractionEdgeKind,
    source: TraceAnchor,
    target_thread_id: String,
    author: String,
    message: String,
    /// Spawn only: the child thread to target when no delivery item appears.
    spawn_fallback_thread_id: Option<String>,
    started_at_unix_ms: i64,
    ended_at_unix_ms: Option<i64>,
    carried_raw_payload_ids: Vec<String>,
    seq: u64,
}

/// The fields of an `agent_result_observed` event.
pub(crate) struct AgentResult<'a> {
    pub edge_id: &'a str,
    pub child_thread_id: &'a str,
    pub child_codex_turn_id: &'a str,
    pub parent_thread_id: &'a str,
    pub message: &'a str,
    pub carried_payload: Option<&'a PayloadRef>,
}

/// What a tool's edge says beyond the tool itself: its id and kind, the
/// thread it goes to, the message it delivers, and when it ended.
struct ToolEdge {
    edge_id: String,
    kind: InteractionEdgeKind,
    target_thread_id: String,
    message: String,
    ended_at_unix_ms: Option<i64>,
}

/// What a sub-agent activity payload reports: what the agent did (its
/// `kind`, lower-cased) and the agent's thread.
struct SubAgentActivity {
    activity: String,
    agent_thread_id: String,
}

impl SubAgentActivity {
    /// The activity a runtime end payload reports, if it names an agent
    /// thread.
    fn of(value: &Value) -> Option<SubAgentActivity> {
        let agent_thread_id = id_text(value.get("agent_thread_id"))?;
        let activity = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        Some(SubAgentActivity {
            activity,
            agent_thread_id,
        })
    }
}

fn tool_edge_id(tool_call_id: &str) -> String {
    format!("edge:tool:{tool_call_id}")
}

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The task or message text of an agent runtime payload (`prompt`).
fn prompt_of(value: &Value) -> String {
    value
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn merge_end(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Reducer {
    fn agent_path(&self, thread_id: &str) -> String {
        self.trace
            .threads
            .get(thread_id)
            .map(|thread| thread.agent_path.clone())
            .unwrap_or_default()
    }

    fn agent_tool_payload_ids(&self, tool_call_id: &str) -> Vec<String> {
        let mut ids = Vec::new();
        if let Some(tool) = self.trace.tool_calls.get(tool_call_id) {
            if let Some(id) = &tool.raw_invocation_payload_id {
                push_unique(&mut ids, id);
            }
            for id in &tool.raw_runtime_payload_ids {
                push_unique(&mut ids, id);
            }
            if let Some(id) = &tool.raw_result_payload_id {
                push_unique(&mut ids, id);
            }
        }
        ids
    }

    /// The `arguments.message` of an agent tool's invocation payload.
    fn agent_invocation_message(
        &mut self,
        src: &dyn PayloadSource,
        invocation: Option<&PayloadRef>,
    ) -> Res<Option<String>> {
        let Some(payload) = invocation else {
            return Ok(None);
        };
        let value = self.payload_json(src, payload)?;
        Ok(
            super::tool::invocation_arguments(&value).and_then(|arguments| {
                arguments
                    .get("message")
                    .or_else(|| arguments.get("prompt"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }),
        )
    }

    /// The pending edge of tool call `tool_call_id`, from its thread's agent.
    fn tool_edge_pending(&self, event: &Event, tool_call_id: &str, edge: ToolEdge) -> PendingEdge {
        let ToolEdge {
            edge_id,
            kind,
            target_thread_id,
            message,
            ended_at_unix_ms,
        } = edge;
        let (thread_id, started_at_unix_ms) = self
            .trace
            .tool_calls
            .get(tool_call_id)
            .map_or((String::new(), event.wall_time_unix_ms), |tool| {
                (tool.thread_id.clone(), tool.execution.started_at_unix_ms)
            });
        PendingEdge {
            edge_id,
            kind,
            source: TraceAnchor::ToolCall {
                tool_call_id: tool_call_id.to_string(),
            },
            target_thread_id,
            author: self.agent_path(&thread_id),
            message,
            spawn_fallback_thread_id: None,
            started_at_unix_ms,
            ended_at_unix_ms,
            carried_raw_payload_ids: self.agent_tool_payload_ids(tool_call_id),
            seq: event.seq,
        }
    }

    pub(super) fn agent_runtime_started(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        runtime: Runtime<'_>,
    ) -> Res<()> {
        let value = self.payload_json(src, runtime.payload)?;
        self.receiver_edge(event, runtime, &value, None)
    }

    /// The edge of a close, task or message tool from its runtime payload's
    /// `receiver_thread_id`: opened at runtime start, ended at runtime end.
    fn receiver_edge(
        &mut self,
        event: &Event,
        runtime: Runtime<'_>,
        value: &Value,
        ended: Option<i64>,
    ) -> Res<()> {
        let Runtime {
            tool_call_id,
            kind,
            payload_id,
            ..
        } = runtime;
        let Some(receiver) = id_text(value.get("receiver_thread_id")) else {
            return invalid(format!(
                "agent runtime payload {payload_id} of tool call {tool_call_id} did not contain receiver_thread_id"
            ));
        };
        if *kind == ToolCallKind::CloseAgent {
            return self.close_agent_edge(event, tool_call_id, &receiver, ended);
        }
        let edge_kind = if *kind == ToolCallKind::SendMessage {
            InteractionEdgeKind::SendMessage
        } else {
            InteractionEdgeKind::AssignAgentTask
        };
        let edge = ToolEdge {
            edge_id: tool_edge_id(tool_call_id),
            kind: edge_kind,
            target_thread_id: receiver,
            message: prompt_of(value),
            ended_at_unix_ms: ended,
        };
        let pending = self.tool_edge_pending(event, tool_call_id, edge);
        self.queue_or_resolve_edge(pending)
    }

    pub(super) fn agent_runtime_ended(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        runtime: Runtime<'_>,
    ) -> Res<()> {
        let value = self.payload_json(src, runtime.payload)?;
        let ended = Some(event.wall_time_unix_ms);
        if let Some(activity) = SubAgentActivity::of(&value) {
            return self.sub_agent_activity(event, src, runtime, activity);
        }
        let tool_call_id = runtime.tool_call_id;
        match runtime.kind {
            ToolCallKind::SpawnAgent => {
                // A spawn end without a new thread id failed: no edge.
                let Some(child) = id_text(value.get("new_thread_id")) else {
                    return Ok(());
                };
                let parent = id_text(value.get("sender_thread_id")).unwrap_or_else(|| {
                    self.trace
                        .tool_calls
                        .get(tool_call_id)
                        .map(|tool| tool.thread_id.clone())
                        .unwrap_or_default()
                });
                let edge = ToolEdge {
                    edge_id: spawn_edge_id(&parent, &child),
                    kind: InteractionEdgeKind::SpawnAgent,
                    target_thread_id: child.clone(),
                    message: prompt_of(&value),
                    ended_at_unix_ms: ended,
                };
                let mut pending = self.tool_edge_pending(event, tool_call_id, edge);
                pending.spawn_fallback_thread_id = Some(child);
                self.queue_or_resolve_edge(pending)
            }
            _ => self.receiver_edge(event, runtime, &value, ended),
        }
    }

    /// The edge a sub-agent's activity reports: a spawn that started, a
    /// task or message it took, or a close that interrupted it.
    fn sub_agent_activity(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        runtime: Runtime<'_>,
        activity: SubAgentActivity,
    ) -> Res<()> {
        let Runtime {
            tool_call_id, kind, ..
        } = runtime;
        let SubAgentActivity {
            activity,
            agent_thread_id: target_thread_id,
        } = activity;
        let ended = Some(event.wall_time_unix_ms);
        let (edge_id, edge_kind) = match (kind, activity.as_str()) {
            (ToolCallKind::SpawnAgent, "started") => {
                let parent = self
                    .trace
                    .tool_calls
                    .get(tool_call_id)
                    .map(|tool| tool.thread_id.clone())
                    .unwrap_or_default();
                (
                    spawn_edge_id(&parent, &target_thread_id),
                    InteractionEdgeKind::SpawnAgent,
                )
            }
            (ToolCallKind::AssignAgentTask, "interacted") => (
                tool_edge_id(tool_call_id),
                InteractionEdgeKind::AssignAgentTask,
            ),
            (ToolCallKind::SendMessage, "interacted") => {
                (tool_edge_id(tool_call_id), InteractionEdgeKind::SendMessage)
            }
            (ToolCallKind::CloseAgent, "interrupted") => {
                return self.close_agent_edge(event, tool_call_id, &target_thread_id, ended);
            }
            _ => {
                return invalid(format!(
                    "sub-agent activity {activity} of tool call {tool_call_id} does not match tool call kind {kind:?}"
                ));
            }
        };
        let invocation = self.tool_invocation_ref(tool_call_id);
        let message = self.agent_invocation_message(src, invocation.as_ref())?;
        let edge = ToolEdge {
            edge_id,
            kind: edge_kind,
            target_thread_id: target_thread_id.clone(),
            message: message.unwrap_or_default(),
            ended_at_unix_ms: ended,
        };
        let mut pending = self.tool_edge_pending(event, tool_call_id, edge);
        if edge_kind == InteractionEdgeKind::SpawnAgent {
            pending.spawn_fallback_thread_id = Some(target_thread_id.clone());
        }
        if pending.message.is_empty() && edge_kind != InteractionEdgeKind::SpawnAgent {
            // Nothing to match a delivery item with: target the thread.
            if !self.trace.threads.contains_key(&target_thread_id) {
                return Ok(());
            }
            return self.resolve_edge(
                pending,
                TraceAnchor::Thread {
                    thread_id: target_thread_id,
                },
            );
        }
        self.queue_or_resolve_edge(pending)
    }

    fn tool_invocation_ref(&self, tool_call_id: &str) -> Option<PayloadRef> {
        let id = self
            .trace
            .tool_calls
            .get(tool_call_id)?
            .raw_invocation_payload_id
            .as_ref()?;
        let entry = self.trace.raw_payloads.get(id)?;
        Some(PayloadRef {
            kind: entry.kind.clone(),
            hash: entry.blake3,
            size_bytes: entry.size_bytes,
        })
    }

    fn close_agent_edge(
        &mut self,
        event: &Event,
        tool_call_id: &str,
        receiver: &str,
        ended: Option<i64>,
    ) -> Res<()> {
        if !self.trace.threads.contains_key(receiver) {
            // A close aimed at a thread this trace never saw: the evidence
            // stays on the tool call's payloads.
            return Ok(());
        }
        let edge = ToolEdge {
            edge_id: tool_edge_id(tool_call_id),
            kind: InteractionEdgeKind::CloseAgent,
            target_thread_id: receiver.to_string(),
            message: String::new(),
            ended_at_unix_ms: ended,
        };
        let pending = self.tool_edge_pending(event, tool_call_id, edge);
        self.resolve_edge(
            pending,
            TraceAnchor::Thread {
                thread_id: receiver.to_string(),
            },
        )
    }

    pub(super) fn agent_result_observed(
        &mut self,
        event: &Event,
        result: AgentResult<'_>,
    ) -> Res<()> {
        for thread in [result.child_thread_id, result.parent_thread_id] {
            if !self.trace.threads.contains_key(thread) {
                return unknown(format!(
                    "agent edge {} referenced unknown thread {thread}",
                    result.edge_id
                ));
            }
        }
        let child_turn = InThread::new(result.child_thread_id, result.child_codex_turn_id);
        let source = match self.conversation.latest_assistant_message.get(&child_turn) {
            Some(item_id) => TraceAnchor::ConversationItem {
                item_id: item_id.clone(),
            },
            None => TraceAnchor::Thread {
                thread_id: result.child_thread_id.to_string(),
            },
        };
        let carried = result
            .carried_payload
            .map(|payload| self.raw_payload_id(payload))
            .into_iter()
            .collect();
        let pending = PendingEdge {
            edge_id: result.edge_id.to_string(),
            kind: InteractionEdgeKind::AgentResult,
            source,
            target_thread_id: result.parent_thread_id.to_string(),
            author: self.agent_path(result.child_thread_id),
            message: result.message.to_string(),
            spawn_fallback_thread_id: None,
            started_at_unix_ms: event.wall_time_unix_ms,
            ended_at_unix_ms: Some(event.wall_time_unix_ms),
            carried_raw_payload_ids: carried,
            seq: event.seq,
        };
        self.queue_or_resolve_edge(pending)
    }

    fn queue_or_resolve_edge(&mut self, pending: PendingEdge) -> Res<()> {
        // Already delivered: a later observation only merges evidence.
        if let Some(existing) = self.trace.interaction_edges.get(&pending.edge_id) {
            let target = existing.target.clone();
            return self.resolve_edge(pending, target);
        }
        let delivery = Delivery::new(&pending.target_thread_id, &pending.author, &pending.message);
        if let Some(existing) = self.agents.pending_edges.get_mut(&pending.edge_id) {
            if existing.kind != pending.kind
                || existing.source != pending.source
                || existing.target_thread_id != pending.target_thread_id
                || existing.message != pending.message
                || existing.spawn_fallback_thread_id != pending.spawn_fallback_thread_id
            {
                return invalid(format!(
                    "pending interaction edge {} was observed with conflicting delivery data",
                    pending.edge_id
                ));
            }
            existing.started_at_unix_ms =
                existing.started_at_unix_ms.min(pending.started_at_unix_ms);
            existing.ended_at_unix_ms =
                merge_end(existing.ended_at_unix_ms, pending.ended_at_unix_ms);
            for id in &pending.carried_raw_payload_ids {
                push_unique(&mut existing.carried_raw_payload_ids, id);
            }
            return Ok(());
        }
        if let Some(item_id) = self
            .agents
            .unlinked_items
            .get_mut(&delivery)
            .and_then(VecDeque::pop_front)
        {
            return self.resolve_edge(pending, TraceAnchor::ConversationItem { item_id });
        }
        if let TraceAnchor::ToolCall { tool_call_id } = &pending.source {
            self.agents
                .edge_by_tool
                .insert(tool_call_id.clone(), pending.edge_id.clone());
        }
        let waiting = &mut self.agents.pending_by_delivery;
        match waiting.get_mut(&delivery) {
            Some(edge_ids) => edge_ids.push_back(pending.edge_id.clone()),
            None => {
                let mut edge_ids = VecDeque::new();
                edge_ids.push_back(pending.edge_id.clone());
                waiting.insert(delivery.owned(), edge_ids);
            }
        }
        self.agents
            .pending_edges
            .insert(pending.edge_id.clone(), pending);
        Ok(())
    }

    /// Item hook: an inter-agent item in its recipient's thread.
    pub(super) fn deliver_agent_item(
        &mut self,
        thread_id: &str,
        author: &str,
        content: &str,
        item_id: &ItemId,
    ) -> Res<()> {
        let delivery = Delivery::new(thread_id, author, content);
        while let Some(edge_id) = self
            .agents
            .pending_by_delivery
            .get_mut(&delivery)
            .and_then(VecDeque::pop_front)
        {
            if let Some(pending) = self.agents.pending_edges.shift_remove(&edge_id) {
                return self.resolve_edge(
                    pending,
                    TraceAnchor::ConversationItem {
                        item_id: item_id.clone(),
                    },
                );
            }
        }
        let unlinked = &mut self.agents.unlinked_items;
        match unlinked.get_mut(&delivery) {
            Some(items) => items.push_back(item_id.clone()),
            None => {
                let mut items = VecDeque::new();
                items.push_back(item_id.clone());
                unlinked.insert(delivery.owned(), items);
            }
        }
        Ok(())
    }

    fn resolve_edge(&mut self, pending: PendingEdge, target: TraceAnchor) -> Res<()> {
        let carried_item_ids = match &target {
            TraceAnchor::ConversationItem { item_id } => vec![item_id.clone()],
            _ => Vec::new(),
        };
        if let TraceAnchor::ToolCall { tool_call_id } = &pending.source {
            self.agents
                .edge_by_tool
                .insert(tool_call_id.clone(), pending.edge_id.clone());
        }
        let edge = InteractionEdge {
            edge_id: pending.edge_id,
            kind: pending.kind,
            source: pending.source,
            target,
            started_at_unix_ms: pending.started_at_unix_ms,
            ended_at_unix_ms: pending.ended_at_unix_ms,
            carried_item_ids,
            carried_raw_payload_ids: pending.carried_raw_payload_ids,
        };
        self.upsert_edge(edge)
    }

    fn upsert_edge(&mut self, edge: InteractionEdge) -> Res<()> {
        let Some(existing) = self.trace.interaction_edges.get_mut(&edge.edge_id) else {
            self.trace
                .interaction_edges
                .insert(edge.edge_id.clone(), edge);
            return Ok(());
        };
        if existing.kind != edge.kind
            || existing.source != edge.source
            || existing.target != edge.target
        {
            return invalid(format!(
                "interaction edge {} was observed with conflicting endpoints",
                edge.edge_id
            ));
        }
        existing.started_at_unix_ms = existing.started_at_unix_ms.min(edge.started_at_unix_ms);
        existing.ended_at_unix_ms = merge_end(existing.ended_at_unix_ms, edge.ended_at_unix_ms);
        for id in &edge.carried_item_ids {
            push_unique_item(&mut existing.carried_item_ids, id);
        }
        for id in &edge.carried_raw_payload_ids {
            push_unique(&mut existing.carried_raw_payload_ids, id);
        }
        Ok(())
    }

    /// Adds a tool's result payload to the edge it produced.
    pub(super) fn attach_result_to_edge(&mut self, tool_call_id: &str, result_id: &str) {
        let Some(edge_id) = self.agents.edge_by_tool.get(tool_call_id) else {
            return;
        };
        if let Some(edge) = self.trace.interaction_edges.get_mut(edge_id) {
            push_unique(&mut edge.carried_raw_payload_ids, result_id);
        } else if let Some(pending) = self.agents.pending_edges.get_mut(edge_id) {
            push_unique(&mut pending.carried_raw_payload_ids, result_id);
        }
    }

    /// End-of-log: spawn fallbacks to the child thread; diagnostics for the rest.
    pub(super) fn resolve_pending_edges_at_end(&mut self) {
        let pending_edges = std::mem::take(&mut self.agents.pending_edges);
        for (edge_id, pending) in pending_edges {
            let seq = pending.seq;
            if let Some(child) = pending.spawn_fallback_thread_id.clone()
                && self.trace.threads.contains_key(&child)
            {
                let target = TraceAnchor::Thread { thread_id: child };
                if let Err(fail) = self.resolve_edge(pending, target) {
                    let message = match fail {
                        super::Fail::Invalid(message) | super::Fail::Unknown(message) => message,
                        super::Fail::Payload { reason, .. } => reason,
                    };
                    self.diagnose(Some(seq), "conflicting_interaction_edge", message);
                }
                continue;
            }
            self.diagnose(
                Some(seq),
                "undelivered_interaction_edge",
                format!(
                    "{:?} edge {edge_id} to thread {} was never delivered to a recipient item",
                    pending.kind, pending.target_thread_id
                ),
            );
        }
    }
}

#[cfg(test)]
#[path = "agents_tests.rs"]
mod tests;
