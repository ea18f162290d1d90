//! The host-facing recording API: a [`Recorder`] per store, a
//! [`RolloutRecorder`] per rollout, a [`ThreadRecorder`] per agent thread and a
//! [`TurnRecorder`] per turn, plus handles for calls that have a lifecycle.
//!
//! Every call is best effort: it never returns an error, never panics and
//! never blocks longer than the configured overflow wait. A disabled handle
//! does nothing and never runs its payload closures, so hosts can pass
//! `|| json!(...)` without paying for it when tracing is off. Child threads
//! share their root's writer, so one rollout has one seq order.
//!
//! This file is the entry ([`Recorder`], its configuration and how a rollout
//! or thread starts). The handles live beside it, one file each:
//! `rollout.rs` (the one place events leave for the writer), `thread.rs`,
//! `turn.rs`, the lifecycle handles `inference.rs`, `tool_call.rs` and
//! `compaction.rs` (each with the `TurnRecorder` method that starts one),
//! and `spawn.rs` (child threads and their spawn origin).
//!
//! This module must not touch sled or bincode: it only queues events.

mod compaction;
mod inference;
mod rollout;
mod spawn;
mod thread;
mod tool_call;
mod turn;

use std::sync::Arc;

use serde_json::Value;

use crate::error::Result;
use crate::event::EventPayload;
use crate::store::Store;
use crate::writer::{WriterConfig, WriterHandle, WriterStats};

pub use self::compaction::{CompactionRecorder, CompactionRequestRecorder};
pub use self::inference::InferenceRecorder;
pub use self::rollout::RolloutRecorder;
pub use self::spawn::ChildSpawn;
pub use self::thread::ThreadRecorder;
pub use self::tool_call::{ToolCallRecorder, ToolCallStart};
pub use self::turn::TurnRecorder;

/// Recorder configuration.
#[derive(Debug, Clone, Default)]
pub struct RecorderConfig {
    pub writer: WriterConfig,
}

/// The recording side of a store: owns the writer thread.
///
/// # Examples
///
/// Record a rollout with one turn and one inference call, then end it:
///
/// ```
/// use serde_json::json;
/// use tracefold::event::{ExecutionStatus, RolloutStatus};
/// use tracefold::recorder::{Recorder, RecorderConfig, RolloutStart, ThreadStart};
/// use tracefold::store::{Store, StoreOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreOptions::default())?;
/// let recorder = Recorder::start(&store, RecorderConfig::default())?;
/// let rollout = recorder.start_rollout(RolloutStart {
///     rollout_id: Some("r-1".into()),
///     trace_id: None,
///     root: ThreadStart { thread_id: "root".into(), agent_path: "/root".into(), metadata: None },
/// });
/// let turn = rollout.root().start_turn("turn-1");
/// let call = turn.start_inference("gpt-5", "openai", || json!({"input": []}));
/// call.completed(Some("resp-1"), None, || json!({"output_items": []}));
/// turn.end(ExecutionStatus::Completed);
/// rollout.end(RolloutStatus::Completed);
/// recorder.flush()?; // durable from here on
///
/// let manifest = store.manifest("r-1")?;
/// assert_eq!(manifest.status, RolloutStatus::Completed);
/// assert_eq!(store.events("r-1")?.count() as u64, manifest.event_count);
/// recorder.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Recorder {
    writer: Arc<WriterHandle>,
}

impl Recorder {
    /// Starts a recorder (and its writer thread) on `store`.
    pub fn start(store: &Store, config: RecorderConfig) -> Result<Recorder> {
        Ok(Recorder {
            writer: Arc::new(WriterHandle::spawn(store.clone(), config.writer)?),
        })
    }

    /// Starts a rollout: records `rollout_started` and the root thread's
    /// `thread_started`.
    ///
    /// A rollout id the store already holds is never started twice (a second
    /// `rollout_started` would make its log unreducible):
    /// - with the same root thread, the rollout is **resumed**: its log goes
    ///   on, `rollout_started` is not written again, the root (and any
    ///   thread the log already started) is recorded as `thread_resumed`,
    ///   and any other start the log already holds (a turn or call id used
    ///   again) is dropped and recorded as `events_dropped`;
    /// - with another root thread, the handle is **refused**: every event
    ///   through it is dropped and counted in [`Recorder::stats`]
    ///   (`events_dropped`), and the stored log is left as it was.
    pub fn start_rollout(&self, start: RolloutStart) -> RolloutRecorder {
        let rollout_id = self.writer.stored_rollout_id(
            start
                .rollout_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        );
        let trace_id = start
            .trace_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let rollout = RolloutRecorder::new(&self.writer, rollout_id, &start.root.thread_id);
        rollout.emit(None, None, || EventPayload::RolloutStarted {
            trace_id,
            root_thread_id: start.root.thread_id.clone(),
        });
        rollout.start_thread(start.root, false, 0);
        rollout
    }

    /// A handle on rollout `rollout_id` that records nothing by itself (no
    /// `rollout_started`): for hosts that replay or adapt an existing event
    /// stream through [`RolloutRecorder::record`].
    pub fn attach_rollout(&self, rollout_id: &str, root_thread_id: &str) -> RolloutRecorder {
        let rollout_id = self.writer.stored_rollout_id(rollout_id.to_string());
        RolloutRecorder::new(&self.writer, rollout_id, root_thread_id)
    }

    /// Waits until every event queued before this call is durable.
    pub fn flush(&self) -> Result<()> {
        self.writer.flush()
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> WriterStats {
        self.writer.counters.snapshot()
    }

    /// Flushes and stops the writer thread. Later calls on handles are
    /// counted as dropped.
    pub fn shutdown(&self) -> Result<()> {
        self.writer.shutdown()
    }
}

/// How to start a rollout.
#[derive(Debug, Clone)]
pub struct RolloutStart {
    /// `None`: a new UUID.
    pub rollout_id: Option<String>,
    /// `None`: a new UUID.
    pub trace_id: Option<String>,
    pub root: ThreadStart,
}

/// How to start (or resume) a thread.
#[derive(Debug, Clone)]
pub struct ThreadStart {
    pub thread_id: String,
    pub agent_path: String,
    /// Session metadata (the reference's `ThreadStartedTraceMetadata`).
    pub metadata: Option<Value>,
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
