//! Alignment: one rollout being compared ([`Side`]) and the aligned name of
//! every generated id in it.
//!
//! Threads align by agent path (a repeated path gets `#2`, ...); every other
//! object by its order among the objects of its kind in its thread (seq
//! order; items, terminal sessions and edges in creation order). An id's
//! aligned name (`/root/worker tool 3`) replaces the id wherever it is
//! compared, so references compare structurally. Alignment reads the state only.

use indexmap::IndexMap;

use super::DiffPolicy;
use super::category::Category;
use super::fact::in_order;
use crate::model::{RolloutTrace, TraceAnchor};
use crate::reducer::PayloadSource;

/// One rollout being compared: its state, optional reader and the aligned
/// name of every generated id.
pub(super) struct Side<'a> {
    pub trace: &'a RolloutTrace,
    pub reader: Option<&'a (dyn PayloadSource + Sync)>,
    pub policy: &'a DiffPolicy,
    /// generated id -> aligned name.
    pub names: IndexMap<String, String>,
    /// thread id -> agent path (deduplicated).
    pub paths: IndexMap<String, String>,
    /// turn id -> 1-based index within its thread.
    pub turns: IndexMap<String, usize>,
    /// payload id -> normalised content key (filled by `prefetch`).
    pub payload_cache: IndexMap<String, String>,
}

/// Per-(thread id, category) ordinals handed out while naming.
#[derive(Default)]
struct Ordinals(IndexMap<(String, Category), usize>);

impl Ordinals {
    /// The next 1-based ordinal of `category` in thread `thread_id`.
    fn next(&mut self, thread_id: &str, category: Category) -> usize {
        let n = self.0.entry((thread_id.to_string(), category)).or_insert(0);
        *n += 1;
        *n
    }
}

