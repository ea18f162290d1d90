//! The embedded store: everything that touches sled.
//!
//! One sled tree holds every record, told apart by a one-byte key prefix, so
//! that one `apply_batch` can write chunks, payload recipes, events and the
//! rollout manifest atomically (sled batches are atomic per tree on
//! recovery). See DESIGN.md, "On-disk format", for the byte layout.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `c` | chunk BLAKE3 (32) | chunk record (`payload::encode_chunk`) |
//! | `p` | payload BLAKE3 (32) | codec record of `Recipe` |
//! | `e` | rollout number (8, BE) ++ seq (8, BE) | codec record of `Event` |
//! | `m` | rollout number (8, BE) | codec record of `RolloutManifest` |
//! | `r` | rollout id (UTF-8) | rollout number (8, BE) |
//! | `M` | `format` | store format version (1 byte) |
//!
//! A rollout's visible log is seq `1..=manifest.event_count`; the manifest is
//! written in the same batch as the events it counts, so a log is always
//! contiguous. Writers never delete; `delete` and `gc` are explicit.

// Hash sets of content hashes serve as membership caches here; their order
// never reaches any output, so the crate-wide ban does not apply.
#![allow(clippy::disallowed_types)]

mod compact;
pub mod faults;
mod panic_guard;
pub mod payload;
mod retention;
mod verify;
mod writes;

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bincode::{Decode, Encode};
use serde::Serialize;

use crate::codec::{self, CodecError};
use crate::error::{Error, Result};
use crate::event::{Event, EventPayload, Hash, RolloutStatus, Seq};
pub use compact::CompactReport;
pub use faults::{FaultInjector, FaultPoint, ScriptedFaults};
pub use payload::Recipe;
pub use retention::{DeleteReport, GcReport};
pub use verify::Finding;
pub use writes::{WriteCounters, Writes};

const PREFIX_CHUNK: u8 = b'c';
const PREFIX_PAYLOAD: u8 = b'p';
const PREFIX_EVENT: u8 = b'e';
const PREFIX_MANIFEST: u8 = b'm';
const PREFIX_ROLLOUT_ID: u8 = b'r';
const META_FORMAT_KEY: &[u8] = b"Mformat";
const STORE_FORMAT_VERSION: u8 = 1;

/// Name of the lock file inside the store directory.
pub const LOCK_FILE_NAME: &str = "tracefold.lock";
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

/// A rollout's manifest: identity, lifecycle and counters.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct RolloutManifest {
    /// The rollout's number in the store's keys (its manifest and event
    /// records): assigned when the rollout is created, in increasing order,
    /// and never reused, not even after a delete. Internal to the store and
    /// left out of JSON; the rollout is named by `rollout_id`.
    #[serde(skip)]
    pub rollout_num: u64,
    /// The rollout's id, as stored (redacted if it held a secret).
    pub rollout_id: String,
    /// The trace id of the log's `rollout_started` (or of the bundle manifest
    /// it was imported from); `None` while the log has no `rollout_started`
    /// (for example a log attached with `Recorder::attach_rollout`).
    pub trace_id: Option<String>,
    /// The root thread named by the log's `rollout_started` (or the bundle
    /// manifest); `None` while the log has no `rollout_started`.
    pub root_thread_id: Option<String>,
    /// Wall time of the rollout's first event, in milliseconds since the Unix
    /// epoch (an imported bundle's manifest sets it instead); `None` while
    /// the log is empty.
    pub started_at_unix_ms: Option<i64>,
    /// Wall time of the last `rollout_ended`, in milliseconds since the Unix
    /// epoch; `None` while the rollout runs (a `rollout_started` or a resumed
    /// root thread clears it).
    pub ended_at_unix_ms: Option<i64>,
    /// `Running` from creation; the status of the last `rollout_ended`
    /// after it; `Running` again when the root thread is resumed.
    pub status: RolloutStatus,
    /// Events in the log, which is also the last seq: logs are contiguous
    /// from 1 (0: no event yet).
    pub event_count: u64,
    /// Payload references from events, repeats counted (saturating).
    pub payload_refs: u64,
    /// Bytes of every referenced payload, repeats counted (saturating): what
    /// the rollout's payloads take before deduplication and compression.
    pub logical_payload_bytes: u64,
}

