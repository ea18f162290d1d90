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
mod inference;
mod providers;
mod spelling;
mod terminal;
mod thread;
mod tool;

#[cfg(test)]
mod test_support;

#[cfg(test)]
#[path = "properties_tests.rs"]
mod properties_tests;

#[cfg(test)]
#[path = "keep_going_tests.rs"]
mod keep_going_tests;

use std::collections::VecDeque;
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventPayload, Hash, PayloadKind, PayloadRef};
use crate::model::{Diagnostic, ItemId, RawPayloadEntry, RolloutTrace};

use agents::PendingEdge;
use code_cell::{PendingCodeCell, PendingLifecycle};
use spelling::ParsedJson;

/// Private indexes hash with FxHash: deterministic and much cheaper than
/// SipHash for the short ids and digests the reducer looks up per event.
pub(crate) type FxIndexMap<K, V> = IndexMap<K, V, FxBuildHasher>;
pub(crate) type FxIndexSet<K> = IndexSet<K, FxBuildHasher>;

/// Answers payload bytes by content hash. The only way the reducer sees
/// payload bytes.
pub trait PayloadSource {
    /// The exact bytes whose BLAKE3 is `payload.hash`, or why they are missing.
    fn read_payload(&self, payload: &PayloadRef) -> Result<Arc<[u8]>, String>;
}

/// In-memory payload source for tests and bundles.
#[derive(Debug, Clone, Default)]
pub struct MemoryPayloads {
    payloads: FxIndexMap<Hash, Arc<[u8]>>,
}

impl MemoryPayloads {
    /// An empty source.
    pub fn new() -> MemoryPayloads {
        MemoryPayloads::default()
    }

    /// Stores `bytes` and returns their hash.
    pub fn insert(&mut self, bytes: impl Into<Arc<[u8]>>) -> Hash {
        let bytes = bytes.into();
        let hash = Hash::of(&bytes);
        self.payloads.insert(hash, bytes);
        hash
    }

    /// Number of distinct payloads held.
    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    /// Whether no payload is held.
    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }
}

impl PayloadSource for MemoryPayloads {
    fn read_payload(&self, payload: &PayloadRef) -> Result<Arc<[u8]>, String> {
        self.payloads
            .get(&payload.hash)
            .cloned()
            .ok_or_else(|| "no payload with this hash".to_string())
    }
}

/// How a reduction treats an event the state cannot take. The default is
/// strict: the first such event ends the reduction with its error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReduceOptions {
    /// Skip an event the reducer cannot take instead of stopping: the state
    /// stays as it was before that event (the payloads it cites stay
    /// registered in `raw_payloads`, so ids in the message resolve), the
    /// error becomes a [`Diagnostic::REDUCE_ERROR`] diagnostic naming its
    /// seq, event type and ids, and the fold goes on with the next event.
    /// A log a strict reduction accepts gives the same state either way.
    pub keep_going: bool,
}

impl ReduceOptions {
    /// The options of a keep-going reduction.
    pub fn keep_going() -> ReduceOptions {
        ReduceOptions { keep_going: true }
    }
}

/// Why a reduction failed. The text always names the seq and the ids involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReduceError {
    /// The event at `seq` is inconsistent with the state so far.
    #[error("seq {seq}: {message}")]
    Event { seq: u64, message: String },
    /// The payload source could not return a payload the event at `seq` cites.
    #[error("seq {seq}: payload {hash} is unavailable: {reason}")]
    PayloadUnavailable {
        seq: u64,
        hash: String,
        reason: String,
    },
    /// Saved reducer state could not be decoded.
    #[error("saved reducer state could not be resumed: {reason}")]
    Resume { reason: String },
}

impl ReduceError {
    /// The seq of the event at fault, if the error has one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ReduceError::Event { seq, .. } | ReduceError::PayloadUnavailable { seq, .. } => {
                Some(*seq)
            }
            ReduceError::Resume { .. } => None,
        }
    }

    /// The message without its `seq N: ` prefix (a diagnostic keeps the seq
    /// in its own field).
    pub fn detail(&self) -> String {
        match self {
            ReduceError::Event { message, .. } => message.clone(),
            ReduceError::PayloadUnavailable { hash, reason, .. } => {
                format!("payload {hash} is unavailable: {reason}")
            }
            ReduceError::Resume { .. } => self.to_string(),
        }
    }
}

/// Internal failure of one handler, before the seq is attached.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Inconsistent evidence (duplicate start, mismatch, bad payload shape).
    Invalid(String),
    /// A reference to something the log never started.
    Unknown(String),
    /// The payload source could not answer.
    Payload { hash: Hash, reason: String },
}

pub(crate) type Res<T> = Result<T, Fail>;

pub(crate) fn invalid<T>(message: String) -> Res<T> {
    Err(Fail::Invalid(message))
}

pub(crate) fn unknown<T>(message: String) -> Res<T> {
    Err(Fail::Unknown(message))
}

/// A payload kind as the raw payload index keys it: by name, so an `Other`
/// spelling a known kind's name is that kind.
fn payload_kind_key(kind: &PayloadKind) -> PayloadKind {
    match kind {
        PayloadKind::Other(name) => PayloadKind::from_name(name),
        known => known.clone(),
    }
}

/// Joins index key parts with a separator no id contains.
pub(crate) fn key(a: &str, b: &str) -> String {
    let mut out = String::with_capacity(a.len() + b.len() + 1);
    out.push_str(a);
    out.push('\u{1f}');
    out.push_str(b);
    out
}

