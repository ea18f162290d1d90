//! The reduced state of one rollout (`RolloutTrace`): threads, turns,
//! conversation items, inference calls, tool calls, code cells, terminals,
//! compactions, interaction edges, raw payload references and diagnostics.
//!
//! This module owns plain data types only. It never reduces, reads payloads or
//! does I/O. Every collection keeps creation order, so the state JSON lists
//! objects in that order and the same log always serialises byte-identically
//! (`HashMap`/`HashSet` are banned here by clippy.toml). Objects with ids from
//! the log are in `IndexMap`s; the three kinds whose ids the reducer mints as
//! ordinals (conversation items, raw payloads, terminal operations) are in
//! [`OrdinalMap`]s, found by position.

mod conversation;
mod ordinal;
mod runtime;

use std::sync::Arc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use crate::event::{
    CodeCellRuntimeStatus, ExecutionStatus, RolloutStatus, ToolCallKind, ToolCallSummary,
};
use crate::event::{Hash, PayloadKind};
pub use conversation::{
    AgentMessageMetadata, ConversationBody, ConversationChannel, ConversationItem,
    ConversationItemKind, ConversationPart, ConversationRole, ProducerRef,
};
pub use ordinal::{OrdinalKeyed, OrdinalMap};
pub use runtime::{
    AgentOrigin, AgentThread, CodeCell, CodexTurn, Compaction, CompactionMode, CompactionRequest,
    InferenceCall, InteractionEdge, InteractionEdgeKind, TerminalModelObservation,
    TerminalObservationSource, TerminalOperation, TerminalOperationKind, TerminalRequest,
    TerminalResult, TerminalSession, TokenUsage, ToolCall, ToolCallRequester, TraceAnchor,
};

/// A conversation item id (`conversation_item:000001`). Shared, because
/// every request lists the items it sent: a request's list repeats the
/// previous request's, and cloning a shared id copies a pointer, not the text.
/// Serialises as a plain JSON string.
pub type ItemId = Arc<str>;

/// Schema version of the reduced state JSON (the reference's value).
pub const REDUCED_TRACE_SCHEMA_VERSION: u32 = 1;

