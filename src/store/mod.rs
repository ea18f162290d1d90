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

pub mod faults;
pub mod payload;
mod retention;
mod verify;

use std::collections::HashSet;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bincode::{Decode, Encode};
use serde::Serialize;

use crate::codec::{self, CodecError};
use crate::error::{Error, Result};
use crate::event::{Event, EventPayload, Hash, PayloadRef, RolloutStatus, Seq};
pub use faults::{FaultInjector, FaultPoint, ScriptedFaults};
pub use payload::{PreparedPayload, Recipe};
pub use retention::{DeleteReport, GcReport};
pub use verify::Finding;

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

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled page cache. Bounds memory: sled's default (1 GiB) let RSS reach
    /// 400 MB for 200 MB of data on the reference machine.
    pub cache_capacity_bytes: u64,
    /// Largest payload accepted, in bytes.
    pub max_payload_bytes: u64,
    /// sled's background flush interval: a safety net only, since writers
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
    #[serde(skip)]
    pub rollout_num: u64,
    pub rollout_id: String,
    pub trace_id: Option<String>,
    pub root_thread_id: Option<String>,
    pub started_at_unix_ms: Option<i64>,
    pub ended_at_unix_ms: Option<i64>,
    pub status: RolloutStatus,
    /// Also the last seq: logs are contiguous from 1.
    pub event_count: u64,
    /// Payload references from events, repeats counted.
    pub payload_refs: u64,
    /// Bytes of every referenced payload, repeats counted.
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
            _ => {}
        }
        event.payload.for_each_ref(|r| {
            self.payload_refs += 1;
            self.logical_payload_bytes += r.size_bytes;
        });
    }
}

/// Counts and sizes of the whole store (`stats --json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub rollouts: u64,
    pub events: u64,
    pub payloads: u64,
    pub payload_refs: u64,
    pub logical_payload_bytes: u64,
    pub unique_payload_bytes: u64,
    pub stored_chunk_bytes: u64,
    pub chunks: u64,
    pub disk_bytes: u64,
}

/// The embedded store. Cheap to clone; one per directory per process.
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
    // Held for the store's lifetime: the OS lock is released when it drops.
    _lock: File,
}

struct WriteState {
    next_rollout_num: u64,
    manifests: BTreeMap<u64, RolloutManifest>,
    rollout_nums: BTreeMap<String, u64>,
    known_chunks: HashSet<Hash>,
    known_payloads: HashSet<Hash>,
    /// Recently stored payloads, candidates for the base of the next one.
    recent: RecentPayloads,
    poisoned: Option<String>,
}

/// A bounded list of recently stored payloads with their bytes, so a payload
/// that extends one of them (the next request of a conversation) can be
/// stored as a delta without reading anything back.
#[derive(Default)]
struct RecentPayloads {
    entries: std::collections::VecDeque<RecentPayload>,
    bytes: usize,
}

#[derive(Clone)]
struct RecentPayload {
    hash: Hash,
    /// Only a payload of the same kind is a useful base (requests extend
    /// requests), so others are not even compared.
    kind: crate::event::PayloadKind,
    bytes: Arc<[u8]>,
    /// 0 for a payload stored whole, else its base chain length.
    depth: u8,
}