/// The format of [`Reducer::save`]: bumped whenever the fold state's
/// fields change, so that [`Reducer::resume`] refuses a state it would read
/// wrongly instead of continuing from it.
pub const SAVED_STATE_VERSION: u32 = 1;

/// What [`Reducer::save`] writes.
#[derive(Serialize)]
struct SavedState<'r> {
    saved_state_version: u32,
    reducer: &'r Reducer,
}

/// What [`Reducer::resume`] reads first: the version, and the reducer's
/// JSON, parsed only once the version is known.
#[derive(Deserialize)]
struct SavedStateText<'a> {
    saved_state_version: Option<u32>,
    #[serde(borrow)]
    reducer: Option<&'a serde_json::value::RawValue>,
}

/// Maximum number of parsed payloads kept; older entries are evicted first.
const PAYLOAD_CACHE_ENTRIES_MAX: usize = 64;

/// Parsed payload JSON by hash. Not part of the saved state: it only saves
/// work and never changes a result.
#[derive(Debug, Default, Clone)]
struct PayloadCache {
    entries: FxIndexMap<Hash, Arc<ParsedJson<'static>>>,
    /// Insertion order of `entries`, oldest first (evicted first).
    order: VecDeque<Hash>,
}

/// The fold state: the reduced trace plus the indexes and pending queues that
/// make each event O(its own size).
///
/// `Clone` is what a keep-going reduction checkpoints with; a clone continues
/// exactly as the original would.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reducer {
    trace: Tracked<RolloutTrace>,
    /// `(hash, kind)` to the index of its entry in `trace.raw_payloads`.
    /// Not saved: rebuilt from `trace.raw_payloads` on resume.
    #[serde(skip)]
    raw_payload_index: Tracked<FxIndexMap<(Hash, usize), usize>>,
    /// The payload kinds seen, by name; `raw_payload_index` keys a kind by
    /// its position here, so its keys are plain data and dropping the index
    /// frees two buffers instead of visiting every entry. Not saved either.
    #[serde(skip)]
    payload_kinds: FxIndexSet<PayloadKind>,
    /// Content identity of every conversation item, by its position in
    /// `trace.conversation_items` (same length, same order).
    item_identity: Tracked<Vec<Hash>>,
    /// BLAKE3 of a request item's exact JSON text to its content identity,
    /// for every non-reasoning request item normalised so far. A cache (its
    /// answers equal normalising again), so not saved.
    #[serde(skip)]
    item_identity_by_text: FxIndexMap<Hash, Hash>,
    /// Live model-visible history per thread (compared by the next full request).
    snapshots: Tracked<FxIndexMap<String, Vec<ItemId>>>,
    /// `thread, response_id` to inference call id.
    inference_by_response: Tracked<FxIndexMap<String, String>>,
    /// `thread, call_id` to items carrying that call id, in creation order.
    items_by_call: Tracked<FxIndexMap<String, Vec<ItemId>>>,
    /// `thread, call_id, kind` to the first item of that kind.
    first_item_by_call_kind: Tracked<FxIndexMap<String, ItemId>>,
    /// `thread, call_id` of code-mode `exec` calls (notify outputs reuse them).
    exec_calls: Tracked<FxIndexSet<String>>,
    /// `thread, model-visible call_id` to tool call id.
    tool_by_visible_call: Tracked<FxIndexMap<String, String>>,
    /// Turn id to its inference calls and code cells (closed at turn end).
    inferences_by_turn: Tracked<FxIndexMap<String, Vec<String>>>,
    code_cells_by_turn: Tracked<FxIndexMap<String, Vec<String>>>,
    /// `thread, turn` to the latest plain assistant message item.
    latest_assistant_message: Tracked<FxIndexMap<String, ItemId>>,
    /// `thread, runtime_cell_id` to code cell id (pending or materialised).
    code_cell_by_runtime: Tracked<FxIndexMap<String, String>>,
    /// `thread, call_id` to materialised code cell id.
    code_cell_by_call: Tracked<FxIndexMap<String, String>>,
    /// `thread, call_id` to a code cell start waiting for its `exec` item.
    pending_code_cells: Tracked<FxIndexMap<String, PendingCodeCell>>,
    /// Code cell id to lifecycle events waiting for the cell to materialise.
    pending_code_cell_events: Tracked<FxIndexMap<String, Vec<PendingLifecycle>>>,
    /// Compaction id to its request ids.
    requests_by_compaction: Tracked<FxIndexMap<String, Vec<String>>>,
    /// Agent delivery edges waiting for the recipient item, by edge id.
    pending_edges: Tracked<FxIndexMap<String, PendingEdge>>,
    /// Delivery key to pending edge ids, oldest first.
    pending_edges_by_delivery: Tracked<FxIndexMap<String, VecDeque<String>>>,
    /// Delivery key to inter-agent items no edge targets yet, oldest first.
    unlinked_agent_items: Tracked<FxIndexMap<String, VecDeque<ItemId>>>,
    /// Tool call id to the edge it produced (resolved or pending).
    edge_by_tool: Tracked<FxIndexMap<String, String>>,
    /// Set once an `events_dropped` event was seen.
    events_dropped: Tracked<bool>,
    #[serde(skip)]
    cache: PayloadCache,
    /// The payload references of the current event (by address), their
    /// kind codes and `raw_payloads` positions, registered before dispatch,
    /// so a handler asking for the id of a reference gets its own citation
    /// (two references to the same bytes in one event are two entries).
    #[serde(skip)]
    event_payloads: Vec<(usize, usize, usize)>,
}

