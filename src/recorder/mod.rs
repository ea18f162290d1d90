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
    /// The writer thread's durability, queue, overflow policy, group size
    /// and redaction (all defaults: group commit within 2 ms, 65,536 queued
    /// events, a wait of up to 50 ms when the queue is full, redaction on).
    pub writer: WriterConfig,
    /// Ship while recording (feature `fleet`): a shipper thread sends what
    /// was recorded to NATS JetStream and object storage every
    /// `every`, and once more at [`Recorder::shutdown`]. `None` (the
    /// default): nothing leaves the store.
    #[cfg(feature = "fleet")]
    pub ship: Option<crate::fleet::ShipWhileRecording>,
}

/// The recording side of a store: owns the writer thread.
///
/// Start one per store with [`Recorder::start`], then a
/// [`RolloutRecorder`] per rollout ([`Recorder::start_rollout`]); its
/// threads, turns and calls hang off that handle. Every recording call is
/// best effort (module docs); [`Recorder::flush`] and
/// [`Recorder::shutdown`] make what was recorded durable and say whether
/// the writer failed, and [`Recorder::stats`] counts anything dropped.
///
/// # Examples
///
/// A root agent's turn: its model asks for a helper, the host runs the
/// `spawn_agent` tool call, which spawns a child thread. Then the host
/// stops, and a later session resumes the root thread for a second turn.
/// The reduced graph has both threads, the child's spawn origin and the
/// spawn edge from the tool call:
///
/// ```
/// use serde_json::json;
/// use tracefold::event::{
///     ExecutionStatus, RawToolCallRequester, RolloutStatus, ToolCallKind, ToolCallSummary,
/// };
/// use tracefold::model::{AgentOrigin, InteractionEdgeKind, TraceAnchor};
/// use tracefold::{
///     ChildSpawn, Recorder, RecorderConfig, RolloutStart, Store, StoreOptions, ThreadStart,
///     ToolCallStart,
/// };
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreOptions::default())?;
/// let root = ThreadStart { thread_id: "root".into(), agent_path: "/root".into(), metadata: None };
///
/// // First session: one turn with one model call and one tool call.
/// let recorder = Recorder::start(&store, RecorderConfig::default())?;
/// let rollout = recorder.start_rollout(RolloutStart {
///     rollout_id: Some("r-1".into()),
///     trace_id: None,
///     root: root.clone(),
/// });
/// let turn = rollout.root().start_turn("turn-1");
/// let task = "Check the parser.";
/// let call = turn.start_inference("gpt-5", "openai", || {
///     json!({"input": [{"type": "message", "role": "user",
///                       "content": [{"type": "input_text", "text": "Get a helper on it."}]}]})
/// });
/// call.completed(Some("resp-1"), None, || {
///     json!({"output_items": [{"type": "function_call", "name": "spawn_agent", "call_id": "call-1",
///                              "arguments": json!({"message": task}).to_string()}]})
/// });
/// let tool = turn.start_tool_call(
///     ToolCallStart {
///         tool_call_id: Some("call-1".into()),
///         model_visible_call_id: Some("call-1".into()),
///         code_mode_runtime_tool_id: None,
///         requester: RawToolCallRequester::Model,
///         kind: ToolCallKind::SpawnAgent,
///         summary: ToolCallSummary::generic("spawn_agent"),
///     },
///     || Some(json!({"tool_name": "spawn_agent", "arguments": {"message": task}})),
/// );
/// let helper = tool.spawn_child(
///     ThreadStart { thread_id: "helper".into(), agent_path: "/root/helper".into(), metadata: None },
///     ChildSpawn { prompt: task.into(), model: "gpt-5-mini".into(), reasoning_effort: "low".into() },
/// );
/// tool.ended(ExecutionStatus::Completed, || Some(json!({"agent_id": "helper"})));
/// helper.end(RolloutStatus::Completed);
/// turn.end(ExecutionStatus::Completed);
/// rollout.end(RolloutStatus::Completed);
/// recorder.shutdown()?; // everything above is durable from here on
///
/// // A later session (another process, say) resumes the root thread.
/// let recorder = Recorder::start(&store, RecorderConfig::default())?;
/// let rollout = recorder.attach_rollout("r-1", "root");
/// let resumed = rollout.resume_thread(root); // `thread_resumed`, not a second start
/// resumed.start_turn("turn-2").end(ExecutionStatus::Completed);
/// rollout.end(RolloutStatus::Completed);
/// recorder.shutdown()?;
/// assert_eq!(recorder.stats().events_dropped, 0);
///
/// let trace = tracefold::reduce_stored(&store, "r-1")?;
/// assert_eq!(trace.threads.len(), 2);
/// assert_eq!(trace.codex_turns.len(), 2);
/// assert_eq!(trace.inference_calls.len(), 1);
/// assert_eq!(trace.tool_calls.len(), 1);
/// assert_eq!(trace.threads["root"].resumed_at_seqs.len(), 1);
/// assert_eq!(trace.status, RolloutStatus::Completed);
/// // The child knows its parent, and the spawn edge runs from the tool call.
/// let AgentOrigin::Spawned { parent_thread_id, spawn_edge_id, .. } = &trace.threads["helper"].origin
/// else {
///     panic!("the helper was spawned");
/// };
/// assert_eq!(parent_thread_id, "root");
/// let edge = &trace.interaction_edges[spawn_edge_id.as_str()];
/// assert_eq!(edge.kind, InteractionEdgeKind::SpawnAgent);
/// assert_eq!(edge.source, TraceAnchor::ToolCall { tool_call_id: "call-1".into() });
/// // No request of the helper's carried its task, so the edge targets the thread.
/// assert_eq!(edge.target, TraceAnchor::Thread { thread_id: "helper".into() });
/// assert!(trace.diagnostics.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Recorder {
    writer: Arc<WriterHandle>,
    #[cfg(feature = "fleet")]
    shipper: Option<Arc<crate::fleet::Background>>,
}

