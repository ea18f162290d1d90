//! The library's error type. Every message names what it is about (file,
//! line, seq, id or hash), lower-case, without a trailing period.

use std::path::PathBuf;

use crate::codec::CodecError;
use crate::event::{Hash, Seq};

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
    #[error("store i/o: {0}")]
    Sled(String),
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
}

impl From<sled::Error> for Error {
    fn from(err: sled::Error) -> Error {
        Error::Sled(err.to_string())
    }
}
