//! [`StartTracker`]: which lifecycle starts a rollout's log has already seen.
//!
//! The reducer rejects a log that starts the same rollout, thread, turn,
//! inference call, tool call, compaction request, compaction install or code
//! cell twice, and that rejection comes only when someone reduces the log,
//! long after the events were stored. Ingest and the recorder's resume check
//! each event against this tracker before storing it, so a duplicate start is
//! refused at the door, naming what repeats and where it first started.
//!
//! The keys are the reducer's: a thread, turn, call, request or compaction by
//! its id, a code cell by its thread and model-visible call id. Ids are kept
//! as 128-bit BLAKE3 digests (16 bytes each, whatever the id's length), with
//! the seq that started them. No I/O.

// A membership map of id digests: never iterated, so its order never
// reaches any output.
#![allow(clippy::disallowed_types)]

use std::collections::HashMap;

use super::{EventPayload, Seq};

/// What a repeated start is, and the seq of the first one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateStart {
    /// `thread root`, `codex turn t-1`, `inference call c-7`, ...
    pub what: String,
    pub first_seq: Seq,
}

impl std::fmt::Display for DuplicateStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "duplicate start of {} (first started at seq {})",
            self.what, self.first_seq
        )
    }
}

/// The starts seen so far in one rollout's log.
#[derive(Debug, Default)]
pub struct StartTracker {
    first_seq: HashMap<u128, Seq>,
}

/// One start an event makes: its kind and the parts of its key.
struct Start<'a> {
    kind: &'static str,
    scope: &'a str,
    id: &'a str,
}

impl StartTracker {
    /// An empty tracker (a log with no events yet).
    pub fn new() -> StartTracker {
        StartTracker::default()
    }

    /// Records the start `payload` makes (at `seq`, from envelope thread
    /// `thread_id`), or reports that it was already made. An event that
    /// starts nothing is always fine.
    pub fn observe<R>(
        &mut self,
        seq: Seq,
        thread_id: Option<&str>,
        payload: &EventPayload<R>,
    ) -> Result<(), DuplicateStart> {
        let Some(start) = start_of(thread_id, payload) else {
            return Ok(());
        };
        let key = digest(&start);
        if let Some(first_seq) = self.first_seq.get(&key) {
            return Err(DuplicateStart {
                what: describe(&start),
                first_seq: *first_seq,
            });
        }
        self.first_seq.insert(key, seq);
        Ok(())
    }

    /// Whether `payload` would be a duplicate start, without recording it.
    pub fn would_repeat<R>(&self, thread_id: Option<&str>, payload: &EventPayload<R>) -> bool {
        start_of(thread_id, payload)
            .is_some_and(|start| self.first_seq.contains_key(&digest(&start)))
    }

    /// How many starts it holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.first_seq.len()
    }

    /// Whether it holds no start.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.first_seq.is_empty()
    }
}

