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
//! This module must not touch sled or bincode: it only queues events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::error::Result;
use crate::event::{
    CodeCellRuntimeStatus, EventPayload, ExecutionStatus, PayloadKind, RawToolCallRequester,
    RolloutStatus, ToolCallKind, ToolCallSummary,
};
use crate::store::Store;
use crate::writer::{
    Append, PayloadBody, PendingPayload, RolloutSlot, WriterConfig, WriterHandle, WriterStats,
    now_ms,
};

pub use crate::writer::{Durability, Overflow};

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
        let shared = Arc::new(RolloutShared {
            writer: Arc::clone(&self.writer),
            slot: Arc::new(RolloutSlot::new(rollout_id.clone())),
            rollout_id,
            root_thread_id: Arc::from(start.root.thread_id.as_str()),
        });
        let rollout = RolloutRecorder {
            shared: Some(shared),
        };
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
        RolloutRecorder {
            shared: Some(Arc::new(RolloutShared {
                writer: Arc::clone(&self.writer),
                slot: Arc::new(RolloutSlot::new(rollout_id.clone())),
                rollout_id,
                root_thread_id: Arc::from(root_thread_id),
            })),
        }
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

struct RolloutShared {
    writer: Arc<WriterHandle>,
    slot: Arc<RolloutSlot>,
    rollout_id: String,
    root_thread_id: Arc<str>,
}

fn pending(payload: EventPayload<PayloadBody>) -> EventPayload<PendingPayload> {
    let kinds = payload.conventional_payload_kinds();
    let mut kinds = kinds.into_iter();
    payload.map_refs(|body| PendingPayload {
        kind: kinds.next().unwrap_or(PayloadKind::ToolResult),
        body,
    })
}

