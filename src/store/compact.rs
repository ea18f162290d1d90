//! Compaction: moving the hot tier into a new pack, and giving disk space
//! back.
//!
//! A compaction writes every live record into a new pack file (the unique
//! payload bytes as one zstd stream, the events in compressed blocks: see
//! `pack/`), then copies what stays in sled (manifests, rollout ids, and a
//! pointer to the new pack) into a fresh database beside the old one
//! (`db.compact/`), flushes it, and swaps the directories:
//!
//! 1. write `pack-{generation}.tfpack.tmp`, sync it, rename it to
//!    `pack-{generation}.tfpack`, sync the directory;
//! 2. copy the records that stay, and the pointer, into `db.compact/`,
//!    flush, close;
//! 3. rename `db/` to `db.old/`;
//! 4. rename `db.compact/` to `db/`;
//! 5. remove `db.old/` and the previous generation's pack.
//!
//! Each rename is atomic, and `db.old/` exists only once `db.compact/` is
//! complete, so [`recover`] (run by every open before sled starts) finishes
//! or undoes an interrupted compaction: `db/` missing with `db.compact/` and
//! `db.old/` present means step 4 did not happen (do it); `db/` and
//! `db.compact/` both present means the copy never finished (drop the copy);
//! `db.old/` beside `db/` is a finished compaction's leftover (remove it).
//! Whichever database survives names its own pack; the open removes any
//! other pack file. sled 0.34 never shrinks its files (a store whose every
//! rollout was deleted and collected had grown from 49.4 to 56.7 MB), so
//! the fresh database is also how deleted records give their space back.
//! Compaction needs the store's only handle (no recorder running): it closes
//! and reopens the database.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::keys::{META_FORMAT_KEY, META_PACK_KEY, PREFIX_CHUNK, PREFIX_EVENT, PREFIX_PAYLOAD};
use super::pack::{PackBuilder, PackPointer, PayloadFeed};
use super::{GcReport, SLED_DIR_NAME, STORE_FORMAT_VERSION, Store};
use crate::codec;
use crate::error::{Error, Result};
use crate::event::Hash;

/// Hot records below this are left for a later compaction: packing them
/// would rewrite the pack for little gain.
const HOT_COMPACT_MIN_BYTES: u64 = 64 * 1024;
/// A freshly written sled database measured 2.4 to 3.2 times its records'
/// bytes on disk.
const SLED_DISK_PER_LIVE_BYTE: u64 = 3;

const COPY_DIR_NAME: &str = "db.compact";
const OLD_DIR_NAME: &str = "db.old";

/// Bytes of records per batch while copying: sled's peak memory is about 20
/// times the batch it applies (see `ingest::SPILL_THRESHOLD_BYTES_DEFAULT`).
const COPY_BATCH_BYTES: usize = 1024 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// Records copied into the new database: what stays in sled (manifests,
    /// rollout ids, the format and the pack pointer).
    pub records: u64,
    /// Key and value bytes of those records.
    pub record_bytes: u64,
    /// Events written to the new pack (every rollout's whole log).
    pub events_packed: u64,
    /// Distinct payloads written to the new pack (those events cite, and
    /// their delta bases).
    pub payloads_packed: u64,
    /// Bytes of the pack's payload stream before compression: each
    /// distinct chunk of the payloads' own bytes once.
    pub stream_bytes: u64,
    /// Bytes of the new pack file.
    pub pack_bytes: u64,
    /// Bytes of every file under the store directory before the compaction.
    pub disk_bytes_before: u64,
    /// Bytes of every file under the store directory once the new database
    /// was swapped in and reopened.
    pub disk_bytes_after: u64,
}

impl Store {
    /// Key and value bytes of every record in the store: what a compacted
    /// database has to hold.
    pub fn live_record_bytes(&self) -> Result<u64> {
        let mut bytes = 0u64;
        for entry in self.tree().iter() {
            let (key, value) = entry?;
            bytes = bytes.saturating_add((key.len() + value.len()) as u64);
        }
        Ok(bytes)
    }

