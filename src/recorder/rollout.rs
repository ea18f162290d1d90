//! [`RolloutRecorder`], the handle on one rollout, and [`RolloutShared`],
//! what every handle of the rollout (its threads, turns and calls) holds: the
//! writer, the rollout's slot and its root thread.
//!
//! [`RolloutShared::send`] is the one place an event leaves the recorder: it
//! stamps the wall time and the conventional payload kinds and queues the
//! event, which never fails (a full queue counts a drop).

use std::sync::Arc;

use serde_json::Value;

use super::{ThreadRecorder, ThreadStart};
use crate::event::{EventPayload, PayloadKind, RolloutStatus};
use crate::writer::{Append, PayloadBody, PendingPayload, RolloutSlot, WriterHandle, now_ms};

/// What every handle of one rollout shares.
pub(super) struct RolloutShared {
    writer: Arc<WriterHandle>,
    slot: Arc<RolloutSlot>,
    rollout_id: String,
    root_thread_id: Arc<str>,
}

/// `payload` as queued: each body under its conventional kind.
fn pending(payload: EventPayload<PayloadBody>) -> EventPayload<PendingPayload> {
    let kinds = payload.conventional_payload_kinds();
    let mut kinds = kinds.into_iter();
    payload.map_refs(|body| PendingPayload {
        kind: kinds.next().unwrap_or(PayloadKind::ToolResult),
        body,
    })
}

impl RolloutShared {
    /// Queues one event of this rollout with the given envelope context.
    pub(super) fn send(
        &self,
        thread_id: Option<&Arc<str>>,
        turn_id: Option<&Arc<str>>,
        payload: EventPayload<PayloadBody>,
    ) {
        self.writer.send(Append {
            rollout: Arc::clone(&self.slot),
            wall_time_unix_ms: now_ms(),
            thread_id: thread_id.cloned(),
            codex_turn_id: turn_id.cloned(),
            payload: pending(payload),
        });
    }
}

/// Handle on one rollout. Cheap to clone; `disabled()` records nothing.
#[derive(Clone, Default)]
pub struct RolloutRecorder {
    shared: Option<Arc<RolloutShared>>,
}

impl RolloutRecorder {
    /// An enabled handle on `rollout_id` (the id as stored, already
    /// redacted) whose root thread is `root_thread_id`.
    pub(super) fn new(
        writer: &Arc<WriterHandle>,
        rollout_id: String,
        root_thread_id: &str,
    ) -> RolloutRecorder {
        RolloutRecorder {
            shared: Some(Arc::new(RolloutShared {
                writer: Arc::clone(writer),
                slot: Arc::new(RolloutSlot::new(rollout_id.clone())),
                rollout_id,
                root_thread_id: Arc::from(root_thread_id),
            })),
        }
    }

    /// A handle on the rollout `shared` belongs to (disabled for `None`).
    pub(super) fn from_shared(shared: Option<Arc<RolloutShared>>) -> RolloutRecorder {
        RolloutRecorder { shared }
    }

    /// A handle that records nothing.
    pub fn disabled() -> RolloutRecorder {
        RolloutRecorder { shared: None }
    }

    /// Whether calls on this handle record anything.
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// The id the rollout is stored under (empty when disabled): the id it
    /// was started with, redacted if it held a secret (as the store keeps it).
    pub fn rollout_id(&self) -> &str {
        self.shared.as_ref().map_or("", |s| s.rollout_id.as_str())
    }

    /// Queues the event `build` makes, if this handle is enabled.
    pub(super) fn emit(
        &self,
        thread_id: Option<&Arc<str>>,
        turn_id: Option<&Arc<str>>,
        build: impl FnOnce() -> EventPayload<PayloadBody>,
    ) {
        if let Some(shared) = &self.shared {
            shared.send(thread_id, turn_id, build());
        }
    }

    /// Records any event with the given envelope context; payload values are
    /// stored as compact JSON under their conventional kinds.
    pub fn record(
        &self,
        thread_id: Option<&str>,
        codex_turn_id: Option<&str>,
        build: impl FnOnce() -> EventPayload<Value>,
    ) {
        if let Some(shared) = &self.shared {
            let thread_id = thread_id.map(Arc::<str>::from);
            let turn_id = codex_turn_id.map(Arc::<str>::from);
            let payload = build().map_refs(PayloadBody::Json);
            shared.send(thread_id.as_ref(), turn_id.as_ref(), payload);
        }
    }

    /// The root thread's handle (its start was recorded by `start_rollout`).
    pub fn root(&self) -> ThreadRecorder {
        let Some(shared) = &self.shared else {
            return ThreadRecorder::disabled();
        };
        ThreadRecorder::new(shared, Arc::clone(&shared.root_thread_id), 0)
    }

    /// Records a thread's start (or, `resumed`, its resumption) at spawn
    /// depth `depth`, and returns its handle.
    pub(super) fn start_thread(
        &self,
        start: ThreadStart,
        resumed: bool,
        depth: u64,
    ) -> ThreadRecorder {
        let Some(shared) = &self.shared else {
            return ThreadRecorder::disabled();
        };
        let thread = ThreadRecorder::new(shared, Arc::from(start.thread_id.as_str()), depth);
        self.emit(None, None, || {
            let ThreadStart {
                thread_id,
                agent_path,
                metadata,
            } = start;
            let metadata_payload = metadata.map(PayloadBody::Json);
            if resumed {
                EventPayload::ThreadResumed {
                    thread_id,
                    agent_path,
                    metadata_payload,
                }
            } else {
                EventPayload::ThreadStarted {
                    thread_id,
                    agent_path,
                    metadata_payload,
                }
            }
        });
        thread
    }

    /// Records a thread that already started earlier (for example a resumed
    /// session) as `thread_resumed`, never a second `thread_started`.
    pub fn resume_thread(&self, start: ThreadStart) -> ThreadRecorder {
        self.start_thread(start, true, 0)
    }

    /// Ends the rollout: `thread_ended` for the root thread, then
    /// `rollout_ended`.
    pub fn end(&self, status: RolloutStatus) {
        let Some(shared) = &self.shared else {
            return;
        };
        let root = shared.root_thread_id.to_string();
        self.emit(None, None, || EventPayload::ThreadEnded {
            thread_id: root,
            status,
        });
        self.emit(None, None, || EventPayload::RolloutEnded { status });
    }
}