impl RolloutShared {
    fn send(
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

    fn emit(
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
        ThreadRecorder {
            inner: Some(Arc::new(ThreadShared {
                rollout: Arc::clone(shared),
                thread_id: Arc::clone(&shared.root_thread_id),
                depth: 0,
            })),
        }
    }

    fn start_thread(&self, start: ThreadStart, resumed: bool, depth: u64) -> ThreadRecorder {
        let Some(shared) = &self.shared else {
            return ThreadRecorder::disabled();
        };
        let thread = ThreadRecorder {
            inner: Some(Arc::new(ThreadShared {
                rollout: Arc::clone(shared),
                thread_id: Arc::from(start.thread_id.as_str()),
                depth,
            })),
        };
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

struct ThreadShared {
    rollout: Arc<RolloutShared>,
    thread_id: Arc<str>,
    /// Spawn depth: 0 for the root, a child's parent's plus one.
    depth: u64,
}

/// `metadata` with a spawned child's origin, as Codex writes it
/// (`session_source.subagent.thread_spawn`), which the reducer reads.
///
/// Metadata that already names a `thread_spawn` parent, or that is not an
/// object, is returned unchanged.
fn with_spawn_origin(
    metadata: Option<Value>,
    parent_thread_id: &str,
    thread_id: &str,
    agent_path: &str,
    depth: u64,
) -> Value {
    let mut metadata = metadata
        .unwrap_or_else(|| serde_json::json!({"thread_id": thread_id, "agent_path": agent_path}));
    let Some(object) = metadata.as_object_mut() else {
        return metadata;
    };
    let named = object
        .get("session_source")
        .and_then(|source| source.pointer("/subagent/thread_spawn/parent_thread_id"))
        .is_some_and(Value::is_string);
    if named {
        return metadata;
    }
    let text = |key: &str| object.get(key).filter(|value| value.is_string()).cloned();
    let mut spawn = serde_json::Map::new();
    spawn.insert("parent_thread_id".into(), parent_thread_id.into());
    spawn.insert("depth".into(), depth.into());
    spawn.insert("agent_path".into(), agent_path.into());
    if let Some(nickname) = text("nickname") {
        spawn.insert("agent_nickname".into(), nickname);
    }
    if let Some(role) = text("agent_role") {
        spawn.insert("agent_role".into(), role);
    }
    object.insert(
        "session_source".into(),
        serde_json::json!({"subagent": {"thread_spawn": spawn}}),
    );
    metadata
}

/// Handle on one agent thread. Cheap to clone.
#[derive(Clone, Default)]
pub struct ThreadRecorder {
    inner: Option<Arc<ThreadShared>>,
}

impl ThreadRecorder {
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

    fn rollout(&self) -> RolloutRecorder {
        RolloutRecorder {
            shared: self.inner.as_ref().map(|t| Arc::clone(&t.rollout)),
        }
    }

    /// Records a child thread spawned by this one, in the same rollout (same
    /// writer, same seq order), and returns its handle.
    ///
    /// The child's `thread_started` metadata carries its spawn origin in the
    /// form the reducer (and the reference's) reads: the recorder adds
    /// `session_source: {"subagent": {"thread_spawn": {parent_thread_id,
    /// depth, agent_path, agent_nickname, agent_role}}}` (the last two from
    /// the metadata's `nickname` and `agent_role`, when given), creating the
    /// metadata object when `start.metadata` is `None`. So the reduced
    /// child has `origin: Spawned { parent_thread_id, spawn_edge_id:
    /// "edge:spawn:{parent}:{child}", .. }` with no host code that knows
    /// Codex's shapes. Metadata that already names a `thread_spawn` parent is
    /// kept as it is; metadata that is not a JSON object cannot carry the
    /// origin and is kept as it is too.
    ///
    /// **The spawn edge itself** (`interaction_edges`, kind `SpawnAgent`)
    /// has a parent-side source: the tool call that spawned the child. Record
    /// the spawn through [`ToolCallRecorder::spawn_child`] on a tool call
    /// started with [`ToolCallKind::SpawnAgent`] to get it; this method alone
    /// records the origin only, as the reference does for a child whose
    /// spawning call was not traced.
    ///
    /// **Edges to and from the child are counted as delivered only when the
    /// recipient's model sees the message.** The spawn edge targets the
    /// child's inter-agent item carrying the task (an `agent_message` with
    /// `author` = this thread's agent path, `recipient` = the child's and the
    /// task as its content) once a child inference request carries it; with
    /// none by the end of the log it targets the child thread. A result
    /// recorded with [`TurnRecorder::deliver_agent_result`] on the child's
    /// turn targets the parent's inter-agent item (`author` = the child's
    /// agent path, the result message as content) once a *later inference
    /// request of the parent* carries it; until then it is pending, and a
    /// log that ends without such a request reduces to an
    /// `undelivered_interaction_edge` diagnostic, not an edge.
    pub fn spawn_child(&self, start: ThreadStart) -> ThreadRecorder {
        self.start_child(start, false)
    }

    /// Records a child thread that resumes (traced again without a second
    /// `thread_started`), with its spawn origin as [`Self::spawn_child`]
    /// writes it.
    pub fn resume_child(&self, start: ThreadStart) -> ThreadRecorder {
        self.start_child(start, true)
    }

    fn start_child(&self, mut start: ThreadStart, resumed: bool) -> ThreadRecorder {
        let Some(parent) = &self.inner else {
            return ThreadRecorder::disabled();
        };
        let depth = parent.depth + 1;
        start.metadata = Some(with_spawn_origin(
            start.metadata.take(),
            &parent.thread_id,
            &start.thread_id,
            &start.agent_path,
            depth,
        ));
        self.rollout().start_thread(start, resumed, depth)
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
        let turn = TurnRecorder {
            inner: Some(Arc::new(TurnShared {
                thread: Arc::clone(thread),
                turn_id: Arc::from(codex_turn_id.as_str()),
            })),
        };
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
        TurnRecorder {
            inner: Some(Arc::new(TurnShared {
                thread: Arc::clone(thread),
                turn_id: Arc::from(codex_turn_id.into().as_str()),
            })),
        }
    }
}

struct TurnShared {
    thread: Arc<ThreadShared>,
    turn_id: Arc<str>,
}

/// Handle on one turn of one thread: most events are recorded through it.
#[derive(Clone, Default)]
pub struct TurnRecorder {
    inner: Option<Arc<TurnShared>>,
}

/// How a tool call starts.
#[derive(Debug, Clone)]
pub struct ToolCallStart {
    /// `None`: a new UUID.
    pub tool_call_id: Option<String>,
    pub model_visible_call_id: Option<String>,
    pub code_mode_runtime_tool_id: Option<String>,
    pub requester: RawToolCallRequester,
    pub kind: ToolCallKind,
    pub summary: ToolCallSummary,
}

/// What a spawn tool call asks of the child it creates
/// ([`ToolCallRecorder::spawn_child`]): the fields codex-protocol's
/// `CollabAgentSpawnBeginEvent` and `CollabAgentSpawnEndEvent` require.
#[derive(Debug, Clone)]
pub struct ChildSpawn {
    /// The task given to the child (the protocol's `prompt`). The spawn edge
    /// targets the child's inter-agent item with this exact content.
    pub prompt: String,
    /// The model the child runs on.
    pub model: String,
    /// The child's reasoning effort, one of codex-protocol's
    /// `ReasoningEffort` names: `none`, `minimal`, `low`, `medium`, `high`,
    /// `xhigh`.
    pub reasoning_effort: String,
}

impl TurnRecorder {
    /// A handle that records nothing.
    pub fn disabled() -> TurnRecorder {
        TurnRecorder { inner: None }
    }

    /// Whether calls on this handle record anything.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The turn id (empty when disabled).
    pub fn turn_id(&self) -> &str {
        self.inner.as_ref().map_or("", |t| &t.turn_id)
    }

    /// The thread id (empty when disabled).
    pub fn thread_id(&self) -> &str {
        self.inner.as_ref().map_or("", |t| &t.thread.thread_id)
    }

    fn emit(&self, build: impl FnOnce() -> EventPayload<PayloadBody>) {
        if let Some(turn) = &self.inner {
            turn.thread
                .rollout
                .send(Some(&turn.thread.thread_id), Some(&turn.turn_id), build());
        }
    }

    /// Records any event with this thread and turn as its context; payload
    /// values are stored as compact JSON under their conventional kinds.
    /// The escape hatch for components (code mode) that build events.
    pub fn record(&self, build: impl FnOnce() -> EventPayload<Value>) {
        self.emit(|| build().map_refs(PayloadBody::Json));
    }

    /// Records the turn's end.
    pub fn end(&self, status: ExecutionStatus) {
        let turn_id = self.turn_id().to_string();
        self.emit(|| EventPayload::CodexTurnEnded {
            codex_turn_id: turn_id,
            status,
        });
    }

    /// Records an inference request (built lazily) and returns the call's
    /// handle. Exactly one terminal event is recorded per call: dropping the
    /// handle without one records a cancellation.
    pub fn start_inference<P: Into<PayloadBody>>(
        &self,
        model: &str,
        provider_name: &str,
        request: impl FnOnce() -> P,
    ) -> InferenceRecorder {
        if !self.is_enabled() {
            return InferenceRecorder::disabled();
        }
        let inference_call_id = uuid::Uuid::new_v4().to_string();
        let thread_id = self.thread_id().to_string();
        let codex_turn_id = self.turn_id().to_string();
        let id = inference_call_id.clone();
        self.emit(|| EventPayload::InferenceStarted {
            inference_call_id: id,
            thread_id,
            codex_turn_id,
            model: model.to_string(),
            provider_name: provider_name.to_string(),
            request_input_mode: None,
            request_payload: request().into(),
        });
        InferenceRecorder {
            turn: self.clone(),
            inference_call_id,
            ended: AtomicBool::new(false),
        }
    }

    /// Records a tool call start and returns the call's handle.
    pub fn start_tool_call<P: Into<PayloadBody>>(
        &self,
        start: ToolCallStart,
        invocation: impl FnOnce() -> Option<P>,
    ) -> ToolCallRecorder {
        if !self.is_enabled() {
            return ToolCallRecorder::disabled();
        }
        let tool_call_id = start
            .tool_call_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let id = tool_call_id.clone();
        self.emit(|| EventPayload::ToolCallStarted {
            tool_call_id: id,
            model_visible_call_id: start.model_visible_call_id,
            code_mode_runtime_tool_id: start.code_mode_runtime_tool_id,
            requester: start.requester,
            kind: start.kind,
            summary: start.summary,
            invocation_payload: invocation().map(Into::into),
        });
        ToolCallRecorder {
            turn: self.clone(),
            tool_call_id,
        }
    }

    /// Records a code cell start. Hosts must call this before any nested tool
    /// call of the cell can be dispatched (code mode does, through a gate).
    pub fn code_cell_started(
        &self,
        runtime_cell_id: &str,
        model_visible_call_id: &str,
        source_js: &str,
    ) {
        self.emit(|| EventPayload::CodeCellStarted {
            runtime_cell_id: runtime_cell_id.to_string(),
            model_visible_call_id: model_visible_call_id.to_string(),
            source_js: source_js.to_string(),
        });
    }

    /// Records a code cell's first response.
    pub fn code_cell_initial_response<P: Into<PayloadBody>>(
        &self,
        runtime_cell_id: &str,
        status: CodeCellRuntimeStatus,
        response: impl FnOnce() -> Option<P>,
    ) {
        self.emit(|| EventPayload::CodeCellInitialResponse {
            runtime_cell_id: runtime_cell_id.to_string(),
            status,
            response_payload: response().map(Into::into),
        });
    }

    /// Records a code cell's terminal response.
    pub fn code_cell_ended<P: Into<PayloadBody>>(
        &self,
        runtime_cell_id: &str,
        status: CodeCellRuntimeStatus,
        response: impl FnOnce() -> Option<P>,
    ) {
        self.emit(|| EventPayload::CodeCellEnded {
            runtime_cell_id: runtime_cell_id.to_string(),
            status,
            response_payload: response().map(Into::into),
        });
    }

    /// Starts a remote or local compaction of this thread's history.
    pub fn compaction(&self, compaction_id: impl Into<String>) -> CompactionRecorder {
        CompactionRecorder {
            turn: self.clone(),
            compaction_id: compaction_id.into(),
        }
    }

    /// Records a wrapped protocol event (a breadcrumb).
    pub fn protocol_event<P: Into<PayloadBody>>(
        &self,
        event_type: &str,
        event: impl FnOnce() -> P,
    ) {
        self.emit(|| EventPayload::ProtocolEventObserved {
            event_type: event_type.to_string(),
            event_payload: event().into(),
        });
    }

    /// Records that a terminal session ended.
    pub fn terminal_session_ended<P: Into<PayloadBody>>(
        &self,
        terminal_id: &str,
        status: ExecutionStatus,
        exit_code: Option<i32>,
        runtime: impl FnOnce() -> Option<P>,
    ) {
        let thread_id = self.thread_id().to_string();
        self.emit(|| EventPayload::TerminalSessionEnded {
            terminal_id: terminal_id.to_string(),
            thread_id,
            status,
            exit_code,
            runtime_payload: runtime().map(Into::into),
        });
    }

    /// Delivers a child's result to its parent with `deliver`, and records
    /// the `agent_result` edge only if delivery succeeded.
    ///
    /// Recording first and delivering second produced edges that never
    /// happened in the reference; taking the delivery as a closure makes
    /// that order impossible here.
    ///
    /// In the reduced state the edge runs from this turn's latest assistant
    /// message (else the child thread) to the parent's inter-agent item
    /// that carries `message`: an `agent_message` item with `author` = this
    /// thread's agent path and `message` as its content. It counts as
    /// delivered only when a **later inference request of the parent**
    /// carries that item; until then it is pending, and a log that ends
    /// without such a request reduces to an `undelivered_interaction_edge`
    /// diagnostic instead of an edge. So `deliver` should put that item
    /// where the parent's next request will include it.
    pub fn deliver_agent_result<T, E, P: Into<PayloadBody>>(
        &self,
        parent_thread_id: &str,
        message: &str,
        carried: impl FnOnce() -> Option<P>,
        deliver: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let delivered = deliver()?;
        let child_thread_id = self.thread_id().to_string();
        let child_codex_turn_id = self.turn_id().to_string();
        self.emit(|| EventPayload::AgentResultObserved {
            edge_id: format!(
                "edge:agent_result:{child_thread_id}:{child_codex_turn_id}:{parent_thread_id}"
            ),
            child_thread_id,
            child_codex_turn_id,
            parent_thread_id: parent_thread_id.to_string(),
            message: message.to_string(),
            carried_payload: carried().map(Into::into),
        });
        Ok(delivered)
    }
}

/// One inference call. Consuming methods record its single terminal event.
pub struct InferenceRecorder {
    turn: TurnRecorder,
    inference_call_id: String,
    ended: AtomicBool,
}

impl InferenceRecorder {
    fn disabled() -> InferenceRecorder {
        InferenceRecorder {
            turn: TurnRecorder::disabled(),
            inference_call_id: String::new(),
            ended: AtomicBool::new(true),
        }
    }

    /// The generated inference call id (send it upstream as a correlation
    /// header, as the reference's `x-codex-inference-call-id`).
    pub fn inference_call_id(&self) -> &str {
        &self.inference_call_id
    }

    fn finish(&self, build: impl FnOnce(String) -> EventPayload<PayloadBody>) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            let id = self.inference_call_id.clone();
            self.turn.emit(|| build(id));
        }
    }

    /// Records the response.
    pub fn completed<P: Into<PayloadBody>>(
        self,
        response_id: Option<&str>,
        upstream_request_id: Option<&str>,
        response: impl FnOnce() -> P,
    ) {
        self.finish(|inference_call_id| EventPayload::InferenceCompleted {
            inference_call_id,
            response_id: response_id.map(str::to_string),
            upstream_request_id: upstream_request_id.map(str::to_string),
            response_payload: response().into(),
        });
    }

    /// Records a failure, with any partial response.
    pub fn failed<P: Into<PayloadBody>>(
        self,
        upstream_request_id: Option<&str>,
        error: &str,
        partial: impl FnOnce() -> Option<P>,
    ) {
        self.finish(|inference_call_id| EventPayload::InferenceFailed {
            inference_call_id,
            upstream_request_id: upstream_request_id.map(str::to_string),
            error: error.to_string(),
            partial_response_payload: partial().map(Into::into),
        });
    }

    /// Records a cancellation, with any partial response.
    pub fn cancelled<P: Into<PayloadBody>>(
        self,
        upstream_request_id: Option<&str>,
        reason: &str,
        partial: impl FnOnce() -> Option<P>,
    ) {
        self.finish(|inference_call_id| EventPayload::InferenceCancelled {
            inference_call_id,
            upstream_request_id: upstream_request_id.map(str::to_string),
            reason: reason.to_string(),
            partial_response_payload: partial().map(Into::into),
        });
    }
}

impl Drop for InferenceRecorder {
    fn drop(&mut self) {
        self.finish(|inference_call_id| EventPayload::InferenceCancelled {
            inference_call_id,
            upstream_request_id: None,
            reason: "the host dropped the call without a terminal event".to_string(),
            partial_response_payload: None,
        });
    }
}

/// One tool call.
pub struct ToolCallRecorder {
    turn: TurnRecorder,
    tool_call_id: String,
}

impl ToolCallRecorder {
    fn disabled() -> ToolCallRecorder {
        ToolCallRecorder {
            turn: TurnRecorder::disabled(),
            tool_call_id: String::new(),
        }
    }

