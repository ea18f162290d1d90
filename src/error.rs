//! The library's error type. Every message names what it is about (file,
//! line, seq, id or hash), lower-case, without a trailing period.
//!
//! Where an error comes from another error, the variant keeps it as a typed
//! source (`Io`: [`std::io::Error`], `Corrupt`: [`CodecError`], `Store`:
//! `sled::Error`, `Reduce`: [`ReduceError`]), so callers can match on the
//! cause, and its message also ends with the source's, so `to_string()`
//! alone says everything. A printer that walks `source()` must therefore not
//! repeat a cause the message already ends with (the CLI does not).

use std::path::PathBuf;

use crate::codec::CodecError;
use crate::event::{Hash, Seq};
use crate::reducer::ReduceError;

/// Library result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process (or another `Store` in this one) holds the store's
    /// lock file, and it stayed held for [`StoreOptions::lock_wait`](crate::StoreOptions::lock_wait).
    #[error("store {path} is locked by pid {pid}")]
    Locked {
        /// The store directory.
        path: PathBuf,
        /// The holder's pid as its lock file records it (`unknown` when the
        /// file is empty, for example on a full disk).
        pid: String,
    },
    /// The store could not be opened: a directory that cannot be created or
    /// read, a sled database that does not open, an interrupted compaction
    /// that cannot be finished. `message` says which, with advice.
    #[error("store {path}: {message}")]
    Open {
        /// The store directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// [`crate::store::Store::open_existing`] found no store (no `db/`
    /// directory) at `path`, and created nothing.
    #[error("no store at {path}")]
    NoStore {
        /// The directory given.
        path: PathBuf,
    },
    /// A sled operation failed. Made only in `store/`, the one module that
    /// touches sled (by `?` on a sled result, through this `From`).
    #[error("store i/o: {0}")]
    Store(#[from] sled::Error),
    /// A file-system operation failed (an input or payload file, an output,
    /// the lock file, a store directory).
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path (`open /x/events.jsonl`).
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A stored record failed its checks when read (checksum, version,
    /// encoding): the store is damaged there; `tracefold verify` lists every
    /// such record.
    #[error("corrupt record {key}: {source}")]
    Corrupt {
        /// The record's key, printed for people (`event r3 seq 12`).
        key: String,
        /// What the codec found.
        #[source]
        source: CodecError,
    },
    /// Stored data that decodes but is inconsistent: a payload whose bytes do
    /// not hash to its address, a recipe that does not add up, a manifest
    /// that disagrees with its log.
    #[error("corrupt data: {0}")]
    CorruptData(String),
    /// No rollout with this id is stored.
    #[error("rollout {0} not found")]
    UnknownRollout(String),
    /// No payload with this hash is stored (it was never written, or `gc`
    /// removed it after its citing rollouts were deleted).
    #[error("payload {0} not found")]
    UnknownPayload(Hash),
    /// A payload larger than [`StoreOptions::max_payload_bytes`](crate::StoreOptions::max_payload_bytes)
    /// was offered to the store; nothing was written.
    #[error("payload of {size_bytes} bytes is over the limit of {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The payload's size.
        size_bytes: u64,
        /// The store's limit.
        limit_bytes: u64,
    },
    /// Bad input (a malformed line, a hostile path, a refused event) at a
    /// place in a file.
    #[error("{location}: {message}")]
    Input {
        /// Where: `file:line`, or a file or directory.
        location: String,
        /// What is wrong there.
        message: String,
    },
    /// An event of a stored or imported rollout was refused.
    #[error("rollout {rollout_id} seq {seq}: {message}")]
    Event {
        /// The rollout.
        rollout_id: String,
        /// The event's seq in its log.
        seq: Seq,
        /// Why it was refused.
        message: String,
    },
    /// An earlier write or fsync failed, so the writer (or the store) refuses
    /// every later write: what is stored stays as it was after the last
    /// successful commit. The text is the first failure.
    #[error("the writer refuses writes after an earlier failure: {0}")]
    Poisoned(String),
    /// The recorder's writer thread is gone (after `shutdown`), so a flush
    /// cannot be answered.
    #[error("the writer has stopped")]
    WriterGone,
    /// Anything else, with a message naming what it is about.
    #[error("{0}")]
    Other(String),
    /// The reducer refused an event; `context` names what was being reduced
    /// (`reduce rollout ID`, `reduce bundle rollout ID`).
    #[error("{context}: {source}")]
    Reduce {
        /// What was being reduced.
        context: String,
        /// The reducer's error, with its seq.
        #[source]
        source: ReduceError,
    },
}

impl Error {
    /// An input error at `location` (for example `file.jsonl:12`).
    pub fn input(location: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Input {
            location: location.into(),
            message: message.into(),
        }
    }

    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A reduce error with what was being reduced.
    pub fn reduce(context: impl Into<String>, source: ReduceError) -> Error {
        Error::Reduce {
            context: context.into(),
            source,
        }
    }
}
