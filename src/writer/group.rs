//! Committing one group: each queued event is redacted, admitted, its
//! payloads stored and the event appended, all in one `Writes` batch. An
//! event that cannot be stored is dropped and the drop recorded in its log;
//! a failed commit poisons the writer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::admission::Verdict;
use super::queue::{Append, RolloutSlot};
use super::thread::Writer;
use super::{PayloadBody, PendingPayload, now_ms};
use crate::error::{Error, Result};
use crate::event::{EventPayload, PayloadRef};
use crate::redact::Redactor;
use crate::store::{WriteCounters, Writes};

/// Events of one group written and dropped so far.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    written: u64,
    dropped: u64,
}

impl Writer {
    /// Appends a group in one batch. `drop_slots` are rollouts whose pending
    /// host-side drops must be recorded even if they have no event here.
    pub(super) fn commit_group(&mut self, group: Vec<Append>, drop_slots: &[Arc<RolloutSlot>]) {
        if self.poisoned.is_some() {
            self.drop_events(group.len() as u64);
            return;
        }
        if group.is_empty()
            && drop_slots
                .iter()
                .all(|s| s.dropped.load(Ordering::Relaxed) == 0)
        {
            return;
        }
        let mut writes = match self.store.writes() {
            Ok(writes) => writes,
            Err(err) => {
                self.drop_events(group.len() as u64);
                self.poisoned = Some(err.to_string());
                return;
            }
        };
        let limit = self.store.options().max_payload_bytes;
        let mut tally = Tally::default();
        for slot in drop_slots {
            if let Ok(true) = record_host_drops(&mut writes, slot, &slot.rollout_id, now_ms()) {
                tally.written += 1;
            }
        }
        for append in group {
            self.stage(&mut writes, append, limit, &mut tally);
        }
        let counters = writes.counters;
        let durable = false;
        match writes.commit(durable) {
            Ok(()) => self.count_committed(tally, counters),
            Err(err) => {
                self.drop_events(tally.written + tally.dropped);
                self.poison(format!("write failed: {err}"));
            }
        }
    }

    /// Redacts and admits one queued event, stores its payloads and appends
    /// it to `writes`, counting it in `tally`. An event that cannot be
    /// stored is dropped, and the drop recorded in its log when possible.
    fn stage(&self, writes: &mut Writes<'_>, append: Append, limit: u64, tally: &mut Tally) {
        let Append {
            rollout,
            wall_time_unix_ms,
            thread_id,
            codex_turn_id,
            payload,
        } = append;
        // The store sees only redacted ids: the envelope's ids and every
        // string of the payload. The slot's rollout id was redacted when
        // its handle was made; redacting it again changes nothing.
        let mut rollout_id = rollout.rollout_id.clone();
        let mut thread_id = thread_id.as_deref().map(str::to_string);
        let mut codex_turn_id = codex_turn_id.as_deref().map(str::to_string);
        let payload = match &self.config.redaction {
            Some(redactor) => redact_pending(
                redactor,
                &mut rollout_id,
                &mut thread_id,
                &mut codex_turn_id,
                payload,
            ),
            None => payload,
        };
        let mut payload = payload;
        match self.admit(writes, &rollout, thread_id.as_deref(), &mut payload) {
            Verdict::Append => {}
            Verdict::Absorbed => return,
            Verdict::Drop(reason) => {
                tally.dropped += 1;
                if let Some(reason) = reason
                    && record_drop(
                        writes,
                        &rollout.rollout_id,
                        false,
                        wall_time_unix_ms,
                        thread_id,
                        reason,
                    )
                {
                    tally.written += 1;
                }
                return;
            }
        };
        let context = (
            rollout.as_ref(),
            rollout_id.as_str(),
            wall_time_unix_ms,
            thread_id.clone(),
            codex_turn_id,
        );
        match append_one(writes, context, payload, limit) {
            Ok(count) => tally.written += count,
            Err(mut reason) => {
                tally.dropped += 1;
                // The reason names the event type and the error, either
                // of which may quote a secret.
                if let Some(redactor) = &self.config.redaction {
                    redactor.redact_string(&mut reason);
                }
                // The drop is recorded in the log so the reducer can
                // report it; if even that fails the counter still has it.
                if record_drop(
                    writes,
                    &rollout_id,
                    true,
                    wall_time_unix_ms,
                    thread_id,
                    reason,
                ) {
                    tally.written += 1;
                }
            }
        }
    }

    /// Adds a committed group's counts to the writer's counters, and starts
    /// the flush clock if nothing was waiting to be flushed.
    fn count_committed(&mut self, tally: Tally, counters: WriteCounters) {
        let c = &self.counters;
        c.events_written.fetch_add(tally.written, Ordering::Relaxed);
        c.payloads_written
            .fetch_add(counters.payloads_written, Ordering::Relaxed);
        c.payloads_deduplicated
            .fetch_add(counters.payloads_deduplicated, Ordering::Relaxed);
        c.payload_bytes_in
            .fetch_add(counters.payload_bytes_in, Ordering::Relaxed);
        c.chunks_written
            .fetch_add(counters.chunks_written, Ordering::Relaxed);
        c.chunks_deduplicated
            .fetch_add(counters.chunks_deduplicated, Ordering::Relaxed);
        c.bytes_stored
            .fetch_add(counters.chunk_bytes_written, Ordering::Relaxed);
        c.groups_committed.fetch_add(1, Ordering::Relaxed);
        self.drop_events(tally.dropped);
        if self.unflushed_since.is_none() {
            self.unflushed_since = Some(Instant::now());
        }
    }
}

