//! Replay-equivalence of two reduced rollouts: `tracefold diff`, and
//! [`assert_replay_equivalent`] for a host's own test suite.
//!
//! Two rollouts are equivalent when their reduced graphs have the same shape
//! and content once the things that always differ are set aside: wall-clock
//! times, seq numbers, UUIDs and generated ids (trace, rollout, thread, turn,
//! inference call, tool call, code cell, conversation item, edge and payload
//! ids), upstream request ids and response ids. Threads align by agent path;
//! turns, conversation items, inference calls, tool calls, code cells,
//! terminal operations, compactions and interaction edges align by their
//! order within the thread, and are compared by content: kinds, statuses,
//! body parts, terminal commands, code-cell source, references to other
//! objects mapped to their aligned names, and payloads by hash. When both
//! sides can read their payloads ([`diff_with_payloads`]), payloads whose
//! raw hashes differ are read and compare by a normalised content hash in which every generated id is replaced by
//! the aligned name of the object it names (and any other UUID by `<uuid>`),
//! and the keys in [`DiffPolicy::ignored_payload_keys`] are dropped; without
//! readers they compare by their raw BLAKE3.
//!
//! The report names the earliest divergence in causal order (the seq order
//! of rollout A) and counts the further differing objects. Work is linear in
//! the size of the two states plus the bytes of the payloads that differ by
//! raw hash, read once each, in parallel.

/// [`ReplaySource`](crate::replay::ReplaySource) at its former path; its
/// home is [`crate::replay`].
pub use crate::replay;

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::event::{ExecutionStatus, PayloadRef, ToolCallKind};
use crate::model::{
    AgentOrigin, ConversationItem, ConversationPart, ExecutionWindow, ItemId, ProducerRef,
    RolloutTrace, TerminalRequest, ToolCallRequester, ToolCallSummary, TraceAnchor,
};
use crate::reducer::PayloadSource;

/// What the comparison sets aside. The default (documented in DESIGN.md):
/// token usage is ignored, model names, tool output and everything
/// recorded (not only the model-visible conversation) are compared, and the
/// payload keys `response_id`, `upstream_request_id` and `request_id` are
/// dropped before payloads are compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffPolicy {
    /// Ignore token usage (on inference calls and the usage keys in
    /// payloads). Default: true, as caching makes it vary between runs.
    pub ignore_token_usage: bool,
    /// Ignore model names (thread default models, inference calls and the
    /// `model` key in payloads). Default: false.
    pub ignore_model: bool,
    /// Compare only threads, turns and the model-visible conversation items,
    /// not inference calls, tool calls, code cells, terminals, compactions
    /// or edges. Default: false.
    pub model_visible_only: bool,
    /// Treat tool output as opaque: skip tool results, runtime payloads,
    /// terminal output, code-cell responses and the bodies of tool-output
    /// conversation items; inference requests then compare by the items
    /// they send, not by their payload. Default: false.
    pub opaque_tool_output: bool,
    /// Object keys dropped from JSON payloads before they are compared
    /// (only when both sides can read payloads).
    pub ignored_payload_keys: Vec<String>,
}

impl Default for DiffPolicy {
    fn default() -> DiffPolicy {
        DiffPolicy {
            ignore_token_usage: true,
            ignore_model: false,
            model_visible_only: false,
            opaque_tool_output: false,
            ignored_payload_keys: vec![
                "response_id".to_string(),
                "upstream_request_id".to_string(),
                "request_id".to_string(),
            ],
        }
    }
}

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    pub equivalent: bool,
    /// The earliest divergence in rollout A's seq order.
    pub first: Option<Divergence>,
    /// How many other objects differ (or exist on one side only).
    pub further_differences: usize,
}

/// One object that differs between the two rollouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// Agent path of the thread (`/root`, `/root/worker`); empty for the
    /// rollout itself.
    pub thread_path: String,
    /// 1-based turn number within the thread, when the object is in a turn.
    pub turn_index: Option<usize>,
    /// What differs, e.g. `tool call exec_command`, `inference call 2`,
    /// `conversation item 5`.
    pub subject: String,
    /// How it differs, e.g. ``arguments differ: `ls` vs `ls -la` ``.
    pub what: String,
    /// The compared field, when the object exists on both sides.
    pub field: Option<String>,
    /// Seq of the object in rollout A (its start), when it exists there.
    pub seq_a: Option<u64>,
    /// Seq of the object in rollout B, when it exists there.
    pub seq_b: Option<u64>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.thread_path.is_empty() {
            write!(f, "rollout")?;
        } else {
            write!(f, "thread {}", self.thread_path)?;
        }
        if let Some(turn) = self.turn_index {
            write!(f, " turn {turn}")?;
        }
        write!(f, ": {} {}", self.subject, self.what)
    }
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.first {
            None => write!(f, "equivalent"),
            Some(first) => write!(
                f,
                "{first}\n({} further difference{})",
                self.further_differences,
                if self.further_differences == 1 {
                    ""
                } else {
                    "s"
                }
            ),
        }
    }
}

