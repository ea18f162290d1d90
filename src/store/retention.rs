//! Retention: deleting a rollout and collecting garbage (mark and sweep).
//!
//! Both run under the store's write lock, so no write (a recorder's group, an
//! ingest) interleaves with them, and both clear the writers' membership
//! caches (`known_chunks`, `known_payloads`), so a live writer never cites a
//! payload they reclaimed: it finds the payload missing and stores it again.
//! They must never remove a record a remaining event cites. The mark phase
//! reads every visible event and refuses to sweep when one does not decode;
//! the sweep removes orphan events, then recipes, then chunks, each step in
//! bounded batches and each safe to interrupt: a crash in the middle leaves
//! garbage for the next `gc`, never a dangling reference.

#[allow(clippy::disallowed_types)] // membership sets of hashes: never iterated into output
use std::collections::HashSet;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::faults::FaultPoint;
use super::{
    PREFIX_CHUNK, PREFIX_EVENT, PREFIX_MANIFEST, PREFIX_PAYLOAD, Recipe, Store, WriteState,
    decode_event, decode_manifest, decode_num, hash_from_key, lock_state, manifest_key, payload,
    rollout_id_key,
};
use crate::codec;
use crate::error::{Error, Result};
use crate::event::Hash;

/// Keys removed per sled batch: bounds the memory of one delete step.
const DELETE_BATCH_KEYS: usize = 4096;

/// What [`Store::delete_rollout`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeleteReport {
    /// The deleted rollout's id.
    pub rollout_id: String,
    /// Events deleted: the rollout's sled event records (invisible leftovers
    /// past its manifest's count included), removed now, and its events in
    /// the pack, unreachable now and left out by the next compaction.
    pub events_removed: u64,
}

/// What [`Store::gc`] reclaimed and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Events no manifest counts (unfinished writes, interrupted deletes).
    pub orphan_events_removed: u64,
    /// Payload recipes removed: payloads no counted event cites, nor any
    /// live payload uses as its delta base.
    pub payloads_removed: u64,
    /// Logical bytes of the removed payloads (their recipes' sizes, before
    /// chunking and compression).
    pub payload_bytes_removed: u64,
    /// Chunk records removed: chunks no remaining recipe needs (data and
    /// index chunks).
    pub chunks_removed: u64,
    /// Stored bytes of the removed chunk records (compressed, headers
    /// included): what the sweep freed of sled's records, not of the disk
    /// (sled's files do not shrink; see [`Store::compact`]).
    pub chunk_bytes_removed: u64,
    /// Payload recipes left in place: live ones, and damaged ones that did
    /// not decode.
    pub payloads_kept: u64,
    /// Chunk records left in place.
    pub chunks_kept: u64,
    /// Records that did not decode (events, recipes, manifests, index
    /// chunks): kept, with everything their bytes might cite (`verify`
    /// names them).
    pub damaged_records_kept: u64,
    /// Events in the pack that no manifest counts any more (deleted
    /// rollouts): the pack is immutable, so the next compaction drops them.
    pub pack_events_dead: u64,
    /// Payloads in the pack no counted event cites, nor any live payload
    /// uses as its base (dropped by the next compaction).
    pub pack_payloads_dead: u64,
    /// Bytes of the pack's uncompressed stream those dead payloads' own
    /// bytes take (at most: a chunk they share with a live payload is
    /// counted too).
    pub pack_stream_bytes_dead: u64,
    /// Bytes of the pack's uncompressed stream (0: no pack).
    pub pack_stream_bytes: u64,
}

