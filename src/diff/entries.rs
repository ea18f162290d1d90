//! The compared objects of one rollout ([`Side::entries`]), one function per
//! category: here the rollout, threads, turns and conversation items (what
//! `model_visible_only` keeps); `runtime.rs` has the rest.
//!
//! Each function adds its objects in alignment order (seq order, or
//! creation order for items), so the sink's ordinals are the alignment.

use super::align::Side;
use super::category::Category;
use super::fact::{Entries, Entry, Sink, in_order, plain};
use super::render::window;
use crate::model::{AgentOrigin, ConversationItemKind};

impl Side<'_> {
    /// Every compared object with its facts, keyed for alignment.
    pub fn entries(&self) -> Entries {
        let mut sink = Sink::default();
        self.rollout_entry(&mut sink);
        self.thread_entries(&mut sink);
        self.turn_entries(&mut sink);
        self.item_entries(&mut sink);
        if !self.policy.model_visible_only {
            self.inference_entries(&mut sink);
            self.tool_entries(&mut sink);
            self.cell_entries(&mut sink);
            self.terminal_entries(&mut sink);
            self.compaction_entries(&mut sink);
            self.session_entries(&mut sink);
            self.edge_entries(&mut sink);
        }
        sink.out
    }

    /// The rollout itself: its end status and diagnostics, compared last.
    fn rollout_entry(&self, sink: &mut Sink) {
        let t = self.trace;
        let diagnostics = t
            .diagnostics
            .iter()
            .map(|d| d.code.clone())
            .collect::<Vec<_>>()
            .join(", ");
        sink.add(
            Category::Rollout,
            Entry {
                seq: u64::MAX,
                thread: String::new(),
                turn: None,
                subject: "end".to_string(),
                id: None,
                facts: vec![
                    plain(
                        "status",
                        serde_json::to_string(&t.status).unwrap_or_default(),
                    ),
                    plain("diagnostics", diagnostics),
                ],
            },
        );
    }

    /// Threads, by agent path: origin, nickname, status, resumes, default
    /// model and metadata payload.
    fn thread_entries(&self, sink: &mut Sink) {
        let threads = in_order(self.trace.threads.values(), |th| th.execution.started_seq);
        for thread in threads {
            let origin = match &thread.origin {
                AgentOrigin::Root => "root".to_string(),
                AgentOrigin::Spawned {
                    parent_thread_id,
                    spawn_edge_id,
                    task_name,
                    agent_role,
                } => format!(
                    "spawned by {} via {} (task {:?}, role {:?})",
                    self.name(parent_thread_id),
                    self.name(spawn_edge_id),
                    task_name,
                    agent_role
                ),
            };
            let mut facts = vec![
                plain("origin", origin),
                plain("nickname", format!("{:?}", thread.nickname)),
                plain("status", window(&thread.execution)),
                plain("resumes", thread.resumed_at_seqs.len().to_string()),
            ];
            if !self.policy.ignore_model {
                facts.push(plain(
                    "default model",
                    format!("{:?}", thread.default_model),
                ));
            }
            if !self.policy.model_visible_only {
                facts.push(self.payload(
                    "metadata payload",
                    thread.raw_metadata_payload_id.as_deref(),
                ));
            }
            sink.add(
                Category::Thread,
                Entry {
                    seq: thread.execution.started_seq,
                    thread: self.path(&thread.thread_id),
                    turn: None,
                    subject: "agent thread".to_string(),
                    id: Some(thread.thread_id.clone()),
                    facts,
                },
            );
        }
    }

    /// Turns: status and input items.
    fn turn_entries(&self, sink: &mut Sink) {
        let turns = in_order(self.trace.codex_turns.values(), |x| x.execution.started_seq);
        for turn in turns {
            let facts = vec![
                plain("status", window(&turn.execution)),
                plain("input items", self.names_of(&turn.input_item_ids)),
            ];
            sink.add(
                Category::Turn,
                Entry {
                    seq: turn.execution.started_seq,
                    thread: self.path(&turn.thread_id),
                    turn: self.turn(Some(&turn.codex_turn_id)),
                    subject: "the turn".to_string(),
                    id: Some(turn.codex_turn_id.clone()),
                    facts,
                },
            );
        }
    }

    /// Conversation items, in creation order: kind, role, channel, agent
    /// message, body (opaque for tool output when the policy says so), call
    /// id and producers.
    fn item_entries(&self, sink: &mut Sink) {
        for item in self.trace.conversation_items.values() {
            let kind = serde_json::to_value(item.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let is_output = matches!(
                item.kind,
                ConversationItemKind::FunctionCallOutput
                    | ConversationItemKind::CustomToolCallOutput
            );
            let body = if self.policy.opaque_tool_output && is_output {
                "<opaque tool output>".to_string()
            } else {
                self.body(item)
            };
            let facts = vec![
                plain("kind", kind),
                plain("role", format!("{:?}", item.role)),
                plain("channel", format!("{:?}", item.channel)),
                plain(
                    "agent message",
                    item.agent_message
                        .as_ref()
                        .map(|m| format!("{} -> {}", m.author, m.recipient))
                        .unwrap_or_default(),
                ),
                plain("body", body),
                plain(
                    "call id",
                    item.call_id
                        .as_deref()
                        .map(|c| self.normalize_text(c))
                        .unwrap_or_default(),
                ),
                plain(
                    "producers",
                    item.produced_by
                        .iter()
                        .map(|p| self.producer(p))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ];
            let path = self.path(&item.thread_id);
            let n = sink.peek(&path, Category::Item);
            sink.add(
                Category::Item,
                Entry {
                    seq: item.first_seen_seq,
                    thread: path,
                    turn: self.turn(item.codex_turn_id.as_deref()),
                    subject: format!("conversation item {n}"),
                    id: Some(item.item_id.to_string()),
                    facts,
                },
            );
        }
    }
}

#[cfg(test)]
#[path = "entries_tests.rs"]
mod tests;
