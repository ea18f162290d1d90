//! Integration tests: reducer. A realistic rollout (root and child threads,
//! tools, a code cell, a terminal and a remote compaction) reduced through
//! the public API, asserting the state the reference semantics prescribe.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use tracefold::event::{
    CodeCellRuntimeStatus, Event, EventPayload, ExecutionStatus, PayloadKind, PayloadRef,
    RawToolCallRequester, RolloutStatus, ToolCallKind, ToolCallSummary,
};
use tracefold::model::{AgentOrigin, InteractionEdgeKind, TraceAnchor};
use tracefold::{MemoryPayloads, Reducer, reduce, state_to_json, write_state_json};

#[derive(Default)]
struct Rollout {
    events: Vec<Event>,
    payloads: MemoryPayloads,
}

impl Rollout {
    fn payload(&mut self, kind: PayloadKind, value: Value) -> PayloadRef {
        let bytes = serde_json::to_vec(&value).expect("json");
        let size_bytes = bytes.len() as u64;
        PayloadRef {
            kind,
            hash: self.payloads.insert(bytes),
            size_bytes,
        }
    }

    fn push(
        &mut self,
        thread: Option<&str>,
        turn: Option<&str>,
        payload: EventPayload<PayloadRef>,
    ) -> u64 {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            wall_time_unix_ms: 1_767_225_600_000 + seq as i64 * 10,
            thread_id: thread.map(str::to_string),
            codex_turn_id: turn.map(str::to_string),
            payload,
        });
        seq
    }

    fn inference(
        &mut self,
        thread: &str,
        turn: &str,
        id: &str,
        request: Value,
        response_id: &str,
        output: Value,
    ) {
        let request = self.payload(PayloadKind::InferenceRequest, request);
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::InferenceStarted {
                inference_call_id: id.into(),
                thread_id: thread.into(),
                codex_turn_id: turn.into(),
                model: "gpt-5".into(),
                provider_name: "openai".into(),
                request_input_mode: None,
                request_payload: request,
            },
        );
        let response = self.payload(
            PayloadKind::InferenceResponse,
            json!({"response_id": response_id, "output_items": output}),
        );
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::InferenceCompleted {
                inference_call_id: id.into(),
                response_id: Some(response_id.into()),
                upstream_request_id: Some(format!("req-{id}")),
                response_payload: response,
            },
        );
    }

    #[allow(clippy::too_many_arguments)] // one argument per event field keeps call sites readable
    fn tool(
        &mut self,
        thread: &str,
        turn: &str,
        id: &str,
        call_id: Option<&str>,
        requester: RawToolCallRequester,
        kind: ToolCallKind,
        invocation: Value,
    ) {
        let invocation = self.payload(PayloadKind::ToolInvocation, invocation);
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::ToolCallStarted {
                tool_call_id: id.into(),
                model_visible_call_id: call_id.map(str::to_string),
                code_mode_runtime_tool_id: None,
                requester,
                kind,
                summary: ToolCallSummary::generic("tool"),
                invocation_payload: Some(invocation),
            },
        );
    }

    fn runtime(&mut self, thread: &str, turn: &str, id: &str, begin: bool, value: Value) {
        let payload = self.payload(PayloadKind::ToolRuntimeEvent, value);
        let event = if begin {
            EventPayload::ToolCallRuntimeStarted {
                tool_call_id: id.into(),
                runtime_payload: payload,
            }
        } else {
            EventPayload::ToolCallRuntimeEnded {
                tool_call_id: id.into(),
                status: ExecutionStatus::Completed,
                runtime_payload: payload,
            }
        };
        self.push(Some(thread), Some(turn), event);
    }

    fn tool_end(&mut self, thread: &str, turn: &str, id: &str, result: Value) {
        let result = self.payload(PayloadKind::ToolResult, result);
        self.push(
            Some(thread),
            Some(turn),
            EventPayload::ToolCallEnded {
                tool_call_id: id.into(),
                status: ExecutionStatus::Completed,
                result_payload: Some(result),
            },
        );
    }
}

