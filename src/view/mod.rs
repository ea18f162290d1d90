//! What a person looks at: a reduced rollout arranged as an agent tree, the
//! edges between agents, and a lane per thread of its work in causal (seq)
//! order. Pure: it reads a [`RolloutTrace`] and no payload, so it works on
//! any state, including one a keep-going reduction left with diagnostics.
//! `tracefold show` prints it; `--json` writes it as it is here.

use serde::Serialize;

mod conversation;
mod page;

pub use conversation::{CallConversation, SeenItem, conversation, item_text};
pub use page::{PageOptions, diff_page, rollout_page};

use crate::event::{ToolCallKind, ToolCallSummary};
use indexmap::IndexMap;

use crate::model::{
    AgentOrigin, Compaction, CompactionMode, ExecutionWindow, InferenceCall, RolloutTrace,
    TerminalOperation, TerminalRequest, TokenUsage,
};

/// A rollout as a tree of threads with their lanes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutView {
    /// The rollout's id.
    pub rollout_id: String,
    /// `running`, `completed`, `failed` or `aborted`.
    pub status: &'static str,
    /// Wall time (ms since the Unix epoch) the rollout started, if known.
    pub started_at_unix_ms: Option<i64>,
    /// Wall time it ended, if it did.
    pub ended_at_unix_ms: Option<i64>,
    /// Every thread, depth first: each parent before its children, children
    /// in start order.
    pub threads: Vec<ThreadNode>,
    /// The interaction edges whose ends are known threads.
    pub edges: Vec<EdgeView>,
    /// The reducer's diagnostics, as `seq: message` lines (`-` without a
    /// seq).
    pub diagnostics: Vec<String>,
}

/// One thread of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadNode {
    /// The host's thread id.
    pub thread_id: String,
    /// Its agent path (`/root`, `/root/worker`).
    pub agent_path: String,
    /// Its display name, if the session metadata gave one.
    pub nickname: Option<String>,
    /// The thread that spawned it; `None` for a root (or a thread whose
    /// parent is not in the rollout).
    pub parent_thread_id: Option<String>,
    /// 0 for a root, its parent's plus one otherwise.
    pub depth: usize,
    /// The thread's execution status.
    pub status: &'static str,
    /// Counts of its work.
    pub turns: usize,
    /// Inference calls the thread made.
    pub inference_calls: usize,
    /// Tool calls started in the thread.
    pub tool_calls: usize,
    /// Compactions installed in the thread.
    pub compactions: usize,
    /// Token usage summed over its inference calls that reported it.
    pub usage: TokenUsage,
    /// Its work in seq order.
    pub lane: Vec<LaneEntry>,
}

/// What a lane entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneKind {
    /// A Codex turn.
    Turn,
    /// A model request and its response.
    Inference,
    /// A tool call.
    ToolCall,
    /// A code-mode cell.
    CodeCell,
    /// A terminal operation (a command run, or input written to one).
    Terminal,
    /// A compaction installed (its boundary).
    Compaction,
}

impl LaneKind {
    /// Its name in text: `turn`, `inference`, `tool`, `code cell`,
    /// `terminal`, `compaction`.
    pub fn name(self) -> &'static str {
        match self {
            LaneKind::Turn => "turn",
            LaneKind::Inference => "inference",
            LaneKind::ToolCall => "tool",
            LaneKind::CodeCell => "code cell",
            LaneKind::Terminal => "terminal",
            LaneKind::Compaction => "compaction",
        }
    }
}

/// One piece of a thread's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaneEntry {
    /// What it is.
    pub kind: LaneKind,
    /// Its id in the state (`inference_calls`, `tool_calls`, ...).
    pub id: String,
    /// The turn it belongs to, if any.
    pub codex_turn_id: Option<String>,
    /// A one-line description.
    pub label: String,
    /// `running`, `completed`, `failed`, `cancelled` or `aborted`
    /// (`completed` for a compaction).
    pub status: &'static str,
    /// The seq that opened it.
    pub started_seq: u64,
    /// The seq that closed it; `None` while running (and for a compaction,
    /// which is one event).
    pub ended_seq: Option<u64>,
    /// Wall time of its start (ms since the Unix epoch).
    pub started_at_unix_ms: i64,
    /// Wall time of its end, if any.
    pub ended_at_unix_ms: Option<i64>,
}