/// Compares two rollouts by their states alone (payloads by raw BLAKE3).
///
/// # Examples
///
/// Two recordings of the same run are equivalent although every generated
/// id and time differs; one with an extra turn is not:
///
/// ```
/// use tracefold::diff::{DiffPolicy, diff};
/// use tracefold::event::{ExecutionStatus, RolloutStatus};
/// use tracefold::export::reduce_stored;
/// use tracefold::recorder::{Recorder, RecorderConfig, RolloutStart, ThreadStart};
/// use tracefold::store::{Store, StoreOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreOptions::default())?;
/// let recorder = Recorder::start(&store, RecorderConfig::default())?;
/// let record = |id: &str, turns: usize| {
///     let rollout = recorder.start_rollout(RolloutStart {
///         rollout_id: Some(id.into()),
///         trace_id: None,
///         root: ThreadStart { thread_id: format!("{id}-root"), agent_path: "/root".into(), metadata: None },
///     });
///     for turn in 0..turns {
///         rollout.root().start_turn(format!("{id}-turn-{turn}")).end(ExecutionStatus::Completed);
///     }
///     rollout.end(RolloutStatus::Completed);
/// };
/// record("a", 2);
/// record("b", 2);
/// record("c", 3);
/// recorder.shutdown()?;
///
/// let [a, b, c] = ["a", "b", "c"].map(|id| reduce_stored(&store, id));
/// let (a, b, c) = (a?, b?, c?);
/// assert!(diff(&a, &b, &DiffPolicy::default()).equivalent);
/// let report = diff(&a, &c, &DiffPolicy::default());
/// assert!(!report.equivalent);
/// assert_eq!(report.first.map(|first| first.thread_path).as_deref(), Some("/root"));
/// # Ok(())
/// # }
/// ```
pub fn diff(a: &RolloutTrace, b: &RolloutTrace, policy: &DiffPolicy) -> DiffReport {
    diff_with_payloads(a, None, b, None, policy)
}

/// Compares two rollouts; when both payload readers are given, payloads
/// compare by normalised content (generated ids mapped to aligned names) and
/// divergences show the differing JSON field.
pub fn diff_with_payloads(
    a: &RolloutTrace,
    payloads_a: Option<&(dyn PayloadSource + Sync)>,
    b: &RolloutTrace,
    payloads_b: Option<&(dyn PayloadSource + Sync)>,
    policy: &DiffPolicy,
) -> DiffReport {
    let (reader_a, reader_b) = match (payloads_a, payloads_b) {
        (Some(pa), Some(pb)) => (Some(pa), Some(pb)),
        _ => (None, None),
    };
    let mut side_a = Side::new(a, reader_a, policy);
    let mut side_b = Side::new(b, reader_b, policy);
    let entries_a = side_a.entries();
    let entries_b = side_b.entries();
    let normalize = reader_a.is_some() && reader_b.is_some();
    if normalize {
        // Only payloads whose raw hashes differ are read and normalised.
        let (mut need_a, mut need_b) = (Vec::new(), Vec::new());
        for (key, entry) in &entries_a {
            let Some(other) = entries_b.get(key) else {
                continue;
            };
            for (x, y) in entry.facts.iter().zip(&other.facts) {
                if x.key != y.key && x.payloads.len() == y.payloads.len() {
                    for (p, q) in x.payloads.iter().zip(&y.payloads) {
                        if p.0 != q.0 {
                            need_a.push(p.1.clone());
                            need_b.push(q.1.clone());
                        }
                    }
                }
            }
        }
        side_a.prefetch(need_a);
        side_b.prefetch(need_b);
    }
    let same = |x: &Fact, y: &Fact| -> bool {
        if x.key == y.key {
            return true;
        }
        normalize
            && !x.payloads.is_empty()
            && x.payloads.len() == y.payloads.len()
            && x.payloads.iter().zip(&y.payloads).all(|(p, q)| {
                p.0 == q.0
                    || matches!(
                        (side_a.cached_key(&p.1), side_b.cached_key(&q.1)),
                        (Some(ka), Some(kb)) if ka == kb
                    )
            })
    };

    // Candidate divergences, keyed by (seq in A, tie, key) for causal order.
    let mut count = 0usize;
    let mut first: Option<((u64, u8, u8, usize), Divergence)> = None;
    let mut consider = |order: (u64, u8, u8, usize), divergence: Divergence| {
        count += 1;
        if first.as_ref().is_none_or(|(best, _)| order < *best) {
            first = Some((order, divergence));
        }
    };
    // Last A entry of each (thread, category), to place B-only entries.
    let mut last_a: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (rank, (key, entry)) in entries_a.iter().enumerate() {
        let slot = last_a.entry((key.0.as_str(), key.1)).or_insert(0);
        *slot = (*slot).max(entry.seq);
        match entries_b.get(key) {
            None => consider(
                (entry.seq, 0, category_rank(key.1), rank),
                Divergence {
                    thread_path: entry.thread.clone(),
                    turn_index: entry.turn,
                    subject: entry.subject.clone(),
                    what: "is missing from B".to_string(),
                    field: None,
                    seq_a: Some(entry.seq),
                    seq_b: None,
                },
            ),
            Some(other) => {
                if let Some(index) = entry
                    .facts
                    .iter()
                    .zip(&other.facts)
                    .position(|(x, y)| !same(x, y))
                    .or_else(|| (entry.facts.len() != other.facts.len()).then_some(0))
                {
                    let what = match (entry.facts.get(index), other.facts.get(index)) {
                        (Some(x), Some(y)) => explain(&side_a, &side_b, x, y),
                        _ => "differs in shape".to_string(),
                    };
                    consider(
                        (entry.seq, 0, category_rank(key.1), rank),
                        Divergence {
                            thread_path: entry.thread.clone(),
                            turn_index: entry.turn,
                            subject: entry.subject.clone(),
                            what,
                            field: entry.facts.get(index).map(|f| f.label.to_string()),
                            seq_a: Some(entry.seq),
                            seq_b: Some(other.seq),
                        },
                    );
                }
            }
        }
    }
    for (rank, (key, entry)) in entries_b.iter().enumerate() {
        if entries_a.contains_key(key) {
            continue;
        }
        let at = last_a
            .get(&(key.0.as_str(), key.1))
            .copied()
            .or_else(|| entries_a.get(&(key.0.clone(), "thread", 0)).map(|t| t.seq))
            .unwrap_or(u64::MAX);
        consider(
            (at, 1, category_rank(key.1), rank),
            Divergence {
                thread_path: entry.thread.clone(),
                turn_index: entry.turn,
                subject: entry.subject.clone(),
                what: "exists only in B".to_string(),
                field: None,
                seq_a: None,
                seq_b: Some(entry.seq),
            },
        );
    }
    match first {
        None => DiffReport {
            equivalent: true,
            first: None,
            further_differences: 0,
        },
        Some((_, divergence)) => DiffReport {
            equivalent: false,
            first: Some(divergence),
            further_differences: count.saturating_sub(1),
        },
    }
}

