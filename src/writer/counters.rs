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
