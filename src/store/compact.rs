//! Compaction: giving disk space back after `gc`.
//!
//! sled 0.34 never shrinks its files: removing records writes tombstones, and
//! freed segments are only reused by later writes (a store whose every rollout
//! was deleted and collected had grown from 49.4 to 56.7 MB). Compaction
//! copies the live records into a fresh database beside the old one
//! (`db.compact/`), flushes it, and swaps the directories:
//!
//! 1. copy every record into `db.compact/`, flush, close;
//! 2. rename `db/` to `db.old/`;
//! 3. rename `db.compact/` to `db/`;
//! 4. remove `db.old/`.
//!
//! Each rename is atomic, and `db.old/` exists only once `db.compact/` is
//! complete, so [`recover`] (run by every open before sled starts) finishes
//! or undoes an interrupted compaction: `db/` missing with `db.compact/` and
//! `db.old/` present means step 3 did not happen (do it); `db/` and
//! `db.compact/` both present means the copy never finished (drop the copy);
//! `db.old/` beside `db/` is a finished compaction's leftover (remove it).
//! Compaction needs the store's only handle (no recorder running): it closes
//! and reopens the database.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::{SLED_DIR_NAME, Store};
use crate::error::{Error, Result};

const COPY_DIR_NAME: &str = "db.compact";
const OLD_DIR_NAME: &str = "db.old";

/// Bytes of records per batch while copying: sled's peak memory is about 20
/// times the batch it applies (see `ingest::SPILL_THRESHOLD_BYTES_DEFAULT`).
const COPY_BATCH_BYTES: usize = 1024 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// Records copied into the new database (every record of the store:
    /// compaction keeps everything; run [`Store::gc`] first to drop garbage).
    pub records: u64,
    /// Key and value bytes of the live records.
    pub record_bytes: u64,
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

    /// Rewrites the database with only its live records and gives the rest
    /// of its disk space back (module docs). Consumes the store and returns
    /// it reopened; fails without changing anything if another handle on the
    /// store is alive in this process (a recorder's writer holds one).
    pub fn compact(self) -> Result<(Store, CompactReport)> {
        let path = self.path().to_path_buf();
        let options = self.options().clone();
        let disk_bytes_before = super::dir_size(&path);
        let copy_dir = path.join(COPY_DIR_NAME);
        if Arc::strong_count(&self.inner) > 1 {
            return Err(only_handle(&path));
        }
        remove_dir_if_present(&copy_dir)?;
        let mut report = self.copy_into(&copy_dir).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&copy_dir);
        })?;
        report.disk_bytes_before = disk_bytes_before;
        // Close the database but keep the store's lock through the swap and
        // the reopen, so no other process opens the store in between.
        let inner = Arc::try_unwrap(self.inner).map_err(|_| only_handle(&path))?;
        let lock = inner.lock;
        drop((inner.tree, inner.db));
        let db_dir = path.join(SLED_DIR_NAME);
        let old_dir = path.join(OLD_DIR_NAME);
        rename(&db_dir, &old_dir)?;
        rename(&copy_dir, &db_dir)?;
        sync_dir(&path);
        remove_dir_if_present(&old_dir)?;
        let store = Store::open_locked(path.clone(), options, lock)?;
        report.disk_bytes_after = super::dir_size(&path);
        Ok((store, report))
    }

    /// Copies every record into a new database at `dir`, flushed.
    fn copy_into(&self, dir: &Path) -> Result<CompactReport> {
        let config = sled::Config::new()
            .path(dir)
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
            report.records += 1;
            report.record_bytes += (key.len() + value.len()) as u64;
            batch_bytes += key.len() + value.len();
            batch.insert(key, value);
            if batch_bytes >= COPY_BATCH_BYTES {
                tree.apply_batch(std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        Ok(report)
    }
}

fn only_handle(path: &Path) -> Error {
    Error::Other(format!(
        "store {}: compaction needs the only handle on the store; stop recorders and other users of it first",
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
        assert_eq!(events_before.len(), events_after.len());
        let mut stats_after = store.stats().expect("stats");
        stats_after.disk_bytes = stats_before.disk_bytes;
        assert_eq!(stats_after, stats_before);
        assert!(store.verify().expect("verify").is_empty());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
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
        store.copy_into(&copy).expect("copy");
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
