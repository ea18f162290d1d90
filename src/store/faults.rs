//! Fault injection: a seam the store consults before every sled batch and
//! every flush, and for every record `verify` reads, so tests can make them
//! fail the way a full disk, a broken device or a damaged page would.
//!
//! A store opened without an injector (`StoreOptions::faults` is `None`, the
//! default) pays one `Option` check per batch and flush and behaves exactly
//! as without the seam. An injector may only refuse an operation before it
//! runs; it must never touch the data.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// The store operations an injector can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// One atomic sled batch (a writer group, a commit, a delete step).
    ApplyBatch,
    /// A sled flush (fsync).
    Flush,
    /// One record read by `verify`'s walk of the store (consulted after
    /// sled returned it, so a failure stands for a record that could not be
    /// read and the walk moves past it).
    Read,
}

/// Decides, before each batch and flush, whether it fails.
pub trait FaultInjector: Send + Sync + std::fmt::Debug {
    /// `Err` makes the operation fail with that error instead of running.
    fn check(&self, point: FaultPoint) -> std::io::Result<()>;
}

/// `errno` of "no space left on device".
#[cfg(any(test, feature = "__internal_whitebox"))]
pub const ENOSPC: i32 = 28;
/// `errno` of "input/output error".
#[cfg(any(test, feature = "__internal_whitebox"))]
pub const EIO: i32 = 5;

/// A scripted injector: from the moment a fault is armed, every operation of
/// that kind fails with the armed `errno` until it is disarmed.
#[derive(Debug, Default)]
pub struct ScriptedFaults {
    /// 0: no fault armed.
    batch_errno: AtomicI32,
    flush_errno: AtomicI32,
    read_errno: AtomicI32,
    /// Batches seen ([`FaultPoint::ApplyBatch`]), failed ones included.
    pub batches: AtomicU64,
    /// Flushes seen ([`FaultPoint::Flush`]), failed ones included.
    pub flushes: AtomicU64,
    /// Records `verify` read ([`FaultPoint::Read`]), failed ones included.
    pub reads: AtomicU64,
}

impl ScriptedFaults {
    /// No fault armed.
    pub fn new() -> ScriptedFaults {
        ScriptedFaults::default()
    }

    /// Every later batch fails with `errno` (`None`: batches succeed again).
    pub fn fail_batches(&self, errno: Option<i32>) {
        self.batch_errno.store(errno.unwrap_or(0), Ordering::SeqCst);
    }

    /// Every later flush fails with `errno` (`None`: flushes succeed again).
    pub fn fail_flushes(&self, errno: Option<i32>) {
        self.flush_errno.store(errno.unwrap_or(0), Ordering::SeqCst);
    }

    /// Every later record read by `verify` fails with `errno` (`None`:
    /// reads succeed again).
    pub fn fail_reads(&self, errno: Option<i32>) {
        self.read_errno.store(errno.unwrap_or(0), Ordering::SeqCst);
    }
}

impl FaultInjector for ScriptedFaults {
    fn check(&self, point: FaultPoint) -> std::io::Result<()> {
        let (errno, seen) = match point {
            FaultPoint::ApplyBatch => (&self.batch_errno, &self.batches),
            FaultPoint::Flush => (&self.flush_errno, &self.flushes),
            FaultPoint::Read => (&self.read_errno, &self.reads),
        };
        seen.fetch_add(1, Ordering::SeqCst);
        match errno.load(Ordering::SeqCst) {
            0 => Ok(()),
            code => Err(std::io::Error::from_raw_os_error(code)),
        }
    }
}