impl Reducer {
    /// A reducer for an empty log of `rollout_id`.
    pub fn new(rollout_id: &str) -> Reducer {
        Reducer {
            trace: Tracked::new(RolloutTrace::new(rollout_id)),
            raw_payload_index: Tracked::new(FxIndexMap::default()),
            payload_kinds: FxIndexSet::default(),
            item_identity: Tracked::new(Vec::new()),
            item_identity_by_text: FxIndexMap::default(),
            snapshots: Tracked::new(FxIndexMap::default()),
            inference_by_response: Tracked::new(FxIndexMap::default()),
            items_by_call: Tracked::new(FxIndexMap::default()),
            first_item_by_call_kind: Tracked::new(FxIndexMap::default()),
            exec_calls: Tracked::new(FxIndexSet::default()),
            tool_by_visible_call: Tracked::new(FxIndexMap::default()),
            inferences_by_turn: Tracked::new(FxIndexMap::default()),
            code_cells_by_turn: Tracked::new(FxIndexMap::default()),
            latest_assistant_message: Tracked::new(FxIndexMap::default()),
            code_cell_by_runtime: Tracked::new(FxIndexMap::default()),
            code_cell_by_call: Tracked::new(FxIndexMap::default()),
            pending_code_cells: Tracked::new(FxIndexMap::default()),
            pending_code_cell_events: Tracked::new(FxIndexMap::default()),
            requests_by_compaction: Tracked::new(FxIndexMap::default()),
            pending_edges: Tracked::new(FxIndexMap::default()),
            pending_edges_by_delivery: Tracked::new(FxIndexMap::default()),
            unlinked_agent_items: Tracked::new(FxIndexMap::default()),
            edge_by_tool: Tracked::new(FxIndexMap::default()),
            events_dropped: Tracked::new(false),
            cache: PayloadCache::default(),
            event_payloads: Vec::new(),
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
        self.raw_payload_index.reserve(refs);
        self.item_identity.reserve(items);
        self.inference_by_response.reserve(inferences);
        self.inferences_by_turn.reserve(turns);
        self.tool_by_visible_call.reserve(tools);
        self.items_by_call.reserve(tools);
        self.first_item_by_call_kind.reserve(tools * 2);
    }

    /// The state reduced so far (without end-of-log resolution).
    pub fn state(&self) -> &RolloutTrace {
        &self.trace
    }

    /// Folds one event into the state.
    pub fn apply(
        &mut self,
        event: &Event,
        payloads: &dyn PayloadSource,
    ) -> Result<(), ReduceError> {
        self.register_cited(event);
        self.dispatch_cited(event, payloads)
    }

    /// Registers the payloads `event` cites, before it is handled.
    fn register_cited(&mut self, event: &Event) {
        self.event_payloads.clear();
        event.payload.for_each_ref(|r| {
            let (kind, index) = self.register_citation(r);
            self.event_payloads
                .push((r as *const PayloadRef as usize, kind, index));
        });
    }

    /// Handles `event`, whose payloads [`Reducer::register_cited`] registered.
    fn dispatch_cited(
        &mut self,
        event: &Event,
        payloads: &dyn PayloadSource,
    ) -> Result<(), ReduceError> {
        let seq = event.seq;
        match self.dispatch(event, payloads) {
            Ok(()) => Ok(()),
            Err(Fail::Unknown(message)) if *self.events_dropped => {
                self.diagnose(Some(seq), "unresolved_reference", message);
                Ok(())
            }
            Err(Fail::Invalid(message) | Fail::Unknown(message)) => {
                Err(ReduceError::Event { seq, message })
            }
            Err(Fail::Payload { hash, reason }) => Err(ReduceError::PayloadUnavailable {
                seq,
                hash: hash.to_hex(),
                reason,
            }),
        }
    }

    /// The saved fold state (JSON), to continue later with [`Reducer::resume`]:
    /// `{"saved_state_version": 1, "reducer": {..}}` (see
    /// [`SAVED_STATE_VERSION`]).
    pub fn save(&self) -> Vec<u8> {
        serde_json::to_vec(&SavedState {
            saved_state_version: SAVED_STATE_VERSION,
            reducer: self,
        })
        .unwrap_or_default()
    }

    /// A reducer continuing from [`Reducer::save`] output of this
    /// [`SAVED_STATE_VERSION`]; a state without a version or of another
    /// version is refused, naming it.
    pub fn resume(bytes: &[u8]) -> Result<Reducer, ReduceError> {
        let resume_error = |reason: String| ReduceError::Resume { reason };
        let saved: SavedStateText<'_> =
            serde_json::from_slice(bytes).map_err(|err| resume_error(err.to_string()))?;
        match saved.saved_state_version {
            Some(SAVED_STATE_VERSION) => {}
            Some(other) => {
                return Err(resume_error(format!(
                    "saved state version {other}; this build resumes version {SAVED_STATE_VERSION}"
                )));
            }
            None => {
                return Err(resume_error(
                    "no saved_state_version: not a state saved by Reducer::save of this format"
                        .to_string(),
                ));
            }
        }
        let Some(text) = saved.reducer else {
            return Err(resume_error("no reducer in the saved state".to_string()));
        };
        let mut reducer: Reducer =
            serde_json::from_str(text.get()).map_err(|err| resume_error(err.to_string()))?;
        if reducer.item_identity.len() != reducer.trace.conversation_items.len() {
            return Err(ReduceError::Resume {
                reason: format!(
                    "{} item identities for {} conversation items",
                    reducer.item_identity.len(),
                    reducer.trace.conversation_items.len()
                ),
            });
        }
        reducer.rebuild_raw_payload_index();
        Ok(reducer)
    }

    /// End-of-log resolution: spawn fallbacks, terminal observations, and
    /// diagnostics for everything still pending.
    pub fn finish(mut self) -> RolloutTrace {
        self.resolve_pending_edges_at_end();
        self.report_pending_code_cells_at_end();
        self.project_terminal_observations();
        self.trace.into_inner()
    }

    fn dispatch(&mut self, event: &Event, src: &dyn PayloadSource) -> Res<()> {
        match &event.payload {
            EventPayload::RolloutStarted {
                trace_id,
                root_thread_id,
            } => self.rollout_started(event, trace_id, root_thread_id),
            EventPayload::RolloutEnded { status } => {
                self.trace.status = *status;
                self.trace.ended_at_unix_ms = Some(event.wall_time_unix_ms);
                Ok(())
            }
            EventPayload::ThreadStarted {
                thread_id,
                agent_path,
                metadata_payload,
            } => self.thread_started(event, src, thread_id, agent_path, metadata_payload.as_ref()),
            EventPayload::ThreadResumed {
                thread_id,
                agent_path,
                metadata_payload,
            } => self.thread_resumed(event, src, thread_id, agent_path, metadata_payload.as_ref()),
            EventPayload::ThreadEnded { thread_id, status } => {
                self.thread_ended(event, thread_id, *status)
            }
            EventPayload::CodexTurnStarted {
                codex_turn_id,
                thread_id,
            } => self.turn_started(event, codex_turn_id, thread_id),
            EventPayload::CodexTurnEnded {
                codex_turn_id,
                status,
            } => self.turn_ended(event, codex_turn_id, *status),
            EventPayload::InferenceStarted {
                inference_call_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_input_mode,
                request_payload,
            } => self.inference_started(
                event,
                src,
                inference::Start {
                    inference_call_id,
                    thread_id,
                    codex_turn_id,
                    model,
                    provider_name,
                    request_input_mode: request_input_mode.as_ref(),
                    request_payload,
                },
            ),
            EventPayload::InferenceCompleted {
                inference_call_id,
                response_id,
                upstream_request_id,
                response_payload,
            } => self.inference_completed(
                event,
                src,
                inference_call_id,
                response_id.as_deref(),
                upstream_request_id.as_deref(),
                response_payload,
            ),
            EventPayload::InferenceFailed {
                inference_call_id,
                upstream_request_id,
                error,
                partial_response_payload,
            } => self.inference_ended_early(
                event,
                src,
                inference_call_id,
                upstream_request_id.as_deref(),
                error,
                partial_response_payload.as_ref(),
                crate::event::ExecutionStatus::Failed,
            ),
            EventPayload::InferenceCancelled {
                inference_call_id,
                upstream_request_id,
                reason,
                partial_response_payload,
            } => self.inference_ended_early(
                event,
                src,
                inference_call_id,
                upstream_request_id.as_deref(),
                reason,
                partial_response_payload.as_ref(),
                crate::event::ExecutionStatus::Cancelled,
            ),
            EventPayload::ToolCallStarted {
                tool_call_id,
                model_visible_call_id,
                code_mode_runtime_tool_id,
                requester,
                kind,
                summary,
                invocation_payload,
            } => self.tool_started(
                event,
                src,
                tool::Start {
                    tool_call_id,
                    model_visible_call_id: model_visible_call_id.as_deref(),
                    code_mode_runtime_tool_id: code_mode_runtime_tool_id.as_deref(),
                    requester,
                    kind,
                    summary,
                    invocation_payload: invocation_payload.as_ref(),
                },
            ),
            EventPayload::McpToolCallCorrelationAssigned {
                tool_call_id,
                mcp_call_id,
            } => self.mcp_correlation(tool_call_id, mcp_call_id),
            EventPayload::ToolCallRuntimeStarted {
                tool_call_id,
                runtime_payload,
            } => self.tool_runtime_started(event, src, tool_call_id, runtime_payload),
            EventPayload::ToolCallRuntimeEnded {
                tool_call_id,
                status,
                runtime_payload,
            } => self.tool_runtime_ended(event, src, tool_call_id, *status, runtime_payload),
            EventPayload::ToolCallEnded {
                tool_call_id,
                status,
                result_payload,
            } => self.tool_ended(event, src, tool_call_id, *status, result_payload.as_ref()),
            EventPayload::CodeCellStarted {
                runtime_cell_id,
                model_visible_call_id,
                source_js,
            } => self.code_cell_started(event, runtime_cell_id, model_visible_call_id, source_js),
            EventPayload::CodeCellInitialResponse {
                runtime_cell_id,
                status,
                response_payload,
            } => self.code_cell_lifecycle(
                event,
                runtime_cell_id,
                code_cell::LifecycleKind::InitialResponse(*status),
                response_payload.as_ref(),
            ),
            EventPayload::CodeCellEnded {
                runtime_cell_id,
                status,
                response_payload,
            } => self.code_cell_lifecycle(
                event,
                runtime_cell_id,
                code_cell::LifecycleKind::Ended(*status),
                response_payload.as_ref(),
            ),
            EventPayload::CodeCellStoredValues {
                runtime_cell_id,
                stored_values_payload,
            } => self.code_cell_lifecycle(
                event,
                runtime_cell_id,
                code_cell::LifecycleKind::StoredValues,
                Some(stored_values_payload),
            ),
            EventPayload::CompactionRequestStarted {
                compaction_id,
                compaction_request_id,
                thread_id,
                codex_turn_id,
                model,
                provider_name,
                request_payload,
            } => self.compaction_request_started(
                event,
                compaction::RequestStart {
                    compaction_id,
                    compaction_request_id,
                    thread_id,
                    codex_turn_id,
                    model,
                    provider_name,
                    request_payload,
                },
            ),
            EventPayload::CompactionRequestCompleted {
                compaction_id,
                compaction_request_id,
                response_payload,
            } => self.compaction_request_ended(
                event,
                compaction_id,
                compaction_request_id,
                Ok(response_payload),
            ),
            EventPayload::CompactionRequestFailed {
                compaction_id,
                compaction_request_id,
                error,
            } => self.compaction_request_ended(
                event,
                compaction_id,
                compaction_request_id,
                Err(error),
            ),
            EventPayload::CompactionInstalled {
                compaction_id,
                checkpoint_payload,
            } => self.compaction_installed(event, src, compaction_id, None, checkpoint_payload),
            EventPayload::LocalCompactionInstalled {
                compaction_id,
                inference_call_id,
                checkpoint_payload,
            } => self.compaction_installed(
                event,
                src,
                compaction_id,
                Some(inference_call_id.as_deref()),
                checkpoint_payload,
            ),
            EventPayload::AgentResultObserved {
                edge_id,
                child_thread_id,
                child_codex_turn_id,
                parent_thread_id,
                message,
                carried_payload,
            } => self.agent_result_observed(
                event,
                agents::AgentResult {
                    edge_id,
                    child_thread_id,
                    child_codex_turn_id,
                    parent_thread_id,
                    message,
                    carried_payload: carried_payload.as_ref(),
                },
            ),
            EventPayload::TerminalSessionEnded {
                terminal_id,
                thread_id,
                status,
                exit_code,
                runtime_payload,
            } => self.terminal_session_ended(
                event,
                terminal_id,
                thread_id,
                *status,
                *exit_code,
                runtime_payload.as_ref(),
            ),
            // The reference keeps only the payload ref, registered above.
            EventPayload::ProtocolEventObserved { .. } => Ok(()),
            EventPayload::EventsDropped { count, reason } => {
                *self.events_dropped = true;
                self.diagnose(
                    Some(event.seq),
                    "events_dropped",
                    format!(
                        "{count} event{} dropped: {reason}",
                        if *count == 1 { "" } else { "s" }
                    ),
                );
                Ok(())
            }
            EventPayload::Other { kind, summary, .. } => {
                self.diagnose(
                    Some(event.seq),
                    "other_event",
                    format!("event of kind {kind} has no reducer implementation: {summary}"),
                );
                Ok(())
            }
            EventPayload::Unknown { type_name, .. } => {
                self.diagnose(
                    Some(event.seq),
                    "unknown_event_type",
                    format!("event type {type_name} is not known to this reducer"),
                );
                Ok(())
            }
        }
    }

    /// Records a diagnostic.
    pub(crate) fn diagnose(&mut self, seq: Option<u64>, code: &str, message: String) {
        self.trace
            .diagnostics
            .push(Diagnostic::new(seq, code, message));
    }

    /// Records `event` as skipped by a keep-going reduction: a
    /// `reduce_error` diagnostic names its seq, type, ids and `error`. Its
    /// cited payloads must be registered already (as every cited payload is,
    /// one entry per citation, so the raw payload ids stay those of a strict
    /// fold and the ids in `error` name them). Nothing else of the event is
    /// applied.
    fn skip_failed(&mut self, event: &Event, error: &ReduceError) {
        let mut diagnostic =
            Diagnostic::new(Some(event.seq), Diagnostic::REDUCE_ERROR, error.detail());
        diagnostic.event_type = Some(event.payload.type_name().to_string());
        diagnostic.ids = event_ids(&self.trace.rollout_id, event);
        self.trace.diagnostics.push(diagnostic);
    }

    /// The change mark of every tracked part of the state (see [`Tracked`]).
    /// The fields left out are caches (their answers never change a result),
    /// the payload kind interner (codes are internal) and per-event scratch.
    /// Every field is named, so a new one does not compile until it is
    /// sorted into one or the other.
    fn change_marks(&mut self) -> [&mut bool; 22] {
        let Reducer {
            trace,
            raw_payload_index,
            payload_kinds: _,
            item_identity,
            item_identity_by_text: _,
            snapshots,
            inference_by_response,
            items_by_call,
            first_item_by_call_kind,
            exec_calls,
            tool_by_visible_call,
            inferences_by_turn,
            code_cells_by_turn,
            latest_assistant_message,
            code_cell_by_runtime,
            code_cell_by_call,
            pending_code_cells,
            pending_code_cell_events,
            requests_by_compaction,
            pending_edges,
            pending_edges_by_delivery,
            unlinked_agent_items,
            edge_by_tool,
            events_dropped,
            cache: _,
            event_payloads: _,
        } = self;
        [
            &mut trace.changed,
            &mut raw_payload_index.changed,
            &mut item_identity.changed,
            &mut snapshots.changed,
            &mut inference_by_response.changed,
            &mut items_by_call.changed,
            &mut first_item_by_call_kind.changed,
            &mut exec_calls.changed,
            &mut tool_by_visible_call.changed,
            &mut inferences_by_turn.changed,
            &mut code_cells_by_turn.changed,
            &mut latest_assistant_message.changed,
            &mut code_cell_by_runtime.changed,
            &mut code_cell_by_call.changed,
            &mut pending_code_cells.changed,
            &mut pending_code_cell_events.changed,
            &mut requests_by_compaction.changed,
            &mut pending_edges.changed,
            &mut pending_edges_by_delivery.changed,
            &mut unlinked_agent_items.changed,
            &mut edge_by_tool.changed,
            &mut events_dropped.changed,
        ]
    }

    /// Marks every part of the state as unchanged (see [`Tracked`]).
    fn clear_changes(&mut self) {
        for mark in self.change_marks() {
            *mark = false;
        }
    }

    /// Whether any part of the state may have changed since
    /// [`Reducer::clear_changes`].
    fn changed(&mut self) -> bool {
        self.change_marks().into_iter().any(|mark| *mark)
    }

    /// The `raw_payload:{n}` id of a payload reference: its own citation when
    /// it belongs to the event being applied, else the first citation of the
    /// same bytes and kind (a lifecycle event replayed later), registering a
    /// new entry only for a payload the log never cited.
    pub(crate) fn raw_payload_id(&mut self, payload: &PayloadRef) -> String {
        let address = payload as *const PayloadRef as usize;
        let own = self
            .event_payloads
            .iter()
            .find(|(cited, _, _)| *cited == address)
            .map(|&(_, _, index)| index);
        let index = match own {
            Some(index) => index,
            None => {
                let kind = self.kind_code(&payload.kind);
                match self.raw_payload_index.get(&(payload.hash, kind)) {
                    Some(&index) => index,
                    None => self.register_citation(payload).1,
                }
            }
        };
        match self.trace.raw_payloads.get_index(index) {
            Some((id, _)) => id.to_string(),
            None => String::new(),
        }
    }

    /// The code of a payload kind in `raw_payload_index` keys.
    fn kind_code(&mut self, kind: &PayloadKind) -> usize {
        self.payload_kinds.insert_full(payload_kind_key(kind)).0
    }

    /// Registers one citation: a new entry in `trace.raw_payloads`. Returns
    /// the kind code and the entry's index.
    fn register_citation(&mut self, payload: &PayloadRef) -> (usize, usize) {
        let kind = self.kind_code(&payload.kind);
        let ordinal = self.trace.raw_payloads.len() + 1;
        let raw_payload_id = self.trace.raw_payloads.next_id();
        let index = self.trace.raw_payloads.push(RawPayloadEntry {
            raw_payload_id,
            kind: payload.kind.clone(),
            path: format!("payloads/{ordinal}.json"),
            blake3: payload.hash,
            size_bytes: payload.size_bytes,
        });
        self.raw_payload_index
            .entry((payload.hash, kind))
            .or_insert(index);
        (kind, index)
    }

    /// Rebuilds the unsaved `(hash, kind)` index from `trace.raw_payloads`
    /// (first citation wins, as when it was built).
    fn rebuild_raw_payload_index(&mut self) {
        self.raw_payload_index.clear();
        self.payload_kinds.clear();
        for index in 0..self.trace.raw_payloads.len() {
            let Some((_, entry)) = self.trace.raw_payloads.get_index(index) else {
                continue;
            };
            let (hash, kind) = (entry.blake3, entry.kind.clone());
            let kind = self.kind_code(&kind);
            self.raw_payload_index.entry((hash, kind)).or_insert(index);
        }
    }

    /// The bytes of a payload; a missing or unreadable one is an error naming
    /// its hash.
    pub(crate) fn payload_bytes(
        &self,
        src: &dyn PayloadSource,
        payload: &PayloadRef,
    ) -> Res<Arc<[u8]>> {
        src.read_payload(payload).map_err(|reason| Fail::Payload {
            hash: payload.hash,
            reason,
        })
    }

    /// The parsed JSON of a payload (with its numbers' spellings), through
    /// the bounded cache.
    pub(crate) fn payload_json(
        &mut self,
        src: &dyn PayloadSource,
        payload: &PayloadRef,
    ) -> Res<Arc<ParsedJson<'static>>> {
        if let Some(value) = self.cache.entries.get(&payload.hash) {
            return Ok(Arc::clone(value));
        }
        let bytes = self.payload_bytes(src, payload)?;
        let value = match ParsedJson::parse(bytes) {
            Ok(value) => value,
            Err(err) => {
                let id = self.raw_payload_id(payload);
                return invalid(format!(
                    "payload {id} (blake3 {}) is not valid JSON: {err}",
                    payload.hash
                ));
            }
        };
        let value = Arc::new(value);
        if self.cache.entries.len() >= PAYLOAD_CACHE_ENTRIES_MAX
            && let Some(oldest) = self.cache.order.pop_front()
        {
            self.cache.entries.swap_remove(&oldest);
        }
        self.cache.entries.insert(payload.hash, Arc::clone(&value));
        self.cache.order.push_back(payload.hash);
        Ok(value)
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
/// take is skipped and recorded as a [`Diagnostic::REDUCE_ERROR`]
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
    reduce_keep_going(rollout_id, &events, payloads)
}

/// The keep-going fold. Each event's payloads are registered, then the
/// state's change marks are cleared (see [`Tracked`]) and the event handled.
/// When it fails:
/// - if nothing but the registration changed (most failures: an unknown
///   turn, call or response is found before anything is written), the state
///   is already the one before the event, and the event is recorded as
///   skipped;
/// - otherwise the handler changed the state before finding that its event is
///   bad (items created before a later one of the same request fails), so
///   that reducer is thrown away and the state before the event rebuilt: from
///   the checkpoint (a fresh reducer before the first such failure, then a
///   clone taken right after each) by applying again the events since, which
///   succeed again with the same effects (the fold is pure), and skipping
///   again the ones skipped since. The rebuilt state records the event as
///   skipped and becomes the next checkpoint.
///
/// Cost: a log without failures is folded as by the strict fold, plus
/// clearing the marks per event. A failure of the first kind costs its
/// diagnostic; one of the second kind a clone of the state plus applying
/// again the events since the previous one, so all rebuilding together
/// applies each event at most once more.
fn reduce_keep_going(
    rollout_id: &str,
    events: &[&Event],
    payloads: &dyn PayloadSource,
) -> Result<RolloutTrace, ReduceError> {
    let fresh = || {
        let mut reducer = Reducer::new(rollout_id);
        reducer.reserve_for(events);
        reducer
    };
    let mut reducer = fresh();
    let mut checkpoint: Option<Reducer> = None;
    // Events from this index on are not in `checkpoint` (or there is none).
    let mut checkpoint_end = 0;
    // The events skipped since then, in order, with their errors.
    let mut skipped: VecDeque<(usize, ReduceError)> = VecDeque::new();
    for (index, event) in events.iter().enumerate() {
        reducer.register_cited(event);
        reducer.clear_changes();
        let Err(error) = reducer.dispatch_cited(event, payloads) else {
            continue;
        };
        if !reducer.changed() {
            reducer.skip_failed(event, &error);
            skipped.push_back((index, error));
            continue;
        }
        let mut rebuilt = checkpoint.take().unwrap_or_else(fresh);
        for (again, again_event) in events.iter().enumerate().take(index).skip(checkpoint_end) {
            match skipped.front() {
                Some((at, skipped_error)) if *at == again => {
                    rebuilt.register_cited(again_event);
                    rebuilt.skip_failed(again_event, skipped_error);
                    skipped.pop_front();
                }
                _ => rebuilt.apply(again_event, payloads)?,
            }
        }
        rebuilt.register_cited(event);
        rebuilt.skip_failed(event, &error);
        checkpoint = Some(rebuilt.clone());
        checkpoint_end = index + 1;
        reducer = rebuilt;
    }
    Ok(reducer.finish())
}

/// The ids `event` names, by wire field name (see [`Diagnostic::ids`]).
fn event_ids<'e>(rollout_id: &str, event: &'e Event) -> IndexMap<String, String> {
    let mut own: Vec<(&'static str, &'e str)> = Vec::new();
    let mut id = |name: &'static str, value: &'e str| own.push((name, value));
    match &event.payload {
        EventPayload::RolloutStarted {
            trace_id,
            root_thread_id,
        } => {
            id("trace_id", trace_id);
            id("root_thread_id", root_thread_id);
        }
        EventPayload::ThreadStarted {
            thread_id,
            agent_path,
            ..
        }
        | EventPayload::ThreadResumed {
            thread_id,
            agent_path,
            ..
        } => {
            id("thread_id", thread_id);
            id("agent_path", agent_path);
        }
        EventPayload::ThreadEnded { thread_id, .. } => id("thread_id", thread_id),
        EventPayload::CodexTurnStarted {
            codex_turn_id,
            thread_id,
        } => {
            id("thread_id", thread_id);
            id("codex_turn_id", codex_turn_id);
        }
        EventPayload::CodexTurnEnded { codex_turn_id, .. } => id("codex_turn_id", codex_turn_id),
        EventPayload::InferenceStarted {
            inference_call_id,
            thread_id,
            codex_turn_id,
            request_input_mode,
            ..
        } => {
            id("thread_id", thread_id);
            id("codex_turn_id", codex_turn_id);
            id("inference_call_id", inference_call_id);
            match request_input_mode {
                None | Some(crate::event::InferenceRequestInputMode::FullSnapshot) => {}
                Some(crate::event::InferenceRequestInputMode::Incremental {
                    previous_response_id,
                })
                | Some(crate::event::InferenceRequestInputMode::IncrementalWithUntracedPrefix {
                    previous_response_id,
                    ..
                }) => id("previous_response_id", previous_response_id),
            }
        }
        EventPayload::InferenceCompleted {
            inference_call_id,
            response_id,
            ..
        } => {
            id("inference_call_id", inference_call_id);
            if let Some(response_id) = response_id {
                id("response_id", response_id);
            }
        }
        EventPayload::InferenceFailed {
            inference_call_id, ..
        }
        | EventPayload::InferenceCancelled {
            inference_call_id, ..
        } => id("inference_call_id", inference_call_id),
        EventPayload::ToolCallStarted {
            tool_call_id,
            model_visible_call_id,
            code_mode_runtime_tool_id,
            requester,
            ..
        } => {
            id("tool_call_id", tool_call_id);
            if let Some(call) = model_visible_call_id {
                id("model_visible_call_id", call);
            }
            if let Some(tool) = code_mode_runtime_tool_id {
                id("code_mode_runtime_tool_id", tool);
            }
            if let crate::event::RawToolCallRequester::CodeCell { runtime_cell_id } = requester {
                id("runtime_cell_id", runtime_cell_id);
            }
        }
        EventPayload::McpToolCallCorrelationAssigned {
            tool_call_id,
            mcp_call_id,
        } => {
            id("tool_call_id", tool_call_id);
            id("mcp_call_id", mcp_call_id);
        }
        EventPayload::ToolCallRuntimeStarted { tool_call_id, .. }
        | EventPayload::ToolCallRuntimeEnded { tool_call_id, .. }
        | EventPayload::ToolCallEnded { tool_call_id, .. } => id("tool_call_id", tool_call_id),
        EventPayload::CodeCellStarted {
            runtime_cell_id,
            model_visible_call_id,
            ..
        } => {
            id("runtime_cell_id", runtime_cell_id);
            id("model_visible_call_id", model_visible_call_id);
        }
        EventPayload::CodeCellInitialResponse {
            runtime_cell_id, ..
        }
        | EventPayload::CodeCellEnded {
            runtime_cell_id, ..
        }
        | EventPayload::CodeCellStoredValues {
            runtime_cell_id, ..
        } => id("runtime_cell_id", runtime_cell_id),
        EventPayload::CompactionRequestStarted {
            compaction_id,
            compaction_request_id,
            thread_id,
            codex_turn_id,
            ..
        } => {
            id("thread_id", thread_id);
            id("codex_turn_id", codex_turn_id);
            id("compaction_id", compaction_id);
            id("compaction_request_id", compaction_request_id);
        }
        EventPayload::CompactionRequestCompleted {
            compaction_id,
            compaction_request_id,
            ..
        }
        | EventPayload::CompactionRequestFailed {
            compaction_id,
            compaction_request_id,
            ..
        } => {
            id("compaction_id", compaction_id);
            id("compaction_request_id", compaction_request_id);
        }
        EventPayload::CompactionInstalled { compaction_id, .. } => {
            id("compaction_id", compaction_id);
        }
        EventPayload::LocalCompactionInstalled {
            compaction_id,
            inference_call_id,
            ..
        } => {
            id("compaction_id", compaction_id);
            if let Some(call) = inference_call_id {
                id("inference_call_id", call);
            }
        }
        EventPayload::AgentResultObserved {
            edge_id,
            child_thread_id,
            child_codex_turn_id,
            parent_thread_id,
            ..
        } => {
            id("edge_id", edge_id);
            id("child_thread_id", child_thread_id);
            id("child_codex_turn_id", child_codex_turn_id);
            id("parent_thread_id", parent_thread_id);
        }
        EventPayload::TerminalSessionEnded {
            terminal_id,
            thread_id,
            ..
        } => {
            id("thread_id", thread_id);
            id("terminal_id", terminal_id);
        }
        EventPayload::RolloutEnded { .. }
        | EventPayload::ProtocolEventObserved { .. }
        | EventPayload::Other { .. }
        | EventPayload::EventsDropped { .. }
        | EventPayload::Unknown { .. } => {}
    }
    let mut ids = IndexMap::new();
    ids.insert("rollout_id".to_string(), rollout_id.to_string());
    // The envelope's thread and turn stand in for a payload without its own,
    // and are kept beside a payload's that differs (a mismatch is often the
    // error).
    for (name, envelope, renamed) in [
        ("thread_id", &event.thread_id, "envelope_thread_id"),
        (
            "codex_turn_id",
            &event.codex_turn_id,
            "envelope_codex_turn_id",
        ),
    ] {
        let payload = own
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, v)| *v);
        match (payload, envelope.as_deref()) {
            (Some(value), envelope) => {
                ids.insert(name.to_string(), value.to_string());
                if let Some(envelope) = envelope.filter(|envelope| *envelope != value) {
                    ids.insert(renamed.to_string(), envelope.to_string());
                }
            }
            (None, Some(envelope)) => {
                ids.insert(name.to_string(), envelope.to_string());
            }
            (None, None) => {}
        }
    }
    for (name, value) in own {
        ids.entry(name.to_string())
            .or_insert_with(|| value.to_string());
    }
    ids
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