    /// The tool call id.
    pub fn tool_call_id(&self) -> &str {
        &self.tool_call_id
    }

    /// Records the MCP correlation id the call carried to its server.
    pub fn mcp_correlation(&self, mcp_call_id: &str) {
        let tool_call_id = self.tool_call_id.clone();
        self.turn
            .emit(|| EventPayload::McpToolCallCorrelationAssigned {
                tool_call_id,
                mcp_call_id: mcp_call_id.to_string(),
            });
    }

    /// Records a runtime begin observation (for example `exec_command_begin`).
    pub fn runtime_started<P: Into<PayloadBody>>(&self, runtime: impl FnOnce() -> P) {
        let tool_call_id = self.tool_call_id.clone();
        self.turn.emit(|| EventPayload::ToolCallRuntimeStarted {
            tool_call_id,
            runtime_payload: runtime().into(),
        });
    }

    /// Records a runtime end observation.
    pub fn runtime_ended<P: Into<PayloadBody>>(
        &self,
        status: ExecutionStatus,
        runtime: impl FnOnce() -> P,
    ) {
        let tool_call_id = self.tool_call_id.clone();
        self.turn.emit(|| EventPayload::ToolCallRuntimeEnded {
            tool_call_id,
            status,
            runtime_payload: runtime().into(),
        });
    }

