//! A small builder for reducer tests: it numbers events, stores payloads in a
//! [`MemoryPayloads`] and offers one helper per common event.
//!
//! Test-only; it never touches a store or the file system.

use serde_json::{Value, json};

use super::{MemoryPayloads, ReduceError, Reducer, reduce};
use crate::event::{
    Event, EventPayload, ExecutionStatus, PayloadKind, PayloadRef, RawToolCallRequester,
    RolloutStatus, ToolCallKind, ToolCallSummary,
};
use crate::model::RolloutTrace;

/// Item ids from their text, to compare with the state's id lists.
pub(crate) fn item_ids(ids: &[&str]) -> Vec<crate::model::ItemId> {
    ids.iter().map(|id| (*id).into()).collect()
}

/// Conversation item ids from their ordinals (`"000001"`).
pub(crate) fn ids(ordinals: &[&str]) -> Vec<crate::model::ItemId> {
    ordinals
        .iter()
        .map(|ordinal| format!("conversation_item:{ordinal}").into())
        .collect()
}

/// The parts of the conversation item with ordinal `n` (`"000001"`).
pub(crate) fn parts(state: &RolloutTrace, n: &str) -> Vec<crate::model::ConversationPart> {
    state.conversation_items[&*format!("conversation_item:{n}")]
        .body
        .parts
        .clone()
}

pub(crate) const ROOT: &str = "thread-root";

/// Events and payloads of one test rollout.
#[derive(Debug, Clone, Default)]
pub(crate) struct Log {
    pub events: Vec<Event>,
    pub payloads: MemoryPayloads,
}

pub(crate) fn message(role: &str, text: &str) -> Value {
    let part = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    json!({"type": "message", "role": role, "content": [{"type": part, "text": text}]})
}

pub(crate) fn function_call(call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id})
}

pub(crate) fn function_output(call_id: &str, output: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": output})
}

pub(crate) fn exec_call(call_id: &str, source: &str) -> Value {
    json!({"type": "custom_tool_call", "name": "exec", "input": source, "call_id": call_id})
}