/// `Ok` when equivalent, else the report (boxed: it is large).
pub fn check_replay_equivalent(
    a: &RolloutTrace,
    b: &RolloutTrace,
    policy: &DiffPolicy,
) -> Result<(), Box<DiffReport>> {
    let report = diff(a, b, policy);
    if report.equivalent {
        Ok(())
    } else {
        Err(Box::new(report))
    }
}

/// Panics with a readable message when `a` and `b` are not equivalent.
///
/// # Panics
///
/// When the rollouts diverge; the message names the first divergence.
#[allow(clippy::panic)] // an assertion for host test suites
pub fn assert_replay_equivalent(a: &RolloutTrace, b: &RolloutTrace, policy: &DiffPolicy) {
    if let Err(report) = check_replay_equivalent(a, b, policy) {
        panic!(
            "rollouts are not replay-equivalent\n  A: rollout {}\n  B: rollout {}\n  first divergence: {}\n  further differences: {}",
            a.rollout_id,
            b.rollout_id,
            report
                .first
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            report.further_differences
        );
    }
}

/// Alignment key: (thread path, category, ordinal within the thread).
type Key = (String, &'static str, usize);

/// Which of several objects opened by the same event is reported first:
/// the cause (thread, turn, call) before what it produced (items, edges).
fn category_rank(category: &str) -> u8 {
    match category {
        "thread" => 0,
        "turn" => 1,
        "inference" => 2,
        "tool" => 3,
        "cell" => 4,
        "terminal" => 5,
        "session" => 6,
        "compaction" => 7,
        "item" => 8,
        "edge" => 9,
        _ => 10,
    }
}

/// One compared field: a label, the comparison key and, for payloads, the
/// payload id (to explain a difference).
struct Fact {
    label: &'static str,
    key: String,
    /// For payload facts: each payload's comparison key and id.
    payloads: Vec<(String, String)>,
    /// Human-readable value (for plain facts the key itself).
    shown: Option<String>,
}

struct Entry {
    seq: u64,
    thread: String,
    turn: Option<usize>,
    subject: String,
    facts: Vec<Fact>,
}

/// One rollout being compared: its state, optional reader and the aligned
/// name of every generated id.
struct Side<'a> {
    trace: &'a RolloutTrace,
    reader: Option<&'a (dyn PayloadSource + Sync)>,
    policy: &'a DiffPolicy,
    names: IndexMap<String, String>,
    /// thread id -> agent path (deduplicated).
    paths: IndexMap<String, String>,
    /// turn id -> 1-based index within its thread.
    turns: IndexMap<String, usize>,
    /// payload id -> normalised content key (filled by `prefetch`).
    payload_cache: IndexMap<String, String>,
}

fn short(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

fn status_name(status: ExecutionStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{status:?}"))
}

fn window(w: &ExecutionWindow) -> String {
    status_name(w.status)
}

fn tool_kind_name(kind: &ToolCallKind) -> String {
    match kind {
        ToolCallKind::Mcp { server, tool } => format!("mcp {server}/{tool}"),
        ToolCallKind::Other { name } => name.clone(),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| format!("{other:?}")),
    }
}

fn is_uuid_at(bytes: &[u8], i: usize) -> bool {
    if bytes.len() < i + 36 {
        return false;
    }
    bytes[i..i + 36].iter().enumerate().all(|(j, b)| {
        if matches!(j, 8 | 13 | 18 | 23) {
            *b == b'-'
        } else {
            b.is_ascii_hexdigit()
        }
    })
}

impl<'a> Side<'a> {
    fn new(
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
        side.assign_names();
        side
    }

    fn path(&self, thread_id: &str) -> String {
        self.paths
            .get(thread_id)
            .cloned()
            .unwrap_or_else(|| "<unknown thread>".to_string())
    }

