//! The embedded store: everything that touches sled.
//!
//! One sled tree holds every record, told apart by a one-byte key prefix, so
//! that one `apply_batch` can write chunks, payload recipes, events and the
//! rollout manifest atomically (sled batches are atomic per tree on
//! recovery). See DESIGN.md, "On-disk format", for the byte layout.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `c` | chunk BLAKE3 (32) | chunk record (`payload::encode_chunk`), or (format 2) its location in the hot log (`hotlog.rs`) |
//! | `p` | payload BLAKE3 (32) | codec record of `Recipe` |
//! | `e` | rollout number (8, BE) ++ seq (8, BE) | codec record of `Event` |
//! | `m` | rollout number (8, BE) | codec record of `RolloutManifest` |
//! | `r` | rollout id (UTF-8) | rollout number (8, BE) |
//! | `M` | `format` | store format version (1 byte) |
//! | `M` | `pack` | the pack pointer (format 2) |
//! | `M` | `hotlog` | the hot log's committed length (format 2, u64 LE) |
//!
//! A rollout's visible log is seq `1..=manifest.event_count`; the manifest is
//! written in the same batch as the events it counts, so a log is always
//! contiguous. Writers never delete; `delete` and `gc` are explicit.

// Hash sets of content hashes serve as membership caches here; their order
// never reaches any output, so the crate-wide ban does not apply.
#![allow(clippy::disallowed_types)]

mod compact;
pub mod faults;
mod hotlog;
mod keys;
mod lock;
#[cfg(any(test, feature = "__internal_whitebox"))]
pub use lock::segment_size as sled_segment_size;
mod manifest;
mod pack;
mod panic_guard;
pub mod payload;
mod reads;
mod retention;
mod stats;
mod verify;
mod writes;

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::codec;
use crate::error::{Error, Result};
use crate::event::Hash;
pub use compact::CompactReport;
pub use faults::{FaultInjector, FaultPoint, ScriptedFaults};
use keys::*;
pub(crate) use keys::{chunk_key, event_key, manifest_key, payload_key};
use lock::{acquire_lock, environment_failure, open_sled, sled_open_failure};
pub use manifest::RolloutManifest;
use manifest::decode_manifest;
pub use payload::Recipe;
pub use reads::EventIter;
use reads::decode_event;
pub use retention::{DeleteReport, GcReport};
pub use stats::StoreStats;
use stats::dir_size;
pub use verify::Finding;
pub use writes::{WriteCounters, Writes};

/// The format this build writes: 2 (a store may hold a pack). It reads 1
/// too: a format-1 store is a store with no pack, and its first compaction
/// upgrades it.
const STORE_FORMAT_VERSION: u8 = 2;
const STORE_FORMAT_V1: u8 = 1;

const SLED_DIR_NAME: &str = "db";
/// The one sled tree every record lives in.
const TREE_NAME: &str = "tracefold";

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled's page cache, in bytes (default 128 MiB). Bounds memory: sled's
    /// default (1 GiB) let RSS reach 400 MB for 200 MB of data on the
    /// reference machine.
    pub cache_capacity_bytes: u64,
    /// Largest payload accepted, in bytes (default 64 MiB): a larger one is
    /// refused with [`Error::PayloadTooLarge`] (the recorder drops its event
    /// and records the drop). A read refuses a recipe larger than this or
    /// 1 GiB, whichever is larger.
    pub max_payload_bytes: u64,
    /// sled's background flush interval, in milliseconds (default 1,000;
    /// `None`: no background flusher): a safety net only, since writers
    /// flush explicitly per durability mode.
    pub background_flush_ms: Option<u64>,
    /// Test seam: consulted before every batch and flush (`None` in
    /// production). See `faults.rs`.
    pub faults: Option<Arc<dyn FaultInjector>>,
    /// How long `open` retries a held lock file before failing with
    /// [`Error::Locked`]. A lock can be held for a moment after its owner
    /// closed the store: a child process forked by any thread of the owner
    /// holds a copy of the lock descriptor until it execs.
    pub lock_wait: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            cache_capacity_bytes: 128 * 1024 * 1024,
            max_payload_bytes: 64 * 1024 * 1024,
            background_flush_ms: Some(1000),
            faults: None,
            lock_wait: std::time::Duration::from_secs(2),
        }
    }
}