/// An interaction edge between two threads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeView {
    /// The edge's id in the state.
    pub edge_id: String,
    /// `spawn_agent`, `assign_agent_task`, `send_message`, `agent_result`
    /// or `close_agent`.
    pub kind: &'static str,
    /// The thread it leaves.
    pub from_thread_id: String,
    /// The thread it reaches.
    pub to_thread_id: String,
    /// When it started (ms since the Unix epoch).
    pub started_at_unix_ms: i64,
    /// The seq that places it in the timeline: its source's (a tool call's
    /// start, an item's first sighting, a thread's start), else its
    /// target's.
    pub seq: Option<u64>,
}

impl RolloutView {
    /// Arranges `trace` for viewing.
    pub fn of(trace: &RolloutTrace) -> RolloutView {
        let edges = edges(trace);
        RolloutView {
            rollout_id: trace.rollout_id.clone(),
            status: trace.status.as_str(),
            started_at_unix_ms: trace.started_at_unix_ms,
            ended_at_unix_ms: trace.ended_at_unix_ms,
            threads: thread_tree(trace, &edges),
            edges,
            diagnostics: trace
                .diagnostics
                .iter()
                .map(|diagnostic| {
                    let seq = diagnostic
                        .seq
                        .map_or_else(|| "-".to_string(), |seq| seq.to_string());
                    format!("{seq}: {}: {}", diagnostic.code, diagnostic.message)
                })
                .collect(),
        }
    }

    /// The thread whose agent path, id or nickname is `name`.
    pub fn thread(&self, name: &str) -> Option<&ThreadNode> {
        self.threads.iter().find(|thread| {
            thread.agent_path == name
                || thread.thread_id == name
                || thread.nickname.as_deref() == Some(name)
        })
    }
}

/// The threads depth first, roots in start order (the rollout's root
/// thread first). A thread's parent is the one its metadata names, else the
/// one whose spawn edge reaches it.
fn thread_tree(trace: &RolloutTrace, edges: &[EdgeView]) -> Vec<ThreadNode> {
    // The first spawn edge that reaches each thread.
    let mut spawned_by: IndexMap<&str, &str> = IndexMap::new();
    for edge in edges.iter().filter(|edge| edge.kind == "spawn_agent") {
        spawned_by
            .entry(edge.to_thread_id.as_str())
            .or_insert(edge.from_thread_id.as_str());
    }
    // Each thread's parent: its spawn origin, else the spawn edge.
    let parents: IndexMap<&str, Option<&str>> = trace
        .threads
        .iter()
        .map(|(id, thread)| {
            let parent = match &thread.origin {
                AgentOrigin::Spawned {
                    parent_thread_id, ..
                } => Some(parent_thread_id.as_str()),
                AgentOrigin::Root => None,
            }
            .or_else(|| spawned_by.get(id.as_str()).copied())
            .filter(|parent| *parent != id && trace.threads.contains_key(*parent));
            (id.as_str(), parent)
        })
        .collect();
    let mut children: IndexMap<&str, Vec<&str>> = IndexMap::new();
    let mut roots: Vec<&str> = Vec::new();
    for (id, parent) in &parents {
        match parent {
            Some(parent) => children.entry(*parent).or_default().push(*id),
            None => roots.push(*id),
        }
    }
    if let Some(root) = &trace.root_thread_id
        && let Some(position) = roots.iter().position(|id| *id == root)
    {
        let first = roots.remove(position);
        roots.insert(0, first);
    }
    let mut lanes = lanes(trace);
    let mut out = Vec::with_capacity(trace.threads.len());
    let mut placed: indexmap::IndexSet<&str> = indexmap::IndexSet::new();
    let mut stack: Vec<(&str, usize)> = roots.into_iter().rev().map(|id| (id, 0)).collect();
    while let Some((id, depth)) = stack.pop() {
        if !placed.insert(id) {
            continue; // a cycle of parents: each thread once
        }
        let parent = parents.get(id).copied().flatten().map(str::to_string);
        out.push(thread_node(trace, &mut lanes, id, parent, depth));
        if let Some(kids) = children.get(id) {
            stack.extend(kids.iter().rev().map(|child| (*child, depth + 1)));
        }
    }
    // Threads on a cycle of parents never reach a root: list them at the
    // top level rather than lose them.
    for id in trace.threads.keys() {
        if placed.insert(id.as_str()) {
            out.push(thread_node(trace, &mut lanes, id, None, 0));
        }
    }
    out
}