impl Store {
    /// Deletes a rollout: its manifest and id first (one atomic batch, after
    /// which it is invisible), then its events. Payloads stay until [`Store::gc`].
    pub fn delete_rollout(&self, rollout_id: &str) -> Result<DeleteReport> {
        let mut state = lock_state(&self.inner.write);
        refuse_if_poisoned(&state)?;
        let num = self
            .rollout_num(rollout_id)?
            .ok_or_else(|| Error::UnknownRollout(rollout_id.to_string()))?;
        let mut batch = sled::Batch::default();
        batch.remove(&manifest_key(num)[..]);
        batch.remove(rollout_id_key(rollout_id));
        self.inject(FaultPoint::ApplyBatch)?;
        self.tree().apply_batch(batch)?;
        state.manifests.remove(&num);
        state.rollout_nums.remove(rollout_id);
        clear_caches(&mut state);
        let mut prefix = vec![PREFIX_EVENT];
        prefix.extend_from_slice(&num.to_be_bytes());
        let mut keys = Vec::new();
        for entry in self.tree().scan_prefix(&prefix) {
            let (key, _) = entry?;
            keys.push(key);
        }
        let packed = match self.pack()? {
            Some(pack) => pack.rollout(num).map_or(0, |rollout| rollout.event_count),
            None => 0,
        };
        let events_removed = keys.len() as u64 + packed;
        self.remove_keys(keys)?;
        self.flush()?;
        Ok(DeleteReport {
            rollout_id: rollout_id.to_string(),
            events_removed,
        })
    }

    /// Removes every event no manifest counts, every payload recipe no
    /// counted event cites, and every chunk no remaining recipe needs
    /// (level-1 index chunks included).
    ///
    /// Damage never makes it remove more, and never stops it: a record that
    /// does not decode could cite anything, and a citation is the cited
    /// record's 32 hash bytes, so everything whose hash occurs anywhere in a
    /// damaged record's bytes is kept (a damaged byte inside a hash was lost
    /// anyway). The events of a rollout whose manifest does not decode are
    /// all kept. A damaged record thus costs its own rollout's reclaim at
    /// most, never the others'; the report counts what was kept this way.
    pub fn gc(&self) -> Result<GcReport> {
        let mut state = lock_state(&self.inner.write);
        refuse_if_poisoned(&state)?;
        self.gc_locked(&mut state)
    }

    /// [`Store::gc`] for a caller that holds the write lock already (a
    /// dropped write that spilled collects what it left).
    pub(super) fn gc_locked(&self, state: &mut WriteState) -> Result<GcReport> {
        clear_caches(state);
        let mut report = GcReport::default();
        let counted = self.counted_events(&mut report)?;

        // Every recipe first: the mark needs the set of stored payloads.
        let (recipes, damaged_recipes) = self.stored_recipes(&mut report)?;
        #[allow(clippy::disallowed_types)]
        let stored_payloads: HashSet<Hash> = recipes
            .iter()
            .map(|(_, hash, _)| *hash)
            .chain(damaged_recipes.iter().map(|(hash, _)| *hash))
            .collect();

        // Mark: payloads cited by visible events (and by damaged ones, as
        // far as their bytes tell).
        let (mut live_payloads, dead_events) =
            self.mark_cited_payloads(&counted, &stored_payloads, &mut report)?;
        // A damaged recipe is kept with whatever its bytes name (its base).
        for (hash, value) in &damaged_recipes {
            live_payloads.insert(*hash);
            live_payloads.extend(hashes_within(value, &stored_payloads));
        }
        mark_bases(&mut live_payloads, &recipes);
        self.pack_liveness(&counted, &live_payloads, &mut report)?;

        // Mark: chunks of live recipes; sweep list: dead recipes. Chunks a
        // damaged recipe or index chunk might need are found by their hash
        // bytes among all stored chunks.
        let mut stored_chunks = Vec::new();
        for entry in self.tree().scan_prefix([PREFIX_CHUNK]) {
            let (key, value) = entry?;
            stored_chunks.push((key, super::hotlog::stored_len(&value)));
        }
        #[allow(clippy::disallowed_types)]
        let chunk_hashes: HashSet<Hash> = stored_chunks
            .iter()
            .filter_map(|(key, _)| hash_from_key(key))
            .collect();
        #[allow(clippy::disallowed_types)]
        let mut live_chunks: HashSet<Hash> = HashSet::new();
        for (_, value) in &damaged_recipes {
            live_chunks.extend(hashes_within(value, &chunk_hashes));
        }
        let dead_payloads = self.mark_recipe_chunks(
            recipes,
            &live_payloads,
            &chunk_hashes,
            &mut live_chunks,
            &mut report,
        )?;
        report.payloads_kept += damaged_recipes.len() as u64;
        let dead_chunks = dead_chunks(stored_chunks, &live_chunks, &mut report);

        // Sweep in dependency order: nothing removed is cited by anything kept.
        report.orphan_events_removed = dead_events.len() as u64;
        self.remove_keys(dead_events)?;
        self.remove_keys(dead_payloads)?;
        self.remove_keys(dead_chunks)?;
        self.flush()?;
        Ok(report)
    }

