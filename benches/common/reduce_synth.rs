//! The synthetic rollout the reduce bench and `examples/reduce_work.rs`
//! reduce: turns of incremental inference requests, each answered by an exec
//! tool call with runtime begin/end payloads, and a remote-style compaction
//! every 16 requests so histories stay bounded. Payloads are built once, in
//! memory.
#![allow(dead_code)]

use serde_json::{Value, json};
use tracefold::MemoryPayloads;
use tracefold::event::{
    Event, EventPayload, ExecutionStatus, PayloadKind, PayloadRef, RawToolCallRequester,
    ToolCallKind, ToolCallSummary,
};

pub struct Synth {
    pub events: Vec<Event>,
    pub payloads: MemoryPayloads,
}

impl Synth {
    fn payload(&mut self, kind: PayloadKind, value: Value) -> PayloadRef {
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        let size_bytes = bytes.len() as u64;
        PayloadRef {
            kind,
            hash: self.payloads.insert(bytes),
            size_bytes,
        }
    }

    fn push(&mut self, turn: Option<&str>, payload: EventPayload<PayloadRef>) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            wall_time_unix_ms: seq as i64,
            thread_id: Some("root".to_string()),
            codex_turn_id: turn.map(str::to_string),
            payload,
        });
    }
}

fn msg(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// A valid rollout of at least `target` events, with one-line command
/// outputs: the fold's bookkeeping dominates.
pub fn synthetic(target: usize) -> Synth {
    synthetic_with_output(target, 0)
}

/// Command output of `n` plus about `extra_bytes` of text, different per step.
fn command_output(n: u64, extra_bytes: usize) -> String {
    let mut out = format!("{n}\n");
    let mut line = 0u64;
    while out.len() < extra_bytes {
        line += 1;
        out.push_str(&format!(
            "step {n} line {line}: build output, warnings and test names\n"
        ));
    }
    out
}

/// [`synthetic`] where every command prints about `output_bytes` (the tool
/// output reaches the model in the next request, so each step carries it
/// twice), to see the fold with realistic payload content.
pub fn synthetic_with_output(target: usize, output_bytes: usize) -> Synth {
    let mut s = Synth {
        events: Vec::with_capacity(target + 16),
        payloads: MemoryPayloads::new(),
    };
    s.push(
        None,
        EventPayload::RolloutStarted {
            trace_id: "t".into(),
            root_thread_id: "root".into(),
        },
    );
    s.push(
        None,
        EventPayload::ThreadStarted {
            thread_id: "root".into(),
            agent_path: "/root".into(),
            metadata_payload: None,
        },
    );
    let mut n = 0u64;
    let mut turn = String::new();
    let mut previous: Option<String> = None;
    let mut pending_output: Option<Value> = None;
    while s.events.len() < target {
        n += 1;
        if n % 8 == 1 {
            if !turn.is_empty() {
                s.push(
                    Some(&turn),
                    EventPayload::CodexTurnEnded {
                        codex_turn_id: turn.clone(),
                        status: ExecutionStatus::Completed,
                    },
                );
            }
            turn = format!("turn-{n}");
            s.push(
                Some(&turn),
                EventPayload::CodexTurnStarted {
                    codex_turn_id: turn.clone(),
                    thread_id: "root".into(),
                },
            );
        }
        let mut input = Vec::new();
        if let Some(output) = pending_output.take() {
            input.push(output);
        }
        input.push(msg(&format!("step {n}")));
        let request = match &previous {
            Some(previous) => json!({"previous_response_id": previous, "input": input}),
            None => json!({"input": input}),
        };
        let request = s.payload(PayloadKind::InferenceRequest, request);
        let call = format!("inf-{n}");
        s.push(
            Some(&turn),
            EventPayload::InferenceStarted {
                inference_call_id: call.clone(),
                thread_id: "root".into(),
                codex_turn_id: turn.clone(),
                model: "m".into(),
                provider_name: "p".into(),
                request_input_mode: None,
                request_payload: request,
            },
        );
        let call_id = format!("call-{n}");
        let response_id = format!("resp-{n}");
        let response = s.payload(PayloadKind::InferenceResponse, json!({"response_id": response_id, "output_items": [
            {"type": "function_call", "name": "exec_command", "arguments": format!("{{\"cmd\":\"echo {n}\"}}"), "call_id": call_id}
        ]}));
        s.push(
            Some(&turn),
            EventPayload::InferenceCompleted {
                inference_call_id: call,
                response_id: Some(response_id.clone()),
                upstream_request_id: None,
                response_payload: response,
            },
        );
        s.push(
            Some(&turn),
            EventPayload::ToolCallStarted {
                tool_call_id: call_id.clone(),
                model_visible_call_id: Some(call_id.clone()),
                code_mode_runtime_tool_id: None,
                requester: RawToolCallRequester::Model,
                kind: ToolCallKind::ExecCommand,
                summary: ToolCallSummary::generic("exec_command"),
                invocation_payload: None,
            },
        );
        let begin = s.payload(PayloadKind::ToolRuntimeEvent, json!({"process_id": format!("pty-{n}"), "command": ["echo", n.to_string()], "cwd": "/"}));
        s.push(
            Some(&turn),
            EventPayload::ToolCallRuntimeStarted {
                tool_call_id: call_id.clone(),
                runtime_payload: begin,
            },
        );
        let end = s.payload(
            PayloadKind::ToolRuntimeEvent,
            json!({"process_id": format!("pty-{n}"), "stdout": command_output(n, output_bytes), "exit_code": 0}),
        );
        s.push(
            Some(&turn),
            EventPayload::ToolCallRuntimeEnded {
                tool_call_id: call_id.clone(),
                status: ExecutionStatus::Completed,
                runtime_payload: end,
            },
        );
        s.push(
            Some(&turn),
            EventPayload::ToolCallEnded {
                tool_call_id: call_id.clone(),
                status: ExecutionStatus::Completed,
                result_payload: None,
            },
        );
        pending_output = Some(
            json!({"type": "function_call_output", "call_id": call_id, "output": command_output(n, output_bytes)}),
        );
        previous = Some(response_id);
        if n.is_multiple_of(16) {
            // Compact: the live history becomes a short replacement, and the
            // next request is a full snapshot of it.
            let summary =
                json!({"type": "compaction", "encrypted_content": format!("summary-{n}")});
            let checkpoint = s.payload(
                PayloadKind::CompactionCheckpoint,
                json!({"input_history": [], "replacement_history": [summary]}),
            );
            s.push(
                Some(&turn),
                EventPayload::CompactionInstalled {
                    compaction_id: format!("cmp-{n}"),
                    checkpoint_payload: checkpoint,
                },
            );
            previous = None;
            pending_output = Some(summary_item(n));
        }
    }
    s
}

fn summary_item(n: u64) -> Value {
    json!({"type": "compaction", "encrypted_content": format!("summary-{n}")})
}

/// `synth` with `failures` events the reducer cannot take spread evenly
/// through it, seqs renumbered: the input of the keep-going bench, where each
/// is skipped. With `before_any_change`, each is the completion of an
/// inference call that never started (citing a response payload), which the
/// reducer finds before it changes anything; otherwise the end of a turn that
/// never started, which it finds only after borrowing the turns mutably, so
/// the state before it is rebuilt.
pub fn with_failures(mut synth: Synth, failures: usize, before_any_change: bool) -> Synth {
    let response = synth.events.iter().find_map(|event| match &event.payload {
        EventPayload::InferenceCompleted {
            response_payload, ..
        } => Some(response_payload.clone()),
        _ => None,
    });
    let len = synth.events.len();
    for i in (0..failures).rev() {
        let at = len * (i + 1) / (failures + 1);
        let payload = match (&response, before_any_change) {
            (Some(response), true) => EventPayload::InferenceCompleted {
                inference_call_id: format!("inference-missing-{i}"),
                response_id: None,
                upstream_request_id: None,
                response_payload: response.clone(),
            },
            _ => EventPayload::CodexTurnEnded {
                codex_turn_id: format!("turn-missing-{i}"),
                status: ExecutionStatus::Completed,
            },
        };
        synth.events.insert(
            at,
            Event {
                seq: 0,
                wall_time_unix_ms: 0,
                thread_id: Some("root".to_string()),
                codex_turn_id: None,
                payload,
            },
        );
    }
    for (index, event) in synth.events.iter_mut().enumerate() {
        event.seq = index as u64 + 1;
        event.wall_time_unix_ms = event.seq as i64;
    }
    synth
}
