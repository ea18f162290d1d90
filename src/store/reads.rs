//! Reads: manifests, a rollout's log in seq order, and payloads rebuilt
//! from their recipes and checked against their hash.

use std::sync::Arc;

use super::keys::*;
use super::manifest::decode_manifest;
use super::pack::{Block, Pack};
use super::{Recipe, RolloutManifest, Store, payload};
use crate::codec::{self, CodecError};
use crate::error::{Error, Result};
use crate::event::{Event, Hash, Seq};

impl Store {
    /// Every rollout's manifest, in creation order.
    pub fn rollouts(&self) -> Result<Vec<RolloutManifest>> {
        let mut out = Vec::new();
        for entry in self.inner.tree.scan_prefix([PREFIX_MANIFEST]) {
            let (key, value) = entry?;
            out.push(decode_manifest(&key, &value)?);
        }
        Ok(out)
    }

    /// The manifest of `rollout_id`.
    ///
    /// Fails with [`Error::UnknownRollout`] when the store holds no rollout
    /// of that id, and with [`Error::Corrupt`] when its record fails its
    /// checks.
    pub fn manifest(&self, rollout_id: &str) -> Result<RolloutManifest> {
        let num = self
            .rollout_num(rollout_id)?
            .ok_or_else(|| Error::UnknownRollout(rollout_id.to_string()))?;
        self.manifest_by_num(num)?
            .ok_or_else(|| Error::UnknownRollout(rollout_id.to_string()))
    }

    pub(super) fn rollout_num(&self, rollout_id: &str) -> Result<Option<u64>> {
        let key = rollout_id_key(rollout_id);
        match self.inner.tree.get(&key)? {
            None => Ok(None),
            Some(value) => decode_num(&value).map(Some).ok_or_else(|| {
                Error::CorruptData(format!("rollout id record for {rollout_id} is not 8 bytes"))
            }),
        }
    }

    pub(super) fn manifest_by_num(&self, num: u64) -> Result<Option<RolloutManifest>> {
        let key = manifest_key(num);
        match self.inner.tree.get(key)? {
            None => Ok(None),
            Some(value) => decode_manifest(&key, &value).map(Some),
        }
    }

    /// The events of `rollout_id`, in seq order (from 1), as of now: events
    /// appended later are not included.
    ///
    /// Fails as [`Store::manifest`]. Each item is a `Result`: an event that
    /// does not decode is an [`Error::Event`] naming its seq, and the next
    /// seq follows; one that is missing or cannot be read is an
    /// [`Error::Event`] too, and ends the iteration.
    pub fn events(&self, rollout_id: &str) -> Result<EventIter> {
        let manifest = self.manifest(rollout_id)?;
        Ok(self.events_of(&manifest))
    }

    /// The events a manifest covers, in seq order.
    pub fn events_of(&self, manifest: &RolloutManifest) -> EventIter {
        self.events_from(manifest, 1)
    }

    /// The events a manifest covers from seq `first` on, in seq order:
    /// reads only the pack blocks and hot records that hold them.
    pub fn events_from(&self, manifest: &RolloutManifest, first: Seq) -> EventIter {
        let first = first.max(1);
        // The pack holds seq 1..=its count; the hot tier what came after.
        let (cold, pack_error) = match self.pack() {
            Ok(Some(pack)) => match pack.rollout(manifest.rollout_num) {
                Some(rollout) => {
                    let blocks = rollout
                        .blocks
                        .iter()
                        .filter(|block| block.first_seq + u64::from(block.count) > first)
                        .cloned()
                        .collect();
                    let last = rollout.event_count.min(manifest.event_count);
                    (
                        Some(ColdCursor {
                            pack,
                            blocks,
                            buffered: Default::default(),
                            last,
                            start: first,
                        }),
                        None,
                    )
                }
                None => (None, None),
            },
            Ok(None) => (None, None),
            Err(err) => (None, Some(err.to_string())),
        };
        let cold_last = cold.as_ref().map_or(0, |cold| cold.last);
        let start = event_key(manifest.rollout_num, (cold_last + 1).max(first));
        let end = event_key(manifest.rollout_num, manifest.event_count.saturating_add(1));
        EventIter {
            cold,
            pack_error,
            range: self.inner.tree.range(start..end),
            rollout_id: manifest.rollout_id.clone(),
            expected_seq: first,
            last_seq: manifest.event_count,
        }
    }

