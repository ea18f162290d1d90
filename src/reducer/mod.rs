//! The reducer: a pure fold from a rollout's raw events to its reduced state
//! ([`RolloutTrace`]).
//!
//! It owns the fold, its saved/resumed state and its indexes. It must never do
//! I/O, read a clock, spawn threads or use randomness: payload bytes come only
//! through [`PayloadSource`], whose answers are fixed by content hash, so the
//! same log always gives byte-identical state JSON. Every lookup goes through
//! an index (no scans over all items, calls or edges), so reduce time grows
//! linearly with the log. Each domain adds `impl Reducer` methods in its own
//! file, with tests in a sibling `*_tests.rs`.
//!
//! Reducer invariants:
//! - every payload an event cites is registered in `raw_payloads` (in order of
//!   first citation) before the event is handled;
//! - duplicate starts, unknown references and thread/turn mismatches are
//!   errors naming the seq and the ids, except that once `events_dropped` was
//!   seen, unknown references become diagnostics;
//! - unknown and `other` events, and anything still pending at `finish`, end
//!   up in `diagnostics`, never silently dropped;
//! - under [`ReduceOptions::keep_going`], an event that fails leaves the
//!   state as it was before it (its cited payloads stay registered) and
//!   becomes a `reduce_error` diagnostic; the strict fold ([`Reducer::apply`],
//!   [`reduce`]) stops at it, as always.
//!
//! The state's fields are [`Tracked`]: a mutable borrow marks them changed,
//! which is how keep-going knows a failed handler left the state untouched
//! (else it rebuilds the state before the event). For split borrows inside
//! the trace, borrow it once (`let trace = &mut *self.trace;`). A handler
//! that looks a reference up with `get` before `get_mut` lets keep-going
//! skip an unknown one without rebuilding.

mod agents;
mod code_cell;
mod compaction;
mod conversation;
mod diagnostics;
mod dispatch;
mod error;
mod indexes;
mod inference;
mod keep_going;
mod keys;
mod payloads;
mod providers;
pub(crate) mod request_skim;
mod saved;
mod spelling;
mod terminal;
mod thread;
mod tool;
mod tracked;

#[cfg(test)]
mod test_support;

#[cfg(test)]
#[path = "properties_tests.rs"]
mod properties_tests;

use indexmap::{IndexMap, IndexSet};
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventPayload};
use crate::model::{ItemId, RolloutTrace};

pub use error::ReduceError;
pub(crate) use error::{Fail, Res, invalid, unknown};
pub use payloads::{MemoryPayloads, PayloadSource};
pub use saved::SAVED_STATE_VERSION;
pub(crate) use tool::invocation_arguments;
pub(crate) use tracked::Tracked;

use indexes::{
    AgentIndexes, CodeCellIndexes, CompactionIndexes, ConversationIndexes, InferenceIndexes,
    PayloadIndexes, ToolIndexes,
};

/// Private indexes hash with FxHash: deterministic and much cheaper than
/// SipHash for the short ids and digests the reducer looks up per event.
pub(crate) type FxIndexMap<K, V> = IndexMap<K, V, FxBuildHasher>;
pub(crate) type FxIndexSet<K> = IndexSet<K, FxBuildHasher>;

/// How a reduction treats an event the state cannot take. The default is
/// strict: the first such event ends the reduction with its error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReduceOptions {
    /// Skip an event the reducer cannot take instead of stopping: the state
    /// stays as it was before that event (the payloads it cites stay
    /// registered in `raw_payloads`, so ids in the message resolve), the
    /// error becomes a
    /// [`Diagnostic::REDUCE_ERROR`](crate::model::Diagnostic::REDUCE_ERROR)
    /// diagnostic naming its seq, event type and ids, and the fold goes on
    /// with the next event.
    /// A log a strict reduction accepts gives the same state either way.
    pub keep_going: bool,
}

impl ReduceOptions {
    /// The options of a keep-going reduction.
    pub fn keep_going() -> ReduceOptions {
        ReduceOptions { keep_going: true }
    }
}

