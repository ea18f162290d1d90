//! Child threads: [`ThreadRecorder::spawn_child`] and
//! [`ThreadRecorder::resume_child`] record a child with its spawn origin in
//! the metadata the reducer reads (`session_source.subagent.thread_spawn`),
//! and [`ToolCallRecorder::spawn_child`] adds the spawn tool call's runtime
//! observations ([`ChildSpawn`]), from which the reducer builds the spawn
//! edge. Hosts need no knowledge of Codex's shapes to get either.

use serde_json::Value;

use super::{ThreadRecorder, ThreadStart, ToolCallRecorder};
use crate::event::ExecutionStatus;

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

impl ThreadRecorder {
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
    /// started with [`ToolCallKind::SpawnAgent`](crate::event::ToolCallKind::SpawnAgent) to get it; this method alone
    /// records the origin only, as the reference does for a child whose
    /// spawning call was not traced.
    ///
    /// **Edges to and from the child are counted as delivered only when the
    /// recipient's model sees the message.** The spawn edge targets the
    /// child's inter-agent item carrying the task (an `agent_message` with
    /// `author` = this thread's agent path, `recipient` = the child's and the
    /// task as its content) once a child inference request carries it; with
    /// none by the end of the log it targets the child thread. A result
    /// recorded with [`TurnRecorder::deliver_agent_result`](super::TurnRecorder::deliver_agent_result) on the child's
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
}

impl ToolCallRecorder {
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
    /// [`ToolCallKind::SpawnAgent`](crate::event::ToolCallKind::SpawnAgent): the reducer reads spawn runtime
    /// payloads of that kind only. The reduced state then has the child
    /// with `origin: Spawned` and an `interaction_edges` entry
    /// `edge:spawn:{parent}:{child}` of kind `SpawnAgent` from this tool
    /// call to the child's inter-agent item carrying `spawn.prompt`, or to
    /// the child thread when no child request carries one (see
    /// [`ThreadRecorder::spawn_child`] for when edges count as delivered).
    pub fn spawn_child(&self, mut start: ThreadStart, spawn: ChildSpawn) -> ThreadRecorder {
        let parent = self.turn.thread();
        if !parent.is_enabled() {
            return ThreadRecorder::disabled();
        }
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
}
