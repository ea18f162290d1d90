//! The reducer's private indexes, grouped by the domain whose lookups they
//! serve. Each exists so that a handler finds what it needs by key instead
//! of scanning the trace, which keeps an event's cost to its own size.
//!
//! Indexes hold ids and pending records, never the trace's entities. The
//! saved ones are written by [`Reducer::save`](super::Reducer::save)
//! flattened into the reducer's JSON object, each under the name it had
//! before the grouping, so the saved state's shape does not depend on it;
//! caches and per-event scratch are never saved. Every part that changes
//! state is [`Tracked`], and each group lists its change marks by
//! destructuring itself, so a new field does not compile until it is sorted
//! into tracked or not.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::agents::PendingEdge;
use super::code_cell::{PendingCodeCell, PendingLifecycle};
use super::keys::{CallOfKind, Delivery, InThread};
use super::payloads::PayloadCache;
use super::{FxIndexMap, FxIndexSet, Tracked};
use crate::event::{Hash, PayloadKind};
use crate::model::ItemId;

/// Payload citations: how a payload reference finds its `raw_payloads`
/// entry. Nothing here is saved: the index is rebuilt from
/// `trace.raw_payloads` on resume, and the rest only saves work.
#[derive(Debug, Clone, Default)]
pub(crate) struct PayloadIndexes {
    /// `(hash, kind code)` to the index of the first entry citing those
    /// bytes as that kind in `trace.raw_payloads`: a payload cited again
    /// (a lifecycle event replayed later) gets the id of its first citation.
    pub by_hash_and_kind: Tracked<FxIndexMap<(Hash, usize), usize>>,
    /// The payload kinds seen, by name, interned: `by_hash_and_kind` keys a
    /// kind by its position here, so its keys are plain data and dropping
    /// it frees two buffers instead of visiting every entry.
    pub kinds: FxIndexSet<PayloadKind>,
    /// Parsed payload JSON by hash: a payload read by several events (or
    /// twice by one) is parsed once.
    pub cache: PayloadCache,
    /// The payload references of the current event (by address), their kind
    /// codes and `raw_payloads` positions, registered before dispatch, so a
    /// handler asking for the id of a reference gets its own citation (two
    /// references to the same bytes in one event are two entries).
    pub event_citations: Vec<(usize, usize, usize)>,
}

impl PayloadIndexes {
    pub(super) fn change_marks(&mut self) -> [&mut bool; 1] {
        let PayloadIndexes {
            by_hash_and_kind,
            kinds: _,
            cache: _,
            event_citations: _,
        } = self;
        [by_hash_and_kind.change_mark()]
    }
}

/// Conversation items: their identities, each thread's live history, and
/// the links from call ids and turns to items.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ConversationIndexes {
    /// Content identity of every conversation item, by its position in
    /// `trace.conversation_items` (same length, same order): reconciliation
    /// compares a sighting with an existing item without hashing it again.
    pub item_identity: Tracked<Vec<Hash>>,
    /// BLAKE3 of a request item's exact JSON text to its content identity,
    /// for every non-reasoning request item normalised so far: a full
    /// request repeats its history byte for byte, and an item seen before is
    /// recognised without being parsed. A cache (its answers equal
    /// normalising again), so not saved.
    #[serde(skip)]
    pub item_identity_by_text: FxIndexMap<Hash, Hash>,
    /// Where the latest full requests' items are, so a request that
    /// resends one's bytes is skimmed only past them
    /// (`request_skim.rs`). A cache, so not saved.
    #[serde(skip)]
    pub request_layouts: super::request_skim::RequestLayouts,
    /// BLAKE3 of a reasoning item's exact JSON text to what normalising it
    /// gave, when that names no payload (so it is what any request's
    /// sighting of the text normalises to): reasoning stays a parsed
    /// sighting, without being parsed again. A cache, so not saved.
    #[serde(skip)]
    pub reasoning_by_text: ReasoningByText,
    /// Thread id to its live model-visible history: the candidates the next
    /// full request, or a compaction install, is reconciled against.
    pub snapshots: Tracked<FxIndexMap<String, Vec<ItemId>>>,
    /// `(thread, call_id)` to the items carrying that call id, in creation
    /// order: a tool call or code cell started after its items finds them.
    pub items_by_call: Tracked<FxIndexMap<InThread, Vec<ItemId>>>,
    /// `(thread, call_id, kind)` to the first item of that kind: a later item
    /// with the same call id and kind must carry the same content.
    pub first_item_by_call_kind: Tracked<FxIndexMap<CallOfKind, ItemId>>,
    /// `(thread, turn)` to the latest plain assistant message item: the
    /// source of an agent result edge from that turn.
    pub latest_assistant_message: Tracked<FxIndexMap<InThread, ItemId>>,
}