/// The fold state: the reduced trace plus the indexes and pending queues that
/// make each event O(its own size), grouped by domain (see `indexes.rs`).
///
/// `Clone` is what a keep-going reduction checkpoints with; a clone continues
/// exactly as the original would.
///
/// Fold events one at a time with [`Reducer::apply`] (a live log, say),
/// look at the state so far with [`Reducer::state`], and get the final state
/// with [`Reducer::finish`], which resolves what is still pending at the end
/// of the log. [`Reducer::save`] and [`Reducer::resume`] carry a fold across
/// processes: a prefix folded, saved, resumed and folded on gives exactly
/// the state of one pass.
///
/// # Examples
///
/// Fold half a log, save, resume and fold the rest: the same state as
/// [`reduce`] in one pass, byte for byte (the events and payloads are those
/// of [`reduce`]'s example):
///
/// ```
/// # fn main() -> Result<(), tracefold::ReduceError> {
/// # use serde_json::json;
/// # use tracefold::event::{Event, EventPayload, ExecutionStatus, PayloadKind, PayloadRef};
/// # use tracefold::{MemoryPayloads, Reducer, reduce, state_to_json};
/// #
/// # // Payloads live in memory, by hash; events cite them by `PayloadRef`.
/// # let mut payloads = MemoryPayloads::new();
/// # let mut cite = |kind: PayloadKind, value: serde_json::Value| {
/// #     let bytes = serde_json::to_vec(&value).expect("JSON");
/// #     PayloadRef { kind, size_bytes: bytes.len() as u64, hash: payloads.insert(bytes) }
/// # };
/// # let message = |role: &str, part: &str, text: &str| {
/// #     json!({"type": "message", "role": role, "content": [{"type": part, "text": text}]})
/// # };
/// # let request = cite(PayloadKind::InferenceRequest, json!({"input": [message("user", "input_text", "hi")]}));
/// # let response = cite(
/// #     PayloadKind::InferenceResponse,
/// #     json!({"output_items": [message("assistant", "output_text", "hello")]}),
/// # );
/// # // One rollout: a root thread, one turn, one model call.
/// # let (root, turn) = (Some("root"), Some("turn-1"));
/// # let events: Vec<Event> = [
/// #     (None, None, EventPayload::RolloutStarted { trace_id: "trace-1".into(), root_thread_id: "root".into() }),
/// #     (None, None, EventPayload::ThreadStarted {
/// #         thread_id: "root".into(), agent_path: "/root".into(), metadata_payload: None,
/// #     }),
/// #     (root, turn, EventPayload::CodexTurnStarted { codex_turn_id: "turn-1".into(), thread_id: "root".into() }),
/// #     (root, turn, EventPayload::InferenceStarted {
/// #         inference_call_id: "inf-1".into(), thread_id: "root".into(), codex_turn_id: "turn-1".into(),
/// #         model: "gpt-5".into(), provider_name: "openai".into(), request_input_mode: None,
/// #         request_payload: request,
/// #     }),
/// #     (root, turn, EventPayload::InferenceCompleted {
/// #         inference_call_id: "inf-1".into(), response_id: Some("resp-1".into()),
/// #         upstream_request_id: None, response_payload: response,
/// #     }),
/// #     (root, turn, EventPayload::CodexTurnEnded {
/// #         codex_turn_id: "turn-1".into(), status: ExecutionStatus::Completed,
/// #     }),
/// # ]
/// # .into_iter()
/// # .zip(1..)
/// # .map(|((thread, turn, payload), seq)| Event {
/// #     seq,
/// #     wall_time_unix_ms: 1_767_225_600_000 + seq as i64,
/// #     thread_id: thread.map(String::from),
/// #     codex_turn_id: turn.map(String::from),
/// #     payload,
/// # })
/// # .collect();
/// let whole = state_to_json(&reduce("r-1", &events, &payloads)?);
///
/// let (before, after) = events.split_at(3);
/// let mut reducer = Reducer::new("r-1");
/// for event in before {
///     reducer.apply(event, &payloads)?;
/// }
/// assert_eq!(reducer.state().codex_turns.len(), 1);
/// let saved: Vec<u8> = reducer.save(); // JSON, versioned
/// assert!(saved.starts_with(br#"{"saved_state_version":1"#));
///
/// let mut resumed = Reducer::resume(&saved)?;
/// for event in after {
///     resumed.apply(event, &payloads)?;
/// }
/// assert_eq!(state_to_json(&resumed.finish()), whole);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reducer {
    trace: Tracked<RolloutTrace>,
    /// Payload citations; never saved (rebuilt from the trace on resume).
    #[serde(skip)]
    payloads: PayloadIndexes,
    // The index groups are flattened: saved state is one object of fields,
    // whatever the grouping.
    /// Item identities, live histories, call-id and turn links.
    #[serde(flatten)]
    conversation: ConversationIndexes,
    /// Inference calls by response id and by turn.
    #[serde(flatten)]
    inference: InferenceIndexes,
    /// Tool calls by model-visible call id.
    #[serde(flatten)]
    tools: ToolIndexes,
    /// Code cells by runtime id, call id and turn, and what waits for them.
    #[serde(flatten)]
    cells: CodeCellIndexes,
    /// Compaction requests by compaction.
    #[serde(flatten)]
    compaction: CompactionIndexes,
    /// Agent edges waiting for delivery, and items waiting for an edge.
    #[serde(flatten)]
    agents: AgentIndexes,
    /// Set once an `events_dropped` event was seen: from then on a reference
    /// to something the log never started is a diagnostic, not an error.
    events_dropped: Tracked<bool>,
}

