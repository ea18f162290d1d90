//! [`Writes`]: one open write to the store, under the store's write lock.
//!
//! A write stages chunks, payload recipes, events and manifests in a sled
//! batch and makes them visible at once in [`Writes::commit`]. A rollout is
//! visible through its id record (`r`) and its manifest (`m`), which only a
//! commit writes, so a long import may *spill* its staged chunks, recipes
//! and events to sled in bounded batches before the commit
//! ([`Writes::set_spill_threshold`]): spilled records are invisible (events
//! beyond a manifest's count or under a rollout number no manifest names;
//! content-addressed records nothing visible cites). A write dropped without
//! commit collects what it spilled (a `gc` under the lock it holds, which
//! removes exactly the invisible records); if even that fails (or the process
//! dies), the leftovers are invisible garbage that the next `gc` collects.
//!
//! Memory is bounded by the spill threshold plus the recent-payload lists
//! (8 per kind, 32 MiB each for the committed and the staged list); the
//! delta-base search compares a new payload with at most those, so the time
//! to stage a payload does not grow with the number staged before it.

// Hash sets of content hashes serve as membership caches; their order never
// reaches any output.
#![allow(clippy::disallowed_types)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, MutexGuard};

use super::faults::FaultPoint;
use super::hotlog::HOT_LOG_LEN_KEY;
use super::keys::META_FORMAT_KEY;
use super::payload::{self, PreparedPayload};
use super::{
    RolloutManifest, Store, WriteState, chunk_key, event_key, manifest_key, payload_key,
    rollout_id_key,
};
use crate::codec;
use crate::error::{Error, Result};
use crate::event::{Event, EventPayload, Hash, PayloadKind, PayloadRef, Seq};

/// The largest event record (everything of an event but its payloads, which
/// live in chunks): an unknown event's verbatim body, a code cell's source.
/// Larger events are refused when appended, so every stored event reads back.
pub const EVENT_RECORD_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Entries per membership cache (known chunks, known payloads): about 5 MiB
/// each when full.
const KNOWN_HASHES_MAX: usize = 1 << 17;

/// How many recent payloads of one kind are kept as base candidates, and
/// the bytes kept in all, per list.
const RECENT_PAYLOADS_PER_KIND_MAX: usize = 8;
const RECENT_PAYLOAD_BYTES_MAX: usize = 32 * 1024 * 1024;

/// How many loaded rollouts wait for their last payloads to become base
/// candidates (`Writes::seed_recent`).
const UNSEEDED_MAX: usize = 4;

/// A bounded list of recently stored payloads with their bytes, so a payload
/// that extends one of them (the next request of a conversation) can be
/// stored as a delta without reading anything back.
#[derive(Default)]
pub(super) struct RecentPayloads {
    entries: VecDeque<RecentPayload>,
    bytes: usize,
}

#[derive(Clone)]
pub(super) struct RecentPayload {
    hash: Hash,
    /// Only a payload of the same kind is a useful base (requests extend
    /// requests), so others are not even compared.
    kind: PayloadKind,
    bytes: Arc<[u8]>,
    /// 0 for a payload stored whole, else its base chain length.
    depth: u8,
}