/// Normalised reasoning items by the hash of their text (see
/// `ConversationIndexes::reasoning_by_text`), emptied when full.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReasoningByText {
    items: FxIndexMap<Hash, super::conversation::Normalized>,
    /// Tests turn the cache off to compare with a reducer that parses.
    #[cfg(test)]
    pub off: bool,
    /// Items given back (tests).
    #[cfg(test)]
    pub hits: std::cell::Cell<u64>,
}

impl ReasoningByText {
    /// Normalised items kept at most.
    const KEPT_MAX: usize = 4096;

    pub(crate) fn get(&self, text: &Hash) -> Option<&super::conversation::Normalized> {
        #[cfg(test)]
        if self.off {
            return None;
        }
        let item = self.items.get(text);
        #[cfg(test)]
        self.hits.set(self.hits.get() + u64::from(item.is_some()));
        item
    }

    pub(crate) fn insert(&mut self, text: Hash, item: &super::conversation::Normalized) {
        if self.items.len() >= Self::KEPT_MAX {
            self.items.clear();
        }
        self.items.insert(text, item.clone());
    }
}

impl ConversationIndexes {
    pub(super) fn change_marks(&mut self) -> [&mut bool; 5] {
        let ConversationIndexes {
            item_identity,
            item_identity_by_text: _,
            request_layouts: _,
            reasoning_by_text: _,
            snapshots,
            items_by_call,
            first_item_by_call_kind,
            latest_assistant_message,
        } = self;
        [
            item_identity.change_mark(),
            snapshots.change_mark(),
            items_by_call.change_mark(),
            first_item_by_call_kind.change_mark(),
            latest_assistant_message.change_mark(),
        ]
    }
}

/// Inference calls by the ids later events reach them through.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct InferenceIndexes {
    /// `(thread, response_id)` to the inference call that got that response:
    /// an incremental request finds its previous call by
    /// `previous_response_id`.
    #[serde(rename = "inference_by_response")]
    pub by_response: Tracked<FxIndexMap<InThread, String>>,
    /// Turn id to its inference calls: a turn end closes the running ones.
    #[serde(rename = "inferences_by_turn")]
    pub by_turn: Tracked<FxIndexMap<String, Vec<String>>>,
}

impl InferenceIndexes {
    pub(super) fn change_marks(&mut self) -> [&mut bool; 2] {
        let InferenceIndexes {
            by_response,
            by_turn,
        } = self;
        [by_response.change_mark(), by_turn.change_mark()]
    }
}

/// Tool calls by their model-visible call id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ToolIndexes {
    /// `(thread, model-visible call_id)` to the tool call id: a call or
    /// output item created after its tool call links to it, and a second
    /// tool call for the same call id is refused.
    #[serde(rename = "tool_by_visible_call")]
    pub by_visible_call: Tracked<FxIndexMap<InThread, String>>,
}

impl ToolIndexes {
    pub(super) fn change_marks(&mut self) -> [&mut bool; 1] {
        let ToolIndexes { by_visible_call } = self;
        [by_visible_call.change_mark()]
    }
}

