//! Payload bytes and their citations: the [`PayloadSource`] trait (the only
//! way the reducer sees payload bytes), the in-memory [`MemoryPayloads`], the
//! registry giving every citation its `raw_payload:{n}` entry, and the
//! bounded cache of parsed payload JSON.
//!
//! Every payload an event cites is registered (in order of first citation)
//! before the event is handled. The `(hash, kind)` index and the cache are
//! never saved: the index is rebuilt from `raw_payloads` on resume, and the
//! cache only saves work, never changing a result.

use std::collections::VecDeque;
use std::sync::Arc;

use super::spelling::ParsedJson;
use super::{Fail, FxIndexMap, Reducer, Res, invalid};
use crate::event::{Event, Hash, PayloadKind, PayloadRef};
use crate::model::RawPayloadEntry;

/// Answers payload bytes by content hash. The only way the reducer sees
/// payload bytes.
pub trait PayloadSource {
    /// The exact bytes whose BLAKE3 is `payload.hash`, or why they are missing.
    fn read_payload(&self, payload: &PayloadRef) -> Result<Arc<[u8]>, String>;

    /// Another payload whose first bytes this one's first bytes are, and
    /// how many, when the source knows (a store knows the delta base it
    /// stored a payload against). The reducer then reads again only what
    /// follows them in a request it has seen the base of. The default
    /// knows nothing; an answer that is not true makes the reducer wrong.
    fn shared_prefix(&self, payload: &PayloadRef) -> Option<(Hash, u64)> {
        let _ = payload;
        None
    }
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

/// A payload kind as the raw payload index keys it: by name, so an `Other`
/// spelling a known kind's name is that kind.
fn payload_kind_key(kind: &PayloadKind) -> PayloadKind {
    match kind {
        PayloadKind::Other(name) => PayloadKind::from_name(name),
        known => known.clone(),
    }
}

/// Maximum number of parsed payloads kept; older entries are evicted first.
const PAYLOAD_CACHE_ENTRIES_MAX: usize = 64;

/// Parsed payload JSON by hash. Not part of the saved state: it only saves
/// work and never changes a result.
#[derive(Debug, Default, Clone)]
pub(super) struct PayloadCache {
    entries: FxIndexMap<Hash, Arc<ParsedJson<'static>>>,
    /// Insertion order of `entries`, oldest first (evicted first).
    order: VecDeque<Hash>,
}

impl Reducer {
    /// Registers the payloads `event` cites, before it is handled.
    pub(super) fn register_cited(&mut self, event: &Event) {
        self.payloads.event_citations.clear();
        // An imported file's lines are the source, not the rollout: the
        // state does not list them.
        if matches!(event.payload, crate::event::EventPayload::SourceLine { .. }) {
            return;
        }
        event.payload.for_each_ref(|r| {
            let (kind, index) = self.register_citation(r);
            self.payloads
                .event_citations
                .push((r as *const PayloadRef as usize, kind, index));
        });
    }

    /// The `raw_payload:{n}` id of a payload reference: its own citation when
    /// it belongs to the event being applied, else the first citation of the
    /// same bytes and kind (a lifecycle event replayed later), registering a
    /// new entry only for a payload the log never cited.
    pub(crate) fn raw_payload_id(&mut self, payload: &PayloadRef) -> String {
        let address = payload as *const PayloadRef as usize;
        let own = self
            .payloads
            .event_citations
            .iter()
            .find(|(cited, _, _)| *cited == address)
            .map(|&(_, _, index)| index);
        let index = match own {
            Some(index) => index,
            None => {
                let kind = self.kind_code(&payload.kind);
                match self.payloads.by_hash_and_kind.get(&(payload.hash, kind)) {
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
        self.payloads.kinds.insert_full(payload_kind_key(kind)).0
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
        self.payloads
            .by_hash_and_kind
            .entry((payload.hash, kind))
            .or_insert(index);
        (kind, index)
    }

    /// Rebuilds the unsaved `(hash, kind)` index from `trace.raw_payloads`
    /// (first citation wins, as when it was built).
    pub(super) fn rebuild_raw_payload_index(&mut self) {
        self.payloads.by_hash_and_kind.clear();
        self.payloads.kinds.clear();
        for index in 0..self.trace.raw_payloads.len() {
            let Some((_, entry)) = self.trace.raw_payloads.get_index(index) else {
                continue;
            };
            let (hash, kind) = (entry.blake3, entry.kind.clone());
            let kind = self.kind_code(&kind);
            self.payloads
                .by_hash_and_kind
                .entry((hash, kind))
                .or_insert(index);
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
        if let Some(value) = self.payloads.cache.entries.get(&payload.hash) {
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
        if self.payloads.cache.entries.len() >= PAYLOAD_CACHE_ENTRIES_MAX
            && let Some(oldest) = self.payloads.cache.order.pop_front()
        {
            self.payloads.cache.entries.swap_remove(&oldest);
        }
        self.payloads
            .cache
            .entries
            .insert(payload.hash, Arc::clone(&value));
        self.payloads.cache.order.push_back(payload.hash);
        Ok(value)
    }
}