    /// Bytes of the hot tier's records (chunks, recipes, events, keys
    /// included, and the hot log's committed length, dead records too):
    /// what a compaction would move into the pack or drop.
    pub fn hot_record_bytes(&self) -> Result<u64> {
        let mut bytes = super::lock_state(&self.inner.write).hot_log.committed();
        for prefix in [PREFIX_CHUNK, PREFIX_PAYLOAD, PREFIX_EVENT] {
            for entry in self.tree().scan_prefix([prefix]) {
                let (key, value) = entry?;
                bytes = bytes.saturating_add((key.len() + value.len()) as u64);
            }
        }
        Ok(bytes)
    }

    /// Whether a compaction is worth its cost now: the hot tier holds at
    /// least 64 KiB and half the pack's size (it packs
    /// to a fraction of that), or `gc` (its report given) found a quarter
    /// of the pack's stream or events dead, or sled's files hold more than
    /// twice what a fresh database of its records would.
    pub fn compaction_worthwhile(&self, gc: Option<&GcReport>) -> Result<bool> {
        let pack_bytes = self.pack_pointer().map_or(0, |pointer| pointer.file_bytes);
        let hot = self.hot_record_bytes()?;
        if hot >= HOT_COMPACT_MIN_BYTES && hot >= pack_bytes / 2 {
            return Ok(true);
        }
        if let Some(gc) = gc
            && (gc.pack_stream_bytes_dead > 0 || gc.pack_events_dead > 0)
        {
            let stream = gc.pack_stream_bytes.max(1);
            // The pack's events, without the full scan `stats` makes.
            let events = self.pack()?.map_or(0, |pack| {
                pack.rollouts()
                    .map(|rollout| rollout.event_count)
                    .sum::<u64>()
            });
            let events = events.max(1);
            if gc.pack_stream_bytes_dead * 4 >= stream || gc.pack_events_dead * 4 >= events {
                return Ok(true);
            }
        }
        let sled_disk = super::dir_size(&self.path().join(SLED_DIR_NAME));
        let live = self.live_record_bytes()?;
        Ok(
            sled_disk
                > 2 * (live * SLED_DISK_PER_LIVE_BYTE + super::lock::NEW_SEGMENT_BYTES as u64),
        )
    }