impl Reducer {
    /// A reducer for an empty log of `rollout_id`.
    pub fn new(rollout_id: &str) -> Reducer {
        Reducer {
            trace: Tracked::new(RolloutTrace::new(rollout_id)),
            payloads: PayloadIndexes::default(),
            conversation: ConversationIndexes::default(),
            inference: InferenceIndexes::default(),
            tools: ToolIndexes::default(),
            cells: CodeCellIndexes::default(),
            compaction: CompactionIndexes::default(),
            agents: AgentIndexes::default(),
            events_dropped: Tracked::new(false),
        }
    }

    /// Reserves the state's maps for a whole log up front, from counts of the
    /// start events (upper bounds, or estimates for conversation items), so
    /// the large maps do not grow by doubling and copying. Only capacity: the
    /// result never depends on it.
    fn reserve_for(&mut self, events: &[&Event]) {
        let (mut threads, mut turns, mut inferences, mut tools) = (0, 0, 0, 0);
        let (mut cells, mut compactions, mut requests, mut runtimes, mut refs) = (0, 0, 0, 0, 0);
        for event in events {
            match &event.payload {
                EventPayload::ThreadStarted { .. } => threads += 1,
                EventPayload::CodexTurnStarted { .. } => turns += 1,
                EventPayload::InferenceStarted { .. } => inferences += 1,
                EventPayload::ToolCallStarted { .. } => tools += 1,
                EventPayload::ToolCallRuntimeStarted { .. } => runtimes += 1,
                EventPayload::CodeCellStarted { .. } => cells += 1,
                EventPayload::CompactionInstalled { .. }
                | EventPayload::LocalCompactionInstalled { .. } => compactions += 1,
                EventPayload::CompactionRequestStarted { .. } => requests += 1,
                _ => {}
            }
            event.payload.for_each_ref(|_| refs += 1);
        }
        // Items: a request adds about one new item and a response about one
        // or two; compactions add a marker and replacements.
        let items = inferences * 3 + compactions * 2 + tools;
        let trace = &mut self.trace;
        trace.threads.reserve(threads);
        trace.codex_turns.reserve(turns);
        trace.inference_calls.reserve(inferences);
        trace.tool_calls.reserve(tools);
        trace.code_cells.reserve(cells);
        trace.compactions.reserve(compactions);
        trace.compaction_requests.reserve(requests);
        trace.terminal_operations.reserve(runtimes);
        trace.terminal_sessions.reserve(runtimes);
        trace.raw_payloads.reserve(refs);
        trace.conversation_items.reserve(items);
        self.payloads.by_hash_and_kind.reserve(refs);
        self.conversation.item_identity.reserve(items);
        self.inference.by_response.reserve(inferences);
        self.inference.by_turn.reserve(turns);
        self.tools.by_visible_call.reserve(tools);
        self.conversation.items_by_call.reserve(tools);
        self.conversation.first_item_by_call_kind.reserve(tools * 2);
    }

    /// The state reduced so far (without end-of-log resolution).
    pub fn state(&self) -> &RolloutTrace {
        &self.trace
    }