/// How many recent payloads of one kind are kept as base candidates, and
/// the bytes kept in all.
const RECENT_PAYLOADS_PER_KIND_MAX: usize = 8;
const RECENT_PAYLOAD_BYTES_MAX: usize = 32 * 1024 * 1024;

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

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// Fails with [`Error::Locked`] naming the holder's pid when another
    /// process (or another `Store` in this one) still has the store open
    /// after `options.lock_wait`.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path)
            .map_err(|err| Error::io(format!("create store directory {}", path.display()), err))?;
        let lock = acquire_lock(&path, options.lock_wait)?;
        let config = sled::Config::new()
            .path(path.join(SLED_DIR_NAME))
            .cache_capacity(options.cache_capacity_bytes)
            .flush_every_ms(options.background_flush_ms);
        // sled 0.34 can panic on a damaged log instead of returning an error;
        // a panic must not take the host (or the CLI) down with a backtrace.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open_sled(&config)));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(err)) => {
                return Err(Error::Open {
                    path: path.clone(),
                    message: format!(
                        "sled could not open the database: {err}; if the files under db/ are damaged, restore the store from a backup or re-import its rollouts into a new store"
                    ),
                });
            }
            Err(_) => {
                return Err(Error::Open {
                    path: path.clone(),
                    message: "sled panicked while opening the database (its files under db/ are damaged); restore the store from a backup or re-import its rollouts into a new store".to_string(),
                });
            }
        };
        let tree = db.open_tree("tracefold")?;
        match tree.get(META_FORMAT_KEY)? {
            None => {
                tree.insert(META_FORMAT_KEY, &[STORE_FORMAT_VERSION])?;
            }
            Some(version) if version.as_ref() == [STORE_FORMAT_VERSION] => {}
            Some(version) => {
                return Err(Error::Open {
                    path,
                    message: format!(
                        "store format version {:?} is not supported (this build reads {STORE_FORMAT_VERSION})",
                        version.as_ref()
                    ),
                });
            }
        }
        let next_rollout_num = match tree.scan_prefix([PREFIX_MANIFEST]).next_back() {
            Some(entry) => {
                let (key, _) = entry?;
                decode_num(&key[1..]).map_or(1, |num| num + 1)
            }
            None => 1,
        };
        // Events left by an interrupted delete keep their number taken until
        // gc removes them, so a new rollout never inherits them.
        let next_rollout_num = match tree.scan_prefix([PREFIX_EVENT]).next_back() {
            Some(entry) => {
                let (key, _) = entry?;
                key.get(1..9)
                    .and_then(decode_num)
                    .map_or(next_rollout_num, |num| next_rollout_num.max(num + 1))
            }
            None => next_rollout_num,
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
                    recent: RecentPayloads::default(),
                    poisoned: None,
                }),
                _lock: lock,
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

    /// Starts a write: holds the store's write lock until committed or dropped.
    pub fn writes(&self) -> Result<Writes<'_>> {
        let state = lock_state(&self.inner.write);
        if let Some(reason) = &state.poisoned {
            return Err(Error::Poisoned(reason.clone()));
        }
        Ok(Writes {
            store: self,
            state,
            batch: sled::Batch::default(),
            pending_chunks: HashSet::new(),
            pending_payloads: HashSet::new(),
            touched: BTreeSet::new(),
            staged: BTreeMap::new(),
            batch_bytes: 0,
            pending_recent: Vec::new(),
            counters: WriteCounters::default(),
        })
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

    /// The events of `rollout_id`, in seq order, as of now.
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

    /// Whether the payload with this hash is stored.
    pub fn has_payload(&self, hash: &Hash) -> Result<bool> {
        Ok(self.inner.tree.contains_key(payload_key(hash))?)
    }

    /// The exact bytes of a payload, checked against its hash.
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
        .map_err(|err| Error::io(format!("open lock file {}", lock_path.display()), err))?;
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
    written.map_err(|err| Error::io(format!("write lock file {}", lock_path.display()), err))?;
    Ok(file)
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

fn chunk_key(hash: &Hash) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = PREFIX_CHUNK;
    key[1..].copy_from_slice(&hash.0);
    key
}

fn payload_key(hash: &Hash) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = PREFIX_PAYLOAD;
    key[1..].copy_from_slice(&hash.0);
    key
}

