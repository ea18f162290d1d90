//! [`ThreadRecorder`], the handle on one agent thread: its turns and its
//! end. Its child threads (`spawn_child`, `resume_child`) are recorded in
//! `spawn.rs`, with the spawn origin their metadata carries.

use std::sync::Arc;

use super::TurnRecorder;
use super::rollout::{RolloutRecorder, RolloutShared};
use crate::event::{EventPayload, RolloutStatus};

/// What every handle of one thread shares.
pub(super) struct ThreadShared {
    pub(super) rollout: Arc<RolloutShared>,
    pub(super) thread_id: Arc<str>,
    /// Spawn depth: 0 for the root, a child's parent's plus one.
    pub(super) depth: u64,
}

/// Handle on one agent thread. Cheap to clone.
#[derive(Clone, Default)]
pub struct ThreadRecorder {
    pub(super) inner: Option<Arc<ThreadShared>>,
}

impl ThreadRecorder {
    /// An enabled handle on thread `thread_id` of `rollout`.
    pub(super) fn new(
        rollout: &Arc<RolloutShared>,
        thread_id: Arc<str>,
        depth: u64,
    ) -> ThreadRecorder {
        ThreadRecorder {
            inner: Some(Arc::new(ThreadShared {
                rollout: Arc::clone(rollout),
                thread_id,
                depth,
            })),
        }
    }

    /// A handle that records nothing.
    pub fn disabled() -> ThreadRecorder {
        ThreadRecorder { inner: None }
    }

    /// Whether calls on this handle record anything.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The thread id (empty when disabled).
    pub fn thread_id(&self) -> &str {
        self.inner.as_ref().map_or("", |t| &t.thread_id)
    }

    /// The handle on this thread's rollout (disabled when this one is).
    pub(super) fn rollout(&self) -> RolloutRecorder {
        RolloutRecorder::from_shared(self.inner.as_ref().map(|t| Arc::clone(&t.rollout)))
    }

    /// Records this thread's end. Ending a child does not end the rollout.
    pub fn end(&self, status: RolloutStatus) {
        if let Some(thread) = &self.inner {
            let thread_id = thread.thread_id.to_string();
            thread
                .rollout
                .send(None, None, EventPayload::ThreadEnded { thread_id, status });
        }
    }

    /// Records a turn start and returns the turn's handle.
    pub fn start_turn(&self, codex_turn_id: impl Into<String>) -> TurnRecorder {
        let Some(thread) = &self.inner else {
            return TurnRecorder::disabled();
        };
        let codex_turn_id: String = codex_turn_id.into();
        let turn = TurnRecorder::new(thread, Arc::from(codex_turn_id.as_str()));
        turn.emit(|| EventPayload::CodexTurnStarted {
            codex_turn_id,
            thread_id: thread.thread_id.to_string(),
        });
        turn
    }

    /// A handle for an existing turn (for example one started by another
    /// component), without recording a start.
    pub fn turn(&self, codex_turn_id: impl Into<String>) -> TurnRecorder {
        let Some(thread) = &self.inner else {
            return TurnRecorder::disabled();
        };
        TurnRecorder::new(thread, Arc::from(codex_turn_id.into().as_str()))
    }
}
