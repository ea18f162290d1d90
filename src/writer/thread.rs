//! The writer thread's loop: gather what is queued into a group (up to
//! `max_group_events`, closed early by a flush request), commit it, and
//! flush when the durability mode says so or a host waits. A failed flush
//! poisons the writer: every later write is refused and counted as dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::queue::{Append, Command, RolloutSlot};
use super::{Durability, WriterConfig, WriterCounters};
use crate::error::{Error, Result};
use crate::store::Store;

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) store: Store,
    pub(super) config: WriterConfig,
    pub(super) counters: Arc<WriterCounters>,
    /// Why the writer refuses writes, once a write or flush failed.
    pub(super) poisoned: Option<String>,
    /// When the oldest applied but unflushed group was committed.
    pub(super) unflushed_since: Option<Instant>,
}

impl Writer {
    /// A writer on `store`, neither poisoned nor holding unflushed writes.
    pub(super) fn new(store: Store, config: WriterConfig, counters: Arc<WriterCounters>) -> Writer {
        Writer {
            store,
            config,
            counters,
            poisoned: None,
            unflushed_since: None,
        }
    }

    /// Runs until a shutdown command or until every sender is gone.
    pub(super) fn run(&mut self, rx: &Receiver<Command>) {
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

    pub(super) fn poison(&mut self, reason: String) {
        if let Ok(mut writes) = self.store.writes() {
            writes.poison(reason.clone());
        }
        self.poisoned = Some(reason);
    }

    pub(super) fn drop_events(&self, count: u64) {
        self.counters
            .events_dropped
            .fetch_add(count, Ordering::Relaxed);
    }
}

/// Adds `command` to the group or the flush waiters; `true` for a shutdown.
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