/// The embedded store. Cheap to clone; one per directory per process.
///
/// A directory holds one sled database with every rollout's log (seq `1..`,
/// contiguous) and manifest, and every payload once, by its BLAKE3 hash,
/// chunked and compressed. A [`Recorder`](crate::Recorder) writes to it
/// through its writer thread, and ingest and import in one all-or-nothing
/// write; reads never need the writer. [`Store::open`] creates a store,
/// [`Store::open_existing`] only opens one; either fails with
/// [`Error::Locked`] while another process holds it.
///
/// # Examples
///
/// List the rollouts, read one's manifest and events, fetch a payload an
/// event cites by its hash, and check the store:
///
/// ```
/// use serde_json::json;
/// use tracefold::event::{EventPayload, ExecutionStatus, RolloutStatus};
/// use tracefold::{Recorder, RecorderConfig, RolloutStart, Store, StoreOptions, ThreadStart};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreOptions::default())?;
/// # let recorder = Recorder::start(&store, RecorderConfig::default())?;
/// # let rollout = recorder.start_rollout(RolloutStart {
/// #     rollout_id: Some("r-1".into()),
/// #     trace_id: None,
/// #     root: ThreadStart { thread_id: "root".into(), agent_path: "/root".into(), metadata: None },
/// # });
/// # let turn = rollout.root().start_turn("turn-1");
/// let request = json!({"input": []});
/// // ... a recorder records rollout `r-1`: one turn, one model call sending `request` ...
/// # let call = turn.start_inference("gpt-5", "openai", || request.clone());
/// # call.completed(Some("resp-1"), None, || json!({"output_items": []}));
/// # turn.end(ExecutionStatus::Completed);
/// # rollout.end(RolloutStatus::Completed);
/// # recorder.shutdown()?;
///
/// let rollouts = store.rollouts()?;
/// assert_eq!(rollouts.len(), 1);
/// let manifest = store.manifest("r-1")?;
/// assert_eq!(manifest, rollouts[0]);
/// assert_eq!(manifest.status, RolloutStatus::Completed);
/// assert_eq!(manifest.root_thread_id.as_deref(), Some("root"));
///
/// // The log, in seq order from 1; each item is a `Result`.
/// let events = store.events("r-1")?.collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(events.len() as u64, manifest.event_count);
/// assert!(events.iter().zip(1..).all(|(event, seq)| event.seq == seq));
///
/// // Payloads are cited by hash and read back byte for byte (compact JSON).
/// let cited = events.iter().find_map(|event| match &event.payload {
///     EventPayload::InferenceStarted { request_payload, .. } => Some(request_payload.hash),
///     _ => None,
/// });
/// let bytes = store.read_payload(&cited.expect("the model call's request"))?;
/// assert_eq!(bytes, serde_json::to_vec(&request)?);
///
/// assert!(store.verify()?.is_empty()); // no finding: the store is sound
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    path: PathBuf,
    db: sled::Db,
    tree: sled::Tree,
    options: StoreOptions,
    write: Mutex<WriteState>,
    /// Recently assembled payloads, so reading a conversation's requests in
    /// order assembles each delta from its (just read) base in one step.
    assembled: Mutex<std::collections::VecDeque<(Hash, Arc<[u8]>)>>,
    /// The cold tier: the pack `Mpack` names, opened on first use.
    pack: Option<PackSlot>,
    /// The hot tier's chunk records (format 2), read side.
    hot_log: hotlog::HotLogReader,
    // Held for the store's lifetime: the OS lock is released when it drops
    // (compaction takes it over to swap the database while holding it).
    lock: File,
}

/// The store's pack, opened (and its index read) on first use, so opening a
/// store costs the same whatever its size.
struct PackSlot {
    pointer: pack::PackPointer,
    opened: std::sync::OnceLock<std::result::Result<Arc<pack::Pack>, String>>,
}

