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

use std::collections::BTreeMap;
#[allow(clippy::disallowed_types)] // membership sets of hashes: never iterated into output
use std::collections::HashSet;

use serde::Serialize;

use super::faults::FaultPoint;
use super::{
    PREFIX_CHUNK, PREFIX_EVENT, PREFIX_PAYLOAD, Recipe, Store, WriteState, decode_event,
    decode_num, describe_key, hash_from_key, lock_state, manifest_key, payload, rollout_id_key,
};
use crate::codec;
use crate::error::{Error, Result};
use crate::event::Hash;

/// Keys removed per sled batch: bounds the memory of one delete step.
const DELETE_BATCH_KEYS: usize = 4096;

/// What `delete_rollout` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeleteReport {
    pub rollout_id: String,
    pub events_removed: u64,
}

/// What `gc` reclaimed and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Events no manifest counts (unfinished writes, interrupted deletes).
    pub orphan_events_removed: u64,
    pub payloads_removed: u64,
    pub payload_bytes_removed: u64,
    pub chunks_removed: u64,
    pub chunk_bytes_removed: u64,
    pub payloads_kept: u64,
    pub chunks_kept: u64,
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
        let events_removed = keys.len() as u64;
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
    pub fn gc(&self) -> Result<GcReport> {
        let mut state = lock_state(&self.inner.write);
        refuse_if_poisoned(&state)?;
        clear_caches(&mut state);
        let mut report = GcReport::default();
        let manifests: BTreeMap<u64, _> = self
            .rollouts()?
            .into_iter()
            .map(|manifest| (manifest.rollout_num, manifest))
            .collect();

        // Mark: payloads cited by visible events. An event that does not
        // decode could cite anything, so gc refuses rather than guess.
        #[allow(clippy::disallowed_types)]
        let mut live_payloads: HashSet<Hash> = HashSet::new();
        let mut dead_events = Vec::new();
        for entry in self.tree().scan_prefix([PREFIX_EVENT]) {
            let (key, value) = entry?;
            let counted = key.len() == 17
                && decode_num(&key[1..9])
                    .and_then(|num| manifests.get(&num))
                    .zip(decode_num(&key[9..]))
                    .is_some_and(|(manifest, seq)| seq >= 1 && seq <= manifest.event_count);
            if !counted {
                dead_events.push(key);
                continue;
            }
            let num = decode_num(&key[1..9]).unwrap_or_default();
            let rollout_id = manifests
                .get(&num)
                .map_or("", |manifest| manifest.rollout_id.as_str());
            let event = decode_event(rollout_id, &key, &value).map_err(|err| {
                Error::Other(format!(
                    "gc refuses to run while an event is damaged ({err}); run `tracefold verify`"
                ))
            })?;
            event.payload.for_each_ref(|r| {
                live_payloads.insert(r.hash);
            });
        }

        // Every recipe, then the bases of live payloads are live too: a delta
        // recipe needs its base's bytes.
        let mut recipes = Vec::new();
        for entry in self.tree().scan_prefix([PREFIX_PAYLOAD]) {
            let (key, value) = entry?;
            let Some(hash) = hash_from_key(&key) else {
                continue;
            };
            let recipe: Recipe =
                codec::decode_record(&key, &value).map_err(|source| Error::Corrupt {
                    key: describe_key(&key),
                    source,
                })?;
            recipes.push((key, hash, recipe));
        }
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

        // Mark: chunks of live recipes; sweep list: dead recipes.
        #[allow(clippy::disallowed_types)]
        let mut live_chunks: HashSet<Hash> = HashSet::new();
        let mut dead_payloads = Vec::new();
        for (key, hash, recipe) in recipes {
            if !live_payloads.contains(&hash) {
                report.payloads_removed += 1;
                report.payload_bytes_removed += recipe.size_bytes;
                dead_payloads.push(key);
                continue;
            }
            report.payloads_kept += 1;
            match recipe.level {
                0 => live_chunks.extend(recipe.entries.iter().copied()),
                _ => {
                    for index_hash in &recipe.entries {
                        live_chunks.insert(*index_hash);
                        let bytes = self.read_chunk(index_hash)?;
                        live_chunks.extend(
                            payload::index_entries(index_hash, &bytes)
                                .map_err(Error::CorruptData)?,
                        );
                    }
                }
            }
        }

        let mut dead_chunks = Vec::new();
        for entry in self.tree().scan_prefix([PREFIX_CHUNK]) {
            let (key, value) = entry?;
            match hash_from_key(&key) {
                Some(hash) if live_chunks.contains(&hash) => report.chunks_kept += 1,
                _ => {
                    report.chunks_removed += 1;
                    report.chunk_bytes_removed += value.len() as u64;
                    dead_chunks.push(key);
                }
            }
        }

        // Sweep in dependency order: nothing removed is cited by anything kept.
        report.orphan_events_removed = dead_events.len() as u64;
        self.remove_keys(dead_events)?;
        self.remove_keys(dead_payloads)?;
        self.remove_keys(dead_chunks)?;
        self.flush()?;
        Ok(report)
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

fn refuse_if_poisoned(state: &WriteState) -> Result<()> {
    match &state.poisoned {
        Some(reason) => Err(Error::Poisoned(reason.clone())),
        None => Ok(()),
    }
}

fn clear_caches(state: &mut WriteState) {
    state.known_chunks.clear();
    state.known_payloads.clear();
    // A recent payload may be reclaimed: it must not become a base.
    state.recent.clear();
}