impl RolloutManifest {
    fn new(rollout_num: u64, rollout_id: &str) -> RolloutManifest {
        RolloutManifest {
            rollout_num,
            rollout_id: rollout_id.to_string(),
            trace_id: None,
            root_thread_id: None,
            started_at_unix_ms: None,
            ended_at_unix_ms: None,
            status: RolloutStatus::Running,
            event_count: 0,
            payload_refs: 0,
            logical_payload_bytes: 0,
        }
    }

    /// Folds one appended event into the manifest.
    fn observe(&mut self, event: &Event) {
        // Contiguous logs: each event takes the seq after the last one.
        debug_assert_eq!(
            event.seq,
            self.event_count + 1,
            "rollout {}: seq {} after {}",
            self.rollout_id,
            event.seq,
            self.event_count
        );
        self.event_count = event.seq;
        if self.started_at_unix_ms.is_none() {
            self.started_at_unix_ms = Some(event.wall_time_unix_ms);
        }
        match &event.payload {
            EventPayload::RolloutStarted {
                trace_id,
                root_thread_id,
            } => {
                self.trace_id = Some(trace_id.clone());
                self.root_thread_id = Some(root_thread_id.clone());
                self.status = RolloutStatus::Running;
                self.ended_at_unix_ms = None;
            }
            EventPayload::RolloutEnded { status } => {
                self.status = *status;
                self.ended_at_unix_ms = Some(event.wall_time_unix_ms);
            }
            // A resumed root thread runs the rollout again.
            EventPayload::ThreadResumed { thread_id, .. }
                if self.root_thread_id.as_deref() == Some(thread_id.as_str()) =>
            {
                self.status = RolloutStatus::Running;
                self.ended_at_unix_ms = None;
            }
            _ => {}
        }
        // Saturating: a counter that cannot grow further stays at its maximum
        // rather than wrapping to a small, believable number.
        event.payload.for_each_ref(|r| {
            self.payload_refs = self.payload_refs.saturating_add(1);
            self.logical_payload_bytes = self.logical_payload_bytes.saturating_add(r.size_bytes);
        });
    }
}

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
    /// Distinct payloads stored (recipes), each once however often cited.
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
    /// Bytes of the chunk records as stored: after chunk deduplication and
    /// zstd, with their 2-byte headers, index chunks included.
    pub stored_chunk_bytes: u64,
    /// Chunk records (data and index chunks).
    pub chunks: u64,
    /// Bytes of every file under the store directory at the time of the
    /// call (sled's files with their overhead, and the lock file).
    pub disk_bytes: u64,
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
    // Held for the store's lifetime: the OS lock is released when it drops
    // (compaction takes it over to swap the database while holding it).
    lock: File,
}