fn thread_node(
    trace: &RolloutTrace,
    lanes: &mut Lanes,
    id: &str,
    parent_thread_id: Option<String>,
    depth: usize,
) -> ThreadNode {
    let thread = &trace.threads[id];
    let work = lanes.swap_remove(id).unwrap_or_default();
    let lane = work.lane;
    let count = |kind: LaneKind| lane.iter().filter(|entry| entry.kind == kind).count();
    ThreadNode {
        thread_id: id.to_string(),
        agent_path: thread.agent_path.clone(),
        nickname: thread.nickname.clone(),
        parent_thread_id,
        depth,
        status: thread.execution.status.as_str(),
        turns: count(LaneKind::Turn),
        inference_calls: count(LaneKind::Inference),
        tool_calls: count(LaneKind::ToolCall),
        compactions: count(LaneKind::Compaction),
        usage: work.usage,
        lane,
    }
}

/// One thread's work and token usage while the lanes are built.
#[derive(Default)]
struct ThreadWork {
    lane: Vec<LaneEntry>,
    usage: TokenUsage,
}

/// Each thread's work, by thread id.
type Lanes = IndexMap<String, ThreadWork>;

/// Every thread's lane in the order its work started (seq), in one pass
/// over the state's collections.
fn lanes(trace: &RolloutTrace) -> Lanes {
    let mut lanes = Lanes::new();
    let mut push = |thread_id: &str, entry: LaneEntry| {
        lanes
            .entry(thread_id.to_string())
            .or_default()
            .lane
            .push(entry);
    };
    let entry =
        |kind, id: &str, turn: Option<&String>, label, window: &ExecutionWindow| LaneEntry {
            kind,
            id: id.to_string(),
            codex_turn_id: turn.cloned(),
            label,
            status: window.status.as_str(),
            started_seq: window.started_seq,
            ended_seq: window.ended_seq,
            started_at_unix_ms: window.started_at_unix_ms,
            ended_at_unix_ms: window.ended_at_unix_ms,
        };
    for (id, turn) in &trace.codex_turns {
        let label = format!("turn {id}");
        push(
            &turn.thread_id,
            entry(LaneKind::Turn, id, Some(id), label, &turn.execution),
        );
    }
    for (id, call) in &trace.inference_calls {
        let label = inference_label(call);
        push(
            &call.thread_id,
            entry(
                LaneKind::Inference,
                id,
                Some(&call.codex_turn_id),
                label,
                &call.execution,
            ),
        );
    }
    for (id, call) in &trace.tool_calls {
        let label = tool_label(&call.kind, &call.summary);
        let turn = call.started_by_codex_turn_id.as_ref();
        push(
            &call.thread_id,
            entry(LaneKind::ToolCall, id, turn, label, &call.execution),
        );
    }
    for (id, cell) in &trace.code_cells {
        let label = format!("code cell {}", cell.model_visible_call_id);
        let turn = Some(&cell.codex_turn_id);
        push(
            &cell.thread_id,
            entry(LaneKind::CodeCell, id, turn, label, &cell.execution),
        );
    }
    for operation in trace.terminal_operations.values() {
        // An operation belongs to the thread of the tool call that ran it.
        let Some(call) = trace.tool_calls.get(&operation.tool_call_id) else {
            continue;
        };
        let label = terminal_label(operation);
        let turn = call.started_by_codex_turn_id.as_ref();
        push(
            &call.thread_id,
            entry(
                LaneKind::Terminal,
                &operation.operation_id,
                turn,
                label,
                &operation.execution,
            ),
        );
    }
    for (id, compaction) in &trace.compactions {
        push(&compaction.thread_id, compaction_entry(id, compaction));
    }
    for call in trace.inference_calls.values() {
        if let Some(usage) = &call.usage {
            let total = &mut lanes.entry(call.thread_id.clone()).or_default().usage;
            total.input_tokens += usage.input_tokens;
            total.cached_input_tokens += usage.cached_input_tokens;
            total.output_tokens += usage.output_tokens;
            total.reasoning_output_tokens += usage.reasoning_output_tokens;
            total.cache_write_input_tokens += usage.cache_write_input_tokens;
        }
    }
    for work in lanes.values_mut() {
        // Stable: at one seq, a turn before what it opened.
        work.lane.sort_by_key(|entry| entry.started_seq);
    }
    lanes
}

