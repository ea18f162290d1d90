//! Counts and sizes of the whole store (`stats`).

use std::path::Path;

use serde::Serialize;

use super::keys::{PREFIX_CHUNK, PREFIX_PAYLOAD, describe_key, hash_from_key};
use super::{Recipe, Store};
use crate::codec;
use crate::error::{Error, Result};
use crate::event::Hash;

/// Counts and sizes of the whole store (`stats --json`), from
/// [`Store::stats`].
///
/// Payload and chunk counts cover every record the store holds, including
/// garbage no rollout cites any more until [`Store::gc`] removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Rollouts stored (visible manifests).
    pub rollouts: u64,
    /// Events of every rollout together (the sum of their `event_count`).
    pub events: u64,
    /// Distinct payloads stored (hot recipes and the pack's payloads), each
    /// once however often cited.
    pub payloads: u64,
    /// Payload citations by events, repeats counted (the sum of the
    /// manifests' `payload_refs`).
    pub payload_refs: u64,
    /// Bytes of every cited payload, repeats counted: what the payloads
    /// would take stored once per citation, uncompressed.
    pub logical_payload_bytes: u64,
    /// Bytes of the distinct payloads, each once, before chunk
    /// deduplication and compression (a payload stored as a delta of
    /// another counts its whole size).
    pub unique_payload_bytes: u64,
    /// Bytes of payload data as stored: the hot chunk records (after chunk
    /// deduplication and zstd, with their 2-byte headers, index chunks
    /// included) and the pack's compressed stream frames.
    pub stored_chunk_bytes: u64,
    /// Hot chunk records (data and index chunks).
    pub chunks: u64,
    /// Events held in the pack (the rest of `events` are sled records).
    pub pack_events: u64,
    /// Payloads held in the pack.
    pub pack_payloads: u64,
    /// Bytes of the pack file (0: no pack yet; `compact` writes one).
    pub pack_bytes: u64,
    /// Bytes of every file under the store directory at the time of the
    /// call (sled's files with their overhead, and the lock file).
    pub disk_bytes: u64,
}

impl Store {
    /// Counts and sizes of the whole store.
    pub fn stats(&self) -> Result<StoreStats> {
        let mut stats = StoreStats::default();
        for manifest in self.rollouts()? {
            stats.rollouts += 1;
            stats.events += manifest.event_count;
            stats.payload_refs += manifest.payload_refs;
            stats.logical_payload_bytes += manifest.logical_payload_bytes;
        }
        for entry in self.inner.tree.scan_prefix([PREFIX_PAYLOAD]) {
            let (key, value) = entry?;
            let recipe: Recipe =
                codec::decode_record(&key, &value).map_err(|source| Error::Corrupt {
                    key: describe_key(&key),
                    source,
                })?;
            stats.payloads += 1;
            stats.unique_payload_bytes += recipe.size_bytes;
        }
        for entry in self.inner.tree.scan_prefix([PREFIX_CHUNK]) {
            let (_, value) = entry?;
            stats.chunks += 1;
            stats.stored_chunk_bytes += super::hotlog::stored_len(&value);
        }
        if let Some(pack) = self.pack()? {
            stats.pack_bytes = pack.file_bytes();
            stats.pack_payloads = pack.payloads().len() as u64;
            stats.pack_events = pack.rollouts().map(|rollout| rollout.event_count).sum();
            stats.stored_chunk_bytes += pack
                .frames()
                .iter()
                .map(|frame| u64::from(frame.len))
                .sum::<u64>();
            for payload in pack.payloads() {
                // A payload stored again in sled (after the pack was
                // written) is counted once.
                if !self
                    .inner
                    .tree
                    .contains_key(super::payload_key(&payload.hash))?
                {
                    stats.payloads += 1;
                    stats.unique_payload_bytes += payload.size;
                }
            }
        }
        stats.disk_bytes = dir_size(&self.inner.path);
        Ok(stats)
    }

    /// Calls `f` with every chunk's hash and decoded (decompressed) bytes, in
    /// key order, index chunks included, then with every stream frame of the
    /// pack, decompressed (its hash: BLAKE3 of those bytes). For tests and
    /// tooling that must see what the store holds beneath the compression:
    /// the redaction test searches every chunk for planted secrets. Stops at
    /// the first record or frame that does not decode.
    #[doc(hidden)]
    pub fn for_each_chunk(&self, mut f: impl FnMut(&Hash, &[u8])) -> Result<()> {
        for entry in self.inner.tree.scan_prefix([PREFIX_CHUNK]) {
            let (key, value) = entry?;
            let hash = hash_from_key(&key).ok_or_else(|| {
                Error::CorruptData(format!("malformed chunk key {}", describe_key(&key)))
            })?;
            let bytes = self
                .decode_chunk_value(&hash, &value)
                .map_err(Error::CorruptData)?;
            f(&hash, &bytes);
        }
        if let Some(pack) = self.pack()? {
            for index in 0..pack.frames().len() {
                let bytes = pack.frame(index)?;
                f(&Hash::of(&bytes), &bytes);
            }
        }
        Ok(())
    }
}

pub(super) fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