fn msg(role: &str, text: &str) -> Value {
    json!({"type": "message", "role": role, "content": [{"type": if role == "assistant" { "output_text" } else { "input_text" }, "text": text}]})
}

fn realistic_rollout() -> Rollout {
    let (root, child) = ("th-root", "th-child");
    let mut r = Rollout::default();
    r.push(
        None,
        None,
        EventPayload::RolloutStarted {
            trace_id: "t-1".into(),
            root_thread_id: root.into(),
        },
    );
    r.push(
        None,
        None,
        EventPayload::ThreadStarted {
            thread_id: root.into(),
            agent_path: "/root".into(),
            metadata_payload: None,
        },
    );
    r.push(
        Some(root),
        Some("turn-1"),
        EventPayload::CodexTurnStarted {
            codex_turn_id: "turn-1".into(),
            thread_id: root.into(),
        },
    );
    // 1. The model runs a shell command.
    let exec = json!({"type": "function_call", "name": "exec_command", "arguments": "{\"cmd\":\"cargo test\"}", "call_id": "call-sh"});
    r.inference(
        root,
        "turn-1",
        "inf-1",
        json!({"input": [msg("developer", "rules"), msg("user", "fix the tests")]}),
        "resp-1",
        json!([exec.clone()]),
    );
    r.tool(root, "turn-1", "call-sh", Some("call-sh"), RawToolCallRequester::Model, ToolCallKind::ExecCommand, json!({"tool_name": "exec_command", "payload": {"type": "function", "arguments": "{\"cmd\":\"cargo test\"}"}}));
    r.runtime(root, "turn-1", "call-sh", true, json!({"call_id": "call-sh", "process_id": "pty-7", "command": ["cargo", "test"], "cwd": "/repo"}));
    r.runtime(root, "turn-1", "call-sh", false, json!({"call_id": "call-sh", "process_id": "pty-7", "stdout": "1 failed\n", "stderr": "", "exit_code": 101, "formatted_output": "1 failed\n"}));
    r.tool_end(root, "turn-1", "call-sh", json!({"type": "direct_response", "response_item": {"type": "function_call_output", "call_id": "call-sh", "output": "1 failed\n"}}));
    // 2. The model spawns a reviewer and runs a code cell.
    let code = json!({"type": "custom_tool_call", "name": "exec", "input": "await tools.search({q: 'x'})", "call_id": "call-js"});
    let spawn = json!({"type": "function_call", "name": "spawn_agent", "arguments": "{\"message\":\"review the fix\"}", "call_id": "call-spawn"});
    r.inference(root, "turn-1", "inf-2", json!({"previous_response_id": "resp-1", "input": [{"type": "function_call_output", "call_id": "call-sh", "output": "1 failed\n"}]}), "resp-2", json!([spawn, code]));
    r.tool(root, "turn-1", "call-spawn", Some("call-spawn"), RawToolCallRequester::Model, ToolCallKind::SpawnAgent, json!({"tool_name": "spawn_agent", "payload": {"type": "function", "arguments": "{\"message\":\"review the fix\"}"}}));
    let meta = r.payload(PayloadKind::SessionMetadata, json!({"thread_id": child, "agent_path": "/root/reviewer", "nickname": "Rev", "model": "gpt-5",
        "session_source": {"subagent": {"thread_spawn": {"parent_thread_id": root, "depth": 1, "agent_path": "/root/reviewer", "agent_role": "reviewer"}}}}));
    r.push(
        None,
        None,
        EventPayload::ThreadStarted {
            thread_id: child.into(),
            agent_path: "/root/reviewer".into(),
            metadata_payload: Some(meta),
        },
    );
    r.runtime(
        root,
        "turn-1",
        "call-spawn",
        false,
        json!({"sender_thread_id": root, "new_thread_id": child, "prompt": "review the fix"}),
    );
    r.tool_end(root, "turn-1", "call-spawn", json!({"type": "direct_response", "response_item": {"type": "function_call_output", "call_id": "call-spawn", "output": "spawned"}}));
    r.push(
        Some(root),
        Some("turn-1"),
        EventPayload::CodeCellStarted {
            runtime_cell_id: "1".into(),
            model_visible_call_id: "call-js".into(),
            source_js: "await tools.search({q: 'x'})".into(),
        },
    );
    r.tool(root, "turn-1", "exec-abc", None, RawToolCallRequester::CodeCell { runtime_cell_id: "1".into() }, ToolCallKind::Web, json!({"tool_name": "search", "payload": {"type": "function", "arguments": "{\"q\":\"x\"}"}}));
    r.tool_end(
        root,
        "turn-1",
        "exec-abc",
        json!({"type": "code_mode_response", "value": {"hits": 1}}),
    );
    r.push(
        Some(root),
        Some("turn-1"),
        EventPayload::CodeCellEnded {
            runtime_cell_id: "1".into(),
            status: CodeCellRuntimeStatus::Completed,
            response_payload: None,
        },
    );
    // 3. The child works and reports back.
    r.push(
        Some(child),
        Some("turn-c"),
        EventPayload::CodexTurnStarted {
            codex_turn_id: "turn-c".into(),
            thread_id: child.into(),
        },
    );
    let task = json!({"type": "agent_message", "author": "/root", "recipient": "/root/reviewer", "content": [{"type": "input_text", "text": "review the fix"}]});
    r.inference(
        child,
        "turn-c",
        "inf-c",
        json!({"input": [task]}),
        "resp-c",
        json!([msg("assistant", "looks good")]),
    );
    r.push(
        Some(child),
        Some("turn-c"),
        EventPayload::CodexTurnEnded {
            codex_turn_id: "turn-c".into(),
            status: ExecutionStatus::Completed,
        },
    );
    r.push(
        Some(child),
        Some("turn-c"),
        EventPayload::AgentResultObserved {
            edge_id: "edge:agent_result:th-child:turn-c:th-root".into(),
            child_thread_id: child.into(),
            child_codex_turn_id: "turn-c".into(),
            parent_thread_id: root.into(),
            message: "looks good".into(),
            carried_payload: None,
        },
    );
    r.push(
        None,
        None,
        EventPayload::ThreadEnded {
            thread_id: child.into(),
            status: RolloutStatus::Completed,
        },
    );
    // 4. Remote compaction, then a full request against the replacement.
    let request = r.payload(PayloadKind::CompactionRequest, json!({"input": []}));
    r.push(
        Some(root),
        Some("turn-1"),
        EventPayload::CompactionRequestStarted {
            compaction_id: "cmp-1".into(),
            compaction_request_id: "compaction_request:1".into(),
            thread_id: root.into(),
            codex_turn_id: "turn-1".into(),
            model: "gpt-5".into(),
            provider_name: "openai".into(),
            request_payload: request,
        },
    );
    let summary = json!({"type": "compaction", "encrypted_content": "ENC"});
    let response = r.payload(
        PayloadKind::CompactionResponse,
        json!({"output_items": [summary.clone()]}),
    );
    r.push(
        Some(root),
        Some("turn-1"),
        EventPayload::CompactionRequestCompleted {
            compaction_id: "cmp-1".into(),
            compaction_request_id: "compaction_request:1".into(),
            response_payload: response,
        },
    );
    let checkpoint = r.payload(
        PayloadKind::CompactionCheckpoint,
        json!({
            "input_history": [msg("developer", "rules"), msg("user", "fix the tests")],
            "replacement_history": [msg("user", "fix the tests"), summary.clone()],
        }),
    );
    r.push(
        Some(root),
        Some("turn-1"),
        EventPayload::CompactionInstalled {
            compaction_id: "cmp-1".into(),
            checkpoint_payload: checkpoint,
        },
    );
    let note = json!({"type": "agent_message", "author": "/root/reviewer", "recipient": "/root", "content": [{"type": "input_text", "text": "looks good"}]});
    r.inference(
        root,
        "turn-1",
        "inf-3",
        json!({"input": [msg("developer", "rules"), msg("user", "fix the tests"), summary, note]}),
        "resp-3",
        json!([msg("assistant", "done")]),
    );
    r.push(
        Some(root),
        Some("turn-1"),
        EventPayload::CodexTurnEnded {
            codex_turn_id: "turn-1".into(),
            status: ExecutionStatus::Completed,
        },
    );
    r.push(
        None,
        None,
        EventPayload::ThreadEnded {
            thread_id: root.into(),
            status: RolloutStatus::Completed,
        },
    );
    r.push(
        None,
        None,
        EventPayload::RolloutEnded {
            status: RolloutStatus::Completed,
        },
    );
    r
}