    /// Folds one event into the state.
    ///
    /// # Errors
    ///
    /// As [`reduce`]: an event the state cannot take, or a payload `payloads`
    /// cannot return. The state may then hold part of the event: a strict
    /// fold stops there ([`reduce_with`] under
    /// [`ReduceOptions::keep_going`] rolls a failed event back instead).
    pub fn apply(
        &mut self,
        event: &Event,
        payloads: &dyn PayloadSource,
    ) -> Result<(), ReduceError> {
        self.register_cited(event);
        self.dispatch_cited(event, payloads)
    }

    /// End-of-log resolution: spawn fallbacks, terminal observations, and
    /// diagnostics for everything still pending.
    pub fn finish(mut self) -> RolloutTrace {
        self.resolve_pending_edges_at_end();
        self.report_pending_code_cells_at_end();
        self.project_terminal_observations();
        self.trace.into_inner()
    }

    /// The envelope thread id, or an error naming what needed it.
    pub(crate) fn envelope_thread<'e>(event: &'e Event, what: &str) -> Res<&'e str> {
        match event.thread_id.as_deref() {
            Some(thread) => Ok(thread),
            None => invalid(format!("{what} did not include a thread id")),
        }
    }

    /// The envelope turn id, or an error naming what needed it.
    pub(crate) fn envelope_turn<'e>(event: &'e Event, what: &str) -> Res<&'e str> {
        match event.codex_turn_id.as_deref() {
            Some(turn) => Ok(turn),
            None => invalid(format!("{what} did not include a codex turn id")),
        }
    }

    /// Checks that `thread` exists.
    pub(crate) fn require_thread(&self, thread: &str, what: &str) -> Res<()> {
        if self.trace.threads.contains_key(thread) {
            Ok(())
        } else {
            unknown(format!("{what} referenced unknown thread {thread}"))
        }
    }

    /// Checks that `turn` exists and belongs to `thread`.
    pub(crate) fn require_turn_in_thread(&self, turn: &str, thread: &str, what: &str) -> Res<()> {
        match self.trace.codex_turns.get(turn) {
            None => unknown(format!("{what} referenced unknown codex turn {turn}")),
            Some(found) if found.thread_id != thread => invalid(format!(
                "{what} used thread {thread}, but codex turn {turn} belongs to {}",
                found.thread_id
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Reduces a whole log in one pass (strict: the first event the state cannot
/// take is the error).
///
/// # Errors
///
/// [`ReduceError::Event`] for the first event inconsistent with the state so
/// far (a duplicate start, an unknown reference, a thread or turn mismatch),
/// [`ReduceError::PayloadUnavailable`] when `payloads` cannot return a
/// payload an event cites; each names the event's seq. Once the log
/// recorded `events_dropped`, unknown references are diagnostics instead.
/// [`reduce_with`] can skip such events instead.
///
/// # Examples
///
/// Fold a log held in memory, its payloads in a [`MemoryPayloads`]:
///
/// ```
/// # fn main() -> Result<(), tracefold::ReduceError> {
/// use serde_json::json;
/// use tracefold::event::{Event, EventPayload, ExecutionStatus, PayloadKind, PayloadRef};
/// use tracefold::{MemoryPayloads, reduce};
///
/// // Payloads live in memory, by hash; events cite them by `PayloadRef`.
/// let mut payloads = MemoryPayloads::new();
/// let mut cite = |kind: PayloadKind, value: serde_json::Value| {
///     let bytes = serde_json::to_vec(&value).expect("JSON");
///     PayloadRef { kind, size_bytes: bytes.len() as u64, hash: payloads.insert(bytes) }
/// };
/// let message = |role: &str, part: &str, text: &str| {
///     json!({"type": "message", "role": role, "content": [{"type": part, "text": text}]})
/// };
/// let request = cite(PayloadKind::InferenceRequest, json!({"input": [message("user", "input_text", "hi")]}));
/// let response = cite(
///     PayloadKind::InferenceResponse,
///     json!({"output_items": [message("assistant", "output_text", "hello")]}),
/// );
/// // One rollout: a root thread, one turn, one model call.
/// let (root, turn) = (Some("root"), Some("turn-1"));
/// let events: Vec<Event> = [
///     (None, None, EventPayload::RolloutStarted { trace_id: "trace-1".into(), root_thread_id: "root".into() }),
///     (None, None, EventPayload::ThreadStarted {
///         thread_id: "root".into(), agent_path: "/root".into(), metadata_payload: None,
///     }),
///     (root, turn, EventPayload::CodexTurnStarted { codex_turn_id: "turn-1".into(), thread_id: "root".into() }),
///     (root, turn, EventPayload::InferenceStarted {
///         inference_call_id: "inf-1".into(), thread_id: "root".into(), codex_turn_id: "turn-1".into(),
///         model: "gpt-5".into(), provider_name: "openai".into(), request_input_mode: None,
///         request_payload: request,
///     }),
///     (root, turn, EventPayload::InferenceCompleted {
///         inference_call_id: "inf-1".into(), response_id: Some("resp-1".into()),
///         upstream_request_id: None, response_payload: response,
///     }),
///     (root, turn, EventPayload::CodexTurnEnded {
///         codex_turn_id: "turn-1".into(), status: ExecutionStatus::Completed,
///     }),
/// ]
/// .into_iter()
/// .zip(1..)
/// .map(|((thread, turn, payload), seq)| Event {
///     seq,
///     wall_time_unix_ms: 1_767_225_600_000 + seq as i64,
///     thread_id: thread.map(String::from),
///     codex_turn_id: turn.map(String::from),
///     payload,
/// })
/// .collect();
///
/// let trace = reduce("r-1", &events, &payloads)?;
/// assert_eq!(trace.threads.len(), 1);
/// assert_eq!(trace.codex_turns.len(), 1);
/// let call = &trace.inference_calls["inf-1"];
/// assert_eq!((call.request_item_ids.len(), call.response_item_ids.len()), (1, 1));
/// assert_eq!(trace.conversation_items.len(), 2); // "hi" and "hello"
/// assert_eq!(trace.raw_payloads.len(), 2);
///
/// // A second start of the same turn is an error naming its seq.
/// let mut twice = events.clone();
/// twice.push(Event { seq: 7, ..events[2].clone() });
/// let err = reduce("r-1", &twice, &payloads).unwrap_err();
/// assert_eq!(err.seq(), Some(7));
/// # Ok(())
/// # }
/// ```
pub fn reduce<'a>(
    rollout_id: &str,
    events: impl IntoIterator<Item = &'a Event>,
    payloads: &dyn PayloadSource,
) -> Result<RolloutTrace, ReduceError> {
    let events: Vec<&Event> = events.into_iter().collect();
    let mut reducer = Reducer::new(rollout_id);
    reducer.reserve_for(&events);
    for event in events {
        reducer.apply(event, payloads)?;
    }
    Ok(reducer.finish())
}

/// Reduces a whole log in one pass under `options`: strict (as [`reduce`])
/// by default. With [`ReduceOptions::keep_going`] an event the state cannot
/// take is skipped and recorded as a
/// [`Diagnostic::REDUCE_ERROR`](crate::model::Diagnostic::REDUCE_ERROR)
/// diagnostic; only a failure to rebuild the state before such an event (a
/// payload that could be read before and not now) is still an error.
pub fn reduce_with<'a>(
    rollout_id: &str,
    events: impl IntoIterator<Item = &'a Event>,
    payloads: &dyn PayloadSource,
    options: ReduceOptions,
) -> Result<RolloutTrace, ReduceError> {
    if !options.keep_going {
        return reduce(rollout_id, events, payloads);
    }
    let events: Vec<&Event> = events.into_iter().collect();
    keep_going::reduce_keep_going(rollout_id, &events, payloads)
}

/// Deterministic pretty JSON of the state (byte-identical for the same log).
pub fn state_to_json(state: &RolloutTrace) -> String {
    // Every map is an IndexMap and every key a string, so serialisation cannot
    // fail; the fallback only keeps this function total.
    serde_json::to_string_pretty(state)
        .unwrap_or_else(|err| format!("{{\"error\":\"state serialisation failed: {err}\"}}"))
}

/// Streams the same bytes as [`state_to_json`] into `out`, without holding
/// the whole text in memory.
pub fn write_state_json(state: &RolloutTrace, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(out, state).map_err(std::io::Error::from)
}

/// Pushes `value` unless already present (for short lists only).
pub(crate) fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|existing| existing == value) {
        list.push(value.to_string());
    }
}

/// [`push_unique`] for item ids, sharing `id` instead of copying its text.
pub(crate) fn push_unique_item(list: &mut Vec<ItemId>, id: &ItemId) {
    if !list.contains(id) {
        list.push(id.clone());
    }
}