    /// Records the child thread this spawn tool call creates, with the
    /// runtime observations the reducer builds the spawn edge from, and
    /// returns the child's handle.
    ///
    /// Records, in order: the spawn's runtime begin (codex-protocol's
    /// `CollabAgentSpawnBeginEvent`: `call_id` = this tool call's id,
    /// `sender_thread_id`, `prompt`, `model`, `reasoning_effort`), the
    /// child's `thread_started` with its spawn origin (as
    /// [`ThreadRecorder::spawn_child`] writes it; metadata without a `model`
    /// gets `spawn.model`), and the runtime end (`CollabAgentSpawnEndEvent`:
    /// the same fields plus `new_thread_id`, `new_agent_nickname`,
    /// `new_agent_role` and `status: "pending_init"`). End the tool call
    /// with [`Self::ended`] as usual.
    ///
    /// The tool call must have been started with
    /// [`ToolCallKind::SpawnAgent`]: the reducer reads spawn runtime
    /// payloads of that kind only. The reduced state then has the child
    /// with `origin: Spawned` and an `interaction_edges` entry
    /// `edge:spawn:{parent}:{child}` of kind `SpawnAgent` from this tool
    /// call to the child's inter-agent item carrying `spawn.prompt`, or to
    /// the child thread when no child request carries one (see
    /// [`ThreadRecorder::spawn_child`] for when edges count as delivered).
    pub fn spawn_child(&self, mut start: ThreadStart, spawn: ChildSpawn) -> ThreadRecorder {
        let Some(turn) = &self.turn.inner else {
            return ThreadRecorder::disabled();
        };
        let parent = ThreadRecorder {
            inner: Some(Arc::clone(&turn.thread)),
        };
        let sender_thread_id = parent.thread_id().to_string();
        let ChildSpawn {
            prompt,
            model,
            reasoning_effort,
        } = spawn;
        self.runtime_started(|| {
            serde_json::json!({
                "call_id": self.tool_call_id, "sender_thread_id": sender_thread_id,
                "prompt": prompt, "model": model, "reasoning_effort": reasoning_effort,
            })
        });
        if let Some(object) = start.metadata.as_mut().and_then(Value::as_object_mut) {
            object
                .entry("model")
                .or_insert_with(|| Value::from(model.as_str()));
        } else if start.metadata.is_none() {
            start.metadata = Some(serde_json::json!({
                "thread_id": start.thread_id, "agent_path": start.agent_path, "model": model,
            }));
        }
        let metadata_text = |key: &str| {
            start
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.get(key))
                .filter(|value| value.is_string())
                .cloned()
                .unwrap_or(Value::Null)
        };
        let (nickname, role) = (metadata_text("nickname"), metadata_text("agent_role"));
        let new_thread_id = start.thread_id.clone();
        let child = parent.spawn_child(start);
        self.runtime_ended(ExecutionStatus::Completed, || {
            serde_json::json!({
                "call_id": self.tool_call_id, "sender_thread_id": sender_thread_id,
                "new_thread_id": new_thread_id, "new_agent_nickname": nickname,
                "new_agent_role": role, "prompt": prompt, "model": model,
                "reasoning_effort": reasoning_effort, "status": "pending_init",
            })
        });
        child
    }