fn inference_label(call: &InferenceCall) -> String {
    let mut label = format!(
        "{} ({} items in, {} out)",
        call.model,
        call.request_item_ids.len(),
        call.response_item_ids.len()
    );
    if let Some(usage) = &call.usage {
        label.push_str(&format!(
            ", {} tokens in ({} cached), {} out",
            usage.input_tokens, usage.cached_input_tokens, usage.output_tokens
        ));
    }
    if let Some(error) = &call.error {
        label.push_str(&format!(": {error}"));
    }
    label
}

fn terminal_label(operation: &TerminalOperation) -> String {
    let what = match &operation.request {
        TerminalRequest::ExecCommand {
            display_command, ..
        } => format!("$ {}", one_line(display_command, 80)),
        TerminalRequest::WriteStdin { stdin, .. } => {
            format!("stdin {}", one_line(stdin, 60))
        }
    };
    match operation
        .result
        .as_ref()
        .and_then(|result| result.exit_code)
    {
        Some(code) => format!("{what} (exit {code})"),
        None => what,
    }
}

fn compaction_entry(id: &str, compaction: &Compaction) -> LaneEntry {
    LaneEntry {
        kind: LaneKind::Compaction,
        id: id.to_string(),
        codex_turn_id: Some(compaction.codex_turn_id.clone()),
        label: format!(
            "compaction ({}): {} items replaced by {}",
            match compaction.mode {
                CompactionMode::Remote => "remote",
                CompactionMode::Local => "local",
            },
            compaction.input_item_ids.len(),
            compaction.replacement_item_ids.len()
        ),
        status: "completed",
        started_seq: compaction.installed_seq,
        ended_seq: None,
        started_at_unix_ms: compaction.installed_at_unix_ms,
        ended_at_unix_ms: None,
    }
}

fn tool_label(kind: &ToolCallKind, summary: &ToolCallSummary) -> String {
    // Another tool's name is its label already.
    let kind = match kind {
        ToolCallKind::Other { .. } => String::new(),
        kind => format!("{} ", kind.name()),
    };
    match summary {
        ToolCallSummary::Generic {
            label,
            input_preview: Some(input),
            ..
        } => format!("{kind}{label}: {}", one_line(input, 80)),
        ToolCallSummary::Generic { label, .. } => format!("{kind}{label}"),
        ToolCallSummary::Agent {
            target_agent_path, ..
        } => format!("{kind}-> {target_agent_path}"),
        ToolCallSummary::WaitAgent {
            target_agent_path, ..
        } => format!("{kind}{}", target_agent_path.as_deref().unwrap_or("")),
        ToolCallSummary::Terminal { operation_id } => format!("{kind}{operation_id}"),
    }
}

/// `text` on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .take(max + 1)
        .collect();
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Interaction edges between known threads, in the state's order.
fn edges(trace: &RolloutTrace) -> Vec<EdgeView> {
    trace
        .interaction_edges
        .values()
        .filter_map(|edge| {
            Some(EdgeView {
                edge_id: edge.edge_id.clone(),
                kind: edge.kind.as_str(),
                from_thread_id: trace.anchor_thread(&edge.source)?.to_string(),
                to_thread_id: trace.anchor_thread(&edge.target)?.to_string(),
                started_at_unix_ms: edge.started_at_unix_ms,
                seq: trace
                    .anchor_seq(&edge.source)
                    .or_else(|| trace.anchor_seq(&edge.target)),
            })
        })
        .collect()
}
