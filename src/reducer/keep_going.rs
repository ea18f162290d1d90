//! The keep-going fold ([`super::ReduceOptions::keep_going`]): an event the
//! state cannot take is skipped, the state left as it was before it, and the
//! error recorded as a `reduce_error` diagnostic.
//!
//! Whether a failed handler changed anything is read from the change marks
//! of the state's [`Tracked`](super::Tracked) parts; only when it did is the state before
//! the event rebuilt. A log without failures gives the same state as the
//! strict fold.

use std::collections::VecDeque;

use super::{PayloadSource, ReduceError, Reducer};
use crate::event::Event;
use crate::model::RolloutTrace;

/// The keep-going fold. Each event's payloads are registered, then the
/// state's change marks are cleared (see [`Tracked`](super::Tracked)) and
/// the event handled.
/// When it fails:
/// - if nothing but the registration changed (most failures: an unknown
///   turn, call or response is found before anything is written), the state
///   is already the one before the event, and the event is recorded as
///   skipped;
/// - otherwise the handler changed the state before finding that its event is
///   bad (items created before a later one of the same request fails), so
///   that reducer is thrown away and the state before the event rebuilt: from
///   the checkpoint (a fresh reducer before the first such failure, then a
///   clone taken right after each) by applying again the events since, which
///   succeed again with the same effects (the fold is pure), and skipping
///   again the ones skipped since. The rebuilt state records the event as
///   skipped and becomes the next checkpoint.
///
/// Cost: a log without failures is folded as by the strict fold, plus
/// clearing the marks per event. A failure of the first kind costs its
/// diagnostic; one of the second kind a clone of the state plus applying
/// again the events since the previous one, so all rebuilding together
/// applies each event at most once more.
pub(super) fn reduce_keep_going(
    rollout_id: &str,
    events: &[&Event],
    payloads: &dyn PayloadSource,
) -> Result<RolloutTrace, ReduceError> {
    let fresh = || {
        let mut reducer = Reducer::new(rollout_id);
        reducer.reserve_for(events);
        reducer
    };
    let mut reducer = fresh();
    let mut checkpoint: Option<Reducer> = None;
    // Events from this index on are not in `checkpoint` (or there is none).
    let mut checkpoint_end = 0;
    // The events skipped since then, in order, with their errors.
    let mut skipped: VecDeque<(usize, ReduceError)> = VecDeque::new();
    for (index, event) in events.iter().enumerate() {
        reducer.register_cited(event);
        reducer.clear_changes();
        let Err(error) = reducer.dispatch_cited(event, payloads) else {
            continue;
        };
        if !reducer.changed() {
            reducer.skip_failed(event, &error);
            skipped.push_back((index, error));
            continue;
        }
        let mut rebuilt = checkpoint.take().unwrap_or_else(fresh);
        for (again, again_event) in events.iter().enumerate().take(index).skip(checkpoint_end) {
            match skipped.front() {
                Some((at, skipped_error)) if *at == again => {
                    rebuilt.register_cited(again_event);
                    rebuilt.skip_failed(again_event, skipped_error);
                    skipped.pop_front();
                }
                _ => rebuilt.apply(again_event, payloads)?,
            }
        }
        rebuilt.register_cited(event);
        rebuilt.skip_failed(event, &error);
        checkpoint = Some(rebuilt.clone());
        checkpoint_end = index + 1;
        reducer = rebuilt;
    }
    Ok(reducer.finish())
}

impl Reducer {
    /// The change mark of every tracked part of the state (see
    /// [`Tracked`](super::Tracked)).
    /// The parts left out are caches (their answers never change a result),
    /// the payload kind interner (codes are internal) and per-event scratch.
    /// Every field is named here and in each index group, so a new one does
    /// not compile until it is sorted into one or the other.
    pub(super) fn change_marks(&mut self) -> impl Iterator<Item = &mut bool> {
        let Reducer {
            trace,
            payloads,
            conversation,
            inference,
            tools,
            cells,
            compaction,
            agents,
            events_dropped,
        } = self;
        [trace.change_mark(), events_dropped.change_mark()]
            .into_iter()
            .chain(payloads.change_marks())
            .chain(conversation.change_marks())
            .chain(inference.change_marks())
            .chain(tools.change_marks())
            .chain(cells.change_marks())
            .chain(compaction.change_marks())
            .chain(agents.change_marks())
    }

    /// Marks every part of the state as unchanged (see
    /// [`Tracked`](super::Tracked)).
    pub(super) fn clear_changes(&mut self) {
        for mark in self.change_marks() {
            *mark = false;
        }
    }

    /// Whether any part of the state may have changed since
    /// [`Reducer::clear_changes`].
    pub(super) fn changed(&mut self) -> bool {
        self.change_marks().any(|mark| *mark)
    }
}

#[cfg(test)]
#[path = "keep_going_tests.rs"]
mod tests;
