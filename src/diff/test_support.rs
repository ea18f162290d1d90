//! A small scripted rollout for the diff's unit tests: events numbered in
//! order, payloads in a [`MemoryPayloads`], and generated ids that are
//! UUID-shaped and differ per recording (`Script::new(1)` vs
//! `Script::new(2)`), as two recordings of the same run would.
//!
//! Test-only; no store, no file system.

use serde_json::{Value, json};

use crate::event::{
    Event, EventPayload, ExecutionStatus, PayloadKind, PayloadRef, RawToolCallRequester,
    RolloutStatus, ToolCallKind, ToolCallSummary,
};
use crate::model::RolloutTrace;
use crate::reducer::{MemoryPayloads, reduce};

/// One recording being scripted.
pub(crate) struct Script {
    recording: u32,
    pub events: Vec<Event>,
    pub payloads: MemoryPayloads,
}

impl Script {
    /// A started rollout whose root thread (`root`) is at `/root`.
    pub fn new(recording: u32) -> Script {
        let mut script = Script {
            recording,
            events: Vec::new(),
            payloads: MemoryPayloads::new(),
        };
        let root = script.id("root");
        script.push(
            None,
            None,
            EventPayload::RolloutStarted {
                trace_id: script.id("trace"),
                root_thread_id: root,
            },
        );
        script.thread("root", "/root");
        script
    }

    /// This recording's generated id for `name`: a UUID whose first group
    /// is the recording number.
    pub fn id(&self, name: &str) -> String {
        let digest = blake3::hash(name.as_bytes());
        let tail: String = digest.to_hex().chars().take(12).collect();
        format!("{:08x}-0000-4000-8000-{tail}", self.recording)
    }

    fn push(
        &mut self,
        thread: Option<&str>,
        turn: Option<&str>,
        payload: EventPayload<PayloadRef>,
    ) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            wall_time_unix_ms: 1_000 * i64::from(self.recording) + seq as i64,
            thread_id: thread.map(|name| self.id(name)),
            codex_turn_id: turn.map(|name| self.id(name)),
            payload,
        });
    }

    /// Stores `value` as a payload of `kind`.
    pub fn payload(&mut self, kind: PayloadKind, value: &Value) -> PayloadRef {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let size_bytes = bytes.len() as u64;
        PayloadRef {
            kind,
            hash: self.payloads.insert(bytes),
            size_bytes,
        }
    }

    /// Starts thread `name` at `agent_path`.
    pub fn thread(&mut self, name: &str, agent_path: &str) {
        let thread_id = self.id(name);
        self.push(
            None,
            None,
            EventPayload::ThreadStarted {
                thread_id,
                agent_path: agent_path.to_string(),
                metadata_payload: None,
            },
        );
    }

    /// Starts turn `turn` in thread `thread`.
    pub fn turn(&mut self, thread: &str, turn: &str) {
        let (codex_turn_id, thread_id) = (self.id(turn), self.id(thread));
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::CodexTurnStarted {
                codex_turn_id,
                thread_id,
            },
        );
    }

    /// Ends turn `turn` of thread `thread` with `status`.
    pub fn end_turn(&mut self, thread: &str, turn: &str, status: ExecutionStatus) {
        let codex_turn_id = self.id(turn);
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::CodexTurnEnded {
                codex_turn_id,
                status,
            },
        );
    }

    /// A completed inference call `name` sending `input` and answering
    /// `output`; the response names the thread by its id.
    pub fn inference(
        &mut self,
        (thread, turn): (&str, &str),
        name: &str,
        input: Vec<Value>,
        output: Vec<Value>,
    ) {
        let request = self.payload(PayloadKind::InferenceRequest, &json!({"input": input}));
        let response = json!({
            "response_id": format!("resp-{}-{name}", self.recording),
            "thread": self.id(thread),
            "output_items": output,
        });
        let response = self.payload(PayloadKind::InferenceResponse, &response);
        let (inference_call_id, thread_id, codex_turn_id) =
            (self.id(name), self.id(thread), self.id(turn));
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::InferenceStarted {
                inference_call_id: inference_call_id.clone(),
                thread_id,
                codex_turn_id,
                model: "gpt-test".to_string(),
                provider_name: "test".to_string(),
                request_input_mode: None,
                request_payload: request,
            },
        );
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::InferenceCompleted {
                inference_call_id,
                response_id: None,
                upstream_request_id: None,
                response_payload: response,
            },
        );
    }

    /// A completed tool call `name` of `kind` returning `result`.
    pub fn tool(
        &mut self,
        (thread, turn): (&str, &str),
        name: &str,
        kind: ToolCallKind,
        result: &Value,
    ) {
        self.tool_invoked((thread, turn), name, (kind, None), result);
    }

    /// A completed tool call `name` of `kind`, invoked with `invocation`
    /// (its arguments, as an invocation payload) when given, returning
    /// `result`.
    pub fn tool_invoked(
        &mut self,
        (thread, turn): (&str, &str),
        name: &str,
        (kind, invocation): (ToolCallKind, Option<&Value>),
        result: &Value,
    ) {
        let invocation_payload =
            invocation.map(|value| self.payload(PayloadKind::ToolInvocation, value));
        let result = self.payload(PayloadKind::ToolResult, result);
        let tool_call_id = self.id(name);
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::ToolCallStarted {
                tool_call_id: tool_call_id.clone(),
                model_visible_call_id: None,
                code_mode_runtime_tool_id: None,
                requester: RawToolCallRequester::Model,
                kind,
                summary: ToolCallSummary::generic("tool"),
                invocation_payload,
            },
        );
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::ToolCallEnded {
                tool_call_id,
                status: ExecutionStatus::Completed,
                result_payload: Some(result),
            },
        );
    }

    /// Ends the rollout.
    pub fn end(&mut self, status: RolloutStatus) {
        self.push(None, None, EventPayload::RolloutEnded { status });
    }

    /// The reduced state.
    pub fn trace(&self) -> RolloutTrace {
        match reduce(&self.id("rollout"), &self.events, &self.payloads) {
            Ok(trace) => trace,
            Err(err) => panic!("the test script does not reduce: {err}"),
        }
    }
}

/// A user message item.
pub(crate) fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// An assistant message item.
pub(crate) fn assistant(text: &str) -> Value {
    json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
}

/// The same small run recorded as recording `recording`: a root turn with
/// an inference and a shell tool call, and a worker thread with one turn
/// and one inference. `answer` is the root's final answer.
pub(crate) fn small_run(recording: u32, answer: &str) -> Script {
    let mut script = Script::new(recording);
    script.turn("root", "turn-1");
    script.inference(
        ("root", "turn-1"),
        "inf-1",
        vec![user("fix the parser")],
        vec![assistant("looking")],
    );
    script.tool(
        ("root", "turn-1"),
        "tool-1",
        ToolCallKind::ExecCommand,
        &json!({"exit_code": 0, "output": "ok"}),
    );
    script.thread("worker", "/root/worker");
    script.turn("worker", "turn-w");
    script.inference(
        ("worker", "turn-w"),
        "inf-w",
        vec![user("review")],
        vec![assistant("fine")],
    );
    script.end_turn("worker", "turn-w", ExecutionStatus::Completed);
    script.inference(
        ("root", "turn-1"),
        "inf-2",
        vec![user("fix the parser"), assistant("looking")],
        vec![assistant(answer)],
    );
    script.end_turn("root", "turn-1", ExecutionStatus::Completed);
    script.end(RolloutStatus::Completed);
    script
}