    /// Moves every live record into a new pack and rewrites the database
    /// with what stays in sled, giving the rest of its disk space back
    /// (module docs). Records no rollout cites are left behind, as `gc`
    /// would remove them. Consumes the store and returns it reopened; fails
    /// without changing anything if another handle on the store is alive in
    /// this process (a recorder's writer holds one).
    pub fn compact(self) -> Result<(Store, CompactReport)> {
        let path = self.path().to_path_buf();
        let options = self.options().clone();
        let disk_bytes_before = super::dir_size(&path);
        let copy_dir = path.join(COPY_DIR_NAME);
        if Arc::strong_count(&self.inner) > 1 {
            return Err(only_handle(&path, "compaction"));
        }
        let generation = self
            .pack_pointer()
            .map_or(1, |pointer| pointer.generation + 1);
        let mut report = CompactReport::default();
        let pointer = self.build_pack(generation, &mut report)?;
        let new_pack = path.join(pointer.file_name());
        sync_dir(&path);
        remove_dir_if_present(&copy_dir)?;
        let copied = self.copy_into(&copy_dir, Some(&pointer)).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&copy_dir);
            let _ = std::fs::remove_file(&new_pack);
        })?;
        report.records = copied.records;
        report.record_bytes = copied.record_bytes;
        report.pack_bytes = pointer.file_bytes;
        report.disk_bytes_before = disk_bytes_before;
        // Keep the store's lock through the swap and the reopen, so no other
        // process opens the store in between.
        let lock = self.close_keeping_lock("compaction")?;
        let db_dir = path.join(SLED_DIR_NAME);
        let old_dir = path.join(OLD_DIR_NAME);
        rename(&db_dir, &old_dir)?;
        rename(&copy_dir, &db_dir)?;
        sync_dir(&path);
        remove_dir_if_present(&old_dir)?;
        // The open removes the previous generation's pack.
        let store = Store::open_locked(path.clone(), options, lock)?;
        report.disk_bytes_after = super::dir_size(&path);
        Ok((store, report))
    }

    /// Writes pack `generation`: every rollout's log, the payloads they
    /// cite and those payloads' bases, each distinct chunk once.
    fn build_pack(&self, generation: u64, report: &mut CompactReport) -> Result<PackPointer> {
        let mut builder = PackBuilder::create(self.path(), generation)?;
        let temp = builder.temp_path().to_path_buf();
        let built = self.fill_pack(&mut builder, report).and_then(|()| {
            builder.finish(&mut StoreFeed {
                store: self,
                rollout_id: None,
            })
        });
        match built {
            Ok(pointer) => Ok(pointer),
            Err(err) => {
                let _ = std::fs::remove_file(&temp);
                Err(err)
            }
        }
    }

    fn fill_pack(&self, builder: &mut PackBuilder, report: &mut CompactReport) -> Result<()> {
        let mut max_rollout_num = self
            .pack_pointer()
            .map_or(0, |pointer| pointer.max_rollout_num);
        for manifest in self.rollouts()? {
            max_rollout_num = max_rollout_num.max(manifest.rollout_num);
            report.events_packed += manifest.event_count;
            builder.add_rollout(
                manifest.rollout_num,
                self.events_of(&manifest),
                &mut StoreFeed {
                    store: self,
                    rollout_id: Some(&manifest.rollout_id),
                },
            )?;
        }
        {
            let state = super::lock_state(&self.inner.write);
            max_rollout_num = max_rollout_num.max(state.next_rollout_num.saturating_sub(1));
        }
        builder.note_rollout_num(max_rollout_num);
        report.payloads_packed = u64::from(builder.payload_count());
        report.stream_bytes = builder.stream_bytes();
        Ok(())
    }

    /// Copies into a new database at `dir`, flushed: every record, or with
    /// `pack`, every record but those the pack now holds (chunks, recipes,
    /// events), and the pointer to it.
    fn copy_into(&self, dir: &Path, pack: Option<&PackPointer>) -> Result<CompactReport> {
        let config = sled::Config::new()
            .path(dir)
            .segment_size(super::lock::segment_size(dir))
            .cache_capacity(self.options().cache_capacity_bytes)
            .flush_every_ms(None);
        let db = config.open().map_err(|err| Error::Open {
            path: dir.to_path_buf(),
            message: format!("sled could not create the compacted copy: {err}"),
        })?;
        let tree = db.open_tree(super::TREE_NAME)?;
        let mut report = CompactReport::default();
        let mut batch = sled::Batch::default();
        let mut batch_bytes = 0usize;
        for entry in self.tree().iter() {
            let (key, value) = entry?;
            if pack.is_some()
                && (matches!(
                    key.first(),
                    Some(&(PREFIX_CHUNK | PREFIX_PAYLOAD | PREFIX_EVENT))
                ) || key.as_ref() == META_PACK_KEY
                    || key.as_ref() == META_FORMAT_KEY
                    || key.as_ref() == super::hotlog::HOT_LOG_LEN_KEY)
            {
                continue;
            }
            report.records += 1;
            report.record_bytes += (key.len() + value.len()) as u64;
            batch_bytes += key.len() + value.len();
            batch.insert(key, value);
            if batch_bytes >= COPY_BATCH_BYTES {
                tree.apply_batch(std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
        }
        if let Some(pointer) = pack {
            let record =
                codec::encode_record(META_PACK_KEY, pointer).map_err(|source| Error::Corrupt {
                    key: "pack pointer".into(),
                    source,
                })?;
            batch.insert(META_PACK_KEY, record);
            batch.insert(META_FORMAT_KEY, &[STORE_FORMAT_VERSION]);
            report.records += 2;
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        Ok(report)
    }
}

impl Store {
    /// Closes and reopens the database, so that the next open of the
    /// store is quick: sled (0.34) writes its snapshot only when it opens a
    /// database, and an open replays everything written since the last
    /// snapshot (2.6 s after a 1M-event `ingest --no-compact`, 0.4 s once
    /// checkpointed). The replay happens here instead, at the end of the
    /// write, and the store is then as a compaction would leave it but for
    /// the pack. The CLI's writing commands checkpoint when they do not
    /// compact; a host that wrote much may call it before exiting. Consumes
    /// the store and returns it reopened; fails without changing anything
    /// if another handle on the store is alive in this process.
    pub fn checkpoint(self) -> Result<Store> {
        let path = self.path().to_path_buf();
        let options = self.options().clone();
        self.flush()?;
        let lock = self.close_keeping_lock("a checkpoint")?;
        Store::open_locked(path, options, lock)
    }

    /// Closes the database and gives back the store's lock, so that it is
    /// reopened before any other process can open it; fails, naming `what`
    /// needed it, if another handle on the store is alive.
    fn close_keeping_lock(self, what: &str) -> Result<std::fs::File> {
        let path = self.path().to_path_buf();
        let inner = Arc::try_unwrap(self.inner).map_err(|_| only_handle(&path, what))?;
        let lock = inner.lock;
        drop((inner.tree, inner.db, inner.pack));
        Ok(lock)
    }
}

/// What a compaction's pack stores about a payload, read from the store.
struct StoreFeed<'a> {
    store: &'a Store,
    /// The rollout being packed, named when a payload it cites is missing.
    rollout_id: Option<&'a str>,
}

impl PayloadFeed for StoreFeed<'_> {
    fn size(&mut self, hash: &Hash) -> Result<u64> {
        self.store
            .payload_size(hash)
            .map_err(|err| match self.rollout_id {
                Some(rollout_id) => cited_payload_failure(rollout_id, hash, err),
                None => err,
            })
    }

    fn base(&mut self, hash: &Hash) -> Result<Option<(Hash, u64, u8)>> {
        self.store.payload_base(hash)
    }

    fn bytes(&mut self, hash: &Hash) -> Result<Vec<u8>> {
        self.store.read_payload(hash)
    }
}

