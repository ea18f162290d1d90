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
    /// The event at `seq` is inconsistent with the state so far (a
    /// duplicate start, an unknown reference, a thread or turn mismatch, a
    /// payload of the wrong shape).
    #[error("seq {seq}: {message}")]
    Event {
        /// The seq of the event at fault.
        seq: u64,
        /// What is wrong, naming the ids involved (without the seq).
        message: String,
    },
    /// The payload source could not return a payload the event at `seq` cites.
    #[error("seq {seq}: payload {hash} is unavailable: {reason}")]
    PayloadUnavailable {
        /// The seq of the event citing the payload.
        seq: u64,
        /// The payload's BLAKE3, in hex.
        hash: String,
        /// Why the [`PayloadSource`](crate::PayloadSource) could not return
        /// it, as the source said.
        reason: String,
    },
    /// Saved reducer state could not be decoded.
    #[error("saved reducer state could not be resumed: {reason}")]
    Resume {
        /// Why: not JSON of the saved form, no or another
        /// `saved_state_version`, or inconsistent fields.
        reason: String,
    },
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
