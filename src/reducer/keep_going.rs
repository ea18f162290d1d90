//! The keep-going fold ([`super::ReduceOptions::keep_going`]): an event the
//! state cannot take is skipped, the state left as it was before it, and the
//! error recorded as a `reduce_error` diagnostic.
//!
//! Whether a failed handler changed anything is read from the change marks
//! of the state's [`Tracked`] parts; only when it did is the state before
//! the event rebuilt. A log without failures gives the same state as the
//! strict fold.

use std::collections::VecDeque;

use super::{PayloadSource, ReduceError, Reducer};
use crate::event::Event;
use crate::model::RolloutTrace;

/// The keep-going fold. Each event's payloads are registered, then the
/// state's change marks are cleared (see [`Tracked`]) and the event handled.
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
    /// The change mark of every tracked part of the state (see [`Tracked`]).
    /// The fields left out are caches (their answers never change a result),
    /// the payload kind interner (codes are internal) and per-event scratch.
    /// Every field is named, so a new one does not compile until it is
    /// sorted into one or the other.
    pub(super) fn change_marks(&mut self) -> [&mut bool; 22] {
        let Reducer {
            trace,
            raw_payload_index,
            payload_kinds: _,
            item_identity,
            item_identity_by_text: _,
            snapshots,
            inference_by_response,
            items_by_call,
            first_item_by_call_kind,
            exec_calls,
            tool_by_visible_call,
            inferences_by_turn,
            code_cells_by_turn,
            latest_assistant_message,
            code_cell_by_runtime,
            code_cell_by_call,
            pending_code_cells,
            pending_code_cell_events,
            requests_by_compaction,
            pending_edges,
            pending_edges_by_delivery,
            unlinked_agent_items,
            edge_by_tool,
            events_dropped,
            cache: _,
            event_payloads: _,
        } = self;
        [
            trace.change_mark(),
            raw_payload_index.change_mark(),
            item_identity.change_mark(),
            snapshots.change_mark(),
            inference_by_response.change_mark(),
            items_by_call.change_mark(),
            first_item_by_call_kind.change_mark(),
            exec_calls.change_mark(),
            tool_by_visible_call.change_mark(),
            inferences_by_turn.change_mark(),
            code_cells_by_turn.change_mark(),
            latest_assistant_message.change_mark(),
            code_cell_by_runtime.change_mark(),
            code_cell_by_call.change_mark(),
            pending_code_cells.change_mark(),
            pending_code_cell_events.change_mark(),
            requests_by_compaction.change_mark(),
            pending_edges.change_mark(),
            pending_edges_by_delivery.change_mark(),
            unlinked_agent_items.change_mark(),
            edge_by_tool.change_mark(),
            events_dropped.change_mark(),
        ]
    }

    /// Marks every part of the state as unchanged (see [`Tracked`]).
    pub(super) fn clear_changes(&mut self) {
        for mark in self.change_marks() {
            *mark = false;
        }
    }

    /// Whether any part of the state may have changed since
    /// [`Reducer::clear_changes`].
    pub(super) fn changed(&mut self) -> bool {
        self.change_marks().into_iter().any(|mark| *mark)
    }
}

#[cfg(test)]
#[path = "keep_going_tests.rs"]
mod tests;