    /// The exact bytes of a payload, checked against its hash.
    ///
    /// Fails with [`Error::UnknownPayload`] when the store holds no payload
    /// with that hash, and with [`Error::CorruptData`] or [`Error::Corrupt`]
    /// when a record it is made of is missing or damaged, or the bytes do
    /// not hash to `hash`.
    pub fn read_payload(&self, hash: &Hash) -> Result<Vec<u8>> {
        self.read_payload_shared(hash).map(|bytes| bytes.to_vec())
    }

    /// [`Store::read_payload`], sharing the bytes: a payload read lately
    /// (the last 8 of up to 4 MiB, which a conversation's next request
    /// extends) is given back without being assembled or copied again.
    ///
    /// # Errors
    ///
    /// As [`Store::read_payload`].
    pub fn read_payload_shared(&self, hash: &Hash) -> Result<Arc<[u8]>> {
        if let Some(bytes) = self.assembled(hash) {
            return Ok(bytes);
        }
        let (out, tier) = self.assemble_payload(hash, usize::from(payload::BASE_DEPTH_MAX) + 1)?;
        // A pack payload's bytes were hashed when the pack opened, from
        // the same checked frames, extents and bases (`pack/derive.rs`):
        // hashing them again would only repeat that.
        if tier == Tier::Hot {
            let actual = Hash::of(&out);
            if actual != *hash {
                return Err(Error::CorruptData(format!(
                    "payload {hash}: content hashes to {actual}"
                )));
            }
        }
        let out: Arc<[u8]> = out.into();
        self.remember_assembled(hash, &out);
        Ok(out)
    }

    /// Keeps a verified payload's bytes for the deltas that extend it.
    fn remember_assembled(&self, hash: &Hash, bytes: &Arc<[u8]>) {
        const ENTRIES_MAX: usize = 8;
        const BYTES_MAX: usize = 4 * 1024 * 1024;
        if bytes.len() > BYTES_MAX {
            return;
        }
        let mut cache = self
            .inner
            .assembled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.iter().any(|(cached, _)| cached == hash) {
            return;
        }
        if cache.len() >= ENTRIES_MAX {
            cache.pop_front();
        }
        cache.push_back((*hash, Arc::clone(bytes)));
    }

    fn assembled(&self, hash: &Hash) -> Option<Arc<[u8]>> {
        let cache = self
            .inner
            .assembled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .iter()
            .find(|(cached, _)| cached == hash)
            .map(|(_, bytes)| Arc::clone(bytes))
    }

    /// The recipe of a stored payload.
    pub(crate) fn recipe(&self, hash: &Hash) -> Result<Recipe> {
        let key = payload_key(hash);
        let recipe_bytes = self
            .inner
            .tree
            .get(key)?
            .ok_or(Error::UnknownPayload(*hash))?;
        codec::decode_record(&key, &recipe_bytes).map_err(|source| Error::Corrupt {
            key: format!("payload {hash}"),
            source,
        })
    }

    /// Where a stored payload is: its hot recipe, else its ordinal in the
    /// pack. Fails with [`Error::UnknownPayload`] when neither holds it.
    pub(super) fn locate(&self, hash: &Hash) -> Result<Located> {
        match self.recipe(hash) {
            Ok(recipe) => Ok(Located::Hot(recipe)),
            Err(Error::UnknownPayload(_)) => {
                let pack = self.pack()?.ok_or(Error::UnknownPayload(*hash))?;
                let ordinal = pack.ordinal(hash).ok_or(Error::UnknownPayload(*hash))?;
                Ok(Located::Cold(pack, ordinal))
            }
            Err(err) => Err(err),
        }
    }