fn event_key(rollout_num: u64, seq: Seq) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = PREFIX_EVENT;
    key[1..9].copy_from_slice(&rollout_num.to_be_bytes());
    key[9..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn manifest_key(rollout_num: u64) -> [u8; 9] {
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
            Some(Err(err)) => return Some(Err(err.into())),
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

/// An open write: stages records in one sled batch under the store's write
/// lock. Nothing is visible until [`Writes::commit`].
pub struct Writes<'a> {
    store: &'a Store,
    state: MutexGuard<'a, WriteState>,
    batch: sled::Batch,
    pending_chunks: HashSet<Hash>,
    pending_payloads: HashSet<Hash>,
    touched: BTreeSet<u64>,
    /// Manifests as staged by this write (committed copies live in `state`).
    staged: BTreeMap<u64, RolloutManifest>,
    batch_bytes: usize,
    /// Payloads staged by this write, as base candidates (moved to the
    /// store's list when the write commits).
    pending_recent: Vec<RecentPayload>,
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

impl Writes<'_> {
    /// Whether the payload is stored or staged.
    pub fn payload_known(&mut self, hash: &Hash) -> Result<bool> {
        if self.pending_payloads.contains(hash) || self.state.known_payloads.contains(hash) {
            return Ok(true);
        }
        let known = self.store.tree().contains_key(payload_key(hash))?;
        if known {
            self.state.known_payloads.insert(*hash);
        }
        Ok(known)
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
    pub fn put_payload_bytes(
        &mut self,
        kind: crate::event::PayloadKind,
        bytes: &[u8],
    ) -> Result<PayloadRef> {
        let limit = self.store.inner.options.max_payload_bytes;
        if bytes.len() as u64 > limit {
            return Err(Error::PayloadTooLarge {
                size_bytes: bytes.len() as u64,
                limit_bytes: limit,
            });
        }
        let hash = Hash::of(bytes);
        self.counters.payload_bytes_in += bytes.len() as u64;
        if self.payload_known(&hash)? {
            self.counters.payloads_deduplicated += 1;
        } else {
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

    /// The recent payload sharing the longest prefix with `bytes`, when that
    /// prefix is long enough to store `bytes` as a delta of it.
    fn find_base(
        &self,
        kind: &crate::event::PayloadKind,
        bytes: &[u8],
    ) -> Option<payload::RecipeBase> {
        let candidates = self
            .state
            .recent
            .entries
            .iter()
            .chain(self.pending_recent.iter())
            .filter(|candidate| candidate.kind == *kind);
        let mut best: Option<(usize, &RecentPayload)> = None;
        for candidate in candidates {
            let shared = payload::common_prefix_len(&candidate.bytes, bytes);
            if best.is_none_or(|(len, _)| shared > len) {
                best = Some((shared, candidate));
            }
        }
        let (shared, candidate) = best?;
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
            self.batch
                .insert(&chunk_key(&chunk.hash)[..], chunk.record.as_slice());
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
        self.pending_payloads.insert(prepared.hash);
        self.counters.payloads_written += 1;
        Ok(())
    }

    /// The manifest of `rollout_id`, creating the rollout when `create`.
    /// Returns the rollout number.
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
        self.batch
            .insert(rollout_id_key(rollout_id), &num.to_be_bytes());
        self.state.rollout_nums.insert(rollout_id.to_string(), num);
        // Not committed yet: remember the manifest so a rollback can forget it.
        Ok(num)
    }

    /// The manifest as it stands in this write.
    pub fn manifest(&self, num: u64) -> Option<&RolloutManifest> {
        self.staged
            .get(&num)
            .or_else(|| self.state.manifests.get(&num))
    }

    /// Appends an event to rollout `num` at the next seq; returns the seq.
    pub fn append(
        &mut self,
        num: u64,
        wall_time_unix_ms: i64,
        thread_id: Option<String>,
        codex_turn_id: Option<String>,
        payload: EventPayload<PayloadRef>,
    ) -> Result<Seq> {
        let mut manifest = match self.staged.remove(&num) {
            Some(manifest) => manifest,
            None => self
                .state
                .manifests
                .get(&num)
                .cloned()
                .ok_or_else(|| Error::CorruptData(format!("rollout#{num} is not open")))?,
        };
        let event = Event {
            seq: manifest.event_count + 1,
            wall_time_unix_ms,
            thread_id,
            codex_turn_id,
            payload,
        };
        let key = event_key(num, event.seq);
        let record = codec::encode_record(&key, &event).map_err(|source| Error::Event {
            rollout_id: manifest.rollout_id.clone(),
            seq: event.seq,
            message: format!("does not encode: {source}"),
        })?;
        self.batch_bytes += record.len() + key.len();
        self.batch.insert(&key, record);
        manifest.observe(&event);
        let seq = event.seq;
        self.staged.insert(num, manifest);
        self.touched.insert(num);
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
        let mut manifest = match self.staged.remove(&num) {
            Some(manifest) => manifest,
            None => match self.state.manifests.get(&num) {
                Some(manifest) => manifest.clone(),
                None => return,
            },
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

    /// Bytes staged so far.
    pub fn staged_bytes(&self) -> usize {
        self.batch_bytes
    }

    /// Applies the staged records (manifests included) as one atomic batch,
    /// then flushes when `durable`. On failure nothing of this write is
    /// visible and the store's caches forget it.
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
        let batch = std::mem::take(&mut self.batch);
        if let Err(err) = self.store.inject(FaultPoint::ApplyBatch) {
            self.forget_staged();
            return Err(err);
        }
        if let Err(err) = self.store.tree().apply_batch(batch) {
            self.forget_staged();
            return Err(err.into());
        }
        let staged = std::mem::take(&mut self.staged);
        self.publish_staged_payloads();
        self.state.manifests.extend(staged);
        if durable {
            self.store.flush()?;
        }
        Ok(())
    }

    /// Applies the staged chunks and payload recipes only (no events, no
    /// manifests), to keep a long import's batches bounded. Content-addressed
    /// records are invisible until an event cites them; `gc` removes them if
    /// the import never finishes.
    pub fn commit_payloads_so_far(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.store.inject(FaultPoint::ApplyBatch)?;
        self.store.tree().apply_batch(batch)?;
        self.batch_bytes = 0;
        self.publish_staged_payloads();
        Ok(())
    }

    /// After a batch applied: its chunks and payloads are known to be stored,
    /// and its payloads become base candidates.
    fn publish_staged_payloads(&mut self) {
        let chunks = std::mem::take(&mut self.pending_chunks);
        let payloads = std::mem::take(&mut self.pending_payloads);
        self.state.known_chunks.extend(chunks);
        self.state.known_payloads.extend(payloads);
        for recent in std::mem::take(&mut self.pending_recent) {
            self.state.recent.push(recent);
        }
    }

    fn forget_staged(&mut self) {
        for (num, manifest) in std::mem::take(&mut self.staged) {
            if !self.state.manifests.contains_key(&num) {
                self.state.rollout_nums.remove(&manifest.rollout_id);
            }
        }
        self.pending_chunks.clear();
        self.pending_payloads.clear();
        self.pending_recent.clear();
    }

    /// Marks the store as refusing further writes (after a failed flush).
    pub fn poison(&mut self, reason: String) {
        self.state.poisoned = Some(reason);
    }
}

impl Drop for Writes<'_> {
    fn drop(&mut self) {
        // An uncommitted write leaves no trace, including rollout numbers it
        // reserved for new rollouts.
        self.forget_staged();
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