    /// Records the result returned to the requester.
    pub fn ended<P: Into<PayloadBody>>(
        self,
        status: ExecutionStatus,
        result: impl FnOnce() -> Option<P>,
    ) {
        let tool_call_id = self.tool_call_id.clone();
        self.turn.emit(|| EventPayload::ToolCallEnded {
            tool_call_id,
            status,
            result_payload: result().map(Into::into),
        });
    }
}

/// One compaction of a thread's history.
pub struct CompactionRecorder {
    turn: TurnRecorder,
    compaction_id: String,
}

impl CompactionRecorder {
    /// Records one upstream (remote) compaction request.
    pub fn start_request<P: Into<PayloadBody>>(
        &self,
        compaction_request_id: &str,
        model: &str,
        provider_name: &str,
        request: impl FnOnce() -> P,
    ) -> CompactionRequestRecorder {
        let compaction_id = self.compaction_id.clone();
        let thread_id = self.turn.thread_id().to_string();
        let codex_turn_id = self.turn.turn_id().to_string();
        self.turn.emit(|| EventPayload::CompactionRequestStarted {
            compaction_id,
            compaction_request_id: compaction_request_id.to_string(),
            thread_id,
            codex_turn_id,
            model: model.to_string(),
            provider_name: provider_name.to_string(),
            request_payload: request().into(),
        });
        CompactionRequestRecorder {
            turn: self.turn.clone(),
            compaction_id: self.compaction_id.clone(),
            compaction_request_id: compaction_request_id.to_string(),
        }
    }