/// Appends an `events_dropped` record of one event with `reason` to the log
/// of `rollout_id` (created if `create`); whether it was appended.
fn record_drop(
    writes: &mut Writes<'_>,
    rollout_id: &str,
    create: bool,
    wall_time_unix_ms: i64,
    thread_id: Option<String>,
    reason: String,
) -> bool {
    let Ok(num) = writes.rollout(rollout_id, create) else {
        return false;
    };
    writes
        .append(
            num,
            wall_time_unix_ms,
            thread_id,
            None,
            EventPayload::EventsDropped { count: 1, reason },
        )
        .is_ok()
}

/// Records the drops host calls counted in `slot` (a full queue) as one
/// `events_dropped` event; on failure the count stays in the slot. Whether
/// an event was appended (none when nothing was dropped).
fn record_host_drops(
    writes: &mut Writes<'_>,
    slot: &RolloutSlot,
    rollout_id: &str,
    wall_time_unix_ms: i64,
) -> Result<bool> {
    let count = slot.dropped.swap(0, Ordering::Relaxed);
    if count == 0 {
        return Ok(false);
    }
    let num = writes.rollout(rollout_id, true)?;
    let result = writes.append(
        num,
        wall_time_unix_ms,
        None,
        None,
        EventPayload::EventsDropped {
            count,
            reason: "recorder queue full".to_string(),
        },
    );
    if result.is_err() {
        slot.dropped.fetch_add(count, Ordering::Relaxed);
    }
    result.map(|_| true)
}

/// Stores one queued event's payloads and appends it. Returns how many events
/// were appended (a pending drop record may precede it), or why it was dropped.
fn append_one(
    writes: &mut Writes<'_>,
    (slot, rollout_id, wall_time_unix_ms, thread_id, codex_turn_id): EventContext<'_>,
    payload: EventPayload<PendingPayload>,
    limit_bytes: u64,
) -> std::result::Result<u64, String> {
    let mut appended = 0;
    if slot.dropped.load(Ordering::Relaxed) > 0
        && record_host_drops(writes, slot, rollout_id, wall_time_unix_ms)
            .map_err(|err| err.to_string())?
    {
        appended += 1;
    }
    let type_name = payload.type_name().to_string();
    let payload = payload
        .try_map_refs(|pending| store_payload(writes, pending, limit_bytes))
        .map_err(|err| format!("{type_name} event dropped: {err}"))?;
    let num = writes
        .rollout(rollout_id, true)
        .map_err(|err| err.to_string())?;
    writes
        .append(num, wall_time_unix_ms, thread_id, codex_turn_id, payload)
        .map_err(|err| err.to_string())?;
    Ok(appended + 1)
}

/// Rollout slot, stored rollout id, wall time, thread id and turn id of one
/// queued event.
type EventContext<'a> = (
    &'a RolloutSlot,
    &'a str,
    i64,
    Option<String>,
    Option<String>,
);

/// Stores one payload (refused over `limit_bytes`) and returns its reference.
fn store_payload(
    writes: &mut Writes<'_>,
    pending: PendingPayload,
    limit_bytes: u64,
) -> Result<PayloadRef> {
    let bytes = match pending.body {
        PayloadBody::Bytes(bytes) => bytes,
        PayloadBody::Json(value) => serde_json::to_vec(&value)
            .map_err(|err| Error::Other(format!("payload does not serialise: {err}")))?,
    };
    if bytes.len() as u64 > limit_bytes {
        return Err(Error::PayloadTooLarge {
            size_bytes: bytes.len() as u64,
            limit_bytes,
        });
    }
    writes.put_payload_bytes(pending.kind, &bytes)
}

/// Redacts an event before anything of it is hashed: its rollout, thread and
/// turn ids, every string of its payload, and its payload bodies.
fn redact_pending(
    redactor: &Redactor,
    rollout_id: &mut String,
    thread_id: &mut Option<String>,
    codex_turn_id: &mut Option<String>,
    mut payload: EventPayload<PendingPayload>,
) -> EventPayload<PendingPayload> {
    redactor.redact_event(rollout_id, thread_id, codex_turn_id, &mut payload);
    payload.map_refs(|mut pending| {
        match &mut pending.body {
            PayloadBody::Json(value) => {
                redactor.redact_json(value);
            }
            PayloadBody::Bytes(bytes) => {
                if let Some(redacted) = redactor.redact_bytes(bytes) {
                    *bytes = redacted;
                }
            }
        }
        pending
    })
}