    /// Which events the manifests count; a manifest that does not decode is
    /// counted in the report as damaged, and its rollout's events all kept.
    fn counted_events(&self, report: &mut GcReport) -> Result<CountedEvents> {
        let mut counted = CountedEvents::default();
        for entry in self.tree().scan_prefix([PREFIX_MANIFEST]) {
            let (key, value) = entry?;
            let num = decode_num(&key[1..]).unwrap_or_default();
            match decode_manifest(&key, &value) {
                Ok(manifest) => {
                    counted.event_counts.insert(num, manifest.event_count);
                }
                Err(_) => {
                    report.damaged_records_kept += 1;
                    counted.unreadable_manifests.insert(num);
                }
            }
        }
        Ok(counted)
    }

    /// Every payload recipe: those that decode, and the bytes of those that
    /// do not (counted in the report as damaged).
    fn stored_recipes(
        &self,
        report: &mut GcReport,
    ) -> Result<(Vec<StoredRecipe>, Vec<DamagedRecipe>)> {
        let mut recipes = Vec::new();
        let mut damaged_recipes = Vec::new();
        for entry in self.tree().scan_prefix([PREFIX_PAYLOAD]) {
            let (key, value) = entry?;
            let Some(hash) = hash_from_key(&key) else {
                continue;
            };
            match codec::decode_record::<Recipe>(&key, &value) {
                Ok(recipe) => recipes.push((key, hash, recipe)),
                Err(_) => {
                    report.damaged_records_kept += 1;
                    damaged_recipes.push((hash, value));
                }
            }
        }
        Ok((recipes, damaged_recipes))
    }

    /// The payloads counted events cite (for an event that does not decode,
    /// every stored payload whose hash occurs in its bytes), and the keys of
    /// the events no manifest counts.
    #[allow(clippy::disallowed_types)]
    fn mark_cited_payloads(
        &self,
        counted: &CountedEvents,
        stored_payloads: &HashSet<Hash>,
        report: &mut GcReport,
    ) -> Result<(HashSet<Hash>, Vec<sled::IVec>)> {
        let mut live_payloads: HashSet<Hash> = HashSet::new();
        let mut dead_events = Vec::new();
        for entry in self.tree().scan_prefix([PREFIX_EVENT]) {
            let (key, value) = entry?;
            if !counted.counts(&key) {
                dead_events.push(key);
                continue;
            }
            match decode_event("", &key, &value) {
                Ok(event) => event.payload.for_each_ref(|r| {
                    live_payloads.insert(r.hash);
                }),
                Err(_) => {
                    report.damaged_records_kept += 1;
                    live_payloads.extend(hashes_within(&value, stored_payloads));
                }
            }
        }
        Ok((live_payloads, dead_events))
    }

