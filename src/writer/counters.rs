//! The writer's counters: what it wrote, deduplicated and dropped, as
//! atomics the writer thread adds to ([`WriterCounters`]) and a snapshot
//! hosts read ([`WriterStats`]). Counting never fails and never blocks.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// What a recorder's writer has done since it started
/// ([`Recorder::stats`](crate::Recorder::stats)): a snapshot of its
/// counters, each counting up from 0. Counts are added once a group is
/// committed, so a snapshot taken after `flush()` or `shutdown()` covers
/// everything recorded before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriterStats {
    /// Events appended to the store, the `events_dropped` records the writer
    /// wrote included.
    pub events_written: u64,
    /// Events lost: a full queue, a payload over the limit, an event that
    /// could not be encoded, a start repeated after a resume, a refused
    /// rollout, a failed write, or a call after `shutdown()` or once the
    /// writer was poisoned. Where the writer could still write (not once
    /// poisoned, nor for a refused rollout), the log records each as an
    /// `events_dropped` event too. 0: nothing recorded was lost.
    pub events_dropped: u64,
    /// Payloads newly stored (not in the store before).
    pub payloads_written: u64,
    /// Payloads the store already held, so only their citation was written.
    pub payloads_deduplicated: u64,
    /// Bytes of every payload handed over, deduplicated ones included
    /// (after redaction, before chunking and compression).
    pub payload_bytes_in: u64,
    /// Chunks newly stored.
    pub chunks_written: u64,
    /// Chunks the store (or the same write) already held.
    pub chunks_deduplicated: u64,
    /// Bytes of the chunk records written (after zstd, headers included).
    pub bytes_stored: u64,
    /// Groups committed, each in one sled batch.
    pub groups_committed: u64,
    /// Flushes (fsyncs) that succeeded.
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