impl<'a> Side<'a> {
    /// `trace` with every generated id named.
    pub fn new(
        trace: &'a RolloutTrace,
        reader: Option<&'a (dyn PayloadSource + Sync)>,
        policy: &'a DiffPolicy,
    ) -> Side<'a> {
        let mut side = Side {
            trace,
            reader,
            policy,
            names: IndexMap::new(),
            paths: IndexMap::new(),
            turns: IndexMap::new(),
            payload_cache: IndexMap::new(),
        };
        side.name_threads();
        let mut ordinals = Ordinals::default();
        side.name_conversation(&mut ordinals);
        side.name_runtime(&mut ordinals);
        side
    }

    /// The aligned agent path of thread `thread_id`.
    pub fn path(&self, thread_id: &str) -> String {
        self.paths
            .get(thread_id)
            .cloned()
            .unwrap_or_else(|| "<unknown thread>".to_string())
    }

    /// The aligned name of `id`, or `id` with the UUIDs in it normalised.
    pub fn name(&self, id: &str) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| self.normalize_text(id))
    }

    /// The aligned names of `ids`, comma-separated.
    pub fn names_of<S: AsRef<str>>(&self, ids: &[S]) -> String {
        ids.iter()
            .map(|id| self.name(id.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The 1-based index of turn `turn_id` within its thread.
    pub fn turn(&self, turn_id: Option<&str>) -> Option<usize> {
        turn_id.and_then(|id| self.turns.get(id).copied())
    }

    /// Threads (by agent path, deduplicated in seq order), the trace and
    /// the rollout.
    fn name_threads(&mut self) {
        let t = self.trace;
        let mut seen_paths: IndexMap<String, usize> = IndexMap::new();
        let threads = in_order(t.threads.values(), |th| th.execution.started_seq);
        for thread in threads {
            let n = seen_paths.entry(thread.agent_path.clone()).or_insert(0);
            *n += 1;
            let path = if *n == 1 {
                thread.agent_path.clone()
            } else {
                format!("{}#{n}", thread.agent_path)
            };
            self.paths.insert(thread.thread_id.clone(), path.clone());
            self.names
                .insert(thread.thread_id.clone(), format!("thread {path}"));
        }
        if let Some(trace_id) = &t.trace_id {
            self.names.insert(trace_id.clone(), "trace".to_string());
        }
        self.names
            .insert(t.rollout_id.clone(), "rollout".to_string());
    }

    /// Turns, conversation items and inference calls.
    fn name_conversation(&mut self, ordinals: &mut Ordinals) {
        let t = self.trace;
        let turns = in_order(t.codex_turns.values(), |x| x.execution.started_seq);
        for turn in turns {
            let n = ordinals.next(&turn.thread_id, Category::Turn);
            self.turns.insert(turn.codex_turn_id.clone(), n);
            let path = self.path(&turn.thread_id);
            self.names
                .insert(turn.codex_turn_id.clone(), format!("{path} turn {n}"));
        }
        for item in t.conversation_items.values() {
            let n = ordinals.next(&item.thread_id, Category::Item);
            let path = self.path(&item.thread_id);
            self.names
                .insert(item.item_id.to_string(), format!("{path} item {n}"));
        }
        let calls = in_order(t.inference_calls.values(), |x| x.execution.started_seq);
        for call in calls {
            let n = ordinals.next(&call.thread_id, Category::Inference);
            let path = self.path(&call.thread_id);
            self.names.insert(
                call.inference_call_id.clone(),
                format!("{path} inference {n}"),
            );
        }
    }

    /// Tool calls, code cells, terminals, compactions and edges.
    fn name_runtime(&mut self, ordinals: &mut Ordinals) {
        let t = self.trace;
        let tools = in_order(t.tool_calls.values(), |x| x.execution.started_seq);
        for tool in tools {
            let n = ordinals.next(&tool.thread_id, Category::Tool);
            let path = self.path(&tool.thread_id);
            self.names
                .insert(tool.tool_call_id.clone(), format!("{path} tool {n}"));
        }
        let cells = in_order(t.code_cells.values(), |x| x.execution.started_seq);
        for cell in cells {
            let n = ordinals.next(&cell.thread_id, Category::Cell);
            let path = self.path(&cell.thread_id);
            self.names
                .insert(cell.code_cell_id.clone(), format!("{path} code cell {n}"));
            if let Some(runtime) = &cell.runtime_cell_id {
                self.names
                    .insert(runtime.clone(), format!("{path} runtime cell {n}"));
            }
        }
        self.name_terminals(ordinals);
        let compactions = in_order(t.compactions.values(), |x| x.installed_seq);
        for compaction in compactions {
            let n = ordinals.next(&compaction.thread_id, Category::Compaction);
            let path = self.path(&compaction.thread_id);
            self.names.insert(
                compaction.compaction_id.clone(),
                format!("{path} compaction {n}"),
            );
        }
        for request in t.compaction_requests.values() {
            let n = ordinals.next(&request.thread_id, Category::CompactionRequest);
            let path = self.path(&request.thread_id);
            self.names.insert(
                request.compaction_request_id.clone(),
                format!("{path} compaction request {n}"),
            );
        }
        for edge in t.interaction_edges.values() {
            let thread = self.anchor_thread(&edge.source);
            let n = ordinals.next(&thread, Category::Edge);
            let path = self.path(&thread);
            self.names
                .insert(edge.edge_id.clone(), format!("{path} edge {n}"));
        }
    }

    /// Terminal operations (in their tool call's thread) and sessions.
    fn name_terminals(&mut self, ordinals: &mut Ordinals) {
        let t = self.trace;
        let ops = in_order(t.terminal_operations.values(), |x| x.execution.started_seq);
        for op in ops {
            let thread = self.op_thread(&op.tool_call_id);
            let n = ordinals.next(&thread, Category::Terminal);
            let path = self.path(&thread);
            self.names.insert(
                op.operation_id.clone(),
                format!("{path} terminal operation {n}"),
            );
        }
        for session in t.terminal_sessions.values() {
            let n = ordinals.next(&session.thread_id, Category::Session);
            let path = self.path(&session.thread_id);
            self.names.insert(
                session.terminal_id.clone(),
                format!("{path} terminal session {n}"),
            );
        }
    }

    /// The thread id of a terminal operation: its tool call's thread.
    pub fn op_thread(&self, tool_call_id: &str) -> String {
        self.trace
            .tool_calls
            .get(tool_call_id)
            .map(|tool| tool.thread_id.clone())
            .unwrap_or_default()
    }

    /// The thread id an edge endpoint belongs to (empty when unknown).
    pub fn anchor_thread(&self, anchor: &TraceAnchor) -> String {
        self.trace
            .anchor_thread(anchor)
            .unwrap_or_default()
            .to_string()
    }

    /// The seq an edge endpoint starts at (`u64::MAX` when unknown).
    pub fn anchor_seq(&self, anchor: &TraceAnchor) -> u64 {
        self.trace.anchor_seq(anchor).unwrap_or(u64::MAX)
    }

    /// The aligned name of an edge endpoint.
    pub fn anchor_name(&self, anchor: &TraceAnchor) -> String {
        match anchor {
            TraceAnchor::ConversationItem { item_id } => self.name(item_id),
            TraceAnchor::ToolCall { tool_call_id } => self.name(tool_call_id),
            TraceAnchor::Thread { thread_id } => self.name(thread_id),
        }
    }
}

#[cfg(test)]
#[path = "align_tests.rs"]
mod tests;