pub(crate) fn custom_output(call_id: &str, output: &str) -> Value {
    json!({"type": "custom_tool_call_output", "call_id": call_id, "output": output})
}

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    /// A log with a started rollout, the root thread and `turn-1`.
    pub fn started() -> Log {
        let mut log = Log::new();
        log.rollout(ROOT);
        log.thread(ROOT, "/root");
        log.turn(ROOT, "turn-1");
        log
    }

    pub fn next_seq(&self) -> u64 {
        self.events.len() as u64 + 1
    }

    /// Appends an event with the given envelope context; returns its seq.
    pub fn push(
        &mut self,
        thread: Option<&str>,
        turn: Option<&str>,
        payload: EventPayload<PayloadRef>,
    ) -> u64 {
        let seq = self.next_seq();
        self.events.push(Event {
            seq,
            wall_time_unix_ms: 1_000 + seq as i64,
            thread_id: thread.map(str::to_string),
            codex_turn_id: turn.map(str::to_string),
            payload,
        });
        seq
    }

    pub fn payload(&mut self, kind: PayloadKind, value: &Value) -> PayloadRef {
        let bytes = serde_json::to_vec(value).expect("json");
        let size_bytes = bytes.len() as u64;
        let hash = self.payloads.insert(bytes);
        PayloadRef {
            kind,
            hash,
            size_bytes,
        }
    }

    pub fn reduce(&self) -> Result<RolloutTrace, ReduceError> {
        reduce("rollout-test", &self.events, &self.payloads)
    }

    pub fn reduce_ok(&self) -> RolloutTrace {
        self.reduce().expect("reduce")
    }

    /// The error text of a failing reduction.
    pub fn reduce_err(&self) -> String {
        match self.reduce() {
            Ok(_) => panic!("expected the reduction to fail"),
            Err(err) => err.to_string(),
        }
    }

    #[allow(dead_code)]
    pub fn reducer_after_all(&self) -> Reducer {
        let mut reducer = Reducer::new("rollout-test");
        for event in &self.events {
            reducer.apply(event, &self.payloads).expect("apply");
        }
        reducer
    }

    pub fn rollout(&mut self, root: &str) -> u64 {
        self.push(
            None,
            None,
            EventPayload::RolloutStarted {
                trace_id: "trace-1".to_string(),
                root_thread_id: root.to_string(),
            },
        )
    }

    pub fn end_rollout(&mut self, status: RolloutStatus) -> u64 {
        self.push(None, None, EventPayload::RolloutEnded { status })
    }

    pub fn thread(&mut self, thread: &str, agent_path: &str) -> u64 {
        self.push(
            None,
            None,
            EventPayload::ThreadStarted {
                thread_id: thread.to_string(),
                agent_path: agent_path.to_string(),
                metadata_payload: None,
            },
        )
    }

    /// A child thread whose metadata names its spawning parent.
    pub fn child_thread(&mut self, thread: &str, agent_path: &str, parent: &str) -> u64 {
        let meta = self.payload(
            PayloadKind::SessionMetadata,
            &json!({
                "thread_id": thread,
                "agent_path": agent_path,
                "task_name": "review",
                "nickname": "Ada",
                "model": "gpt-test",
                "session_source": {"subagent": {"thread_spawn": {
                    "parent_thread_id": parent, "depth": 1,
                    "agent_path": agent_path, "agent_role": "reviewer"
                }}}
            }),
        );
        self.push(
            None,
            None,
            EventPayload::ThreadStarted {
                thread_id: thread.to_string(),
                agent_path: agent_path.to_string(),
                metadata_payload: Some(meta),
            },
        )
    }

    pub fn turn(&mut self, thread: &str, turn: &str) -> u64 {
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::CodexTurnStarted {
                codex_turn_id: turn.to_string(),
                thread_id: thread.to_string(),
            },
        )
    }

    pub fn end_turn(&mut self, thread: &str, turn: &str, status: ExecutionStatus) -> u64 {
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::CodexTurnEnded {
                codex_turn_id: turn.to_string(),
                status,
            },
        )
    }

    /// An inference whose request payload is `request` (a whole request object).
    pub fn inference_request(
        &mut self,
        thread: &str,
        turn: &str,
        id: &str,
        request: &Value,
    ) -> u64 {
        let payload = self.payload(PayloadKind::InferenceRequest, request);
        self.inference_with_payload(thread, turn, id, payload)
    }

    /// An inference whose request payload is `text` exactly as written.
    pub fn inference_request_text(
        &mut self,
        thread: &str,
        turn: &str,
        id: &str,
        text: &str,
    ) -> u64 {
        let payload = PayloadRef {
            kind: PayloadKind::InferenceRequest,
            hash: self.payloads.insert(text.as_bytes().to_vec()),
            size_bytes: text.len() as u64,
        };
        self.inference_with_payload(thread, turn, id, payload)
    }

    fn inference_with_payload(
        &mut self,
        thread: &str,
        turn: &str,
        id: &str,
        request_payload: PayloadRef,
    ) -> u64 {
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::InferenceStarted {
                inference_call_id: id.to_string(),
                thread_id: thread.to_string(),
                codex_turn_id: turn.to_string(),
                model: "gpt-test".to_string(),
                provider_name: "test-provider".to_string(),
                request_input_mode: None,
                request_payload,
            },
        )
    }

    /// A full-snapshot inference request with `input` items.
    pub fn inference(&mut self, thread: &str, turn: &str, id: &str, input: Vec<Value>) -> u64 {
        self.inference_request(thread, turn, id, &json!({ "input": input }))
    }

    pub fn complete(
        &mut self,
        thread: &str,
        turn: &str,
        id: &str,
        response_id: &str,
        output: Vec<Value>,
    ) -> u64 {
        let payload = self.payload(
            PayloadKind::InferenceResponse,
            &json!({
                "response_id": response_id,
                "upstream_request_id": null,
                "token_usage": {"input_tokens": 10, "cached_input_tokens": 0, "output_tokens": 5, "reasoning_output_tokens": 0},
                "output_items": output,
            }),
        );
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::InferenceCompleted {
                inference_call_id: id.to_string(),
                response_id: Some(response_id.to_string()),
                upstream_request_id: None,
                response_payload: payload,
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn tool_start(
        &mut self,
        thread: &str,
        turn: &str,
        id: &str,
        call_id: Option<&str>,
        requester: RawToolCallRequester,
        kind: ToolCallKind,
        invocation: Option<Value>,
    ) -> u64 {
        let invocation = invocation.map(|value| self.payload(PayloadKind::ToolInvocation, &value));
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::ToolCallStarted {
                tool_call_id: id.to_string(),
                model_visible_call_id: call_id.map(str::to_string),
                code_mode_runtime_tool_id: None,
                requester,
                kind,
                summary: ToolCallSummary::generic("tool"),
                invocation_payload: invocation,
            },
        )
    }

    pub fn tool_runtime(
        &mut self,
        thread: &str,
        turn: &str,
        id: &str,
        begin: bool,
        value: &Value,
    ) -> u64 {
        let payload = self.payload(PayloadKind::ToolRuntimeEvent, value);
        let event = if begin {
            EventPayload::ToolCallRuntimeStarted {
                tool_call_id: id.to_string(),
                runtime_payload: payload,
            }
        } else {
            EventPayload::ToolCallRuntimeEnded {
                tool_call_id: id.to_string(),
                status: ExecutionStatus::Completed,
                runtime_payload: payload,
            }
        };
        self.push(Some(thread), Some(turn), event)
    }

    pub fn tool_end(&mut self, thread: &str, turn: &str, id: &str, result: Option<Value>) -> u64 {
        let result = result.map(|value| self.payload(PayloadKind::ToolResult, &value));
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::ToolCallEnded {
                tool_call_id: id.to_string(),
                status: ExecutionStatus::Completed,
                result_payload: result,
            },
        )
    }

    pub fn checkpoint(
        &mut self,
        thread: &str,
        turn: &str,
        compaction: &str,
        input: Vec<Value>,
        replacement: Vec<Value>,
    ) -> u64 {
        let payload = self.payload(
            PayloadKind::CompactionCheckpoint,
            &json!({"input_history": input, "replacement_history": replacement}),
        );
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::CompactionInstalled {
                compaction_id: compaction.to_string(),
                checkpoint_payload: payload,
            },
        )
    }
}