impl RecentPayloads {
    fn push(&mut self, entry: RecentPayload) {
        let same_kind = self
            .entries
            .iter()
            .filter(|old| old.kind == entry.kind)
            .count();
        if same_kind >= RECENT_PAYLOADS_PER_KIND_MAX
            && let Some(oldest) = self.entries.iter().position(|old| old.kind == entry.kind)
            && let Some(old) = self.entries.remove(oldest)
        {
            self.bytes -= old.bytes.len();
        }
        self.bytes += entry.bytes.len();
        self.entries.push_back(entry);
        while self.bytes > RECENT_PAYLOAD_BYTES_MAX {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.bytes.len(),
                None => break,
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    fn drain(&mut self) -> impl Iterator<Item = RecentPayload> + '_ {
        self.bytes = 0;
        self.entries.drain(..)
    }
}

/// Bytes compared just before the longest prefix found so far, to rule a
/// candidate out without comparing its whole prefix.
const PREFIX_PROBE_BYTES: usize = 4096;

/// The candidate sharing the longest byte prefix with `bytes`, and that
/// length; the earliest in `candidates` (newest first) on a tie. Once one
/// candidate shares `len` bytes, another can only share more if it agrees
/// with `bytes` on every byte up to `len`: the `PREFIX_PROBE_BYTES` before
/// it are compared first, and a difference there rules it out exactly (it
/// then shares at most `len`). A conversation's older requests differ from
/// the newest one well before its end, so each costs one probe instead of
/// a comparison of the whole conversation (the prefix search was 40% of an
/// import's instructions, issue 16).
fn longest_shared_prefix<'a>(
    candidates: impl IntoIterator<Item = &'a RecentPayload>,
    bytes: &[u8],
) -> Option<(usize, &'a RecentPayload)> {
    let mut best: Option<(usize, &RecentPayload)> = None;
    for candidate in candidates {
        if let Some((len, _)) = best {
            if candidate.bytes.len() <= len || bytes.len() <= len {
                continue;
            }
            let from = len.saturating_sub(PREFIX_PROBE_BYTES);
            if candidate.bytes[from..=len] != bytes[from..=len] {
                continue;
            }
        }
        let shared = payload::common_prefix_len(&candidate.bytes, bytes);
        if best.is_none_or(|(len, _)| shared > len) {
            best = Some((shared, candidate));
        }
    }
    best
}

/// An open write: stages records in one sled batch under the store's write
/// lock. Nothing is visible until [`Writes::commit`].
pub struct Writes<'a> {
    store: &'a Store,
    state: MutexGuard<'a, WriteState>,
    batch: sled::Batch,
    pending_chunks: HashSet<Hash>,
    /// Payloads staged by this write (since the last spill), with their sizes.
    pending_payloads: HashMap<Hash, u64>,
    touched: BTreeSet<u64>,
    /// Manifests as staged by this write (committed copies live in `state`).
    staged: BTreeMap<u64, RolloutManifest>,
    /// Rollouts this write creates: their id records are written by the commit.
    created: Vec<(u64, String)>,
    batch_bytes: usize,
    /// Payloads staged by this write, as base candidates (moved to the
    /// store's list when they are applied).
    pending_recent: RecentPayloads,
    /// Staged bytes past which the batch is applied before the commit.
    spill_threshold_bytes: usize,
    /// Whether a batch was applied before the commit: dropping the write
    /// must then collect what it applied.
    spilled: bool,
    /// What this write stored and what it found already stored.
    pub counters: WriteCounters,
}

/// Counters of one write, for the writer's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounters {
    pub payloads_written: u64,
    pub payloads_deduplicated: u64,
    pub payload_bytes_in: u64,
    pub chunks_written: u64,
    pub chunks_deduplicated: u64,
    pub chunk_bytes_written: u64,
}

impl Store {
    /// Starts a write: holds the store's write lock until committed or dropped.
    pub fn writes(&self) -> Result<Writes<'_>> {
        let state = super::lock_state(&self.inner.write);
        if let Some(reason) = &state.poisoned {
            return Err(Error::Poisoned(reason.clone()));
        }
        Ok(Writes {
            store: self,
            state,
            batch: sled::Batch::default(),
            pending_chunks: HashSet::new(),
            pending_payloads: HashMap::new(),
            touched: BTreeSet::new(),
            staged: BTreeMap::new(),
            created: Vec::new(),
            batch_bytes: 0,
            pending_recent: RecentPayloads::default(),
            spill_threshold_bytes: usize::MAX,
            spilled: false,
            counters: WriteCounters::default(),
        })
    }
}