    /// Rebuilds a payload's bytes from its recipe, following its base chain
    /// (at most `depth_left` recipes deep) into one buffer. Only the caller
    /// checks the hash: the bases are checked as a whole by the final
    /// payload's hash.
    fn assemble_payload(&self, hash: &Hash, depth_left: usize) -> Result<(Vec<u8>, Tier)> {
        let located = self.locate(hash)?;
        let size = self.plausible_size(hash, located.size()?)?;
        let mut out = Vec::with_capacity(size);
        let tier = match &located {
            Located::Hot(recipe) => {
                self.append_prefix(hash, recipe, size, &mut out, depth_left)?;
                Tier::Hot
            }
            Located::Cold(pack, ordinal) => {
                pack.append_prefix(*ordinal, size, &mut out, depth_left, &|h| self.assembled(h))?;
                Tier::Cold
            }
        };
        if out.len() != size {
            return Err(Error::CorruptData(format!(
                "payload {hash}: chunks hold {} bytes, recipe says {size}",
                out.len()
            )));
        }
        Ok((out, tier))
    }

    /// The size of a payload in the pack, `None` when the pack does not hold
    /// it (or the store has no pack).
    pub(super) fn cold_payload_size(&self, hash: &Hash) -> Result<Option<u64>> {
        let Some(pack) = self.pack()? else {
            return Ok(None);
        };
        match pack.ordinal(hash) {
            Some(ordinal) => Ok(Some(pack.payload(ordinal)?.size)),
            None => Ok(None),
        }
    }

    /// The size of a stored payload, in either tier.
    pub(super) fn payload_size(&self, hash: &Hash) -> Result<u64> {
        self.locate(hash)?.size()
    }

    /// A stored payload's delta base: the base's hash, the bytes it shares,
    /// and the chain's depth. `None` for a whole payload.
    pub(crate) fn payload_base(&self, hash: &Hash) -> Result<Option<(Hash, u64, u8)>> {
        match self.locate(hash)? {
            Located::Hot(recipe) => Ok(recipe
                .base
                .map(|base| (base.payload, base.prefix_bytes, base.depth))),
            Located::Cold(pack, ordinal) => match pack.payload(ordinal)?.base {
                None => Ok(None),
                // A damaged base has no hash to name: its damage is the error.
                Some(base) => Ok(Some((
                    pack.sound_payload(base.ordinal)?.hash,
                    base.prefix_bytes,
                    base.depth,
                ))),
            },
        }
    }

    /// `stated` bytes as a buffer size, refused when no payload can be that
    /// large.
    fn plausible_size(&self, hash: &Hash, stated: u64) -> Result<usize> {
        usize::try_from(stated)
            .ok()
            .filter(|size| (*size as u64) <= self.inner.options.max_payload_bytes.max(1 << 30))
            .ok_or_else(|| {
                Error::CorruptData(format!(
                    "payload {hash}: recipe size {stated} is implausible"
                ))
            })
    }

    /// Appends the first `limit` bytes of payload `hash` (whose recipe is
    /// `recipe`) to `out`, reading only the chunks those bytes need.
    fn append_prefix(
        &self,
        hash: &Hash,
        recipe: &Recipe,
        limit: usize,
        out: &mut Vec<u8>,
        depth_left: usize,
    ) -> Result<()> {
        let start = out.len();
        let mut own_start = 0usize;
        if let Some(base) = recipe.base {
            if depth_left <= 1 {
                return Err(Error::CorruptData(format!(
                    "payload {hash}: base chain deeper than {}",
                    payload::BASE_DEPTH_MAX
                )));
            }
            let prefix = usize::try_from(base.prefix_bytes).unwrap_or(usize::MAX);
            // A base read just before (its hash verified then) needs no walk.
            if let Some(bytes) = self.assembled(&base.payload)
                && bytes.len() >= prefix
            {
                out.extend_from_slice(&bytes[..prefix.min(limit)]);
                return self.append_own_chunks(hash, recipe, prefix, limit, out, start);
            }
            let wanted = prefix.min(limit);
            let located = match self.locate(&base.payload) {
                // Without a pack, as format 1 reported it; with one, the
                // base is damage: neither tier holds it.
                Err(Error::UnknownPayload(_)) if self.pack()?.is_some() => {
                    return Err(Error::CorruptData(format!(
                        "payload {hash}: its base {} is missing",
                        base.payload
                    )));
                }
                located => located?,
            };
            let base_size = located.size()?;
            if (base_size as usize) < prefix {
                return Err(Error::CorruptData(format!(
                    "payload {hash}: base {} has {base_size} bytes, fewer than the {prefix} it shares",
                    base.payload
                )));
            }
            match located {
                Located::Hot(base_recipe) => {
                    self.append_prefix(&base.payload, &base_recipe, wanted, out, depth_left - 1)?
                }
                // A base compacted into the pack since this delta was stored.
                Located::Cold(pack, ordinal) => {
                    pack.append_prefix(ordinal, wanted, out, depth_left - 1, &|h| {
                        self.assembled(h)
                    })?;
                }
            }
            own_start = prefix;
        }
        self.append_own_chunks(hash, recipe, own_start, limit, out, start)
    }

