//! The host side of the writer: what a host hands over ([`PayloadBody`],
//! [`PendingPayload`]), the per-rollout slot handles share with the writer
//! ([`RolloutSlot`]), the queued commands, and [`WriterHandle`], which starts
//! the thread and queues to it.
//!
//! Queueing never fails: a full queue (after the overflow wait) counts a
//! drop in the slot and the counters, and the writer records it in the log
//! before the rollout's next event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use super::admission::Admission;
use super::thread::Writer;
use super::{Overflow, WriterConfig, WriterCounters};
use crate::error::{Error, Result};
use crate::event::{EventPayload, PayloadKind};
use crate::redact::Redactor;
use crate::store::Store;

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
    pub(super) admission: std::sync::Mutex<Admission>,
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

/// One queued event.
pub(crate) struct Append {
    pub(crate) rollout: Arc<RolloutSlot>,
    pub(crate) wall_time_unix_ms: i64,
    pub(crate) thread_id: Option<Arc<str>>,
    pub(crate) codex_turn_id: Option<Arc<str>>,
    pub(crate) payload: EventPayload<PendingPayload>,
}

/// What the writer thread is asked to do.
pub(crate) enum Command {
    Append(Box<Append>),
    Flush(Sender<Result<()>>),
    Shutdown,
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
                Writer::new(store, config, thread_counters).run(&rx);
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
