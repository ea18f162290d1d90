//! The writer thread: one named thread fed by a bounded crossbeam channel,
//! assigning seqs and committing events in groups.
//!
//! Hosts never wait on it except through `flush()`. A group is whatever is
//! queued (up to `max_group_events`): its payloads are chunked, hashed and
//! compressed, and its events appended, in one sled batch. Durability decides
//! when a batch is also flushed (fsync). After a failed write or flush the
//! writer is poisoned: it refuses every later write, counting it as dropped,
//! and `flush()` reports the failure; it never retries silently.
//!
//! The writer must never panic into the host and never block a host thread
//! beyond the configured overflow wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use crate::error::{Error, Result};
use crate::event::{EventPayload, PayloadKind, PayloadRef};
use crate::redact::Redactor;
use crate::store::{Store, Writes};

/// When appended events become durable. Chosen explicitly at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Events are applied to sled but flushed only by `flush()` (and sled's
    /// background flusher). A process crash can lose what was not flushed.
    Buffered,
    /// Group commit: the writer flushes at most `max_wait` after the first
    /// unflushed event, and at once when a `flush()` is waiting.
    GroupCommit { max_wait: Duration },
}

impl Default for Durability {
    fn default() -> Durability {
        Durability::GroupCommit {
            max_wait: Duration::from_millis(2),
        }
    }
}

/// What a recorder call does when the writer's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the event at once (counted, and recorded as `events_dropped`).
    Drop,
    /// Wait up to `max_wait` for room, then drop.
    Block { max_wait: Duration },
}

/// Writer configuration.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub durability: Durability,
    pub queue_capacity: usize,
    pub overflow: Overflow,
    pub max_group_events: usize,
    /// Secrets are redacted from payloads and every string of an event
    /// (ids included) before hashing (on by default; `None` stores
    /// everything untouched).
    pub redaction: Option<Arc<Redactor>>,
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            durability: Durability::default(),
            queue_capacity: 65_536,
            overflow: Overflow::Block {
                max_wait: Duration::from_millis(50),
            },
            max_group_events: 1024,
            redaction: Some(Arc::new(Redactor::new())),
        }
    }
}

/// A payload as handed over by the host, before it is stored.
#[derive(Debug, Clone)]
pub enum PayloadBody {
    /// Stored as compact JSON.
    Json(serde_json::Value),
    /// Stored as is.
    Bytes(Vec<u8>),
}

impl From<serde_json::Value> for PayloadBody {
    fn from(value: serde_json::Value) -> PayloadBody {
        PayloadBody::Json(value)
    }
}

impl From<Vec<u8>> for PayloadBody {
    fn from(bytes: Vec<u8>) -> PayloadBody {
        PayloadBody::Bytes(bytes)
    }
}

impl From<String> for PayloadBody {
    fn from(text: String) -> PayloadBody {
        PayloadBody::Bytes(text.into_bytes())
    }
}

/// A payload with its kind, as queued.
#[derive(Debug, Clone)]
pub struct PendingPayload {
    pub kind: PayloadKind,
    pub body: PayloadBody,
}

/// Per-rollout state shared between host handles and the writer.
#[derive(Debug)]
pub(crate) struct RolloutSlot {
    pub(crate) rollout_id: String,
    /// Events dropped by host calls (full queue) not yet recorded in the log.
    pub(crate) dropped: AtomicU64,
    /// How the writer treats this handle's events; only the writer thread
    /// touches it (the lock is never contended).
    admission: std::sync::Mutex<Admission>,
}

impl RolloutSlot {
    pub(crate) fn new(rollout_id: String) -> RolloutSlot {
        RolloutSlot {
            rollout_id,
            dropped: AtomicU64::new(0),
            admission: std::sync::Mutex::new(Admission::Fresh),
        }
    }
}