    /// Records the installed checkpoint of a remote compaction
    /// (`{input_history, replacement_history}`).
    pub fn installed<P: Into<PayloadBody>>(self, checkpoint: impl FnOnce() -> P) {
        let compaction_id = self.compaction_id;
        self.turn.emit(|| EventPayload::CompactionInstalled {
            compaction_id,
            checkpoint_payload: checkpoint().into(),
        });
    }

    /// Records the installed checkpoint of a local compaction, with the
    /// summarising inference call when there was one.
    pub fn installed_local<P: Into<PayloadBody>>(
        self,
        inference_call_id: Option<&str>,
        checkpoint: impl FnOnce() -> P,
    ) {
        let compaction_id = self.compaction_id;
        self.turn.emit(|| EventPayload::LocalCompactionInstalled {
            compaction_id,
            inference_call_id: inference_call_id.map(str::to_string),
            checkpoint_payload: checkpoint().into(),
        });
    }
}

/// One upstream compaction request.
pub struct CompactionRequestRecorder {
    turn: TurnRecorder,
    compaction_id: String,
    compaction_request_id: String,
}

impl CompactionRequestRecorder {
    /// Records the response (`{output_items}`).
    pub fn completed<P: Into<PayloadBody>>(self, response: impl FnOnce() -> P) {
        self.turn.emit(|| EventPayload::CompactionRequestCompleted {
            compaction_id: self.compaction_id,
            compaction_request_id: self.compaction_request_id,
            response_payload: response().into(),
        });
    }

    /// Records a failure.
    pub fn failed(self, error: &str) {
        self.turn.emit(|| EventPayload::CompactionRequestFailed {
            compaction_id: self.compaction_id,
            compaction_request_id: self.compaction_request_id,
            error: error.to_string(),
        });
    }
}

/// Code mode records through the turn that executes (or waits on) a cell.
#[cfg(feature = "codemode")]
impl crate::codemode::CodeModeTraceSink for TurnRecorder {
    fn record(&self, payload: EventPayload<Value>) {
        TurnRecorder::record(self, || payload);
    }
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
