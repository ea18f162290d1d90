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
    #[error("store {path} is locked by pid {pid}")]
    Locked { path: PathBuf, pid: String },
    #[error("store {path}: {message}")]
    Open { path: PathBuf, message: String },
    /// [`crate::store::Store::open_existing`] found no store (no `db/`
    /// directory) at `path`, and created nothing.
    #[error("no store at {path}")]
    NoStore { path: PathBuf },
    /// A sled operation failed. Made only in `store/`, the one module that
    /// touches sled (by `?` on a sled result, through this `From`).
    #[error("store i/o: {0}")]
    Store(#[from] sled::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt record {key}: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: CodecError,
    },
    #[error("corrupt data: {0}")]
    CorruptData(String),
    #[error("rollout {0} not found")]
    UnknownRollout(String),
    #[error("payload {0} not found")]
    UnknownPayload(Hash),
    #[error("payload of {size_bytes} bytes is over the limit of {limit_bytes} bytes")]
    PayloadTooLarge { size_bytes: u64, limit_bytes: u64 },
    #[error("{location}: {message}")]
    Input { location: String, message: String },
    #[error("rollout {rollout_id} seq {seq}: {message}")]
    Event {
        rollout_id: String,
        seq: Seq,
        message: String,
    },
    #[error("the writer refuses writes after an earlier failure: {0}")]
    Poisoned(String),
    #[error("the writer has stopped")]
    WriterGone,
    #[error("{0}")]
    Other(String),
    /// The reducer refused an event; `context` names what was being reduced
    /// (`reduce rollout ID`, `reduce bundle rollout ID`).
    #[error("{context}: {source}")]
    Reduce {
        context: String,
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