/// A payload an event cites that the store cannot size: compaction stops,
/// naming the rollout.
fn cited_payload_failure(rollout_id: &str, hash: &Hash, err: Error) -> Error {
    match err {
        Error::UnknownPayload(_) => Error::CorruptData(format!(
            "rollout {rollout_id} cites payload {hash}, which the store does not hold; `verify` lists the damage"
        )),
        other => other,
    }
}

fn only_handle(path: &Path, what: &str) -> Error {
    Error::Other(format!(
        "store {}: {what} needs the only handle on the store; stop recorders and other users of it first",
        path.display()
    ))
}

/// Finishes or undoes a compaction a crash interrupted (module docs). Runs
/// before sled opens, under the store's lock.
pub(super) fn recover(path: &Path) -> Result<()> {
    let db_dir = path.join(SLED_DIR_NAME);
    let copy_dir = path.join(COPY_DIR_NAME);
    let old_dir = path.join(OLD_DIR_NAME);
    let (db, copy, old) = (db_dir.exists(), copy_dir.exists(), old_dir.exists());
    if !db && old {
        // The old database was moved aside only once the copy was complete.
        if copy {
            rename(&copy_dir, &db_dir)?;
        } else {
            rename(&old_dir, &db_dir)?;
            return Ok(());
        }
        sync_dir(path);
    } else if copy {
        remove_dir_if_present(&copy_dir)?;
    }
    if old_dir.exists() {
        remove_dir_if_present(&old_dir)?;
    }
    Ok(())
}

/// Whether `path` holds a store whose compaction stopped between moving the
/// old database aside and putting the copy in its place.
pub(super) fn interrupted_swap(path: &Path) -> bool {
    !path.join(SLED_DIR_NAME).exists() && path.join(OLD_DIR_NAME).is_dir()
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|err| {
        Error::io(
            format!("rename {} to {}", from.display(), to.display()),
            err,
        )
    })
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io(format!("remove {}", dir.display()), err)),
    }
}