struct WriteState {
    next_rollout_num: u64,
    manifests: BTreeMap<u64, RolloutManifest>,
    rollout_nums: BTreeMap<String, u64>,
    known_chunks: HashSet<Hash>,
    known_payloads: HashSet<Hash>,
    /// Recently stored payloads, candidates for the base of the next one.
    recent: writes::RecentPayloads,
    /// The hot tier's chunk records (format 2), write side.
    hot_log: hotlog::HotLogWriter,
    /// Stored rollouts loaded since the last payload was staged, whose last
    /// payloads are yet to join `recent` (`Writes::seed_recent`).
    unseeded: Vec<u64>,
    poisoned: Option<String>,
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// Fails with [`Error::Locked`] naming the holder's pid when another
    /// process (or another `Store` in this one) still has the store open
    /// after `options.lock_wait`. Use [`Store::open_existing`] to read a
    /// store without ever creating one.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracefold::{Store, StoreOptions};
    ///
    /// # fn main() -> tracefold::Result<()> {
    /// let dir = tempfile::tempdir().map_err(|err| tracefold::Error::io("tempdir", err))?;
    /// let store = Store::open(dir.path().join("store"), StoreOptions::default())?;
    /// assert!(store.rollouts()?.is_empty());
    /// assert!(store.verify()?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|err| {
            environment_failure(&path, "create the store directory", &err).unwrap_or_else(|| {
                Error::io(format!("create store directory {}", path.display()), err)
            })
        })?;
        Store::open_dir(path, options)
    }

    /// Opens the store in directory `path` only if one is there: never
    /// creates a directory, a lock file or a database. Fails with
    /// [`Error::NoStore`] when `path` holds no store (no `db/` directory),
    /// so a mistyped path is an error instead of a new, empty store.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracefold::{Error, Store, StoreOptions};
    ///
    /// # fn main() -> tracefold::Result<()> {
    /// let dir = tempfile::tempdir().map_err(|err| Error::io("tempdir", err))?;
    /// // An empty directory holds no store: nothing is created in it.
    /// let empty = Store::open_existing(dir.path(), StoreOptions::default());
    /// assert!(matches!(empty, Err(Error::NoStore { .. })));
    /// assert_eq!(std::fs::read_dir(dir.path()).map_err(|err| Error::io("list", err))?.count(), 0);
    /// // Nor is a missing one created.
    /// let missing = Store::open_existing(dir.path().join("typo"), StoreOptions::default());
    /// assert!(matches!(missing, Err(Error::NoStore { .. })));
    /// assert!(!dir.path().join("typo").exists());
    ///
    /// // Once a store was created there, it opens.
    /// drop(Store::open(dir.path(), StoreOptions::default())?);
    /// let store = Store::open_existing(dir.path(), StoreOptions::default())?;
    /// assert!(store.rollouts()?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_existing(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        match std::fs::metadata(path.join(SLED_DIR_NAME)) {
            Ok(meta) if meta.is_dir() => {}
            // A compaction interrupted between its renames (finished on open).
            _ if compact::interrupted_swap(&path) => {}
            Ok(_) => return Err(Error::NoStore { path }),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(Error::NoStore { path });
            }
            Err(err) => {
                return Err(Error::io(format!("inspect store {}", path.display()), err));
            }
        }
        Store::open_dir(path, options)
    }

    /// Opens the store in the existing directory `path`.
    fn open_dir(path: PathBuf, options: StoreOptions) -> Result<Store> {
        let lock = acquire_lock(&path, options.lock_wait)?;
        Store::open_locked(path, options, lock)
    }

    /// Opens the store in directory `path`, whose lock file `lock` holds.
    fn open_locked(path: PathBuf, options: StoreOptions, lock: File) -> Result<Store> {
        compact::recover(&path)?;
        let config = sled::Config::new()
            .path(path.join(SLED_DIR_NAME))
            .segment_size(lock::segment_size(&path.join(SLED_DIR_NAME)))
            .cache_capacity(options.cache_capacity_bytes)
            .flush_every_ms(options.background_flush_ms);
        // sled 0.34 can panic on a damaged log instead of returning an error;
        // a panic must not take the host (or the CLI) down, nor print its
        // backtrace on the host's stderr.
        let opened = panic_guard::catch_sled_panic(|| {
            let db = open_sled(&config).map_err(|err| sled_open_failure(&path, &err))?;
            let opened = open_tree(&path, &db)?;
            Ok::<_, Error>((db, opened))
        });
        let (
            db,
            Opened {
                tree,
                next_rollout_num,
                pack,
                hot_log_len,
            },
        ) = match opened {
            Ok(opened) => opened?,
            Err(panic) => {
                return Err(Error::Open {
                    path: path.clone(),
                    message: format!(
                        "sled panicked while opening the database ({panic}): its files under db/ are damaged; restore the store from a backup or re-import its rollouts into a new store"
                    ),
                });
            }
        };
        remove_stale_files(&path, pack.as_ref())?;
        let generation = pack.map_or(0, |pointer| pointer.generation);
        let hot_log_writer = hotlog::HotLogWriter::open(&path, generation, hot_log_len)?;
        let hot_log = hotlog::HotLogReader::new(&path, generation);
        Ok(Store {
            inner: Arc::new(StoreInner {
                path,
                db,
                tree,
                pack: pack.map(|pointer| PackSlot {
                    pointer,
                    opened: std::sync::OnceLock::new(),
                }),
                hot_log,
                options,
                assembled: Mutex::new(std::collections::VecDeque::new()),
                write: Mutex::new(WriteState {
                    next_rollout_num,
                    manifests: BTreeMap::new(),
                    rollout_nums: BTreeMap::new(),
                    known_chunks: HashSet::new(),
                    known_payloads: HashSet::new(),
                    recent: writes::RecentPayloads::default(),
                    hot_log: hot_log_writer,
                    unseeded: Vec::new(),
                    poisoned: None,
                }),
                lock,
            }),
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// Makes every applied write durable (sled flush, which fsyncs).
    pub fn flush(&self) -> Result<()> {
        self.inject(FaultPoint::Flush)?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// Asks the fault injector (tests only) whether `point` may run.
    fn inject(&self, point: FaultPoint) -> Result<()> {
        match &self.inner.options.faults {
            None => Ok(()),
            Some(faults) => faults.check(point).map_err(|err| {
                Error::io(
                    format!("{point:?} on store {}", self.inner.path.display()),
                    err,
                )
            }),
        }
    }

    /// Checks the whole store; returns one finding per problem (empty: sound).
    pub fn verify(&self) -> Result<Vec<Finding>> {
        verify::verify(self)
    }

    fn tree(&self) -> &sled::Tree {
        &self.inner.tree
    }

    /// The store's pack, opened on first use (`None`: the store has none).
    fn pack(&self) -> Result<Option<Arc<pack::Pack>>> {
        let Some(slot) = &self.inner.pack else {
            return Ok(None);
        };
        slot.opened
            .get_or_init(|| {
                // Kept as the message inside `CorruptData`, so that wrapping
                // it again below does not say "corrupt data" twice.
                pack::Pack::open(&self.inner.path, &slot.pointer)
                    .map(Arc::new)
                    .map_err(|err| match err {
                        Error::CorruptData(message) => message,
                        other => other.to_string(),
                    })
            })
            .clone()
            .map(Some)
            .map_err(Error::CorruptData)
    }

    fn pack_pointer(&self) -> Option<pack::PackPointer> {
        self.inner.pack.as_ref().map(|slot| slot.pointer)
    }

    /// The chunk record a `c` value stands for: the value itself (format 1),
    /// or the bytes in the hot log its location names.
    fn chunk_record<'a>(
        &self,
        hash: &Hash,
        value: &'a [u8],
    ) -> std::result::Result<std::borrow::Cow<'a, [u8]>, String> {
        self.inner.hot_log.resolve(hash, value)
    }

    /// A `c` value decoded: the chunk's bytes, checked against its hash.
    fn decode_chunk_value(
        &self,
        hash: &Hash,
        value: &[u8],
    ) -> std::result::Result<Vec<u8>, String> {
        let record = self.chunk_record(hash, value)?;
        payload::decode_chunk(hash, &record)
    }
}

/// What [`open_tree`] found in a database.
struct Opened {
    tree: sled::Tree,
    next_rollout_num: u64,
    pack: Option<pack::PackPointer>,
    /// The hot log's committed length (`Mhotlog`; 0 when absent).
    hot_log_len: u64,
}

/// Opens the store's tree in an opened database, checks (or, in a new
/// store, writes) the format version, reads the pack pointer, and finds the
/// next free rollout number.
fn open_tree(path: &Path, db: &sled::Db) -> Result<Opened> {
    let sled_failure = |err: sled::Error| sled_open_failure(path, &err);
    let tree = db.open_tree(TREE_NAME).map_err(sled_failure)?;
    match tree.get(META_FORMAT_KEY).map_err(sled_failure)? {
        None => {
            tree.insert(META_FORMAT_KEY, &[STORE_FORMAT_VERSION])
                .map_err(sled_failure)?;
        }
        Some(version)
            if version.as_ref() == [STORE_FORMAT_VERSION]
                || version.as_ref() == [STORE_FORMAT_V1] => {}
        Some(version) => {
            return Err(Error::Open {
                path: path.to_path_buf(),
                message: format!(
                    "store format version {:?} is not supported (this build reads {STORE_FORMAT_V1} and {STORE_FORMAT_VERSION})",
                    version.as_ref()
                ),
            });
        }
    }
    let pack = match tree.get(META_PACK_KEY).map_err(sled_failure)? {
        None => None,
        Some(value) => Some(
            codec::decode_record::<pack::PackPointer>(META_PACK_KEY, &value).map_err(|source| {
                Error::Open {
                    path: path.to_path_buf(),
                    message: format!("the pack pointer record is damaged: {source}"),
                }
            })?,
        ),
    };
    let last_num = |prefix: u8, range: std::ops::Range<usize>| -> Result<u64> {
        match tree.scan_prefix([prefix]).next_back() {
            Some(entry) => {
                let (key, _) = entry.map_err(sled_failure)?;
                Ok(key.get(range).and_then(decode_num).unwrap_or(0))
            }
            None => Ok(0),
        }
    };
    // Events left by an interrupted delete, and a pack's rollouts, keep
    // their number taken, so a new rollout never inherits their events.
    let next_rollout_num = last_num(PREFIX_MANIFEST, 1..9)?
        .max(last_num(PREFIX_EVENT, 1..9)?)
        .max(pack.map_or(0, |pointer| pointer.max_rollout_num))
        + 1;
    let hot_log_len = match tree.get(hotlog::HOT_LOG_LEN_KEY).map_err(sled_failure)? {
        None => 0,
        Some(value) => {
            let bytes: [u8; 8] = value.as_ref().try_into().map_err(|_| Error::Open {
                path: path.to_path_buf(),
                message: format!(
                    "the hot log's length record is damaged ({} bytes, not 8)",
                    value.len()
                ),
            })?;
            u64::from_le_bytes(bytes)
        }
    };
    Ok(Opened {
        tree,
        next_rollout_num,
        pack,
        hot_log_len,
    })
}

/// Removes pack files no pointer names (the old generation after a
/// compaction, or a pack whose compaction stopped before its swap) and hot
/// logs of another generation (the log a compaction emptied into the pack).
fn remove_stale_files(path: &Path, pointer: Option<&pack::PackPointer>) -> Result<()> {
    let keep = pointer.map(pack::PackPointer::file_name);
    let keep_log = hotlog::log_file_name(pointer.map_or(0, |pointer| pointer.generation));
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(());
    };
    for entry in entries.filter_map(|entry| entry.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_pack = name.starts_with("pack-")
            && (name.ends_with(".tfpack") || name.ends_with(".tfpack.tmp"));
        if is_pack && keep.as_deref() != Some(name.as_str()) {
            std::fs::remove_file(entry.path()).map_err(|err| {
                Error::io(format!("remove stale pack {}", entry.path().display()), err)
            })?;
        }
        if hotlog::is_log_file_name(&name) && name != keep_log {
            std::fs::remove_file(entry.path()).map_err(|err| {
                Error::io(
                    format!("remove stale hot log {}", entry.path().display()),
                    err,
                )
            })?;
        }
    }
    Ok(())
}

fn lock_state(mutex: &Mutex<WriteState>) -> MutexGuard<'_, WriteState> {
    // A panic while holding the lock leaves caches that may be ahead of sled;
    // the caches are only hints backed by lookups, so keep going.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