/// Code-mode cells: how events and items reach a cell, and what waits for
/// one to materialise.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CodeCellIndexes {
    /// `(thread, call_id)` of code-mode `exec` calls: a cell start finds its
    /// `exec` item, and a `notify` output may reuse the call id.
    pub exec_calls: Tracked<FxIndexSet<InThread>>,
    /// Turn id to its materialised code cells: a failed or cancelled turn
    /// ends the running ones.
    #[serde(rename = "code_cells_by_turn")]
    pub by_turn: Tracked<FxIndexMap<String, Vec<String>>>,
    /// `(thread, runtime_cell_id)` to the code cell id (pending or
    /// materialised): lifecycle events, nested tools and `wait` calls name a
    /// cell by its runtime id.
    #[serde(rename = "code_cell_by_runtime")]
    pub by_runtime: Tracked<FxIndexMap<InThread, String>>,
    /// `(thread, call_id)` to the materialised code cell id: an output item
    /// with the `exec` call id is that cell's output.
    #[serde(rename = "code_cell_by_call")]
    pub by_call: Tracked<FxIndexMap<InThread, String>>,
    /// Code cell id to a cell start waiting for its `exec` item.
    #[serde(rename = "pending_code_cells")]
    pub pending: Tracked<FxIndexMap<String, PendingCodeCell>>,
    /// Code cell id to lifecycle events waiting for the cell to materialise,
    /// replayed in seq order when it does.
    #[serde(rename = "pending_code_cell_events")]
    pub pending_events: Tracked<FxIndexMap<String, Vec<PendingLifecycle>>>,
}

impl CodeCellIndexes {
    pub(super) fn change_marks(&mut self) -> [&mut bool; 6] {
        let CodeCellIndexes {
            exec_calls,
            by_turn,
            by_runtime,
            by_call,
            pending,
            pending_events,
        } = self;
        [
            exec_calls.change_mark(),
            by_turn.change_mark(),
            by_runtime.change_mark(),
            by_call.change_mark(),
            pending.change_mark(),
            pending_events.change_mark(),
        ]
    }
}

/// Compactions: requests seen before their install.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CompactionIndexes {
    /// Compaction id to its request ids: the install lists the requests
    /// that came before it.
    #[serde(rename = "requests_by_compaction")]
    pub request_ids: Tracked<FxIndexMap<String, Vec<String>>>,
}

impl CompactionIndexes {
    pub(super) fn change_marks(&mut self) -> [&mut bool; 1] {
        let CompactionIndexes { request_ids } = self;
        [request_ids.change_mark()]
    }
}

/// Agent interaction edges: deliveries waiting for their recipient item,
/// items waiting for their edge, and the edge each tool produced.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AgentIndexes {
    /// Delivery edges waiting for the recipient item, by edge id.
    pub pending_edges: Tracked<FxIndexMap<String, PendingEdge>>,
    /// Delivery to pending edge ids, oldest first: an inter-agent item in
    /// its recipient's thread resolves the oldest edge that delivered it.
    #[serde(rename = "pending_edges_by_delivery")]
    pub pending_by_delivery: Tracked<FxIndexMap<Delivery, VecDeque<String>>>,
    /// Delivery to inter-agent items no edge targets yet, oldest first: an
    /// edge observed after its item finds it.
    #[serde(rename = "unlinked_agent_items")]
    pub unlinked_items: Tracked<FxIndexMap<Delivery, VecDeque<ItemId>>>,
    /// Tool call id to the edge it produced (resolved or pending): the
    /// tool's result payload is carried by that edge.
    pub edge_by_tool: Tracked<FxIndexMap<String, String>>,
}

impl AgentIndexes {
    pub(super) fn change_marks(&mut self) -> [&mut bool; 4] {
        let AgentIndexes {
            pending_edges,
            pending_by_delivery,
            unlinked_items,
            edge_by_tool,
        } = self;
        [
            pending_edges.change_mark(),
            pending_by_delivery.change_mark(),
            unlinked_items.change_mark(),
            edge_by_tool.change_mark(),
        ]
    }
}
