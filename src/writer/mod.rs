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
//! This file holds the configuration. The host side (what is queued, and
//! `WriterHandle`, which queues it) is `queue.rs`; the thread's loop
//! (gathering a group, deciding when to flush, poisoning) is `thread.rs`;
//! committing one group is `group.rs`; whether a handle's events are
//! appended, absorbed or dropped (a resumed or refused rollout) is
//! `admission.rs`; the counters are `counters.rs`.
//!
//! The writer must never panic into the host and never block a host thread
//! beyond the configured overflow wait.

mod admission;
mod counters;
mod group;
mod queue;
mod thread;

use std::sync::Arc;
use std::time::Duration;

use crate::redact::Redactor;

pub use self::counters::{WriterCounters, WriterStats};
pub(crate) use self::queue::{Append, RolloutSlot, WriterHandle};
pub use self::queue::{PayloadBody, PendingPayload};

/// When appended events become durable. Chosen explicitly at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Events are applied to sled but flushed only by `flush()` (and sled's
    /// background flusher). A process crash can lose what was not flushed.
    Buffered,
    /// Group commit (the default, with 2 ms): the writer flushes at most
    /// `max_wait` after the first unflushed group was applied (right after
    /// the group it is processing then), and at once when a `flush()` is
    /// waiting: at most one fsync per group, never one per event.
    GroupCommit {
        /// How long an applied group may wait for its flush. Groups applied
        /// within one `max_wait` share the fsync.
        max_wait: Duration,
    },
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
    /// Wait up to `max_wait` for room, then drop (the default, with 50 ms).
    Block {
        /// The longest a recorder call waits per event for room in the
        /// queue; a call that records several events can wait this long
        /// for each.
        max_wait: Duration,
    },
}

/// Writer configuration: part of a recorder's configuration
/// (`RecorderConfig::writer`), fixed when the recorder starts.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// When appended events become durable (default: group commit within
    /// 2 ms).
    pub durability: Durability,
    /// Events the queue between host threads and the writer holds (default
    /// 65,536; 0 counts as 1). What a host process crash loses at most,
    /// beyond what was applied but not yet flushed.
    pub queue_capacity: usize,
    /// What a recorder call does when the queue is full (default: wait up
    /// to 50 ms, then drop and count).
    pub overflow: Overflow,
    /// Most events the writer applies in one sled batch (default 1,024); a
    /// `flush()` request closes a group early.
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

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
