//! Agents: one agent's conversation and recorder handle ([`Agent`]), and
//! the root's dealings with its sub-agents: spawning one with a task,
//! sending it a message, its turn and result, and closing it.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::Host;
use super::script::{CHILD_MODEL, agent_message, message};
use crate::event::{ExecutionStatus, RolloutStatus, ToolCallKind};
use crate::recorder::{ChildSpawn, ThreadRecorder, ThreadStart, TurnRecorder};

/// One agent's conversation and its recorder handle.
pub(super) struct Agent {
    pub(super) thread: ThreadRecorder,
    pub(super) path: String,
    pub(super) model: &'static str,
    pub(super) conversation: Vec<Value>,
    /// Inter-agent items delivered to this agent, not yet in a request.
    pub(super) inbox: Arc<Mutex<Vec<Value>>>,
}

impl Agent {
    pub(super) fn take_inbox(&mut self) {
        let mut inbox = self
            .inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.conversation.append(&mut inbox);
    }

    /// Whether inter-agent items wait in the inbox (a poisoned inbox counts
    /// as empty).
    pub(super) fn has_mail(&self) -> bool {
        self.inbox.lock().is_ok_and(|inbox| !inbox.is_empty())
    }

    pub(super) fn conversation_bytes(&self) -> usize {
        self.conversation
            .iter()
            .map(|item| item.to_string().len())
            .sum()
    }
}

impl Host<'_> {
    pub(super) fn spawn_child(
        &mut self,
        root: &mut Agent,
        turn: &TurnRecorder,
        index: usize,
    ) -> Agent {
        let role = ["reviewer", "tester", "explorer"][index % 3];
        let path = format!("/root/{role}{}", index + 1);
        let task = format!(
            "Review {} and report problems.",
            self.rng
                .pick(&["src/parser.rs", "src/config.rs", "the error handling"])
        );
        let call_id = format!("call_spawn_{}", index + 1);
        let arguments = json!({"message": task, "agent_type": role});
        let tool = self.call_tool(
            root,
            turn,
            &call_id,
            "spawn_agent",
            ToolCallKind::SpawnAgent,
            &arguments,
        );
        let child_id = uuid::Uuid::new_v4().to_string();
        let nickname = ["Ada", "Grace", "Edsger"][index % 3];
        // The tool call spawns the child: the recorder writes the spawn's
        // runtime payloads (codex-protocol's `CollabAgentSpawnBeginEvent` and
        // `CollabAgentSpawnEndEvent`) and the child's spawn origin, from which
        // the reducer builds the child's origin and the spawn edge.
        let thread = tool.spawn_child(
            ThreadStart {
                thread_id: child_id.clone(),
                agent_path: path.clone(),
                // The reference's `ThreadStartedTraceMetadata`; the recorder
                // adds `session_source`.
                metadata: Some(json!({
                    "thread_id": child_id, "agent_path": path,
                    "task_name": format!("{role}{}", index + 1), "nickname": nickname,
                    "agent_role": role, "cwd": "/work/repo", "rollout_path": null,
                    "model": CHILD_MODEL, "provider_name": "openai", "approval_policy": "never",
                    "sandbox_policy": "workspace-write"
                })),
            },
            ChildSpawn {
                prompt: task.clone(),
                model: CHILD_MODEL.to_string(),
                reasoning_effort: "medium".to_string(),
            },
        );
        let output = json!({"agent_id": child_id, "nickname": path}).to_string();
        self.tool_returns(root, tool, &call_id, &output);
        self.report.threads.push((path.clone(), child_id));
        Agent {
            thread,
            path: path.clone(),
            model: CHILD_MODEL,
            conversation: vec![message(
                "developer",
                "You are a sub-agent. Do the task you are given and report back briefly.",
            )],
            inbox: Arc::new(Mutex::new(vec![agent_message("/root", &path, &task)])),
        }
    }

    /// A child takes a turn on its inbox and reports its result to the root.
    pub(super) fn child_turn(&mut self, child: &mut Agent, root: &Agent) {
        let turn = child.thread.start_turn(uuid::Uuid::new_v4().to_string());
        self.report.turns += 1;
        child.take_inbox();
        let reasoning = self.reasoning();
        let result = format!("Done: {}", self.rng.words(16));
        self.infer(child, &turn, vec![reasoning, message("assistant", &result)]);
        turn.end(ExecutionStatus::Completed);
        // Delivery first; the edge is recorded only if it succeeded.
        let parent_inbox = Arc::clone(&root.inbox);
        let notification = agent_message(&child.path, &root.path, &result);
        let _: Result<(), String> = turn.deliver_agent_result(
            root.thread.thread_id(),
            &result,
            // The reference's `AgentResultTracePayload`: `status` is
            // codex-protocol's `AgentStatus` (`Completed(Option<String>)`).
            || Some(json!({"child_agent_path": child.path, "message": result, "status": {"completed": result}})),
            || {
                parent_inbox
                    .lock()
                    .map_err(|_| "parent inbox poisoned".to_string())?
                    .push(notification);
                Ok(())
            },
        );
    }

    pub(super) fn send_message(&mut self, root: &mut Agent, turn: &TurnRecorder, child: &Agent) {
        let call_id = format!("call_msg_{}", self.rng.blob(8));
        let text = format!("Also check {}", self.rng.words(6));
        let arguments = json!({"target": child.path, "message": text});
        let tool = self.call_tool(
            root,
            turn,
            &call_id,
            "send_message",
            ToolCallKind::SendMessage,
            &arguments,
        );
        tool.runtime_started(|| json!({"call_id": call_id, "sender_thread_id": root.thread.thread_id(),
                                       "receiver_thread_id": child.thread.thread_id(), "prompt": text}));
        if let Ok(mut inbox) = child.inbox.lock() {
            inbox.push(agent_message(&root.path, &child.path, &text));
        }
        tool.runtime_ended(ExecutionStatus::Completed, || json!({"call_id": call_id, "sender_thread_id": root.thread.thread_id(),
                                       "receiver_thread_id": child.thread.thread_id(), "prompt": text, "status": "running"}));
        self.tool_returns(root, tool, &call_id, "delivered");
    }

    pub(super) fn close_child(&mut self, root: &mut Agent, turn: &TurnRecorder, child: &Agent) {
        let call_id = format!("call_close_{}", self.rng.blob(8));
        let arguments = json!({"target": child.path});
        let tool = self.call_tool(
            root,
            turn,
            &call_id,
            "close_agent",
            ToolCallKind::CloseAgent,
            &arguments,
        );
        tool.runtime_started(|| {
            json!({"call_id": call_id, "sender_thread_id": root.thread.thread_id(),
                                       "receiver_thread_id": child.thread.thread_id()})
        });
        child.thread.end(RolloutStatus::Completed);
        tool.runtime_ended(ExecutionStatus::Completed, || json!({"call_id": call_id, "sender_thread_id": root.thread.thread_id(),
                                       "receiver_thread_id": child.thread.thread_id(), "status": "shutdown"}));
        self.tool_returns(root, tool, &call_id, "closed");
    }
}
