//! The seq rules of an input: seqs increase strictly within a rollout of
//! one file, and the seqs a whole log skips become `events_dropped` records
//! (bounded by [`SEQ_GAP_MAX`]), so a stored log keeps the seqs its lines
//! carry and stays contiguous. Used by import and by `export::bundle`'s
//! in-memory reading. No I/O.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::event::{Event, EventPayload};

/// The most seqs one gap in a bundle may skip: each becomes a record, so a
/// line claiming seq 10^12 must not make a trillion of them.
pub const SEQ_GAP_MAX: u64 = 4096;

/// The `events_dropped` records standing for the seqs between the last
/// event's seq (`last`, 0 before the first) and `seq`, so a log keeps the
/// seqs its lines carry and stays contiguous (the store's invariant). A gap
/// over [`SEQ_GAP_MAX`] is an error.
pub(crate) fn seq_gap_records(
    last: u64,
    seq: u64,
    wall_time_unix_ms: i64,
) -> std::result::Result<Vec<Event>, String> {
    let missing = seq.saturating_sub(last + 1);
    if missing > SEQ_GAP_MAX {
        return Err(format!(
            "seq {seq} follows seq {last}: a gap of {missing} seqs is over the limit of {SEQ_GAP_MAX}"
        ));
    }
    Ok((last + 1..seq)
        .map(|skipped| Event {
            seq: skipped,
            wall_time_unix_ms,
            thread_id: None,
            codex_turn_id: None,
            payload: EventPayload::EventsDropped {
                count: 1,
                reason: format!("seq {skipped} is missing from the input"),
            },
        })
        .collect())
}

/// `seq` must increase strictly within a rollout of one file; records it.
pub(crate) fn check_seq_increases(
    location: &str,
    rollout_id: &str,
    seq: u64,
    last_seq: &mut BTreeMap<String, u64>,
) -> Result<()> {
    if let Some(previous) = last_seq.get(rollout_id)
        && seq <= *previous
    {
        return Err(Error::input(
            location,
            format!(
                "seq {seq} does not increase (previous seq {previous} of rollout {rollout_id})"
            ),
        ));
    }
    last_seq.insert(rollout_id.to_string(), seq);
    Ok(())
}