    /// Marks the chunks of every live recipe (through its index chunks for
    /// a level-1 recipe; an index chunk that cannot be read keeps every
    /// chunk) and returns the keys of the dead recipes.
    #[allow(clippy::disallowed_types)]
    fn mark_recipe_chunks(
        &self,
        recipes: Vec<StoredRecipe>,
        live_payloads: &HashSet<Hash>,
        chunk_hashes: &HashSet<Hash>,
        live_chunks: &mut HashSet<Hash>,
        report: &mut GcReport,
    ) -> Result<Vec<sled::IVec>> {
        let mut dead_payloads = Vec::new();
        for (key, hash, recipe) in recipes {
            if !live_payloads.contains(&hash) {
                report.payloads_removed += 1;
                report.payload_bytes_removed += recipe.size_bytes;
                dead_payloads.push(key);
                continue;
            }
            report.payloads_kept += 1;
            live_chunks.extend(recipe.entries.iter().copied());
            if recipe.level == 0 {
                continue;
            }
            for index_hash in &recipe.entries {
                let entries = self
                    .tree()
                    .get(super::chunk_key(index_hash))?
                    .ok_or_else(|| format!("chunk {index_hash} is missing"))
                    .and_then(|record| self.decode_chunk_value(index_hash, &record))
                    .and_then(|bytes| payload::index_entries(index_hash, &bytes));
                match entries {
                    Ok(entries) => live_chunks.extend(entries),
                    Err(_) => {
                        // An unreadable index chunk names its data chunks
                        // only in bytes nobody can trust: keep every chunk.
                        report.damaged_records_kept += 1;
                        live_chunks.extend(chunk_hashes.iter().copied());
                    }
                }
            }
        }
        Ok(dead_payloads)
    }

    fn remove_keys(&self, keys: Vec<sled::IVec>) -> Result<()> {
        for slice in keys.chunks(DELETE_BATCH_KEYS) {
            let mut batch = sled::Batch::default();
            for key in slice {
                batch.remove(key.clone());
            }
            self.inject(FaultPoint::ApplyBatch)?;
            self.tree().apply_batch(batch)?;
        }
        Ok(())
    }
}

/// A payload recipe that decodes: its key, its payload's hash, the recipe.
type StoredRecipe = (sled::IVec, Hash, Recipe);

/// A payload recipe that does not decode: its payload's hash, its bytes.
type DamagedRecipe = (Hash, sled::IVec);

/// Which event records a manifest counts: seqs 1 to the manifest's event
/// count of each rollout whose manifest decodes, and every event of a
/// rollout whose manifest does not.
#[derive(Debug, Default)]
struct CountedEvents {
    /// Event count by rollout number.
    event_counts: BTreeMap<u64, u64>,
    unreadable_manifests: BTreeSet<u64>,
}

impl CountedEvents {
    /// Whether the event record under `key` is counted (a malformed key
    /// never is).
    fn counts(&self, key: &[u8]) -> bool {
        let num = key.get(1..9).and_then(decode_num);
        let seq = key.get(9..).and_then(decode_num);
        key.len() == 17
            && (num.is_some_and(|num| self.unreadable_manifests.contains(&num))
                || num
                    .and_then(|num| self.event_counts.get(&num))
                    .zip(seq)
                    .is_some_and(|(event_count, seq)| seq >= 1 && seq <= *event_count))
    }
}

