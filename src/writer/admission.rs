//! Admission: what becomes of each event of a rollout handle ([`Admission`],
//! decided by `Writer::admit`). Only a handle that starts a rollout the store
//! already holds is treated differently: its repeated starts are dropped and
//! recorded, and its repeated thread starts become `thread_resumed`.

use super::PendingPayload;
use super::queue::RolloutSlot;
use super::thread::Writer;
use crate::event::EventPayload;
use crate::store::Writes;

/// What the writer does with a rollout handle's events. A handle that
/// starts a rollout the store already holds resumes it (same root thread)
/// or is refused (another root): a second `rollout_started` would make the
/// stored log unreducible.
#[derive(Debug, Default)]
pub(super) enum Admission {
    /// Nothing written yet through this handle.
    #[default]
    Fresh,
    /// A new rollout, or an attached one: events are appended as they come.
    Recording,
    /// Continues a stored rollout: its `rollout_started` was not written
    /// again, a thread it already started is resumed (`thread_resumed`),
    /// and any other start the log already holds is dropped and recorded.
    Resuming(crate::event::StartTracker),
    /// Started with an id the store holds for another root thread: every
    /// event is dropped and counted.
    Refused,
}

/// What becomes of one queued event.
pub(super) enum Verdict {
    Append,
    /// Written already (a resumed rollout's start): nothing to do.
    Absorbed,
    /// Dropped and counted; `Some(reason)` is also recorded in the log.
    Drop(Option<String>),
}

impl Writer {
    /// Decides what becomes of one event of `slot` (see [`Admission`]); a
    /// resumed rollout's repeated thread start becomes `thread_resumed` in
    /// place.
    pub(super) fn admit(
        &self,
        writes: &mut Writes<'_>,
        slot: &RolloutSlot,
        thread_id: Option<&str>,
        payload: &mut EventPayload<PendingPayload>,
    ) -> Verdict {
        let mut admission = slot
            .admission
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if matches!(*admission, Admission::Fresh) {
            *admission = match &*payload {
                EventPayload::RolloutStarted { root_thread_id, .. } => {
                    self.admission_of_start(writes, &slot.rollout_id, root_thread_id)
                }
                _ => Admission::Recording,
            };
            if let Admission::Resuming(_) = *admission {
                // The resumed rollout's start is in its log already.
                return Verdict::Absorbed;
            }
        }
        let starts = match &mut *admission {
            Admission::Fresh | Admission::Recording => return Verdict::Append,
            Admission::Refused => return Verdict::Drop(None),
            Admission::Resuming(starts) => starts,
        };
        if matches!(payload, EventPayload::ThreadStarted { .. })
            && starts.would_repeat(thread_id, payload)
            && let EventPayload::ThreadStarted {
                thread_id: started,
                agent_path,
                metadata_payload,
            } = payload
        {
            *payload = EventPayload::ThreadResumed {
                thread_id: std::mem::take(started),
                agent_path: std::mem::take(agent_path),
                metadata_payload: metadata_payload.take(),
            };
        }
        let seq = writes
            .rollout(&slot.rollout_id, false)
            .ok()
            .and_then(|num| writes.manifest(num))
            .map_or(0, |manifest| manifest.event_count + 1);
        match starts.observe(seq, thread_id, payload) {
            Ok(()) => Verdict::Append,
            Err(duplicate) => Verdict::Drop(Some(format!(
                "{} event dropped: {duplicate}, after the rollout was resumed",
                payload.type_name()
            ))),
        }
    }

    /// A `rollout_started` through a fresh handle: a new rollout, or a
    /// stored one resumed (same root thread) or refused (another root).
    fn admission_of_start(
        &self,
        writes: &mut Writes<'_>,
        rollout_id: &str,
        root_thread_id: &str,
    ) -> Admission {
        let Ok(num) = writes.rollout(rollout_id, false) else {
            return Admission::Recording;
        };
        let Some(manifest) = writes.manifest(num).cloned() else {
            return Admission::Recording;
        };
        if manifest.event_count == 0 {
            return Admission::Recording;
        }
        if manifest
            .root_thread_id
            .as_deref()
            .is_some_and(|root| root != root_thread_id)
        {
            return Admission::Refused;
        }
        let mut starts = crate::event::StartTracker::new();
        if let Ok(events) = self.store.events(rollout_id) {
            for event in events.flatten() {
                let _ = starts.observe(event.seq, event.thread_id.as_deref(), &event.payload);
            }
        }
        Admission::Resuming(starts)
    }
}