fn sync_dir(dir: &Path) {
    // Best effort: makes the renames durable on Linux.
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventPayload, PayloadKind};
    use crate::store::StoreOptions;

    fn store_with_rollouts(dir: &Path, rollouts: u64) -> Store {
        let store = Store::open(dir, StoreOptions::default()).expect("open");
        for rollout in 0..rollouts {
            let mut writes = store.writes().expect("writes");
            let num = writes
                .rollout(&format!("r{rollout}"), true)
                .expect("rollout");
            for n in 0..50u64 {
                let body = format!(
                    "{{\"r\":{rollout},\"n\":{n},\"pad\":\"{}\"}}",
                    "x".repeat(4000)
                );
                let payload = writes
                    .put_payload_bytes(PayloadKind::ToolResult, body.as_bytes())
                    .expect("payload");
                writes
                    .append(
                        num,
                        1,
                        None,
                        None,
                        EventPayload::ProtocolEventObserved {
                            event_type: "x".into(),
                            event_payload: payload,
                        },
                    )
                    .expect("append");
            }
            writes.commit(true).expect("commit");
        }
        store
    }

    #[test]
    fn compaction_keeps_every_record_and_shrinks_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_rollouts(dir.path(), 20);
        for rollout in 0..19 {
            store
                .delete_rollout(&format!("r{rollout}"))
                .expect("delete");
        }
        store.gc().expect("gc");
        let events_before: Vec<_> = store.events("r19").expect("events").collect();
        let stats_before = store.stats().expect("stats");
        let (store, report) = store.compact().expect("compact");
        assert!(
            report.disk_bytes_after < report.disk_bytes_before / 2,
            "{report:?}"
        );
        let events_after: Vec<_> = store.events("r19").expect("events").collect();
        assert_eq!(events_before.len(), 50);
        assert_eq!(events_after.len(), 50);
        for (before, after) in events_before.iter().zip(&events_after) {
            let (before, after) = (
                before.as_ref().expect("event"),
                after.as_ref().expect("event"),
            );
            assert_eq!(before, after);
            before.payload.for_each_ref(|r| {
                let bytes = store
                    .read_payload(&r.hash)
                    .expect("payload reads from the pack");
                assert_eq!(bytes.len() as u64, r.size_bytes);
            });
        }
        let stats_after = store.stats().expect("stats");
        // Everything moved into the pack; the counts are the same.
        assert_eq!(
            (
                stats_after.rollouts,
                stats_after.events,
                stats_after.payloads,
                stats_after.payload_refs
            ),
            (
                stats_before.rollouts,
                stats_before.events,
                stats_before.payloads,
                stats_before.payload_refs
            )
        );
        assert_eq!(
            stats_after.logical_payload_bytes,
            stats_before.logical_payload_bytes
        );
        assert_eq!(
            stats_after.unique_payload_bytes,
            stats_before.unique_payload_bytes
        );
        assert_eq!(
            (
                stats_after.chunks,
                stats_after.pack_events,
                stats_after.pack_payloads
            ),
            (0, 50, 50)
        );
        assert_eq!(store.hot_record_bytes().expect("hot bytes"), 0);
        assert!(store.verify().expect("verify").is_empty());
        let names = crate::test_files::file_names(dir.path());
        assert!(
            !names.iter().any(|name| name.starts_with("db.")),
            "{names:?}"
        );
    }

    #[test]
    fn compaction_refuses_while_another_handle_is_alive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_rollouts(dir.path(), 1);
        let other = store.clone();
        let Err(err) = store.compact() else {
            panic!("compaction with a second handle alive must be refused");
        };
        let err = err.to_string();
        assert!(err.contains("needs the only handle"), "{err}");
        assert_eq!(other.rollouts().expect("rollouts").len(), 1);
    }

    #[test]
    fn an_interrupted_compaction_is_finished_or_undone_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path();
        drop(store_with_rollouts(path, 2));
        // Interrupted during the copy: the partial copy is dropped.
        std::fs::create_dir_all(path.join(COPY_DIR_NAME)).expect("mkdir");
        std::fs::write(path.join(COPY_DIR_NAME).join("junk"), b"partial").expect("write");
        let store = Store::open(path, StoreOptions::default()).expect("open");
        assert_eq!(store.rollouts().expect("rollouts").len(), 2);
        assert!(!path.join(COPY_DIR_NAME).exists());
        // Interrupted between the two renames: the complete copy is put in
        // place.
        let copy = path.join("copy-source");
        store.copy_into(&copy, None).expect("copy");
        drop(store);
        std::fs::rename(path.join(SLED_DIR_NAME), path.join(OLD_DIR_NAME)).expect("step 2");
        std::fs::rename(&copy, path.join(COPY_DIR_NAME)).expect("copy ready");
        let store = Store::open(path, StoreOptions::default()).expect("open");
        assert_eq!(store.rollouts().expect("rollouts").len(), 2);
        assert!(store.verify().expect("verify").is_empty());
        assert!(!path.join(OLD_DIR_NAME).exists());
        assert!(!path.join(COPY_DIR_NAME).exists());
    }
}