struct WriteState {
    next_rollout_num: u64,
    manifests: BTreeMap<u64, RolloutManifest>,
    rollout_nums: BTreeMap<String, u64>,
    known_chunks: HashSet<Hash>,
    known_payloads: HashSet<Hash>,
    /// Recently stored payloads, candidates for the base of the next one.
    recent: writes::RecentPayloads,
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
            .cache_capacity(options.cache_capacity_bytes)
            .flush_every_ms(options.background_flush_ms);
        // sled 0.34 can panic on a damaged log instead of returning an error;
        // a panic must not take the host (or the CLI) down, nor print its
        // backtrace on the host's stderr.
        let opened = panic_guard::catch_sled_panic(|| {
            let db = open_sled(&config).map_err(|err| sled_open_failure(&path, &err))?;
            let (tree, next_rollout_num) = open_tree(&path, &db)?;
            Ok::<_, Error>((db, tree, next_rollout_num))
        });
        let (db, tree, next_rollout_num) = match opened {
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
        Ok(Store {
            inner: Arc::new(StoreInner {
                path,
                db,
                tree,
                options,
                assembled: Mutex::new(std::collections::VecDeque::new()),
                write: Mutex::new(WriteState {
                    next_rollout_num,
                    manifests: BTreeMap::new(),
                    rollout_nums: BTreeMap::new(),
                    known_chunks: HashSet::new(),
                    known_payloads: HashSet::new(),
                    recent: writes::RecentPayloads::default(),
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

    fn rollout_num(&self, rollout_id: &str) -> Result<Option<u64>> {
        let key = rollout_id_key(rollout_id);
        match self.inner.tree.get(&key)? {
            None => Ok(None),
            Some(value) => decode_num(&value).map(Some).ok_or_else(|| {
                Error::CorruptData(format!("rollout id record for {rollout_id} is not 8 bytes"))
            }),
        }
    }

    fn manifest_by_num(&self, num: u64) -> Result<Option<RolloutManifest>> {
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
        let start = event_key(manifest.rollout_num, 1);
        let end = event_key(manifest.rollout_num, manifest.event_count.saturating_add(1));
        EventIter {
            range: self.inner.tree.range(start..end),
            rollout_id: manifest.rollout_id.clone(),
            expected_seq: 1,
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
        let out = self.assemble_payload(hash, usize::from(payload::BASE_DEPTH_MAX) + 1)?;
        let actual = Hash::of(&out);
        if actual != *hash {
            return Err(Error::CorruptData(format!(
                "payload {hash}: content hashes to {actual}"
            )));
        }
        self.remember_assembled(hash, &out);
        Ok(out)
    }

    /// Keeps a verified payload's bytes for the deltas that extend it.
    fn remember_assembled(&self, hash: &Hash, bytes: &[u8]) {
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
        cache.push_back((*hash, Arc::from(bytes)));
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

    /// Rebuilds a payload's bytes from its recipe, following its base chain
    /// (at most `depth_left` recipes deep) into one buffer. Only the caller
    /// checks the hash: the bases are checked as a whole by the final
    /// payload's hash.
    fn assemble_payload(&self, hash: &Hash, depth_left: usize) -> Result<Vec<u8>> {
        let recipe = self.recipe(hash)?;
        let size = usize::try_from(recipe.size_bytes)
            .ok()
            .filter(|size| (*size as u64) <= self.inner.options.max_payload_bytes.max(1 << 30))
            .ok_or_else(|| {
                Error::CorruptData(format!(
                    "payload {hash}: recipe size {} is implausible",
                    recipe.size_bytes
                ))
            })?;
        let mut out = Vec::with_capacity(size);
        self.append_prefix(hash, &recipe, size, &mut out, depth_left)?;
        if out.len() != size {
            return Err(Error::CorruptData(format!(
                "payload {hash}: chunks hold {} bytes, recipe says {size}",
                out.len()
            )));
        }
        Ok(out)
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
            let base_recipe = self.recipe(&base.payload)?;
            if (base_recipe.size_bytes as usize) < prefix {
                return Err(Error::CorruptData(format!(
                    "payload {hash}: base {} has {} bytes, fewer than the {prefix} it shares",
                    base.payload, base_recipe.size_bytes
                )));
            }
            let wanted = prefix.min(limit);
            self.append_prefix(&base.payload, &base_recipe, wanted, out, depth_left - 1)?;
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
        payload::decode_chunk(hash, &record).map_err(Error::CorruptData)
    }

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
            stats.stored_chunk_bytes += value.len() as u64;
        }
        stats.disk_bytes = dir_size(&self.inner.path);
        Ok(stats)
    }

    /// Calls `f` with every chunk's hash and decoded (decompressed) bytes, in
    /// key order, index chunks included. For tests and tooling that must see
    /// what the store holds beneath the compression: the redaction test
    /// searches every chunk for planted secrets. Stops at the first record
    /// that does not decode.
    #[doc(hidden)]
    pub fn for_each_chunk(&self, mut f: impl FnMut(&Hash, &[u8])) -> Result<()> {
        for entry in self.inner.tree.scan_prefix([PREFIX_CHUNK]) {
            let (key, value) = entry?;
            let hash = hash_from_key(&key).ok_or_else(|| {
                Error::CorruptData(format!("malformed chunk key {}", describe_key(&key)))
            })?;
            let bytes = payload::decode_chunk(&hash, &value).map_err(Error::CorruptData)?;
            f(&hash, &bytes);
        }
        Ok(())
    }

    /// Checks the whole store; returns one finding per problem (empty: sound).
    pub fn verify(&self) -> Result<Vec<Finding>> {
        verify::verify(self)
    }

    fn tree(&self) -> &sled::Tree {
        &self.inner.tree
    }
}

/// Opens the store's tree in an opened database, checks (or, in a new
/// store, writes) the format version, and finds the next free rollout
/// number.
fn open_tree(path: &Path, db: &sled::Db) -> Result<(sled::Tree, u64)> {
    let sled_failure = |err: sled::Error| sled_open_failure(path, &err);
    let tree = db.open_tree(TREE_NAME).map_err(sled_failure)?;
    match tree.get(META_FORMAT_KEY).map_err(sled_failure)? {
        None => {
            tree.insert(META_FORMAT_KEY, &[STORE_FORMAT_VERSION])
                .map_err(sled_failure)?;
        }
        Some(version) if version.as_ref() == [STORE_FORMAT_VERSION] => {}
        Some(version) => {
            return Err(Error::Open {
                path: path.to_path_buf(),
                message: format!(
                    "store format version {:?} is not supported (this build reads {STORE_FORMAT_VERSION})",
                    version.as_ref()
                ),
            });
        }
    }
    let next_rollout_num = match tree.scan_prefix([PREFIX_MANIFEST]).next_back() {
        Some(entry) => {
            let (key, _) = entry.map_err(sled_failure)?;
            decode_num(&key[1..]).map_or(1, |num| num + 1)
        }
        None => 1,
    };
    // Events left by an interrupted delete keep their number taken until
    // gc removes them, so a new rollout never inherits them.
    let next_rollout_num = match tree.scan_prefix([PREFIX_EVENT]).next_back() {
        Some(entry) => {
            let (key, _) = entry.map_err(sled_failure)?;
            key.get(1..9)
                .and_then(decode_num)
                .map_or(next_rollout_num, |num| next_rollout_num.max(num + 1))
        }
        None => next_rollout_num,
    };
    Ok((tree, next_rollout_num))
}

fn lock_state(mutex: &Mutex<WriteState>) -> MutexGuard<'_, WriteState> {
    // A panic while holding the lock leaves caches that may be ahead of sled;
    // the caches are only hints backed by lookups, so keep going.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes the store's lock file, retrying a held lock for up to `wait`.
///
/// `flock` locks belong to the open file description, which `fork` shares:
/// while any thread of the owner spawns a process, the child holds the lock
/// until its `exec` closes the descriptor, even after the owner has closed the
/// store. A one-shot attempt then refuses a store nobody uses any more, so a
/// held lock is retried with a short backoff, and only a holder that outlasts
/// `wait` is reported.
fn acquire_lock(dir: &Path, wait: std::time::Duration) -> Result<File> {
    let lock_path = dir.join(LOCK_FILE_NAME);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|err| {
            let doing = format!("open the lock file {}", lock_path.display());
            environment_failure(dir, &doing, &err).unwrap_or_else(|| Error::io(doing, err))
        })?;
    let locked = retry_while_held(
        wait,
        || file.try_lock(),
        |err| matches!(err, std::fs::TryLockError::WouldBlock),
    );
    match locked {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let pid = holder.trim();
            return Err(Error::Locked {
                path: dir.to_path_buf(),
                pid: if pid.is_empty() {
                    "unknown".to_string()
                } else {
                    pid.to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(Error::io(format!("lock {}", lock_path.display()), err));
        }
    }
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    match written {
        Ok(()) => Ok(file),
        // The pid only names the holder to a second opener; a full disk must
        // not keep a reader out of its store. The lock itself is held.
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) =>
        {
            Ok(file)
        }
        Err(err) => Err(Error::io(
            format!("write lock file {}", lock_path.display()),
            err,
        )),
    }
}

/// An I/O failure while opening a store whose cause is the machine, not the
/// store: a read-only file system, a full disk, a missing permission. Worded
/// by its cause and with what the user can do, never as damage. `None` for
/// any other failure.
fn environment_failure(path: &Path, doing: &str, err: &std::io::Error) -> Option<Error> {
    let advice = match err.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => {
            "the file system holding the store is read-only, and sled 0.34 opens its database for writing even to read it; copy the store directory to a writable file system and use the copy"
        }
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            "the device holding the store is full, and sled 0.34 writes up to one 512 KiB segment whenever it opens a database, even to read it; free at least 512 KiB there (or copy the store elsewhere) and retry"
        }
        std::io::ErrorKind::PermissionDenied => {
            "this user may not write the store's files, and sled 0.34 opens its database for writing even to read it; run as the store's owner or copy the store"
        }
        _ => return None,
    };
    Some(Error::Open {
        path: path.to_path_buf(),
        message: format!("cannot {doing}: {err}; {advice}"),
    })
}

/// The error for sled refusing to open the database: the machine's fault
/// (read-only, full, no permission) said as such; anything else may be
/// damage, and says how to recover.
fn sled_open_failure(path: &Path, err: &sled::Error) -> Error {
    if let sled::Error::Io(io) = err
        && let Some(failure) = environment_failure(path, "open the database under db/", io)
    {
        return failure;
    }
    Error::Open {
        path: path.to_path_buf(),
        message: format!(
            "sled could not open the database: {err}; if the files under db/ are damaged, restore the store from a backup or re-import its rollouts into a new store"
        ),
    }
}

/// Opens sled, waiting out its own file lock for a bounded time.
///
/// We already hold the store's lock file, so no other process can have the
/// database open; a sled lock conflict can only be this process's previous
/// instance, whose background flusher thread may hold the lock for a moment
/// after the `Db` was dropped, or a child forked while it was open (see
/// [`acquire_lock`]).
fn open_sled(config: &sled::Config) -> std::result::Result<sled::Db, sled::Error> {
    retry_while_held(
        std::time::Duration::from_secs(5),
        || config.open(),
        |err| matches!(err, sled::Error::Io(err) if err.to_string().contains("lock")),
    )
}

/// Runs `attempt` until it succeeds, fails other than `held`, or `wait` has
/// passed, sleeping 1 ms, then twice as long each time up to 50 ms.
fn retry_while_held<T, E>(
    wait: std::time::Duration,
    mut attempt: impl FnMut() -> std::result::Result<T, E>,
    held: impl Fn(&E) -> bool,
) -> std::result::Result<T, E> {
    let deadline = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match attempt() {
            Err(err) if held(&err) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn dir_size(path: &Path) -> u64 {
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

pub(crate) fn chunk_key(hash: &Hash) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = PREFIX_CHUNK;
    key[1..].copy_from_slice(&hash.0);
    key
}

pub(crate) fn payload_key(hash: &Hash) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = PREFIX_PAYLOAD;
    key[1..].copy_from_slice(&hash.0);
    key
}

pub(crate) fn event_key(rollout_num: u64, seq: Seq) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = PREFIX_EVENT;
    key[1..9].copy_from_slice(&rollout_num.to_be_bytes());
    key[9..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(crate) fn manifest_key(rollout_num: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = PREFIX_MANIFEST;
    key[1..].copy_from_slice(&rollout_num.to_be_bytes());
    key
}

fn rollout_id_key(rollout_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(rollout_id.len() + 1);
    key.push(PREFIX_ROLLOUT_ID);
    key.extend_from_slice(rollout_id.as_bytes());
    key
}

fn decode_num(bytes: &[u8]) -> Option<u64> {
    let array: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_be_bytes(array))
}

fn hash_from_key(key: &[u8]) -> Option<Hash> {
    let array: [u8; 32] = key.get(1..33)?.try_into().ok()?;
    Some(Hash(array))
}

/// A human-readable name for a raw key, for error messages.
fn describe_key(key: &[u8]) -> String {
    match key.first() {
        Some(&PREFIX_CHUNK) => {
            hash_from_key(key).map_or("chunk ?".into(), |h| format!("chunk {h}"))
        }
        Some(&PREFIX_PAYLOAD) => {
            hash_from_key(key).map_or("payload ?".into(), |h| format!("payload {h}"))
        }
        Some(&PREFIX_EVENT) if key.len() == 17 => {
            let num = decode_num(&key[1..9]).unwrap_or_default();
            let seq = decode_num(&key[9..]).unwrap_or_default();
            format!("event rollout#{num} seq {seq}")
        }
        Some(&PREFIX_MANIFEST) => format!(
            "manifest rollout#{}",
            decode_num(&key[1..]).unwrap_or_default()
        ),
        _ => format!("key {key:02x?}"),
    }
}

fn decode_manifest(key: &[u8], value: &[u8]) -> Result<RolloutManifest> {
    let mut manifest: RolloutManifest =
        codec::decode_record(key, value).map_err(|source| Error::Corrupt {
            key: describe_key(key),
            source,
        })?;
    manifest.rollout_num = decode_num(&key[1..]).unwrap_or_default();
    Ok(manifest)
}

/// Iterator over one rollout's events, checking contiguity and records.
pub struct EventIter {
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

fn decode_event(rollout_id: &str, key: &[u8], value: &[u8]) -> Result<Event> {
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

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