    /// Appends the payload's own chunks (which start at byte `own_start` of
    /// the payload) up to byte `limit`; `start` is where this payload's bytes
    /// began in `out`.
    fn append_own_chunks(
        &self,
        hash: &Hash,
        recipe: &Recipe,
        own_start: usize,
        limit: usize,
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<()> {
        if limit <= own_start {
            return Ok(());
        }
        let mut remaining = limit - own_start;
        for data_hash in self.data_chunks(hash, recipe)? {
            if remaining == 0 {
                break;
            }
            let chunk = self.read_chunk(&data_hash)?;
            let take = chunk.len().min(remaining);
            out.extend_from_slice(&chunk[..take]);
            remaining -= take;
        }
        if remaining > 0 {
            return Err(Error::CorruptData(format!(
                "payload {hash}: chunks end {remaining} bytes short of {} ({} read)",
                limit,
                out.len() - start
            )));
        }
        Ok(())
    }

    fn data_chunks(&self, hash: &Hash, recipe: &Recipe) -> Result<Vec<Hash>> {
        match recipe.level {
            0 => Ok(recipe.entries.clone()),
            1 => {
                let mut out = Vec::new();
                for index_hash in &recipe.entries {
                    let bytes = self.read_chunk(index_hash)?;
                    out.extend(
                        payload::index_entries(index_hash, &bytes).map_err(Error::CorruptData)?,
                    );
                }
                Ok(out)
            }
            other => Err(Error::CorruptData(format!(
                "payload {hash}: unknown recipe level {other}"
            ))),
        }
    }

    fn read_chunk(&self, hash: &Hash) -> Result<Vec<u8>> {
        let record = self
            .inner
            .tree
            .get(chunk_key(hash))?
            .ok_or_else(|| Error::CorruptData(format!("chunk {hash} is missing")))?;
        self.decode_chunk_value(hash, &record)
            .map_err(Error::CorruptData)
    }
}

/// Iterator over one rollout's events, checking contiguity and records.
pub struct EventIter {
    /// The part of the log in the pack, read block by block.
    cold: Option<ColdCursor>,
    /// The pack could not be opened: the log's first item says why.
    pack_error: Option<String>,
    range: sled::Iter,
    rollout_id: String,
    expected_seq: Seq,
    last_seq: Seq,
}

impl Iterator for EventIter {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        if self.expected_seq > self.last_seq {
            return None;
        }
        let seq = self.expected_seq;
        self.expected_seq += 1;
        if let Some(message) = self.pack_error.take() {
            self.expected_seq = Seq::MAX;
            return Some(Err(Error::Event {
                rollout_id: self.rollout_id.clone(),
                seq,
                message: format!("the store could not read it: {message}"),
            }));
        }
        if let Some(cold) = self.cold.as_mut().filter(|cold| seq <= cold.last) {
            let next = cold.next(&self.rollout_id, seq);
            if next.is_err() {
                self.expected_seq = Seq::MAX;
            }
            return Some(next);
        }
        let entry = match self.range.next() {
            None => {
                self.expected_seq = Seq::MAX;
                return Some(Err(Error::Event {
                    rollout_id: self.rollout_id.clone(),
                    seq,
                    message: format!(
                        "missing: the log ends before its manifest's last seq {}",
                        self.last_seq
                    ),
                }));
            }
            Some(Err(err)) => {
                // A read error may repeat forever; the log ends here.
                self.expected_seq = Seq::MAX;
                return Some(Err(Error::Event {
                    rollout_id: self.rollout_id.clone(),
                    seq,
                    message: format!("the store could not read it: {err}"),
                }));
            }
            Some(Ok(entry)) => entry,
        };
        let (key, value) = entry;
        let key_seq = decode_num(&key[9..]).unwrap_or_default();
        if key_seq != seq {
            self.expected_seq = Seq::MAX;
            return Some(Err(Error::Event {
                rollout_id: self.rollout_id.clone(),
                seq,
                message: format!("missing: the next stored event has seq {key_seq}"),
            }));
        }
        Some(decode_event(&self.rollout_id, &key, &value))
    }
}