fn start_of<'a, R>(thread_id: Option<&'a str>, payload: &'a EventPayload<R>) -> Option<Start<'a>> {
    let start = |kind, scope, id| Some(Start { kind, scope, id });
    match payload {
        EventPayload::RolloutStarted { .. } => start("rollout", "", ""),
        EventPayload::ThreadStarted { thread_id, .. } => start("thread", "", thread_id),
        EventPayload::CodexTurnStarted { codex_turn_id, .. } => {
            start("codex turn", "", codex_turn_id)
        }
        EventPayload::InferenceStarted {
            inference_call_id, ..
        } => start("inference call", "", inference_call_id),
        EventPayload::ToolCallStarted { tool_call_id, .. } => start("tool call", "", tool_call_id),
        EventPayload::CompactionRequestStarted {
            compaction_request_id,
            ..
        } => start("compaction request", "", compaction_request_id),
        EventPayload::CompactionInstalled { compaction_id, .. }
        | EventPayload::LocalCompactionInstalled { compaction_id, .. } => {
            start("compaction install", "", compaction_id)
        }
        EventPayload::CodeCellStarted {
            model_visible_call_id,
            ..
        } => start(
            "code cell for call",
            thread_id.unwrap_or_default(),
            model_visible_call_id,
        ),
        // Not starts (a resume continues a start the log may not hold).
        // Listed so that a new variant must be sorted here.
        EventPayload::RolloutEnded { .. }
        | EventPayload::ThreadEnded { .. }
        | EventPayload::ThreadResumed { .. }
        | EventPayload::CodexTurnEnded { .. }
        | EventPayload::InferenceCompleted { .. }
        | EventPayload::InferenceFailed { .. }
        | EventPayload::InferenceCancelled { .. }
        | EventPayload::McpToolCallCorrelationAssigned { .. }
        | EventPayload::ToolCallRuntimeStarted { .. }
        | EventPayload::ToolCallRuntimeEnded { .. }
        | EventPayload::ToolCallEnded { .. }
        | EventPayload::CodeCellInitialResponse { .. }
        | EventPayload::CodeCellEnded { .. }
        | EventPayload::CodeCellStoredValues { .. }
        | EventPayload::CompactionRequestCompleted { .. }
        | EventPayload::CompactionRequestFailed { .. }
        | EventPayload::AgentResultObserved { .. }
        | EventPayload::ProtocolEventObserved { .. }
        | EventPayload::TerminalSessionEnded { .. }
        | EventPayload::EventsDropped { .. }
        | EventPayload::Other { .. }
        | EventPayload::SourceLine { .. }
        | EventPayload::Unknown { .. } => None,
    }
}

fn digest(start: &Start<'_>) -> u128 {
    let mut hasher = blake3::Hasher::new();
    // Lengths first, so no two different (kind, scope, id) share a digest input.
    for part in [start.kind, start.scope, start.id] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let bytes = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&bytes.as_bytes()[..16]);
    u128::from_le_bytes(out)
}

fn describe(start: &Start<'_>) -> String {
    match (start.scope.is_empty(), start.id.is_empty()) {
        (_, true) => start.kind.to_string(),
        (true, false) => format!("{} {}", start.kind, start.id),
        (false, false) => format!("{} {} in thread {}", start.kind, start.id, start.scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ExecutionStatus;

    fn thread(id: &str) -> EventPayload<()> {
        EventPayload::ThreadStarted {
            thread_id: id.to_string(),
            agent_path: "/root".to_string(),
            metadata_payload: None,
        }
    }

    #[test]
    fn a_repeated_start_is_reported_with_the_seq_of_the_first() {
        let mut tracker = StartTracker::new();
        tracker.observe(2, None, &thread("root")).expect("first");
        tracker
            .observe(3, None, &thread("child"))
            .expect("another thread");
        assert_eq!(
            tracker.observe(9, None, &thread("root")),
            Err(DuplicateStart {
                what: "thread root".to_string(),
                first_seq: 2
            })
        );
        let turn = EventPayload::<()>::CodexTurnStarted {
            codex_turn_id: "root".to_string(),
            thread_id: "root".to_string(),
        };
        // A turn with a thread's id is a different start.
        tracker.observe(4, Some("root"), &turn).expect("turn");
        assert!(tracker.would_repeat(Some("root"), &turn));
        assert_eq!(tracker.len(), 3);
    }

    #[test]
    fn code_cells_are_keyed_by_thread_and_call() {
        let cell = EventPayload::<()>::CodeCellStarted {
            runtime_cell_id: "1".to_string(),
            model_visible_call_id: "call".to_string(),
            source_js: String::new(),
        };
        let mut tracker = StartTracker::new();
        tracker.observe(1, Some("a"), &cell).expect("thread a");
        tracker.observe(2, Some("b"), &cell).expect("thread b");
        let err = tracker.observe(3, Some("a"), &cell).expect_err("repeat");
        assert_eq!(
            err.to_string(),
            "duplicate start of code cell for call call in thread a (first started at seq 1)"
        );
    }

    #[test]
    fn events_that_start_nothing_never_repeat() {
        let mut tracker = StartTracker::new();
        let end = EventPayload::<()>::CodexTurnEnded {
            codex_turn_id: "t".to_string(),
            status: ExecutionStatus::Completed,
        };
        tracker.observe(1, None, &end).expect("fine");
        tracker.observe(2, None, &end).expect("fine again");
        assert!(tracker.is_empty());
    }
}