/// The whole reduced state of one rollout (`state.json`).
///
/// Each collection is keyed by its objects' own id and lists them in the
/// order the reducer created them. What the reducer could not place is in
/// `diagnostics`, never dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutTrace {
    /// Version of this JSON shape: [`REDUCED_TRACE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// From `RolloutStarted`; `None` until that event is seen (`reduce-bundle`
    /// then takes the bundle manifest's).
    pub trace_id: Option<String>,
    /// The rollout the log belongs to, as the store or bundle manifest names
    /// it (not read from events). In Codex traces it equals the root thread
    /// id.
    pub rollout_id: String,
    /// Wall time (ms since the Unix epoch) of `RolloutStarted`; `None`
    /// before it. `reduce-bundle` sets it to the manifest's start time.
    pub started_at_unix_ms: Option<i64>,
    /// Wall time (ms since the Unix epoch) of `RolloutEnded`; `None` while
    /// the rollout runs, and again after its root thread is resumed.
    pub ended_at_unix_ms: Option<i64>,
    /// Set by `RolloutEnded`; `running` before it, and again after a
    /// `thread_resumed` of the root thread. A child thread's end never
    /// changes it.
    pub status: RolloutStatus,
    /// The root thread named by `RolloutStarted`; `None` before it
    /// (`reduce-bundle` then takes the manifest's).
    pub root_thread_id: Option<String>,
    /// Every thread, keyed by the host's thread id, in start order (a thread
    /// first seen through `thread_resumed` counts as started there).
    pub threads: IndexMap<String, AgentThread>,
    /// Every Codex turn, keyed by the host's turn id, in start order.
    pub codex_turns: IndexMap<String, CodexTurn>,
    /// Every model-visible item, keyed by its reducer-minted
    /// `conversation_item:{n:06}` id, in creation order.
    pub conversation_items: OrdinalMap<ConversationItem>,
    /// Every inference call, keyed by the host's `inference_call_id`, in
    /// start order.
    pub inference_calls: IndexMap<String, InferenceCall>,
    /// Every code-mode `exec` cell whose model-visible `exec` item appeared,
    /// keyed by its [`CodeCell::code_cell_id`] (`code_cell:{call_id}`), in
    /// the order they materialised (a cell whose item never appeared is a
    /// diagnostic instead).
    pub code_cells: IndexMap<String, CodeCell>,
    /// Every dispatched tool call, keyed by the host's `tool_call_id`, in
    /// start order. Code-mode `exec` calls are not here: they are
    /// `code_cells`.
    pub tool_calls: IndexMap<String, ToolCall>,
    /// Every terminal session (a process of `exec_command`), keyed by the
    /// runtime's process/session id, in the order their first operation
    /// named them.
    pub terminal_sessions: IndexMap<String, TerminalSession>,
    /// Every `exec_command` / `write_stdin` operation, keyed by its
    /// reducer-minted `terminal_operation:{n:06}` id, in creation order.
    pub terminal_operations: OrdinalMap<TerminalOperation>,
    /// Every installed compaction (remote or local), keyed by the host's
    /// `compaction_id`, in install order.
    pub compactions: IndexMap<String, Compaction>,
    /// Every remote compaction request, keyed by the host's
    /// `compaction_request_id`, in start order.
    pub compaction_requests: IndexMap<String, CompactionRequest>,
    /// Every multi-agent edge whose target is known, keyed by its `edge:...`
    /// id, in the order the targets were found. An edge still waiting for its
    /// delivery item at the end of the log is a diagnostic, except a spawn
    /// edge, which then targets the child thread.
    pub interaction_edges: IndexMap<String, InteractionEdge>,
    /// One entry per payload citation in log order, keyed by its
    /// reducer-minted `raw_payload:{n:06}` id. Every event's citations are
    /// registered, including events that are otherwise only kept as
    /// evidence (protocol events) or that a keep-going reduction skipped.
    pub raw_payloads: OrdinalMap<RawPayloadEntry>,
    /// Our addition: everything the reducer could not place (unknown events,
    /// dropped events, leftovers at the end of the log). Never silent drops.
    /// Empty when read from a state without it (the reference's).
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
}

impl RolloutTrace {
    /// An empty state for `rollout_id`.
    pub fn new(rollout_id: &str) -> RolloutTrace {
        RolloutTrace {
            schema_version: REDUCED_TRACE_SCHEMA_VERSION,
            trace_id: None,
            rollout_id: rollout_id.to_string(),
            started_at_unix_ms: None,
            ended_at_unix_ms: None,
            status: RolloutStatus::Running,
            root_thread_id: None,
            threads: IndexMap::new(),
            codex_turns: IndexMap::new(),
            conversation_items: OrdinalMap::new(),
            inference_calls: IndexMap::new(),
            code_cells: IndexMap::new(),
            tool_calls: IndexMap::new(),
            terminal_sessions: IndexMap::new(),
            terminal_operations: OrdinalMap::new(),
            compactions: IndexMap::new(),
            compaction_requests: IndexMap::new(),
            interaction_edges: IndexMap::new(),
            raw_payloads: OrdinalMap::new(),
            diagnostics: Vec::new(),
        }
    }

    /// The thread an edge endpoint belongs to: the thread itself, a tool
    /// call's thread or an item's; `None` when the state does not hold it.
    pub fn anchor_thread<'a>(&'a self, anchor: &'a TraceAnchor) -> Option<&'a str> {
        match anchor {
            TraceAnchor::Thread { thread_id } => Some(thread_id),
            TraceAnchor::ToolCall { tool_call_id } => self
                .tool_calls
                .get(tool_call_id)
                .map(|call| call.thread_id.as_str()),
            TraceAnchor::ConversationItem { item_id } => self
                .conversation_items
                .get(item_id)
                .map(|item| item.thread_id.as_str()),
        }
    }