/// Which tier a payload was assembled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Hot,
    Cold,
}

/// Where a stored payload is (see [`Store::locate`]).
pub(super) enum Located {
    Hot(Recipe),
    Cold(Arc<Pack>, u32),
}

impl Located {
    /// The payload's size, as its recipe or the pack's index states it.
    fn size(&self) -> Result<u64> {
        match self {
            Located::Hot(recipe) => Ok(recipe.size_bytes),
            Located::Cold(pack, ordinal) => Ok(pack.payload(*ordinal)?.size),
        }
    }
}

/// Where an [`EventIter`] is in the pack's blocks of its rollout.
struct ColdCursor {
    pack: Arc<Pack>,
    blocks: std::collections::VecDeque<Block>,
    buffered: std::collections::VecDeque<std::result::Result<Event, String>>,
    /// The last seq read from the pack.
    last: Seq,
    /// The first seq asked for.
    start: Seq,
}

impl ColdCursor {
    /// The event of `seq`, the next in the pack.
    fn next(&mut self, rollout_id: &str, seq: Seq) -> Result<Event> {
        let fail = |seq: Seq, message: String| Error::Event {
            rollout_id: rollout_id.to_string(),
            seq,
            message,
        };
        if self.buffered.is_empty() {
            let block = self.blocks.pop_front().ok_or_else(|| {
                fail(
                    seq,
                    "missing: the pack's blocks end before its event count".into(),
                )
            })?;
            // Only the first block an `events_from` reads may start before
            // its seq.
            let starts_here =
                block.first_seq == seq || (seq == self.start && block.first_seq < seq);
            if !starts_here {
                return Err(fail(
                    seq,
                    format!(
                        "missing: the pack's next block starts at seq {}",
                        block.first_seq
                    ),
                ));
            }
            let events = self
                .pack
                .read_block(rollout_id, &block)
                .map_err(|(at, message)| {
                    fail(at, format!("the store could not read it: {message}"))
                })?;
            self.buffered = events.into();
            let skip = usize::try_from(seq.saturating_sub(block.first_seq)).unwrap_or(usize::MAX);
            self.buffered.drain(..skip.min(self.buffered.len()));
        }
        let event = self
            .buffered
            .pop_front()
            .ok_or_else(|| fail(seq, "missing: an empty block in the pack".into()))?
            .map_err(|message| fail(seq, format!("the store could not read it: {message}")))?;
        if event.seq != seq {
            return Err(fail(seq, format!("the pack holds seq {} here", event.seq)));
        }
        Ok(event)
    }
}

pub(super) fn decode_event(rollout_id: &str, key: &[u8], value: &[u8]) -> Result<Event> {
    let seq = decode_num(&key[9..]).unwrap_or_default();
    let event: Event =
        codec::decode_record(key, value).map_err(|source: CodecError| Error::Event {
            rollout_id: rollout_id.to_string(),
            seq,
            message: format!("corrupt record: {source}"),
        })?;
    if event.seq != seq {
        return Err(Error::Event {
            rollout_id: rollout_id.to_string(),
            seq,
            message: format!("record says seq {}", event.seq),
        });
    }
    Ok(event)
}