impl Writes<'_> {
    /// Applies the staged records whenever they pass `bytes`, keeping them
    /// invisible until the commit (see the module docs). Off (`usize::MAX`)
    /// by default: the recorder's groups are small.
    pub fn set_spill_threshold(&mut self, bytes: usize) {
        self.spill_threshold_bytes = bytes.max(1);
    }

    /// Whether the payload is stored or staged.
    pub fn payload_known(&mut self, hash: &Hash) -> Result<bool> {
        if self.pending_payloads.contains_key(hash) || self.state.known_payloads.contains(hash) {
            return Ok(true);
        }
        let known = self.store.tree().contains_key(payload_key(hash))?
            || self.store.cold_payload_size(hash)?.is_some();
        if known {
            self.state.known_payloads.insert(*hash);
        }
        Ok(known)
    }

    /// The size of a stored or staged payload, `None` if it is neither.
    pub fn payload_size(&mut self, hash: &Hash) -> Result<Option<u64>> {
        if let Some(size) = self.pending_payloads.get(hash) {
            return Ok(Some(*size));
        }
        match self.store.recipe(hash) {
            Ok(recipe) => Ok(Some(recipe.size_bytes)),
            Err(Error::UnknownPayload(_)) => self.store.cold_payload_size(hash),
            Err(err) => Err(err),
        }
    }

    fn chunk_known(&mut self, hash: &Hash) -> bool {
        if self.pending_chunks.contains(hash) || self.state.known_chunks.contains(hash) {
            return true;
        }
        // A failed lookup reads as unknown: the chunk is then written again,
        // which is harmless for content-addressed data.
        let known = self
            .store
            .tree()
            .contains_key(chunk_key(hash))
            .unwrap_or(false);
        if known {
            self.state.known_chunks.insert(*hash);
        }
        known
    }

    /// Stores `bytes` as a payload of `kind` (deduplicated) and returns its ref.
    pub fn put_payload_bytes(&mut self, kind: PayloadKind, bytes: &[u8]) -> Result<PayloadRef> {
        self.put_payload_hashed(kind, bytes, Hash::of(bytes))
    }

    /// [`Writes::put_payload_bytes`] of bytes already hashed (an import
    /// hashes them on its reading thread): `hash` must be their BLAKE3.
    pub(crate) fn put_payload_hashed(
        &mut self,
        kind: PayloadKind,
        bytes: &[u8],
        hash: Hash,
    ) -> Result<PayloadRef> {
        let limit = self.store.inner.options.max_payload_bytes;
        if bytes.len() as u64 > limit {
            return Err(Error::PayloadTooLarge {
                size_bytes: bytes.len() as u64,
                limit_bytes: limit,
            });
        }
        debug_assert_eq!(hash, Hash::of(bytes));
        self.counters.payload_bytes_in += bytes.len() as u64;
        if self.payload_known(&hash)? {
            self.counters.payloads_deduplicated += 1;
        } else {
            self.seed_recent();
            let base = self.find_base(&kind, bytes);
            let prepared =
                payload::prepare_payload_on_base(bytes, base, &mut |chunk| self.chunk_known(chunk));
            self.put_prepared(&prepared)?;
            self.pending_recent.push(RecentPayload {
                hash,
                kind: kind.clone(),
                bytes: Arc::from(bytes),
                depth: base.map_or(0, |base| base.depth),
            });
        }
        Ok(PayloadRef {
            kind,
            hash,
            size_bytes: bytes.len() as u64,
        })
    }

    /// Makes the last payloads of the stored rollouts this process loaded
    /// since the last call base candidates, so that the next request of a
    /// conversation continued by another process (or after a compaction
    /// reopened the store) is still stored as a delta of the one before.
    /// Runs when a payload is about to be stored, not when a rollout is
    /// loaded, so a rollout only looked up costs nothing. Best effort: a
    /// payload that does not read back is skipped (verify reports it).
    fn seed_recent(&mut self) {
        /// How far back from a log's end to look for payloads.
        const TAIL_EVENTS: u64 = 64;
        for num in std::mem::take(&mut self.state.unseeded) {
            let Some(manifest) = self.state.manifests.get(&num).cloned() else {
                continue;
            };
            let first = manifest.event_count.saturating_sub(TAIL_EVENTS - 1);
            let mut cited: Vec<PayloadRef> = Vec::new();
            for event in self.store.events_from(&manifest, first) {
                let Ok(event) = event else { break };
                event.payload.for_each_ref(|r| cited.push(r.clone()));
            }
            // The newest of each kind, up to a list's worth, oldest first.
            let mut picked: Vec<PayloadRef> = Vec::new();
            for r in cited.into_iter().rev() {
                let same_kind = picked.iter().filter(|p| p.kind == r.kind).count();
                if same_kind < RECENT_PAYLOADS_PER_KIND_MAX
                    && !picked.iter().any(|p| p.hash == r.hash)
                {
                    picked.push(r);
                }
            }
            for r in picked.into_iter().rev() {
                let Ok(bytes) = self.store.read_payload(&r.hash) else {
                    continue;
                };
                let depth = match self.store.payload_base(&r.hash) {
                    Ok(base) => base.map_or(0, |(_, _, depth)| depth),
                    Err(_) => continue,
                };
                self.state.recent.push(RecentPayload {
                    hash: r.hash,
                    kind: r.kind,
                    bytes: Arc::from(bytes),
                    depth,
                });
            }
        }
    }

    /// The recent payload sharing the longest prefix with `bytes`, when that
    /// prefix is long enough to store `bytes` as a delta of it. Both lists
    /// are bounded, so this costs at most 16 prefix comparisons.
    fn find_base(&self, kind: &PayloadKind, bytes: &[u8]) -> Option<payload::RecipeBase> {
        // Newest first: the staged list is newer than the store's, and each
        // list is oldest first.
        let mut candidates: Vec<&RecentPayload> = self
            .state
            .recent
            .entries
            .iter()
            .chain(self.pending_recent.entries.iter())
            .filter(|candidate| candidate.kind == *kind)
            .collect();
        candidates.reverse();
        let (shared, candidate) = longest_shared_prefix(candidates, bytes)?;
        // At the depth limit the chain restarts with a whole payload (whose
        // chunks still deduplicate), rather than extending an older, shorter
        // base and storing several turns again.
        if shared < payload::BASE_PREFIX_MIN_BYTES
            || shared < bytes.len() / 2
            || candidate.depth >= payload::BASE_DEPTH_MAX
        {
            return None;
        }
        Some(payload::RecipeBase {
            payload: candidate.hash,
            prefix_bytes: shared as u64,
            depth: candidate.depth + 1,
        })
    }

    /// Stages a prepared payload (chunks whose record is empty are known).
    pub fn put_prepared(&mut self, prepared: &PreparedPayload) -> Result<()> {
        if self.payload_known(&prepared.hash)? {
            return Ok(());
        }
        for chunk in &prepared.chunks {
            if chunk.record.is_empty() || self.chunk_known(&chunk.hash) {
                self.counters.chunks_deduplicated += 1;
                continue;
            }
            self.counters.chunks_written += 1;
            self.counters.chunk_bytes_written += chunk.record.len() as u64;
            self.batch_bytes += chunk.record.len();
            // The record goes to the hot log; sled keeps where.
            let location = self.state.hot_log.stage(&chunk.record)?;
            self.batch
                .insert(&chunk_key(&chunk.hash)[..], &location[..]);
            self.pending_chunks.insert(chunk.hash);
        }
        let key = payload_key(&prepared.hash);
        let record =
            codec::encode_record(&key, &prepared.recipe).map_err(|source| Error::Corrupt {
                key: format!("payload {}", prepared.hash),
                source,
            })?;
        self.batch_bytes += record.len();
        self.batch.insert(&key[..], record);
        self.pending_payloads
            .insert(prepared.hash, prepared.recipe.size_bytes);
        self.counters.payloads_written += 1;
        Ok(())
    }

    /// The number of `rollout_id`, creating the rollout when `create` (it
    /// becomes visible with the commit).
    pub fn rollout(&mut self, rollout_id: &str, create: bool) -> Result<u64> {
        if let Some(num) = self.state.rollout_nums.get(rollout_id) {
            return Ok(*num);
        }
        if let Some(num) = self.store.rollout_num(rollout_id)? {
            let manifest = self.store.manifest_by_num(num)?.ok_or_else(|| {
                Error::CorruptData(format!("rollout {rollout_id} has no manifest"))
            })?;
            self.state.manifests.insert(num, manifest);
            self.state.rollout_nums.insert(rollout_id.to_string(), num);
            // Only the last few: a write that looks up many rollouts (an
            // import skipping what it already holds) appends to few.
            if self.state.unseeded.len() >= UNSEEDED_MAX {
                self.state.unseeded.remove(0);
            }
            self.state.unseeded.push(num);
            return Ok(num);
        }
        if !create {
            return Err(Error::UnknownRollout(rollout_id.to_string()));
        }
        if rollout_id.is_empty() {
            return Err(Error::Other("rollout id must not be empty".to_string()));
        }
        let num = self.state.next_rollout_num;
        self.state.next_rollout_num += 1;
        self.staged
            .insert(num, RolloutManifest::new(num, rollout_id));
        self.touched.insert(num);
        self.created.push((num, rollout_id.to_string()));
        // Not committed yet: `forget_staged` forgets it on a rollback.
        self.state.rollout_nums.insert(rollout_id.to_string(), num);
        Ok(num)
    }

    /// The manifest as it stands in this write.
    pub fn manifest(&self, num: u64) -> Option<&RolloutManifest> {
        self.staged
            .get(&num)
            .or_else(|| self.state.manifests.get(&num))
    }

    /// Appends an event to rollout `num` at the next seq; returns the seq.
    /// An event whose record would exceed [`EVENT_RECORD_BYTES_MAX`] is
    /// refused, naming the rollout and the seq it would have had.
    pub fn append(
        &mut self,
        num: u64,
        wall_time_unix_ms: i64,
        thread_id: Option<String>,
        codex_turn_id: Option<String>,
        payload: EventPayload<PayloadRef>,
    ) -> Result<Seq> {
        let Some(mut manifest) = self.manifest(num).cloned() else {
            return Err(Error::CorruptData(format!("rollout#{num} is not open")));
        };
        let event = Event {
            seq: manifest.event_count + 1,
            wall_time_unix_ms,
            thread_id,
            codex_turn_id,
            payload,
        };
        let key = event_key(num, event.seq);
        let record = codec::encode_record(&key, &event)
            .map_err(|source| source.to_string())
            .and_then(|record| {
                if record.len() > EVENT_RECORD_BYTES_MAX {
                    Err(format!(
                        "the event record is {} bytes, over the limit of {EVENT_RECORD_BYTES_MAX} bytes (everything of an event but its payloads is kept in one record)",
                        record.len()
                    ))
                } else {
                    Ok(record)
                }
            })
            .map_err(|message| Error::Event {
                rollout_id: manifest.rollout_id.clone(),
                seq: event.seq,
                message: format!("refused: {message}"),
            })?;
        self.batch_bytes += record.len() + key.len();
        self.batch.insert(&key, record);
        manifest.observe(&event);
        let seq = event.seq;
        self.staged.insert(num, manifest);
        self.touched.insert(num);
        if self.batch_bytes >= self.spill_threshold_bytes {
            self.spill()?;
        }
        Ok(seq)
    }

    /// The store's payload size limit.
    pub fn max_payload_bytes(&self) -> u64 {
        self.store.inner.options.max_payload_bytes
    }

    /// Fills a rollout's identity from outside its log (a bundle manifest)
    /// where its events did not set it.
    pub fn set_identity(
        &mut self,
        num: u64,
        trace_id: &str,
        root_thread_id: &str,
        started_at_unix_ms: i64,
    ) {
        let Some(mut manifest) = self.manifest(num).cloned() else {
            return;
        };
        manifest
            .trace_id
            .get_or_insert_with(|| trace_id.to_string());
        manifest
            .root_thread_id
            .get_or_insert_with(|| root_thread_id.to_string());
        manifest.started_at_unix_ms = Some(started_at_unix_ms);
        self.staged.insert(num, manifest);
        self.touched.insert(num);
    }

    /// Applies the staged records (manifests and new rollouts' id records
    /// included) as one atomic batch, then flushes when `durable`. On failure
    /// nothing of this write is visible and the store's caches forget it.
    pub fn commit(mut self, durable: bool) -> Result<()> {
        for num in std::mem::take(&mut self.touched) {
            if let Some(manifest) = self.staged.get(&num) {
                let key = manifest_key(num);
                let record =
                    codec::encode_record(&key, manifest).map_err(|source| Error::Corrupt {
                        key: format!("manifest of {}", manifest.rollout_id),
                        source,
                    })?;
                self.batch.insert(&key, record);
            }
        }
        for (num, rollout_id) in &self.created {
            self.batch
                .insert(rollout_id_key(rollout_id), &num.to_be_bytes());
        }
        let log_len = match self.write_hot_log(durable) {
            Ok(len) => len,
            Err(err) => {
                self.forget_staged();
                return Err(err);
            }
        };
        let batch = std::mem::take(&mut self.batch);
        if let Err(err) = self.store.inject(FaultPoint::ApplyBatch) {
            self.forget_staged();
            return Err(err);
        }
        if let Err(err) = self.store.tree().apply_batch(batch) {
            self.forget_staged();
            return Err(err.into());
        }
        if let Some(len) = log_len {
            self.state.hot_log.commit(len);
        }
        // Visible now: nothing spilled may be taken back.
        self.spilled = false;
        self.created.clear();
        let staged = std::mem::take(&mut self.staged);
        self.publish_staged_payloads();
        self.state.manifests.extend(staged);
        if durable {
            self.store.flush()?;
        }
        Ok(())
    }

    /// Applies what is staged so far except manifests and id records, so a
    /// long import's batches stay bounded (module docs: invisible until the
    /// commit, collected if the write is dropped).
    fn spill(&mut self) -> Result<()> {
        let log_len = self.write_hot_log(false)?;
        let batch = std::mem::take(&mut self.batch);
        self.spilled = true;
        if let Err(err) = self
            .store
            .inject(FaultPoint::ApplyBatch)
            .and_then(|()| Ok(self.store.tree().apply_batch(batch)?))
        {
            self.state.hot_log.discard();
            return Err(err);
        }
        if let Some(len) = log_len {
            self.state.hot_log.commit(len);
        }
        self.batch_bytes = 0;
        self.publish_staged_payloads();
        Ok(())
    }

    /// After a batch applied: its chunks and payloads are known to be stored,
    /// and its payloads become base candidates. The membership caches are
    /// hints backed by lookups, so they are emptied rather than let grow
    /// past [`KNOWN_HASHES_MAX`] each.
    fn publish_staged_payloads(&mut self) {
        let chunks = std::mem::take(&mut self.pending_chunks);
        let payloads = std::mem::take(&mut self.pending_payloads);
        if self.state.known_chunks.len() + chunks.len() > KNOWN_HASHES_MAX {
            self.state.known_chunks.clear();
        }
        if self.state.known_payloads.len() + payloads.len() > KNOWN_HASHES_MAX {
            self.state.known_payloads.clear();
        }
        self.state.known_chunks.extend(chunks);
        self.state.known_payloads.extend(payloads.into_keys());
        let recent: Vec<RecentPayload> = self.pending_recent.drain().collect();
        for entry in recent {
            self.state.recent.push(entry);
        }
    }

    /// Writes the chunk records staged for the hot log (synced when
    /// `durable`, before the batch that names them can reach the disk), and
    /// stages the log's new length (and format 2: a format-1 build cannot
    /// read a location) in the batch. Returns that length, `None` when no
    /// record is staged.
    fn write_hot_log(&mut self, durable: bool) -> Result<Option<u64>> {
        let len = self.state.hot_log.write_pending(durable)?;
        if let Some(len) = len {
            self.batch.insert(HOT_LOG_LEN_KEY, &len.to_le_bytes());
            self.batch
                .insert(META_FORMAT_KEY, &[super::STORE_FORMAT_VERSION]);
        }
        Ok(len)
    }

    fn forget_staged(&mut self) {
        self.state.hot_log.discard();
        for (num, manifest) in std::mem::take(&mut self.staged) {
            if !self.state.manifests.contains_key(&num) {
                self.state.rollout_nums.remove(&manifest.rollout_id);
            }
        }
        self.created.clear();
        self.pending_chunks.clear();
        self.pending_payloads.clear();
        self.pending_recent.clear();
    }

    /// Removes what this write spilled (it was never visible): every spilled
    /// event lies past a committed manifest's count or under a number no
    /// manifest names, and every spilled chunk and recipe is new and cited
    /// by nothing visible, so a collection under the lock this write still
    /// holds removes exactly them (and garbage older writes left, if any).
    /// Best effort: on failure the leftovers stay invisible until `gc`.
    fn take_back_spilled(&mut self) {
        if std::mem::take(&mut self.spilled) {
            let _ = self.store.gc_locked(&mut self.state);
        }
    }

    /// Marks the store as refusing further writes (after a failed flush).
    pub fn poison(&mut self, reason: String) {
        self.state.poisoned = Some(reason);
    }
}