impl Recorder {
    /// Starts a recorder (and its writer thread, `tracefold-writer`) on
    /// `store`.
    ///
    /// Fails only when the writer thread cannot be spawned.
    pub fn start(store: &Store, config: RecorderConfig) -> Result<Recorder> {
        #[cfg(feature = "fleet")]
        let shipper = match config.ship {
            Some(ship) => Some(Arc::new(crate::fleet::Background::spawn(
                store.clone(),
                ship,
            )?)),
            None => None,
        };
        Ok(Recorder {
            writer: Arc::new(WriterHandle::spawn(store.clone(), config.writer)?),
            #[cfg(feature = "fleet")]
            shipper,
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
    /// stream through [`RolloutRecorder::record`], or that continue a
    /// stored rollout in a later session, resuming its threads with
    /// [`RolloutRecorder::resume_thread`] (see the example above).
    ///
    /// Unlike [`Recorder::start_rollout`] on a stored id, what is recorded
    /// through it is not checked against the stored log: a turn or call id
    /// the log already started makes it unreducible, so use new ones.
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
    /// counted as dropped. With [`RecorderConfig::ship`] set, then runs a
    /// last shipping round and stops the shipper; an error if it failed
    /// (what is recorded stays in the store, and `tracefold ship` sends it
    /// later).
    pub fn shutdown(&self) -> Result<()> {
        let written = self.writer.shutdown();
        #[cfg(feature = "fleet")]
        if let Some(shipper) = &self.shipper {
            written?;
            return shipper.finish();
        }
        written
    }

    /// What the shipper thread has done ([`RecorderConfig::ship`]); `None`
    /// when the recorder does not ship.
    #[cfg(feature = "fleet")]
    pub fn ship_stats(&self) -> Option<crate::fleet::ShipperStats> {
        self.shipper.as_ref().map(|shipper| shipper.stats())
    }
}

/// How to start a rollout.
#[derive(Debug, Clone)]
pub struct RolloutStart {
    /// `None`: a new UUID.
    pub rollout_id: Option<String>,
    /// `None`: a new UUID.
    pub trace_id: Option<String>,
    /// The root thread, started (or, for a stored rollout with the same
    /// root, resumed) with the rollout.
    pub root: ThreadStart,
}

/// How to start (or resume) a thread.
#[derive(Debug, Clone)]
pub struct ThreadStart {
    /// The thread's id, unique in the rollout: a second start of the same
    /// id makes the log unreducible (resume the thread instead).
    pub thread_id: String,
    /// The agent's path in the tree of agents: `/root` for the root, the
    /// parent's path and a segment for a child (`/root/worker`). Replay
    /// comparison ([`diff`](crate::diff())) aligns threads by it.
    pub agent_path: String,
    /// Session metadata (the reference's `ThreadStartedTraceMetadata`).
    pub metadata: Option<Value>,
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