/// A part of the fold state that records whether it may have changed since
/// [`Reducer::clear_changes`]: the keep-going fold's test of whether a failed event
/// changed anything. A mutable borrow (`DerefMut`) counts even if nothing
/// is written, and a value made by `new` or `Default` counts as changed, so
/// swapping the field out (`std::mem::take`) counts too. What it cannot see:
/// interior mutability (the state has none) and a value moved from one field
/// into another of the same type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Tracked<T> {
    value: T,
    #[serde(skip)]
    changed: bool,
}

impl<T> Tracked<T> {
    fn new(value: T) -> Tracked<T> {
        Tracked {
            value,
            changed: true,
        }
    }

    fn into_inner(self) -> T {
        self.value
    }
}

impl<T: Default> Default for Tracked<T> {
    fn default() -> Tracked<T> {
        Tracked::new(T::default())
    }
}

impl<T> std::ops::Deref for Tracked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for Tracked<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.changed = true;
        &mut self.value
    }
}

impl<T: IntoIterator> IntoIterator for Tracked<T> {
    type Item = T::Item;
    type IntoIter = T::IntoIter;
    fn into_iter(self) -> T::IntoIter {
        self.value.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Tracked<T>
where
    &'a T: IntoIterator,
{
    type Item = <&'a T as IntoIterator>::Item;
    type IntoIter = <&'a T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        (&self.value).into_iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Tracked<T>
where
    &'a mut T: IntoIterator,
{
    type Item = <&'a mut T as IntoIterator>::Item;
    type IntoIter = <&'a mut T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.changed = true;
        (&mut self.value).into_iter()
    }
}