    /// The seq an edge endpoint starts at: a thread's or tool call's
    /// start, an item's first sighting; `None` when the state does not
    /// hold it.
    pub fn anchor_seq(&self, anchor: &TraceAnchor) -> Option<u64> {
        match anchor {
            TraceAnchor::Thread { thread_id } => self
                .threads
                .get(thread_id)
                .map(|thread| thread.execution.started_seq),
            TraceAnchor::ToolCall { tool_call_id } => self
                .tool_calls
                .get(tool_call_id)
                .map(|call| call.execution.started_seq),
            TraceAnchor::ConversationItem { item_id } => self
                .conversation_items
                .get(item_id)
                .map(|item| item.first_seen_seq),
        }
    }
}

/// Start and end of anything with a lifecycle. Wall time is for display;
/// `seq` is the causal order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionWindow {
    /// Wall time (ms since the Unix epoch) of the event that opened the
    /// window.
    pub started_at_unix_ms: i64,
    /// `seq` of the event that opened the window.
    pub started_seq: u64,
    /// Wall time (ms since the Unix epoch) of the event that closed the
    /// window; `None` while it runs.
    pub ended_at_unix_ms: Option<i64>,
    /// `seq` of the event that closed the window; `None` while it runs.
    pub ended_seq: Option<u64>,
    /// `running` until an end event (for inference calls and code cells,
    /// possibly their turn's end) sets the final status.
    pub status: ExecutionStatus,
}

impl ExecutionWindow {
    /// A running window opened at `seq`.
    pub fn running(started_at_unix_ms: i64, started_seq: u64) -> ExecutionWindow {
        ExecutionWindow {
            started_at_unix_ms,
            started_seq,
            ended_at_unix_ms: None,
            ended_seq: None,
            status: ExecutionStatus::Running,
        }
    }

    /// Whether the window is still open.
    pub fn is_running(&self) -> bool {
        self.status == ExecutionStatus::Running
    }

    /// Closes the window with `status` (overwriting an earlier end).
    pub fn end(&mut self, ended_at_unix_ms: i64, ended_seq: u64, status: ExecutionStatus) {
        self.ended_at_unix_ms = Some(ended_at_unix_ms);
        self.ended_seq = Some(ended_seq);
        self.status = status;
    }
}

/// One payload citation of the log: `raw_payload:{n:06}` for the n-th payload
/// reference in log order, as the reference's writer mints one id per payload
/// it writes (the same bytes cited twice are two entries with one hash).
///
/// In JSON, a kind the reference does not have (`code_cell_stored_values`, or
/// a kind name this build does not know) is written as the reference's
/// `tool_runtime_event` with the real kind beside it as `extension_kind`, so
/// a reader that knows only the reference's twelve kinds still loads the
/// state; reading it back restores the real kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawPayloadJson", into = "RawPayloadJson")]
pub struct RawPayloadEntry {
    /// `raw_payload:{n:06}`, minted by the reducer: the n-th citation in log
    /// order. This is the id every `raw_*_payload_id` field and every
    /// body part's `raw_payload_id` refers to.
    pub raw_payload_id: String,
    /// What the payload holds (`inference_request`, `tool_result`, ...), as
    /// the citing event declared it.
    pub kind: PayloadKind,
    /// Where the payload file is, relative to a bundle directory: the
    /// bundle's own path for `reduce-bundle`, else `payloads/{n}.json`, where
    /// `export --format codex-bundle` writes it.
    pub path: String,
    /// BLAKE3 of the payload bytes, lower-case hex.
    pub blake3: Hash,
    /// Length of the payload bytes.
    pub size_bytes: u64,
}

/// [`RawPayloadEntry`] as written in state JSON.
#[derive(Serialize, Deserialize)]
struct RawPayloadJson {
    raw_payload_id: String,
    kind: PayloadKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extension_kind: Option<PayloadKind>,
    #[serde(default)]
    path: String,
    /// Our addition; the reference writes neither, and a payload read from
    /// its state gets the all-zero hash, which names no payload, and size 0.
    #[serde(default = "unknown_hash")]
    blake3: Hash,
    #[serde(default)]
    size_bytes: u64,
}

/// The hash of a payload whose state gave none: all zeros.
fn unknown_hash() -> Hash {
    Hash([0; 32])
}

impl RawPayloadEntry {
    /// Whether this is a reference state's entry, which has a path but no
    /// hash (all zeros) and no size: it names no stored payload.
    pub fn is_placeholder(&self) -> bool {
        self.blake3 == unknown_hash() && self.size_bytes == 0
    }
}

