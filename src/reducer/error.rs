//! Why a reduction fails: the public [`ReduceError`] (always naming the seq
//! and ids involved), and the handlers' internal [`Fail`], which gets its seq
//! attached at dispatch.
//!
//! Only types and constructors: deciding what is an error belongs to the
//! handlers, and turning an unknown reference into a diagnostic after
//! `events_dropped` belongs to `dispatch.rs`.

use crate::event::Hash;

/// Why a reduction failed. The text always names the seq and the ids involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReduceError {
    /// The event at `seq` is inconsistent with the state so far.
    #[error("seq {seq}: {message}")]
    Event { seq: u64, message: String },
    /// The payload source could not return a payload the event at `seq` cites.
    #[error("seq {seq}: payload {hash} is unavailable: {reason}")]
    PayloadUnavailable {
        seq: u64,
        hash: String,
        reason: String,
    },
    /// Saved reducer state could not be decoded.
    #[error("saved reducer state could not be resumed: {reason}")]
    Resume { reason: String },
}

impl ReduceError {
    /// The seq of the event at fault, if the error has one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ReduceError::Event { seq, .. } | ReduceError::PayloadUnavailable { seq, .. } => {
                Some(*seq)
            }
            ReduceError::Resume { .. } => None,
        }
    }

    /// The message without its `seq N: ` prefix (a diagnostic keeps the seq
    /// in its own field).
    pub fn detail(&self) -> String {
        match self {
            ReduceError::Event { message, .. } => message.clone(),
            ReduceError::PayloadUnavailable { hash, reason, .. } => {
                format!("payload {hash} is unavailable: {reason}")
            }
            ReduceError::Resume { .. } => self.to_string(),
        }
    }
}

/// Internal failure of one handler, before the seq is attached.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Inconsistent evidence (duplicate start, mismatch, bad payload shape).
    Invalid(String),
    /// A reference to something the log never started.
    Unknown(String),
    /// The payload source could not answer.
    Payload { hash: Hash, reason: String },
}

pub(crate) type Res<T> = Result<T, Fail>;

pub(crate) fn invalid<T>(message: String) -> Res<T> {
    Err(Fail::Invalid(message))
}

pub(crate) fn unknown<T>(message: String) -> Res<T> {
    Err(Fail::Unknown(message))
}
