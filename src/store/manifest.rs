//! A rollout's manifest: identity, lifecycle and counters, folded from its
//! events as they are appended.

use bincode::{Decode, Encode};
use serde::Serialize;

use super::describe_key;
use super::keys::decode_num;
use crate::codec;
use crate::error::{Error, Result};
use crate::event::{Event, EventPayload, RolloutStatus};

/// A rollout's manifest: identity, lifecycle and counters.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct RolloutManifest {
    /// The rollout's number in the store's keys (its manifest and event
    /// records): assigned when the rollout is created, in increasing order,
    /// and never reused, not even after a delete. Internal to the store and
    /// left out of JSON; the rollout is named by `rollout_id`.
    #[serde(skip)]
    pub rollout_num: u64,
    /// The rollout's id, as stored (redacted if it held a secret).
    pub rollout_id: String,
    /// The trace id of the log's `rollout_started` (or of the bundle manifest
    /// it was imported from); `None` while the log has no `rollout_started`
    /// (for example a log attached with `Recorder::attach_rollout`).
    pub trace_id: Option<String>,
    /// The root thread named by the log's `rollout_started` (or the bundle
    /// manifest); `None` while the log has no `rollout_started`.
    pub root_thread_id: Option<String>,
    /// Wall time of the rollout's first event, in milliseconds since the Unix
    /// epoch (an imported bundle's manifest sets it instead); `None` while
    /// the log is empty.
    pub started_at_unix_ms: Option<i64>,
    /// Wall time of the last `rollout_ended`, in milliseconds since the Unix
    /// epoch; `None` while the rollout runs (a `rollout_started` or a resumed
    /// root thread clears it).
    pub ended_at_unix_ms: Option<i64>,
    /// `Running` from creation; the status of the last `rollout_ended`
    /// after it; `Running` again when the root thread is resumed.
    pub status: RolloutStatus,
    /// Events in the log, which is also the last seq: logs are contiguous
    /// from 1 (0: no event yet).
    pub event_count: u64,
    /// Payload references from events, repeats counted (saturating).
    pub payload_refs: u64,
    /// Bytes of every referenced payload, repeats counted (saturating): what
    /// the rollout's payloads take before deduplication and compression.
    pub logical_payload_bytes: u64,
}

impl RolloutManifest {
    pub(super) fn new(rollout_num: u64, rollout_id: &str) -> RolloutManifest {
        RolloutManifest {
            rollout_num,
            rollout_id: rollout_id.to_string(),
            trace_id: None,
            root_thread_id: None,
            started_at_unix_ms: None,
            ended_at_unix_ms: None,
            status: RolloutStatus::Running,
            event_count: 0,
            payload_refs: 0,
            logical_payload_bytes: 0,
        }
    }

    /// Folds one appended event into the manifest.
    pub(super) fn observe(&mut self, event: &Event) {
        // Contiguous logs: each event takes the seq after the last one.
        debug_assert_eq!(
            event.seq,
            self.event_count + 1,
            "rollout {}: seq {} after {}",
            self.rollout_id,
            event.seq,
            self.event_count
        );
        self.event_count = event.seq;
        if self.started_at_unix_ms.is_none() {
            self.started_at_unix_ms = Some(event.wall_time_unix_ms);
        }
        match &event.payload {
            EventPayload::RolloutStarted {
                trace_id,
                root_thread_id,
            } => {
                self.trace_id = Some(trace_id.clone());
                self.root_thread_id = Some(root_thread_id.clone());
                self.status = RolloutStatus::Running;
                self.ended_at_unix_ms = None;
            }
            EventPayload::RolloutEnded { status } => {
                self.status = *status;
                self.ended_at_unix_ms = Some(event.wall_time_unix_ms);
            }
            // A resumed root thread runs the rollout again.
            EventPayload::ThreadResumed { thread_id, .. }
                if self.root_thread_id.as_deref() == Some(thread_id.as_str()) =>
            {
                self.status = RolloutStatus::Running;
                self.ended_at_unix_ms = None;
            }
            _ => {}
        }
        // Saturating: a counter that cannot grow further stays at its maximum
        // rather than wrapping to a small, believable number.
        event.payload.for_each_ref(|r| {
            self.payload_refs = self.payload_refs.saturating_add(1);
            self.logical_payload_bytes = self.logical_payload_bytes.saturating_add(r.size_bytes);
        });
    }
}

pub(super) fn decode_manifest(key: &[u8], value: &[u8]) -> Result<RolloutManifest> {
    let mut manifest: RolloutManifest =
        codec::decode_record(key, value).map_err(|source| Error::Corrupt {
            key: describe_key(key),
            source,
        })?;
    manifest.rollout_num = decode_num(&key[1..]).unwrap_or_default();
    Ok(manifest)
}