impl From<RawPayloadEntry> for RawPayloadJson {
    fn from(entry: RawPayloadEntry) -> Self {
        let (kind, extension_kind) = if entry.kind.is_reference_kind() {
            (entry.kind, None)
        } else {
            (PayloadKind::ToolRuntimeEvent, Some(entry.kind))
        };
        RawPayloadJson {
            raw_payload_id: entry.raw_payload_id,
            kind,
            extension_kind,
            path: entry.path,
            blake3: entry.blake3,
            size_bytes: entry.size_bytes,
        }
    }
}

impl From<RawPayloadJson> for RawPayloadEntry {
    fn from(json: RawPayloadJson) -> Self {
        RawPayloadEntry {
            raw_payload_id: json.raw_payload_id,
            kind: json.extension_kind.unwrap_or(json.kind),
            path: json.path,
            blake3: json.blake3,
            size_bytes: json.size_bytes,
        }
    }
}

impl OrdinalKeyed for RawPayloadEntry {
    const PREFIX: &'static str = "raw_payload:";
    fn id(&self) -> &str {
        &self.raw_payload_id
    }
}

impl OrdinalKeyed for ConversationItem {
    const PREFIX: &'static str = "conversation_item:";
    fn id(&self) -> &str {
        &self.item_id
    }
}

impl OrdinalKeyed for TerminalOperation {
    const PREFIX: &'static str = "terminal_operation:";
    fn id(&self) -> &str {
        &self.operation_id
    }
}

/// Something the reducer saw but could not place; kept instead of dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The event it came from (for an end-of-log finding, the event that
    /// left the thing pending, e.g. the `code_cell_started`); `None` only for
    /// a bundle-read finding no line carries (the manifest's
    /// `schema_version`, a skipped line without a readable seq).
    pub seq: Option<u64>,
    /// A stable snake_case code, e.g. `unknown_event_type`, `other_event`,
    /// `events_dropped`, `unresolved_reference`,
    /// `unmaterialized_code_cell`, `undelivered_interaction_edge`,
    /// [`Diagnostic::REDUCE_ERROR`] or [`Diagnostic::LINE_SKIPPED`].
    pub code: String,
    /// Human-readable explanation, naming the ids and payloads involved.
    pub message: String,
    /// The wire type of the event (set on [`Diagnostic::REDUCE_ERROR`], and
    /// on [`Diagnostic::LINE_SKIPPED`] when the line has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The ids the event names, by wire field name, in this order:
    /// `rollout_id`, `thread_id`, `codex_turn_id`, then the event's own
    /// (`inference_call_id`, `tool_call_id`, ...); an envelope thread or turn
    /// that differs from the payload's is `envelope_thread_id` /
    /// `envelope_codex_turn_id`. Set on [`Diagnostic::REDUCE_ERROR`] (and the
    /// envelope's on [`Diagnostic::LINE_SKIPPED`]); absent from the JSON when
    /// empty.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ids: IndexMap<String, String>,
}

impl Diagnostic {
    /// The code of an event a keep-going reduction skipped because the
    /// reducer could not take it (the error a strict reduction stops at).
    pub const REDUCE_ERROR: &'static str = "reduce_error";

    /// The code of a bundle line a keep-going read left out (a line that
    /// breaks a rule a strict read refuses), or of a manifest
    /// `schema_version` it read as version 1. Its message names the file and
    /// line; `seq`, `event_type` and `ids` are set when the line has them.
    pub const LINE_SKIPPED: &'static str = "line_skipped";

    /// A diagnostic without event type or ids.
    pub fn new(seq: Option<u64>, code: &str, message: String) -> Diagnostic {
        Diagnostic {
            seq,
            code: code.to_string(),
            message,
            event_type: None,
            ids: IndexMap::new(),
        }
    }

    /// Whether this records an event a keep-going reduction skipped.
    pub fn is_reduce_error(&self) -> bool {
        self.code == Diagnostic::REDUCE_ERROR
    }

    /// Whether this records a bundle line a keep-going read left out.
    pub fn is_line_skipped(&self) -> bool {
        self.code == Diagnostic::LINE_SKIPPED
    }
}
