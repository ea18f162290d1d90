//! The raw event model: the envelope, every event variant, payload kinds and
//! payload references.
//!
//! One generic enum, [`EventPayload<R>`], serves every representation: `R` is
//! the payload-reference type. The JSON wire format parses into
//! `EventPayload<WirePayloadRef>`, the store keeps `EventPayload<PayloadRef>`
//! (a BLAKE3 hash, a size and a kind), and export maps refs back out. Serde
//! attributes give the reference's JSON names; the derived bincode
//! `Encode`/`Decode` ignore them and give the stored form.
//!
//! This file keeps the envelope ([`Event`]); the rest is split by concern:
//! `payload.rs` the variants, `type_names.rs` their wire names, `refs.rs` payload
//! references (visiting and mapping them), `strings.rs` the string visitor
//! redaction relies on, `kinds.rs` payload kinds, `hash.rs` the BLAKE3
//! [`Hash`](struct@Hash), `json_text.rs` verbatim JSON, `types.rs` the small
//! shared value types, `wire.rs` the JSON wire format, `starts.rs`
//! duplicate-start tracking. Everything is re-exported here, so paths stay
//! `crate::event::Name`.
//!
//! This module does no I/O.

mod hash;
mod json_text;
mod kinds;
mod payload;
mod refs;
mod starts;
mod strings;
mod type_names;
mod types;
pub(crate) mod wire;

use bincode::{Decode, Encode};

pub use hash::{Hash, ParseHashError};
pub use json_text::JsonText;
pub use kinds::PayloadKind;
pub use payload::{EventPayload, InferenceRequestInputMode};
pub use refs::PayloadRef;
pub(crate) use starts::StartTracker;
pub use strings::EventString;
pub use type_names::KNOWN_EVENT_TYPES;
pub use types::{
    CodeCellRuntimeStatus, ExecutionStatus, RawToolCallRequester, RolloutStatus, ToolCallKind,
    ToolCallSummary, truncate_utf8,
};

/// Writer-assigned position of an event in its rollout's log, from 1.
pub type Seq = u64;

/// Wire `schema_version` of the raw event envelope (the reference's value).
pub const RAW_EVENT_SCHEMA_VERSION: u32 = 1;

/// One raw event of a stored rollout, as the reducer and the exporters see it.
///
/// The rollout id is not repeated per event: it is the log's.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Event {
    /// Position in the rollout's log, from 1, assigned by the writer (or
    /// kept from an imported line). The reducer folds in seq order, which
    /// is the causal order, and names the seq of an event it refuses.
    pub seq: Seq,
    /// When the event was recorded, in milliseconds since the Unix epoch
    /// (the recorder's clock, for display and latency only: it may go
    /// backwards). The reducer copies it into start, end and first-seen
    /// times.
    pub wall_time_unix_ms: i64,
    /// The thread the event was recorded through (the envelope context).
    /// Events recorded through a turn's handle carry it; rollout and thread
    /// lifecycle events carry `None`. Tool call starts, code cell events and
    /// remote compaction installs require it; turn starts and ends, when it
    /// is set, check it against the turn's thread.
    pub thread_id: Option<String>,
    /// The turn the event was recorded through, in `thread_id`. Set with
    /// `thread_id` by a turn's handle, else `None`. Tool call starts, code
    /// cell starts and remote compaction installs require it (a local
    /// install without thread and turn takes its inference call's).
    pub codex_turn_id: Option<String>,
    /// What happened; its payload references are stored ones.
    pub payload: EventPayload<PayloadRef>,
}

#[cfg(test)]
pub(crate) mod samples;

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