/// What the writer does with a rollout handle's events. A handle that
/// starts a rollout the store already holds resumes it (same root thread)
/// or is refused (another root): a second `rollout_started` would make the
/// stored log unreducible.
#[derive(Debug, Default)]
enum Admission {
    /// Nothing written yet through this handle.
    #[default]
    Fresh,
    /// A new rollout, or an attached one: events are appended as they come.
    Recording,
    /// Continues a stored rollout: its `rollout_started` was not written
    /// again, a thread it already started is resumed (`thread_resumed`),
    /// and any other start the log already holds is dropped and recorded.
    Resuming(crate::event::StartTracker),
    /// Started with an id the store holds for another root thread: every
    /// event is dropped and counted.
    Refused,
}

/// What becomes of one queued event.
enum Verdict {
    Append,
    /// Written already (a resumed rollout's start): nothing to do.
    Absorbed,
    /// Dropped and counted; `Some(reason)` is also recorded in the log.
    Drop(Option<String>),
}

/// One queued event.
pub(crate) struct Append {
    pub(crate) rollout: Arc<RolloutSlot>,
    pub(crate) wall_time_unix_ms: i64,
    pub(crate) thread_id: Option<Arc<str>>,
    pub(crate) codex_turn_id: Option<Arc<str>>,
    pub(crate) payload: EventPayload<PendingPayload>,
}

pub(crate) enum Command {
    Append(Box<Append>),
    Flush(Sender<Result<()>>),
    Shutdown,
}

/// Counters of everything the writer did (and did not do).
#[derive(Debug, Default)]
pub struct WriterCounters {
    pub events_written: AtomicU64,
    pub events_dropped: AtomicU64,
    pub payloads_written: AtomicU64,
    pub payloads_deduplicated: AtomicU64,
    pub payload_bytes_in: AtomicU64,
    pub chunks_written: AtomicU64,
    pub chunks_deduplicated: AtomicU64,
    pub bytes_stored: AtomicU64,
    pub groups_committed: AtomicU64,
    pub flushes: AtomicU64,
}

/// A snapshot of [`WriterCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriterStats {
    pub events_written: u64,
    pub events_dropped: u64,
    pub payloads_written: u64,
    pub payloads_deduplicated: u64,
    pub payload_bytes_in: u64,
    pub chunks_written: u64,
    pub chunks_deduplicated: u64,
    pub bytes_stored: u64,
    pub groups_committed: u64,
    pub flushes: u64,
}

impl WriterCounters {
    pub fn snapshot(&self) -> WriterStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        WriterStats {
            events_written: load(&self.events_written),
            events_dropped: load(&self.events_dropped),
            payloads_written: load(&self.payloads_written),
            payloads_deduplicated: load(&self.payloads_deduplicated),
            payload_bytes_in: load(&self.payload_bytes_in),
            chunks_written: load(&self.chunks_written),
            chunks_deduplicated: load(&self.chunks_deduplicated),
            bytes_stored: load(&self.bytes_stored),
            groups_committed: load(&self.groups_committed),
            flushes: load(&self.flushes),
        }
    }
}