impl Store {
    /// Counts what the pack holds that nothing live needs: the events of
    /// deleted rollouts, and the payloads only they (or other dead
    /// payloads) cite. `hot_live` holds the payloads sled's live records
    /// cite. A block that cannot be read keeps every payload (nothing is
    /// counted dead).
    #[allow(clippy::disallowed_types)]
    fn pack_liveness(
        &self,
        counted: &CountedEvents,
        hot_live: &HashSet<Hash>,
        report: &mut GcReport,
    ) -> Result<()> {
        let Some(pack) = self.pack()? else {
            return Ok(());
        };
        report.pack_stream_bytes = pack.stream_bytes();
        let mut live: Vec<bool> = pack
            .payloads()
            .iter()
            .map(|payload| hot_live.contains(&payload.hash))
            .collect();
        for rollout in pack.rollouts() {
            let num = rollout.rollout_num;
            let Some(count) = counted.event_counts.get(&num).copied().or_else(|| {
                counted
                    .unreadable_manifests
                    .contains(&num)
                    .then_some(u64::MAX)
            }) else {
                report.pack_events_dead += rollout.event_count;
                continue;
            };
            report.pack_events_dead += rollout.event_count.saturating_sub(count);
            for block in &rollout.blocks {
                // A damaged block, or an event citing a payload the pack
                // cannot derive: its liveness is unknown, so nothing of
                // the pack is counted dead.
                let Ok(Ok(events)) = pack.read_block("", block).map(|events| {
                    events
                        .into_iter()
                        .collect::<std::result::Result<Vec<_>, _>>()
                }) else {
                    report.damaged_records_kept += 1;
                    return Ok(());
                };
                for event in events.iter().filter(|event| event.seq <= count) {
                    event.payload.for_each_ref(|r| {
                        if let Some(ordinal) = pack.ordinal(&r.hash) {
                            live[ordinal as usize] = true;
                        }
                    });
                }
            }
        }
        // Bases of live payloads are live, transitively (a base may come
        // after the payload that extends it).
        let mut pending: Vec<usize> = (0..live.len()).filter(|ordinal| live[*ordinal]).collect();
        while let Some(ordinal) = pending.pop() {
            if let Some(base) = pack.payloads()[ordinal].base {
                let base = base.ordinal as usize;
                if base < live.len() && !live[base] {
                    live[base] = true;
                    pending.push(base);
                }
            }
        }
        for (payload, live) in pack.payloads().iter().zip(live) {
            if !live {
                report.pack_payloads_dead += 1;
                report.pack_stream_bytes_dead += payload
                    .extents
                    .iter()
                    .map(|extent| u64::from(extent.len))
                    .sum::<u64>();
            }
        }
        Ok(())
    }
}

/// Marks the bases of live payloads live too, transitively: a delta recipe
/// needs its base's bytes.
#[allow(clippy::disallowed_types)]
fn mark_bases(live_payloads: &mut HashSet<Hash>, recipes: &[StoredRecipe]) {
    let bases: BTreeMap<Hash, Hash> = recipes
        .iter()
        .filter_map(|(_, hash, recipe)| recipe.base.map(|base| (*hash, base.payload)))
        .collect();
    let mut pending: Vec<Hash> = live_payloads.iter().copied().collect();
    while let Some(hash) = pending.pop() {
        if let Some(base) = bases.get(&hash)
            && live_payloads.insert(*base)
        {
            pending.push(*base);
        }
    }
}

/// The keys of the stored chunks no live recipe needs, counted in the
/// report with the chunks kept.
#[allow(clippy::disallowed_types)]
fn dead_chunks(
    stored_chunks: Vec<(sled::IVec, u64)>,
    live_chunks: &HashSet<Hash>,
    report: &mut GcReport,
) -> Vec<sled::IVec> {
    let mut dead_chunks = Vec::new();
    for (key, stored_bytes) in stored_chunks {
        match hash_from_key(&key) {
            Some(hash) if live_chunks.contains(&hash) => report.chunks_kept += 1,
            _ => {
                report.chunks_removed += 1;
                report.chunk_bytes_removed += stored_bytes;
                dead_chunks.push(key);
            }
        }
    }
    dead_chunks
}

/// Every hash of `stored` that occurs, as 32 raw bytes, anywhere in `bytes`.
#[allow(clippy::disallowed_types)]
fn hashes_within(bytes: &[u8], stored: &HashSet<Hash>) -> Vec<Hash> {
    let mut found = Vec::new();
    if stored.is_empty() {
        return found;
    }
    for window in bytes.windows(32) {
        let mut candidate = [0u8; 32];
        candidate.copy_from_slice(window);
        let candidate = Hash(candidate);
        if stored.contains(&candidate) {
            found.push(candidate);
        }
    }
    found
}

fn refuse_if_poisoned(state: &WriteState) -> Result<()> {
    match &state.poisoned {
        Some(reason) => Err(Error::Poisoned(reason.clone())),
        None => Ok(()),
    }
}

pub(super) fn clear_caches(state: &mut WriteState) {
    state.known_chunks.clear();
    state.known_payloads.clear();
    // A recent payload may be reclaimed: it must not become a base.
    state.recent.clear();
}