#[test]
fn realistic_rollout_reduces_to_the_prescribed_state() {
    let rollout = realistic_rollout();
    let state = reduce("r-1", &rollout.events, &rollout.payloads).expect("reduce");
    assert_prescribed_state(&state);
}

/// Writes the rollout as a reference bundle: `manifest.json`, `trace.jsonl`
/// with file payload refs, one pretty-printed JSON file per payload.
fn write_reference_bundle(rollout: &Rollout, dir: &std::path::Path) {
    use tracefold::__internal::{WireEvent, WirePayloadRef, to_line};
    use tracefold::PayloadSource;
    std::fs::create_dir_all(dir.join("payloads")).expect("mkdir");
    let manifest = json!({
        "schema_version": 1, "trace_id": "t-1", "rollout_id": "r-1",
        "root_thread_id": "th-root", "started_at_unix_ms": 1_000,
        "raw_event_log": "trace.jsonl", "payloads_dir": "payloads"
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("manifest");
    let mut ordinal = 0;
    let mut lines = String::new();
    for event in &rollout.events {
        let payload = event
            .payload
            .clone()
            .try_map_refs(|r| {
                ordinal += 1;
                let bytes = rollout.payloads.read_payload(&r).expect("payload");
                let value: Value = serde_json::from_slice(&bytes).expect("json payload");
                let path = format!("payloads/{ordinal}.json");
                std::fs::write(
                    dir.join(&path),
                    serde_json::to_vec_pretty(&value).expect("json"),
                )
                .expect("payload file");
                Ok::<_, ()>(WirePayloadRef::File {
                    raw_payload_id: format!("raw_payload:{ordinal}"),
                    kind: r.kind,
                    path,
                })
            })
            .expect("refs");
        let wire = WireEvent {
            schema_version: 1,
            seq: event.seq,
            wall_time_unix_ms: event.wall_time_unix_ms,
            rollout_id: "r-1".to_string(),
            thread_id: event.thread_id.clone(),
            codex_turn_id: event.codex_turn_id.clone(),
            payload,
        };
        lines.push_str(&to_line(&wire));
        lines.push('\n');
    }
    std::fs::write(dir.join("trace.jsonl"), lines).expect("trace");
}

#[test]
fn reduce_bundle_on_a_reference_bundle_gives_the_prescribed_state() {
    let rollout = realistic_rollout();
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    write_reference_bundle(&rollout, &bundle);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .arg("reduce-bundle")
        .arg(&bundle)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state: tracefold::model::RolloutTrace =
        serde_json::from_slice(&std::fs::read(bundle.join("state.json")).expect("state.json"))
            .expect("state json");
    assert_prescribed_state(&state);
    assert_eq!(state.trace_id.as_deref(), Some("t-1"));
}

/// What the reference semantics prescribe for `realistic_rollout`.
fn assert_prescribed_state(state: &tracefold::model::RolloutTrace) {
    assert_eq!(state.status, RolloutStatus::Completed);
    assert_eq!(
        state.threads.keys().collect::<Vec<_>>(),
        vec!["th-root", "th-child"]
    );
    assert!(
        matches!(state.threads["th-child"].origin, AgentOrigin::Spawned { ref parent_thread_id, .. } if parent_thread_id == "th-root")
    );
    // Conversation: inf-2 chains on inf-1; inf-3 reuses the replacement items.
    let item = |n: u32| -> tracefold::model::ItemId { format!("conversation_item:{n:06}").into() };
    assert_eq!(
        state.inference_calls["inf-1"].request_item_ids,
        vec![item(1), item(2)]
    );
    assert_eq!(
        state.inference_calls["inf-2"].request_item_ids,
        vec![item(1), item(2), item(3), item(4)]
    );
    let compaction = &state.compactions["cmp-1"];
    assert_eq!(compaction.input_item_ids, vec![item(1), item(2)]);
    assert_eq!(compaction.request_ids, vec!["compaction_request:1"]);
    let inf3 = &state.inference_calls["inf-3"].request_item_ids;
    assert_eq!(&inf3[1..3], compaction.replacement_item_ids.as_slice());
    assert_ne!(inf3[0], item(1), "the re-injected prefix gets a new id");
    // Tools and the terminal.
    let shell = &state.tool_calls["call-sh"];
    assert_eq!(shell.model_visible_call_item_ids, vec![item(3)]);
    assert_eq!(shell.model_visible_output_item_ids, vec![item(4)]);
    let operation =
        &state.terminal_operations[shell.terminal_operation_id.as_deref().expect("operation")];
    assert_eq!(operation.terminal_id.as_deref(), Some("pty-7"));
    assert_eq!(
        operation
            .result
            .as_ref()
            .and_then(|result| result.exit_code),
        Some(101)
    );
    assert_eq!(state.terminal_sessions["pty-7"].thread_id, "th-root");
    assert_eq!(
        state.inference_calls["inf-1"].tool_call_ids_started_by_response,
        vec!["call-sh"]
    );
    // The code cell and its nested tool.
    let cell = &state.code_cells["code_cell:call-js"];
    assert_eq!(cell.source_item_id, item(6));
    assert_eq!(cell.nested_tool_call_ids, vec!["exec-abc"]);
    assert_eq!(cell.runtime_status, CodeCellRuntimeStatus::Completed);
    // Agent edges: spawn delivered to the child task item; result to the note.
    let spawn = &state.interaction_edges["edge:spawn:th-root:th-child"];
    assert_eq!(spawn.kind, InteractionEdgeKind::SpawnAgent);
    assert_eq!(
        spawn.target,
        TraceAnchor::ConversationItem { item_id: item(7) }
    );
    let result = &state.interaction_edges["edge:agent_result:th-child:turn-c:th-root"];
    assert_eq!(
        result.source,
        TraceAnchor::ConversationItem { item_id: item(8) }
    );
    assert_eq!(
        result.target,
        TraceAnchor::ConversationItem {
            item_id: inf3[3].clone()
        }
    );
    assert!(state.diagnostics.is_empty(), "{:?}", state.diagnostics);
}

#[test]
fn realistic_rollout_is_deterministic_and_resumable_at_every_split() {
    let rollout = realistic_rollout();
    let state = reduce("r-1", &rollout.events, &rollout.payloads).expect("reduce");
    let whole = state_to_json(&state);
    assert_eq!(
        whole,
        state_to_json(&reduce("r-1", &rollout.events, &rollout.payloads).expect("reduce"))
    );
    // The CLI streams the same bytes.
    let mut streamed = Vec::new();
    write_state_json(&state, &mut streamed).expect("stream");
    assert_eq!(String::from_utf8(streamed).expect("UTF-8"), whole);
    for split in 0..=rollout.events.len() {
        let mut reducer = Reducer::new("r-1");
        for event in &rollout.events[..split] {
            reducer.apply(event, &rollout.payloads).expect("apply");
        }
        let mut resumed = Reducer::resume(&reducer.save()).expect("resume");
        for event in &rollout.events[split..] {
            resumed.apply(event, &rollout.payloads).expect("apply");
        }
        assert_eq!(state_to_json(&resumed.finish()), whole, "split {split}");
    }
    let back: tracefold::model::RolloutTrace =
        serde_json::from_str(&whole).expect("state JSON reads back");
    assert_eq!(state_to_json(&back), whole);
}