/// The host side of the writer: a queue and counters.
pub(crate) struct WriterHandle {
    pub(crate) tx: Sender<Command>,
    pub(crate) counters: Arc<WriterCounters>,
    pub(crate) overflow: Overflow,
    /// The writer's redactor, so a handle knows the id its rollout is
    /// stored under.
    redaction: Option<Arc<Redactor>>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl WriterHandle {
    /// Starts the writer thread on `store`.
    pub(crate) fn spawn(store: Store, config: WriterConfig) -> Result<WriterHandle> {
        let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity.max(1));
        let counters = Arc::new(WriterCounters::default());
        let thread_counters = Arc::clone(&counters);
        let overflow = config.overflow;
        let redaction = config.redaction.clone();
        let thread = std::thread::Builder::new()
            .name("tracefold-writer".to_string())
            .spawn(move || {
                let mut writer = Writer {
                    store,
                    config,
                    counters: thread_counters,
                    poisoned: None,
                    unflushed_since: None,
                };
                writer.run(&rx);
            })
            .map_err(|err| Error::io("spawn the writer thread", err))?;
        Ok(WriterHandle {
            tx,
            counters,
            overflow,
            redaction,
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// The id a rollout is stored under: `rollout_id` redacted (once, when a
    /// handle is made) like every string the store keeps.
    pub(crate) fn stored_rollout_id(&self, mut rollout_id: String) -> String {
        if let Some(redactor) = &self.redaction {
            redactor.redact_string(&mut rollout_id);
        }
        rollout_id
    }

    /// Queues an event; never fails: a full queue counts a drop.
    pub(crate) fn send(&self, append: Append) {
        let slot = Arc::clone(&append.rollout);
        let command = Command::Append(Box::new(append));
        let sent = match self.overflow {
            Overflow::Drop => self.tx.try_send(command).is_ok(),
            Overflow::Block { max_wait } => self.tx.send_timeout(command, max_wait).is_ok(),
        };
        if !sent {
            slot.dropped.fetch_add(1, Ordering::Relaxed);
            self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until everything queued before this call is durable.
    pub(crate) fn flush(&self) -> Result<()> {
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        self.tx
            .send(Command::Flush(ack_tx))
            .map_err(|_| Error::WriterGone)?;
        ack_rx.recv().map_err(|_| Error::WriterGone)?
    }

    /// Flushes, stops the thread and waits for it.
    pub(crate) fn shutdown(&self) -> Result<()> {
        let flushed = self.flush();
        let _ = self.tx.send(Command::Shutdown);
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            return Err(Error::Other("the writer thread panicked".to_string()));
        }
        match flushed {
            Err(Error::WriterGone) => Ok(()),
            other => other,
        }
    }
}

struct Writer {
    store: Store,
    config: WriterConfig,
    counters: Arc<WriterCounters>,
    poisoned: Option<String>,
    unflushed_since: Option<Instant>,
}

impl Writer {
    fn run(&mut self, rx: &Receiver<Command>) {
        let mut group: Vec<Append> = Vec::new();
        let mut flush_waiters: Vec<Sender<Result<()>>> = Vec::new();
        let mut slots: Vec<Arc<RolloutSlot>> = Vec::new();
        loop {
            let first = match self.flush_deadline() {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(deadline) => {
                    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                }
            };
            let mut shutdown = false;
            match first {
                Ok(command) => shutdown |= take(command, &mut group, &mut flush_waiters),
                Err(RecvTimeoutError::Timeout) => {
                    // A failure poisons the writer; the next flush() reports it.
                    let _ = self.flush_now();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => shutdown = true,
            }
            // Drain what is already queued, up to the group limit; a flush
            // request closes the group so its waiter is answered promptly.
            while !shutdown
                && flush_waiters.is_empty()
                && group.len() < self.config.max_group_events
            {
                match rx.try_recv() {
                    Ok(command) => shutdown |= take(command, &mut group, &mut flush_waiters),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        shutdown = true;
                        break;
                    }
                }
            }
            for append in &group {
                if !slots.iter().any(|slot| Arc::ptr_eq(slot, &append.rollout)) {
                    slots.push(Arc::clone(&append.rollout));
                }
            }
            if !flush_waiters.is_empty() || shutdown {
                // Record host-side drops before answering a flush.
                self.commit_group(std::mem::take(&mut group), &slots);
                let result = self.flush_now();
                for waiter in flush_waiters.drain(..) {
                    let _ = waiter.send(result.clone().map_err(Error::Poisoned));
                }
            } else {
                self.commit_group(std::mem::take(&mut group), &[]);
                if self
                    .flush_deadline()
                    .is_some_and(|deadline| deadline <= Instant::now())
                {
                    let _ = self.flush_now();
                }
            }
            if shutdown {
                return;
            }
        }
    }

    fn flush_deadline(&self) -> Option<Instant> {
        match self.config.durability {
            Durability::Buffered => None,
            Durability::GroupCommit { max_wait } => {
                self.unflushed_since.map(|since| since + max_wait)
            }
        }
    }

    /// Flushes everything applied so far. A failure poisons the writer.
    fn flush_now(&mut self) -> std::result::Result<(), String> {
        if let Some(reason) = &self.poisoned {
            return Err(reason.clone());
        }
        if self.unflushed_since.is_none() {
            return Ok(());
        }
        match self.store.flush() {
            Ok(()) => {
                self.unflushed_since = None;
                self.counters.flushes.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(err) => {
                let reason = format!("flush failed: {err}");
                self.poison(reason.clone());
                Err(reason)
            }
        }
    }

    fn poison(&mut self, reason: String) {
        if let Ok(mut writes) = self.store.writes() {
            writes.poison(reason.clone());
        }
        self.poisoned = Some(reason);
    }

    fn drop_events(&self, count: u64) {
        self.counters
            .events_dropped
            .fetch_add(count, Ordering::Relaxed);
    }

    /// Appends a group in one batch. `drop_slots` are rollouts whose pending
    /// host-side drops must be recorded even if they have no event here.
    fn commit_group(&mut self, group: Vec<Append>, drop_slots: &[Arc<RolloutSlot>]) {
        if self.poisoned.is_some() {
            self.drop_events(group.len() as u64);
            return;
        }
        if group.is_empty()
            && drop_slots
                .iter()
                .all(|s| s.dropped.load(Ordering::Relaxed) == 0)
        {
            return;
        }
        let mut writes = match self.store.writes() {
            Ok(writes) => writes,
            Err(err) => {
                self.drop_events(group.len() as u64);
                self.poisoned = Some(err.to_string());
                return;
            }
        };
        let limit = self.store.options().max_payload_bytes;
        let mut written = 0u64;
        let mut dropped = 0u64;
        for slot in drop_slots {
            if record_host_drops(&mut writes, slot, &slot.rollout_id, now_ms()).is_ok() {
                written += 1;
            }
        }
        for append in group {
            let Append {
                rollout,
                wall_time_unix_ms,
                thread_id,
                codex_turn_id,
                payload,
            } = append;
            // The store sees only redacted ids: the envelope's ids and every
            // string of the payload. The slot's rollout id was redacted when
            // its handle was made; redacting it again changes nothing.
            let mut rollout_id = rollout.rollout_id.clone();
            let mut thread_id = thread_id.as_deref().map(str::to_string);
            let mut codex_turn_id = codex_turn_id.as_deref().map(str::to_string);
            let payload = match &self.config.redaction {
                Some(redactor) => redact_pending(
                    redactor,
                    &mut rollout_id,
                    &mut thread_id,
                    &mut codex_turn_id,
                    payload,
                ),
                None => payload,
            };
            let mut payload = payload;
            match self.admit(&mut writes, &rollout, thread_id.as_deref(), &mut payload) {
                Verdict::Append => {}
                Verdict::Absorbed => continue,
                Verdict::Drop(reason) => {
                    dropped += 1;
                    if let Some(reason) = reason
                        && let Ok(num) = writes.rollout(&rollout.rollout_id, false)
                        && writes
                            .append(
                                num,
                                wall_time_unix_ms,
                                thread_id,
                                None,
                                EventPayload::EventsDropped { count: 1, reason },
                            )
                            .is_ok()
                    {
                        written += 1;
                    }
                    continue;
                }
            };
            let context = (
                rollout.as_ref(),
                rollout_id.as_str(),
                wall_time_unix_ms,
                thread_id.clone(),
                codex_turn_id,
            );
            match append_one(&mut writes, context, payload, limit) {
                Ok(count) => written += count,
                Err(mut reason) => {
                    dropped += 1;
                    // The reason names the event type and the error, either
                    // of which may quote a secret.
                    if let Some(redactor) = &self.config.redaction {
                        redactor.redact_string(&mut reason);
                    }
                    // The drop is recorded in the log so the reducer can
                    // report it; if even that fails the counter still has it.
                    if let Ok(num) = writes.rollout(&rollout_id, true)
                        && writes
                            .append(
                                num,
                                wall_time_unix_ms,
                                thread_id,
                                None,
                                EventPayload::EventsDropped { count: 1, reason },
                            )
                            .is_ok()
                    {
                        written += 1;
                    }
                }
            }
        }
        let counters = writes.counters;
        let durable = false;
        match writes.commit(durable) {
            Ok(()) => {
                let c = &self.counters;
                c.events_written.fetch_add(written, Ordering::Relaxed);
                c.payloads_written
                    .fetch_add(counters.payloads_written, Ordering::Relaxed);
                c.payloads_deduplicated
                    .fetch_add(counters.payloads_deduplicated, Ordering::Relaxed);
                c.payload_bytes_in
                    .fetch_add(counters.payload_bytes_in, Ordering::Relaxed);
                c.chunks_written
                    .fetch_add(counters.chunks_written, Ordering::Relaxed);
                c.chunks_deduplicated
                    .fetch_add(counters.chunks_deduplicated, Ordering::Relaxed);
                c.bytes_stored
                    .fetch_add(counters.chunk_bytes_written, Ordering::Relaxed);
                c.groups_committed.fetch_add(1, Ordering::Relaxed);
                self.drop_events(dropped);
                if self.unflushed_since.is_none() {
                    self.unflushed_since = Some(Instant::now());
                }
            }
            Err(err) => {
                self.drop_events(written + dropped);
                self.poison(format!("write failed: {err}"));
            }
        }
    }
}

impl Writer {
    /// Decides what becomes of one event of `slot` (see [`Admission`]); a
    /// resumed rollout's repeated thread start becomes `thread_resumed` in
    /// place.
    fn admit(
        &self,
        writes: &mut Writes<'_>,
        slot: &RolloutSlot,
        thread_id: Option<&str>,
        payload: &mut EventPayload<PendingPayload>,
    ) -> Verdict {
        let mut admission = slot
            .admission
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if matches!(*admission, Admission::Fresh) {
            *admission = match &*payload {
                EventPayload::RolloutStarted { root_thread_id, .. } => {
                    self.admission_of_start(writes, &slot.rollout_id, root_thread_id)
                }
                _ => Admission::Recording,
            };
            if let Admission::Resuming(_) = *admission {
                // The resumed rollout's start is in its log already.
                return Verdict::Absorbed;
            }
        }
        let starts = match &mut *admission {
            Admission::Fresh | Admission::Recording => return Verdict::Append,
            Admission::Refused => return Verdict::Drop(None),
            Admission::Resuming(starts) => starts,
        };
        if matches!(payload, EventPayload::ThreadStarted { .. })
            && starts.would_repeat(thread_id, payload)
            && let EventPayload::ThreadStarted {
                thread_id: started,
                agent_path,
                metadata_payload,
            } = payload
        {
            *payload = EventPayload::ThreadResumed {
                thread_id: std::mem::take(started),
                agent_path: std::mem::take(agent_path),
                metadata_payload: metadata_payload.take(),
            };
        }
        let seq = writes
            .rollout(&slot.rollout_id, false)
            .ok()
            .and_then(|num| writes.manifest(num))
            .map_or(0, |manifest| manifest.event_count + 1);
        match starts.observe(seq, thread_id, payload) {
            Ok(()) => Verdict::Append,
            Err(duplicate) => Verdict::Drop(Some(format!(
                "{} event dropped: {duplicate}, after the rollout was resumed",
                payload.type_name()
            ))),
        }
    }

    /// A `rollout_started` through a fresh handle: a new rollout, or a
    /// stored one resumed (same root thread) or refused (another root).
    fn admission_of_start(
        &self,
        writes: &mut Writes<'_>,
        rollout_id: &str,
        root_thread_id: &str,
    ) -> Admission {
        let Ok(num) = writes.rollout(rollout_id, false) else {
            return Admission::Recording;
        };
        let Some(manifest) = writes.manifest(num).cloned() else {
            return Admission::Recording;
        };
        if manifest.event_count == 0 {
            return Admission::Recording;
        }
        if manifest
            .root_thread_id
            .as_deref()
            .is_some_and(|root| root != root_thread_id)
        {
            return Admission::Refused;
        }
        let mut starts = crate::event::StartTracker::new();
        if let Ok(events) = self.store.events(rollout_id) {
            for event in events.flatten() {
                let _ = starts.observe(event.seq, event.thread_id.as_deref(), &event.payload);
            }
        }
        Admission::Resuming(starts)
    }
}

fn take(
    command: Command,
    group: &mut Vec<Append>,
    flush_waiters: &mut Vec<Sender<Result<()>>>,
) -> bool {
    match command {
        Command::Append(append) => group.push(*append),
        Command::Flush(waiter) => flush_waiters.push(waiter),
        Command::Shutdown => return true,
    }
    false
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn record_host_drops(
    writes: &mut Writes<'_>,
    slot: &RolloutSlot,
    rollout_id: &str,
    wall_time_unix_ms: i64,
) -> Result<()> {
    let count = slot.dropped.swap(0, Ordering::Relaxed);
    if count == 0 {
        return Ok(());
    }
    let num = writes.rollout(rollout_id, true)?;
    let result = writes.append(
        num,
        wall_time_unix_ms,
        None,
        None,
        EventPayload::EventsDropped {
            count,
            reason: "recorder queue full".to_string(),
        },
    );
    if result.is_err() {
        slot.dropped.fetch_add(count, Ordering::Relaxed);
    }
    result.map(|_| ())
}

/// Stores one queued event's payloads and appends it. Returns how many events
/// were appended (a pending drop record may precede it), or why it was dropped.
fn append_one(
    writes: &mut Writes<'_>,
    (slot, rollout_id, wall_time_unix_ms, thread_id, codex_turn_id): EventContext<'_>,
    payload: EventPayload<PendingPayload>,
    limit_bytes: u64,
) -> std::result::Result<u64, String> {
    let mut appended = 0;
    if slot.dropped.load(Ordering::Relaxed) > 0 {
        record_host_drops(writes, slot, rollout_id, wall_time_unix_ms)
            .map_err(|err| err.to_string())?;
        appended += 1;
    }
    let type_name = payload.type_name().to_string();
    let payload = payload
        .try_map_refs(|pending| store_payload(writes, pending, limit_bytes))
        .map_err(|err| format!("{type_name} event dropped: {err}"))?;
    let num = writes
        .rollout(rollout_id, true)
        .map_err(|err| err.to_string())?;
    writes
        .append(num, wall_time_unix_ms, thread_id, codex_turn_id, payload)
        .map_err(|err| err.to_string())?;
    Ok(appended + 1)
}

/// Rollout slot, stored rollout id, wall time, thread id and turn id of one
/// queued event.
type EventContext<'a> = (
    &'a RolloutSlot,
    &'a str,
    i64,
    Option<String>,
    Option<String>,
);

fn store_payload(
    writes: &mut Writes<'_>,
    pending: PendingPayload,
    limit_bytes: u64,
) -> Result<PayloadRef> {
    let bytes = match pending.body {
        PayloadBody::Bytes(bytes) => bytes,
        PayloadBody::Json(value) => serde_json::to_vec(&value)
            .map_err(|err| Error::Other(format!("payload does not serialise: {err}")))?,
    };
    if bytes.len() as u64 > limit_bytes {
        return Err(Error::PayloadTooLarge {
            size_bytes: bytes.len() as u64,
            limit_bytes,
        });
    }
    writes.put_payload_bytes(pending.kind, &bytes)
}

/// Redacts an event before anything of it is hashed: its rollout, thread and
/// turn ids, every string of its payload, and its payload bodies.
fn redact_pending(
    redactor: &Redactor,
    rollout_id: &mut String,
    thread_id: &mut Option<String>,
    codex_turn_id: &mut Option<String>,
    mut payload: EventPayload<PendingPayload>,
) -> EventPayload<PendingPayload> {
    redactor.redact_event(rollout_id, thread_id, codex_turn_id, &mut payload);
    payload.map_refs(|mut pending| {
        match &mut pending.body {
            PayloadBody::Json(value) => {
                redactor.redact_json(value);
            }
            PayloadBody::Bytes(bytes) => {
                if let Some(redacted) = redactor.redact_bytes(bytes) {
                    *bytes = redacted;
                }
            }
        }
        pending
    })
}