impl Drop for Writes<'_> {
    fn drop(&mut self) {
        // An uncommitted write leaves no trace, including rollout numbers it
        // reserved for new rollouts and whatever it spilled.
        self.forget_staged();
        self.take_back_spilled();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize, kind: PayloadKind, len: usize) -> RecentPayload {
        RecentPayload {
            hash: Hash::of(n.to_string().as_bytes()),
            kind,
            bytes: vec![b'x'; len].into(),
            depth: 0,
        }
    }

    /// The delta-base search compares a new payload with every candidate, so
    /// the candidates must stay few however many payloads one import stages
    /// (unbounded, ingest was quadratic in the payloads of a file).
    fn with_bytes(n: usize, bytes: Vec<u8>) -> RecentPayload {
        RecentPayload {
            hash: Hash::of(n.to_string().as_bytes()),
            kind: PayloadKind::InferenceRequest,
            bytes: bytes.into(),
            depth: 0,
        }
    }

    /// The probe only ever rules out a candidate that cannot share more:
    /// over candidates of every shared length, in every order, the search
    /// finds what comparing every candidate whole finds.
    #[test]
    fn the_longest_shared_prefix_is_found_whatever_the_order() {
        let mut state = 7u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let new: Vec<u8> = (0..60_000).map(|_| next() as u8).collect();
        // Shares `len` bytes, then differs (a candidate whose bytes right
        // before another's prefix end match but that differs earlier too).
        let sharing = |len: usize, fill: u8| {
            let mut bytes = new.clone();
            if len < bytes.len() {
                bytes[len] ^= 0xff;
                for b in &mut bytes[len + 1..] {
                    *b = fill;
                }
            }
            bytes
        };
        let mut early_miss = sharing(59_000, 1);
        early_miss[100] ^= 0x01;
        let candidates = [
            with_bytes(0, sharing(10_000, 0)),
            with_bytes(1, sharing(50_000, 0)),
            with_bytes(2, sharing(30_000, 0)),
            with_bytes(3, early_miss),
            with_bytes(4, sharing(49_999, 0)),
            with_bytes(5, new[..20_000].to_vec()),
            with_bytes(6, sharing(70_000, 0)),
        ];
        for rotation in 0..candidates.len() {
            for reversed in [false, true] {
                let mut order: Vec<&RecentPayload> = candidates.iter().collect();
                order.rotate_left(rotation);
                if reversed {
                    order.reverse();
                }
                let whole = order
                    .iter()
                    .map(|c| payload::common_prefix_len(&c.bytes, &new))
                    .max()
                    .expect("candidates");
                let (len, found) =
                    longest_shared_prefix(order.iter().copied(), &new).expect("a base");
                assert_eq!(len, whole, "rotation {rotation}, reversed {reversed}");
                assert_eq!(payload::common_prefix_len(&found.bytes, &new), len);
            }
        }
        // The candidate equal to the new payload's whole length wins.
        assert_eq!(whole_len(&candidates, &new), new.len());
    }

    fn whole_len(candidates: &[RecentPayload], new: &[u8]) -> usize {
        longest_shared_prefix(candidates.iter(), new).map_or(0, |(len, _)| len)
    }

    #[test]
    fn the_delta_base_candidates_stay_bounded_in_number_and_bytes() {
        let mut recent = RecentPayloads::default();
        for n in 0..10_000 {
            recent.push(entry(n, PayloadKind::InferenceRequest, 64));
            recent.push(entry(n, PayloadKind::ProtocolEvent, 64));
        }
        assert_eq!(recent.entries.len(), 2 * RECENT_PAYLOADS_PER_KIND_MAX);
        // The newest of each kind are the ones kept.
        assert!(recent.entries.iter().any(|e| e.hash == Hash::of(b"9999")));
        assert!(!recent.entries.iter().any(|e| e.hash == Hash::of(b"0")));

        let big = RECENT_PAYLOAD_BYTES_MAX / 3;
        for n in 0..10 {
            recent.push(entry(n, PayloadKind::ToolResult, big));
        }
        assert!(recent.bytes <= RECENT_PAYLOAD_BYTES_MAX);
        assert_eq!(
            recent.bytes,
            recent.entries.iter().map(|e| e.bytes.len()).sum::<usize>()
        );
    }
}