    fn name(&self, id: &str) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| self.normalize_text(id))
    }

    fn names_of<S: AsRef<str>>(&self, ids: &[S]) -> String {
        ids.iter()
            .map(|id| self.name(id.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn turn(&self, turn_id: Option<&str>) -> Option<usize> {
        turn_id.and_then(|id| self.turns.get(id).copied())
    }

    /// Pass 1: the aligned name of every generated id.
    fn assign_names(&mut self) {
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
        let mut per_thread: IndexMap<(String, &'static str), usize> = IndexMap::new();
        let mut ordinal = |thread: &str, cat: &'static str| -> usize {
            let n = per_thread.entry((thread.to_string(), cat)).or_insert(0);
            *n += 1;
            *n
        };
        let turns = in_order(t.codex_turns.values(), |x| x.execution.started_seq);
        for turn in turns {
            let n = ordinal(&turn.thread_id, "turn");
            self.turns.insert(turn.codex_turn_id.clone(), n);
            let path = self.path(&turn.thread_id);
            self.names
                .insert(turn.codex_turn_id.clone(), format!("{path} turn {n}"));
        }
        for item in t.conversation_items.values() {
            let n = ordinal(&item.thread_id, "item");
            let path = self.path(&item.thread_id);
            self.names
                .insert(item.item_id.to_string(), format!("{path} item {n}"));
        }
        let calls = in_order(t.inference_calls.values(), |x| x.execution.started_seq);
        for call in calls {
            let n = ordinal(&call.thread_id, "inference");
            let path = self.path(&call.thread_id);
            self.names.insert(
                call.inference_call_id.clone(),
                format!("{path} inference {n}"),
            );
        }
        let tools = in_order(t.tool_calls.values(), |x| x.execution.started_seq);
        for tool in tools {
            let n = ordinal(&tool.thread_id, "tool");
            let path = self.path(&tool.thread_id);
            self.names
                .insert(tool.tool_call_id.clone(), format!("{path} tool {n}"));
        }
        let cells = in_order(t.code_cells.values(), |x| x.execution.started_seq);
        for cell in cells {
            let n = ordinal(&cell.thread_id, "cell");
            let path = self.path(&cell.thread_id);
            self.names
                .insert(cell.code_cell_id.clone(), format!("{path} code cell {n}"));
            if let Some(runtime) = &cell.runtime_cell_id {
                self.names
                    .insert(runtime.clone(), format!("{path} runtime cell {n}"));
            }
        }
        let ops = in_order(t.terminal_operations.values(), |x| x.execution.started_seq);
        for op in ops {
            let thread = self.op_thread(&op.tool_call_id);
            let n = ordinal(&thread, "terminal");
            let path = self.path(&thread);
            self.names.insert(
                op.operation_id.clone(),
                format!("{path} terminal operation {n}"),
            );
        }
        for session in t.terminal_sessions.values() {
            let n = ordinal(&session.thread_id, "session");
            let path = self.path(&session.thread_id);
            self.names.insert(
                session.terminal_id.clone(),
                format!("{path} terminal session {n}"),
            );
        }
        let compactions = in_order(t.compactions.values(), |x| x.installed_seq);
        for compaction in compactions {
            let n = ordinal(&compaction.thread_id, "compaction");
            let path = self.path(&compaction.thread_id);
            self.names.insert(
                compaction.compaction_id.clone(),
                format!("{path} compaction {n}"),
            );
        }
        for request in t.compaction_requests.values() {
            let n = ordinal(&request.thread_id, "compaction request");
            let path = self.path(&request.thread_id);
            self.names.insert(
                request.compaction_request_id.clone(),
                format!("{path} compaction request {n}"),
            );
        }
        for edge in t.interaction_edges.values() {
            let thread = self.anchor_thread(&edge.source);
            let n = ordinal(&thread, "edge");
            let path = self.path(&thread);
            self.names
                .insert(edge.edge_id.clone(), format!("{path} edge {n}"));
        }
    }

    fn op_thread(&self, tool_call_id: &str) -> String {
        self.trace
            .tool_calls
            .get(tool_call_id)
            .map(|tool| tool.thread_id.clone())
            .unwrap_or_default()
    }

    fn anchor_thread(&self, anchor: &TraceAnchor) -> String {
        let t = self.trace;
        match anchor {
            TraceAnchor::ConversationItem { item_id } => t
                .conversation_items
                .get(item_id)
                .map(|i| i.thread_id.clone()),
            TraceAnchor::ToolCall { tool_call_id } => {
                t.tool_calls.get(tool_call_id).map(|c| c.thread_id.clone())
            }
            TraceAnchor::Thread { thread_id } => Some(thread_id.clone()),
        }
        .unwrap_or_default()
    }

    fn anchor_seq(&self, anchor: &TraceAnchor) -> u64 {
        let t = self.trace;
        match anchor {
            TraceAnchor::ConversationItem { item_id } => {
                t.conversation_items.get(item_id).map(|i| i.first_seen_seq)
            }
            TraceAnchor::ToolCall { tool_call_id } => t
                .tool_calls
                .get(tool_call_id)
                .map(|c| c.execution.started_seq),
            TraceAnchor::Thread { thread_id } => {
                t.threads.get(thread_id).map(|th| th.execution.started_seq)
            }
        }
        .unwrap_or(u64::MAX)
    }

    fn anchor_name(&self, anchor: &TraceAnchor) -> String {
        match anchor {
            TraceAnchor::ConversationItem { item_id } => self.name(item_id),
            TraceAnchor::ToolCall { tool_call_id } => self.name(tool_call_id),
            TraceAnchor::Thread { thread_id } => self.name(thread_id),
        }
    }

    /// Replaces generated ids inside `text` by their aligned names: the
    /// whole string when it is a known id, else every UUID in it.
    fn normalize_text(&self, text: &str) -> String {
        if let Some(name) = self.names.get(text) {
            return format!("<{name}>");
        }
        let bytes = text.as_bytes();
        if bytes.len() < 36 {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut start = 0;
        let mut i = 0;
        while i + 36 <= bytes.len() {
            if is_uuid_at(bytes, i) && text.is_char_boundary(i) && text.is_char_boundary(i + 36) {
                out.push_str(&text[start..i]);
                let uuid = &text[i..i + 36];
                match self.names.get(uuid) {
                    Some(name) => {
                        out.push('<');
                        out.push_str(name);
                        out.push('>');
                    }
                    None => out.push_str("<uuid>"),
                }
                i += 36;
                start = i;
            } else {
                i += 1;
            }
        }
        out.push_str(&text[start..]);
        out
    }

    fn normalize_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.normalize_text(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.normalize_value(v)).collect())
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    if self.ignored_key(k) {
                        continue;
                    }
                    out.insert(self.normalize_text(k), self.normalize_value(v));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn ignored_key(&self, key: &str) -> bool {
        let p = self.policy;
        p.ignored_payload_keys.iter().any(|k| k == key)
            || (p.ignore_token_usage && matches!(key, "token_usage" | "usage"))
            || (p.ignore_model && key == "model")
    }

    /// The normalised payload as JSON (or text), when readable.
    fn read_normalized(&self, payload_id: &str) -> Option<Value> {
        let reader = self.reader?;
        let entry = self.trace.raw_payloads.get(payload_id)?;
        let bytes = reader
            .read_payload(&PayloadRef {
                kind: entry.kind.clone(),
                hash: entry.blake3,
                size_bytes: entry.size_bytes,
            })
            .ok()?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => Some(self.normalize_value(&value)),
            Err(_) => Some(Value::String(
                self.normalize_text(&String::from_utf8_lossy(&bytes)),
            )),
        }
    }

    /// The comparison key of a payload: its normalised content hash when
    /// readable, else its raw BLAKE3.
    fn payload_key(&mut self, payload_id: Option<&str>) -> String {
        let Some(id) = payload_id else {
            return "none".to_string();
        };
        let Some(entry) = self.trace.raw_payloads.get(id) else {
            return format!("unknown payload {}", self.normalize_text(id));
        };
        format!("blake3 {}", entry.blake3)
    }

    /// The normalised content key of payload `id` (read and normalised
    /// now), or its raw key when it cannot be read.
    fn normalized_key(&self, id: &str) -> String {
        match self.read_normalized(id) {
            Some(value) => {
                let text = serde_json::to_string(&value).unwrap_or_default();
                format!("content {}", blake3::hash(text.as_bytes()).to_hex())
            }
            None => self.payload_key_raw(id),
        }
    }

    fn payload_key_raw(&self, id: &str) -> String {
        self.trace
            .raw_payloads
            .get(id)
            .map(|entry| format!("blake3 {}", entry.blake3))
            .unwrap_or_else(|| format!("unknown payload {id}"))
    }

    /// Normalises `ids` (those whose raw hashes differ from their
    /// counterparts) on all cores, each distinct payload once.
    fn prefetch(&mut self, ids: Vec<String>) {
        let mut ids: Vec<String> = ids
            .into_iter()
            .filter(|id| !self.payload_cache.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        let workers = std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(1)
            .clamp(1, 16);
        let chunk = ids.len().div_ceil(workers);
        let this = &*self;
        let results: Vec<Vec<(String, String)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|id| (id.clone(), this.normalized_key(id)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (id, key) in results.into_iter().flatten() {
            self.payload_cache.insert(id, key);
        }
    }

    /// The normalised key of `id` after [`Side::prefetch`].
    fn cached_key(&self, id: &str) -> Option<&str> {
        self.payload_cache.get(id).map(String::as_str)
    }

    fn payload(&mut self, label: &'static str, payload_id: Option<&str>) -> Fact {
        let key = self.payload_key(payload_id);
        Fact {
            label,
            payloads: payload_id
                .map(|id| vec![(key.clone(), id.to_string())])
                .unwrap_or_default(),
            key,
            shown: None,
        }
    }

    fn payloads(&mut self, label: &'static str, ids: &[String]) -> Fact {
        let payloads: Vec<(String, String)> = ids
            .iter()
            .map(|id| (self.payload_key(Some(id)), id.clone()))
            .collect();
        let key = payloads
            .iter()
            .map(|(key, _)| key.as_str())
            .collect::<Vec<_>>()
            .join(",");
        Fact {
            label,
            key,
            payloads,
            shown: Some(format!("{} payload(s)", ids.len())),
        }
    }

    fn part_text(&self, part: &ConversationPart) -> String {
        match part {
            ConversationPart::Text { text } => self.normalize_text(text),
            ConversationPart::Summary { text } => format!("summary: {}", self.normalize_text(text)),
            ConversationPart::Encoded { label, value } => {
                format!(
                    "{label}: blake3 {}",
                    blake3::hash(value.as_bytes()).to_hex()
                )
            }
            ConversationPart::Json {
                summary, blake3, ..
            } => {
                let normalized = self.normalize_text(summary);
                if normalized == *summary {
                    format!("{summary} #{}", &blake3[..blake3.len().min(16)])
                } else {
                    normalized
                }
            }
            ConversationPart::Code { language, source } => format!("{language}: {source}"),
            ConversationPart::PayloadRef { label, .. } => format!("payload {label}"),
        }
    }

    fn body(&self, item: &ConversationItem) -> String {
        item.body
            .parts
            .iter()
            .map(|p| self.part_text(p))
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The model-visible arguments of a call (its function_call item body).
    fn arguments(&self, item_ids: &[ItemId]) -> String {
        item_ids
            .iter()
            .filter_map(|id| self.trace.conversation_items.get(id))
            .map(|item| {
                item.body
                    .parts
                    .iter()
                    .map(|part| match part {
                        ConversationPart::Json { summary, .. } => self.normalize_text(summary),
                        other => self.part_text(other),
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect::<Vec<_>>()
            .join(" ; ")
    }

    fn producer(&self, producer: &ProducerRef) -> String {
        match producer {
            ProducerRef::UserInput => "user input".to_string(),
            ProducerRef::Harness => "harness".to_string(),
            ProducerRef::Inference { inference_call_id } => self.name(inference_call_id),
            ProducerRef::Tool { tool_call_id } => self.name(tool_call_id),
            ProducerRef::CodeCell { code_cell_id } => self.name(code_cell_id),
            ProducerRef::InteractionEdge { edge_id } => self.name(edge_id),
            ProducerRef::Compaction { compaction_id } => self.name(compaction_id),
        }
    }

    /// Pass 2: every compared object with its facts, keyed for alignment.
    fn entries(&mut self) -> BTreeMap<Key, Entry> {
        let t = self.trace;
        let policy = self.policy;
        let mut sink = Sink::default();
        fn plain(label: &'static str, value: impl Into<String>) -> Fact {
            Fact {
                label,
                key: value.into(),
                payloads: Vec::new(),
                shown: None,
            }
        }

        // The rollout itself (its end status: compared last).
        let diagnostics = t
            .diagnostics
            .iter()
            .map(|d| d.code.clone())
            .collect::<Vec<_>>()
            .join(", ");
        sink.add(
            "rollout",
            Entry {
                seq: u64::MAX,
                thread: String::new(),
                turn: None,
                subject: "end".to_string(),
                facts: vec![
                    plain(
                        "status",
                        serde_json::to_string(&t.status).unwrap_or_default(),
                    ),
                    plain("diagnostics", diagnostics),
                ],
            },
        );

        let threads = in_order(t.threads.values(), |th| th.execution.started_seq);
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
            if !policy.ignore_model {
                facts.push(plain(
                    "default model",
                    format!("{:?}", thread.default_model),
                ));
            }
            if !policy.model_visible_only {
                facts.push(self.payload(
                    "metadata payload",
                    thread.raw_metadata_payload_id.as_deref(),
                ));
            }
            let path = self.path(&thread.thread_id);
            sink.add(
                "thread",
                Entry {
                    seq: thread.execution.started_seq,
                    thread: path,
                    turn: None,
                    subject: "agent thread".to_string(),
                    facts,
                },
            );
        }

        let turns = in_order(t.codex_turns.values(), |x| x.execution.started_seq);
        for turn in turns {
            let facts = vec![
                plain("status", window(&turn.execution)),
                plain("input items", self.names_of(&turn.input_item_ids)),
            ];
            let index = self.turn(Some(&turn.codex_turn_id));
            sink.add(
                "turn",
                Entry {
                    seq: turn.execution.started_seq,
                    thread: self.path(&turn.thread_id),
                    turn: index,
                    subject: "the turn".to_string(),
                    facts,
                },
            );
        }

        for item in t.conversation_items.values() {
            let kind = serde_json::to_value(item.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let is_output = matches!(
                item.kind,
                crate::model::ConversationItemKind::FunctionCallOutput
                    | crate::model::ConversationItemKind::CustomToolCallOutput
            );
            let body = if policy.opaque_tool_output && is_output {
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
            let n = sink.peek(&self.path(&item.thread_id), "item");
            sink.add(
                "item",
                Entry {
                    seq: item.first_seen_seq,
                    thread: self.path(&item.thread_id),
                    turn: self.turn(item.codex_turn_id.as_deref()),
                    subject: format!("conversation item {n}"),
                    facts,
                },
            );
        }

        if !policy.model_visible_only {
            self.runtime_entries(&mut sink);
        }
        sink.out
    }

    fn runtime_entries(&mut self, sink: &mut Sink) {
        let t = self.trace;
        let policy = self.policy;
        fn plain(label: &'static str, value: impl Into<String>) -> Fact {
            Fact {
                label,
                key: value.into(),
                payloads: Vec::new(),
                shown: None,
            }
        }

        let calls = in_order(t.inference_calls.values(), |x| x.execution.started_seq);
        for call in calls {
            let path = self.path(&call.thread_id);
            let n = sink.peek(&path, "inference");
            let mut facts = vec![
                plain("status", window(&call.execution)),
                plain("provider", call.provider_name.clone()),
            ];
            if !policy.ignore_model {
                facts.push(plain("model", call.model.clone()));
            }
            if policy.opaque_tool_output {
                facts.push(plain(
                    "request items",
                    self.names_of(&call.request_item_ids),
                ));
            } else {
                facts.push(self.payload("request payload", Some(&call.raw_request_payload_id)));
            }
            facts.push(self.payload("response payload", call.raw_response_payload_id.as_deref()));
            facts.push(plain(
                "response items",
                self.names_of(&call.response_item_ids),
            ));
            facts.push(plain(
                "tool calls started",
                self.names_of(&call.tool_call_ids_started_by_response),
            ));
            if !policy.ignore_token_usage {
                facts.push(plain("token usage", format!("{:?}", call.usage)));
            }
            facts.push(plain(
                "error",
                call.error
                    .as_deref()
                    .map(|e| self.normalize_text(e))
                    .unwrap_or_default(),
            ));
            sink.add(
                "inference",
                Entry {
                    seq: call.execution.started_seq,
                    thread: path,
                    turn: self.turn(Some(&call.codex_turn_id)),
                    subject: format!("inference call {n}"),
                    facts,
                },
            );
        }

        let tools = in_order(t.tool_calls.values(), |x| x.execution.started_seq);
        for tool in tools {
            let path = self.path(&tool.thread_id);
            let kind = tool_kind_name(&tool.kind);
            let requester = match &tool.requester {
                ToolCallRequester::Model => "model".to_string(),
                ToolCallRequester::CodeCell { code_cell_id } => self.name(code_cell_id),
            };
            let summary = match &tool.summary {
                ToolCallSummary::Terminal { operation_id } => {
                    format!("terminal {}", self.name(operation_id))
                }
                other => self.normalize_text(&serde_json::to_string(other).unwrap_or_default()),
            };
            let mut facts = vec![
                plain("kind", kind.clone()),
                plain("requester", requester),
                plain(
                    "call id",
                    tool.model_visible_call_id
                        .as_deref()
                        .map(|c| self.normalize_text(c))
                        .unwrap_or_default(),
                ),
                plain(
                    "arguments",
                    self.arguments(&tool.model_visible_call_item_ids),
                ),
            ];
            facts.push(self.payload(
                "invocation payload",
                tool.raw_invocation_payload_id.as_deref(),
            ));
            facts.push(plain("status", window(&tool.execution)));
            facts.push(plain("summary", summary));
            facts.push(plain(
                "call items",
                self.names_of(&tool.model_visible_call_item_ids),
            ));
            facts.push(plain(
                "output items",
                self.names_of(&tool.model_visible_output_item_ids),
            ));
            if !policy.opaque_tool_output {
                facts.push(self.payload("result payload", tool.raw_result_payload_id.as_deref()));
                facts.push(self.payloads("runtime payloads", &tool.raw_runtime_payload_ids));
            }
            sink.add(
                "tool",
                Entry {
                    seq: tool.execution.started_seq,
                    thread: path,
                    turn: self.turn(tool.started_by_codex_turn_id.as_deref()),
                    subject: format!("tool call {kind}"),
                    facts,
                },
            );
        }

        let cells = in_order(t.code_cells.values(), |x| x.execution.started_seq);
        for cell in cells {
            let path = self.path(&cell.thread_id);
            let n = sink.peek(&path, "cell");
            let mut facts = vec![
                plain("source", cell.source_js.clone()),
                plain("call id", self.normalize_text(&cell.model_visible_call_id)),
                plain("status", window(&cell.execution)),
                plain("runtime status", format!("{:?}", cell.runtime_status)),
                plain("yielded", cell.yielded_seq.is_some().to_string()),
                plain("source item", self.name(&cell.source_item_id)),
                plain("output items", self.names_of(&cell.output_item_ids)),
                plain(
                    "nested tool calls",
                    self.names_of(&cell.nested_tool_call_ids),
                ),
                plain("wait tool calls", self.names_of(&cell.wait_tool_call_ids)),
            ];
            if !policy.opaque_tool_output {
                facts.push(self.payloads("response payloads", &cell.raw_response_payload_ids));
                facts.push(self.payloads("stored values", &cell.stored_values_raw_payload_ids));
            }
            sink.add(
                "cell",
                Entry {
                    seq: cell.execution.started_seq,
                    thread: path,
                    turn: self.turn(Some(&cell.codex_turn_id)),
                    subject: format!("code cell {n}"),
                    facts,
                },
            );
        }

        let ops = in_order(t.terminal_operations.values(), |x| x.execution.started_seq);
        for op in ops {
            let thread = self.op_thread(&op.tool_call_id);
            let path = self.path(&thread);
            let n = sink.peek(&path, "terminal");
            let request = match &op.request {
                TerminalRequest::ExecCommand {
                    display_command,
                    cwd,
                    ..
                } => format!("{display_command} (in {cwd})"),
                TerminalRequest::WriteStdin { stdin, .. } => format!("stdin {stdin:?}"),
            };
            let mut facts = vec![
                plain("command", self.normalize_text(&request)),
                plain(
                    "terminal",
                    op.terminal_id
                        .as_deref()
                        .map(|id| self.name(id))
                        .unwrap_or_default(),
                ),
                plain("status", window(&op.execution)),
            ];
            if !policy.opaque_tool_output {
                let result = op
                    .result
                    .as_ref()
                    .map(|r| {
                        format!(
                            "exit {:?}, stdout {:?}, stderr {:?}",
                            r.exit_code,
                            self.normalize_text(&r.stdout),
                            self.normalize_text(&r.stderr)
                        )
                    })
                    .unwrap_or_default();
                facts.push(plain("result", result));
            }
            let turn = t
                .tool_calls
                .get(&op.tool_call_id)
                .and_then(|tool| self.turn(tool.started_by_codex_turn_id.as_deref()));
            sink.add(
                "terminal",
                Entry {
                    seq: op.execution.started_seq,
                    thread: path,
                    turn,
                    subject: format!("terminal operation {n}"),
                    facts,
                },
            );
        }

        let compactions = in_order(t.compactions.values(), |x| x.installed_seq);
        for compaction in compactions {
            let path = self.path(&compaction.thread_id);
            let n = sink.peek(&path, "compaction");
            let requests = compaction
                .request_ids
                .iter()
                .filter_map(|id| t.compaction_requests.get(id))
                .map(|r| {
                    format!(
                        "{} {} {}",
                        if policy.ignore_model { "" } else { &r.model },
                        window(&r.execution),
                        r.error.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let request_payloads: Vec<String> = compaction
                .request_ids
                .iter()
                .filter_map(|id| t.compaction_requests.get(id))
                .flat_map(|r| {
                    std::iter::once(r.raw_request_payload_id.clone())
                        .chain(r.raw_response_payload_id.clone())
                })
                .collect();
            let checkpoint = self.payload(
                "checkpoint payload",
                Some(&compaction.raw_checkpoint_payload_id),
            );
            let facts = vec![
                plain("mode", format!("{:?}", compaction.mode)),
                checkpoint,
                plain("marker item", self.name(&compaction.marker_item_id)),
                plain("input items", self.names_of(&compaction.input_item_ids)),
                plain(
                    "replacement items",
                    self.names_of(&compaction.replacement_item_ids),
                ),
                plain(
                    "summarising inference call",
                    compaction
                        .inference_call_id
                        .as_deref()
                        .map(|id| self.name(id))
                        .unwrap_or_default(),
                ),
                plain("requests", requests),
                self.payloads("request payloads", &request_payloads),
            ];
            sink.add(
                "compaction",
                Entry {
                    seq: compaction.installed_seq,
                    thread: path,
                    turn: self.turn(Some(&compaction.codex_turn_id)),
                    subject: format!("compaction {n}"),
                    facts,
                },
            );
        }

        for session in t.terminal_sessions.values() {
            let path = self.path(&session.thread_id);
            let n = sink.peek(&path, "session");
            let mut facts = vec![
                plain("operations", self.names_of(&session.operation_ids)),
                plain("status", window(&session.execution)),
                plain("exit code", format!("{:?}", session.exit_code)),
            ];
            if !policy.opaque_tool_output {
                facts.push(self.payload("end payload", session.raw_end_payload_id.as_deref()));
            }
            sink.add(
                "session",
                Entry {
                    seq: session.execution.started_seq,
                    thread: path,
                    turn: None,
                    subject: format!("terminal session {n}"),
                    facts,
                },
            );
        }

        for edge in t.interaction_edges.values() {
            let thread = self.anchor_thread(&edge.source);
            let path = self.path(&thread);
            let n = sink.peek(&path, "edge");
            let kind = serde_json::to_value(edge.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let facts = vec![
                plain("kind", kind.clone()),
                plain("source", self.anchor_name(&edge.source)),
                plain("target", self.anchor_name(&edge.target)),
                plain("ended", edge.ended_at_unix_ms.is_some().to_string()),
                plain("carried items", self.names_of(&edge.carried_item_ids)),
                self.payloads("carried payloads", &edge.carried_raw_payload_ids),
            ];
            sink.add(
                "edge",
                Entry {
                    seq: self.anchor_seq(&edge.source),
                    thread: path,
                    turn: None,
                    subject: format!("interaction edge {n} ({kind})"),
                    facts,
                },
            );
        }
    }
}

/// The entries being built, with a per-(thread, category) ordinal.
#[derive(Default)]
struct Sink {
    out: BTreeMap<Key, Entry>,
    counters: IndexMap<(String, &'static str), usize>,
}

impl Sink {
    /// The ordinal the next `add` of `cat` in the thread at `path` gets.
    fn peek(&self, path: &str, cat: &'static str) -> usize {
        self.counters
            .get(&(path.to_string(), cat))
            .copied()
            .unwrap_or(0)
            + 1
    }

    /// The next 1-based ordinal of `cat` in the thread at `path`.
    fn next(&mut self, path: &str, cat: &'static str) -> usize {
        let n = self.counters.entry((path.to_string(), cat)).or_insert(0);
        *n += 1;
        *n
    }

    fn put(&mut self, cat: &'static str, n: usize, entry: Entry) {
        self.out.insert((entry.thread.clone(), cat, n), entry);
    }

    fn add(&mut self, cat: &'static str, entry: Entry) {
        let n = self.next(&entry.thread, cat);
        self.put(cat, n, entry);
    }
}

/// `items` sorted by `seq` (a stable sort: ties keep map order).
fn in_order<'a, T>(items: impl Iterator<Item = &'a T>, seq: impl Fn(&T) -> u64) -> Vec<&'a T> {
    let mut items: Vec<&T> = items.collect();
    items.sort_by_key(|item| seq(item));
    items
}

/// The first 12 hex digits of a payload comparison key.
fn short_hash(key: &str) -> String {
    key.rsplit(' ')
        .next()
        .unwrap_or(key)
        .chars()
        .take(12)
        .collect()
}

/// The human text of one differing fact.
fn explain(a: &Side<'_>, b: &Side<'_>, x: &Fact, y: &Fact) -> String {
    let verb = if x.label.ends_with('s') && !x.label.ends_with("status") {
        "differ"
    } else {
        "differs"
    };
    let is_payload =
        x.label.ends_with("payload") || !x.payloads.is_empty() || !y.payloads.is_empty();
    if is_payload && x.payloads.len() == y.payloads.len() {
        // The first differing payload of the list (the only one for a
        // single-payload fact).
        let index = x.payloads.iter().zip(&y.payloads).position(|(p, q)| {
            p.0 != q.0 && (a.cached_key(&p.1).is_none() || a.cached_key(&p.1) != b.cached_key(&q.1))
        });
        let label = match index {
            Some(i) if x.payloads.len() > 1 => format!("{} [{}]", x.label, i + 1),
            _ => x.label.to_string(),
        };
        let pair = index.and_then(|i| Some((x.payloads.get(i)?, y.payloads.get(i)?)));
        if let Some(((ka, ia), (kb, ib))) = pair {
            if let (Some(va), Some(vb)) = (a.read_normalized(ia), b.read_normalized(ib)) {
                let (path, da, db) = first_difference(&va, &vb, String::new());
                let at = if path.is_empty() {
                    String::new()
                } else {
                    format!(" at `{path}`")
                };
                let (da, db) = excerpt_pair(&da, &db);
                return format!("{label} {verb}{at}: `{da}` vs `{db}`");
            }
            return format!(
                "{label} {verb} (blake3 {} vs {})",
                short_hash(ka),
                short_hash(kb)
            );
        }
        return format!(
            "{label} {verb} (blake3 {} vs {})",
            short_hash(&x.key),
            short_hash(&y.key)
        );
    }
    if is_payload {
        return format!(
            "{} {verb}: {} vs {} payloads",
            x.label,
            x.payloads.len(),
            y.payloads.len()
        );
    }
    let (sa, sb) = match (&x.shown, &y.shown) {
        (Some(sa), Some(sb)) if sa != sb => (sa.clone(), sb.clone()),
        _ => (x.key.clone(), y.key.clone()),
    };
    let (sa, sb) = excerpt_pair(&sa, &sb);
    format!("{} {verb}: `{}` vs `{}`", x.label, sa, sb)
}

/// Short excerpts of two differing strings: the differing JSON field when
/// both are JSON objects, else the text around the first difference.
fn excerpt_pair(a: &str, b: &str) -> (String, String) {
    if let (Ok(va), Ok(vb)) = (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) && va.is_object()
        && vb.is_object()
    {
        let (_, da, db) = first_difference(&va, &vb, String::new());
        return (short(&da, 80), short(&db, 80));
    }
    if a.chars().count() <= 80 && b.chars().count() <= 80 {
        return (a.to_string(), b.to_string());
    }
    // Start a little before the first differing character.
    let common = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, ca), cb)| ca != cb)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()));
    let start = a[..common]
        .char_indices()
        .rev()
        .nth(20)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let prefix = if start > 0 { "…" } else { "" };
    (
        format!("{prefix}{}", short(&a[start..], 60)),
        format!("{prefix}{}", short(b.get(start..).unwrap_or(b), 60)),
    )
}

/// The first differing leaf of two JSON values: its path and both values.
fn first_difference(a: &Value, b: &Value, path: String) -> (String, String, String) {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            for (k, va) in ma {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match mb.get(k) {
                    Some(vb) if vb == va => {}
                    Some(vb) => return first_difference(va, vb, sub),
                    None => return (sub, render(va), "(absent)".to_string()),
                }
            }
            for (k, vb) in mb {
                if !ma.contains_key(k) {
                    let sub = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    return (sub, "(absent)".to_string(), render(vb));
                }
            }
            (path, render(a), render(b))
        }
        (Value::Array(xa), Value::Array(xb)) => {
            for (i, (va, vb)) in xa.iter().zip(xb).enumerate() {
                if va != vb {
                    return first_difference(va, vb, format!("{path}[{i}]"));
                }
            }
            (
                format!("{path}.length"),
                xa.len().to_string(),
                xb.len().to_string(),
            )
        }
        _ => (path, render(a), render(b)),
    }
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
