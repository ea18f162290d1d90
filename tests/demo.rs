//! Integration tests: the built-in simulated host, end to end.

use std::path::Path;

use tracefold::demo::{DemoConfig, DemoReport, run};
use tracefold::model::{AgentOrigin, InteractionEdgeKind};
use tracefold::{Recorder, RecorderConfig, Store, StoreOptions, reduce_stored};

use crate::support::ok;

/// The small demo (6 turns, 1 child agent, seed 11, compaction past 8 KiB)
/// recorded into a store in `dir`, with nothing dropped.
fn record_small_demo(dir: &Path) -> (Store, DemoReport) {
    let store = Store::open(dir, StoreOptions::default()).expect("store");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let config = DemoConfig {
        turns: 6,
        agents: 1,
        seed: 11,
        compaction_threshold_bytes: 8 * 1024,
    };
    let report = run(&recorder, config);
    recorder.shutdown().expect("shutdown");
    assert_eq!(recorder.stats().events_dropped, 0);
    (store, report)
}

#[test]
fn a_small_demo_reduces_to_the_threads_edges_cells_terminals_and_compaction_it_scripted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, report) = record_small_demo(dir.path());
    let state = reduce_stored(&store, &report.rollout_id).expect("reduces");

    assert!(state.diagnostics.is_empty(), "{:?}", state.diagnostics);
    // Threads: the root and one spawned child, linked by origin.
    assert_eq!(state.threads.len(), report.threads.len());
    assert_eq!(report.threads.len(), 2);
    let (child_path, child_id) = &report.threads[1];
    let child = &state.threads[child_id.as_str()];
    assert_eq!(&child.agent_path, child_path);
    let AgentOrigin::Spawned {
        parent_thread_id, ..
    } = &child.origin
    else {
        panic!("child has origin {:?}", child.origin);
    };
    assert_eq!(parent_thread_id, &report.root_thread_id);
    // Turns, inference calls, tool calls and code cells as scripted.
    assert_eq!(state.codex_turns.len() as u64, report.turns);
    assert_eq!(state.inference_calls.len() as u64, report.inference_calls);
    assert_eq!(state.code_cells.len() as u64, report.code_cells);
    assert!(report.code_cells >= 1);
    // Nested tools are linked to their cells, and the yielded cell's wait too.
    let nested: usize = state
        .code_cells
        .values()
        .map(|cell| cell.nested_tool_call_ids.len())
        .sum();
    assert!(nested >= 2, "nested tool calls: {nested}");
    assert!(
        state
            .code_cells
            .values()
            .any(|cell| !cell.wait_tool_call_ids.is_empty())
    );
    // Shell commands became terminal operations.
    assert_eq!(
        state.terminal_operations.len() as u64,
        report.terminal_commands
    );
    assert!(report.terminal_commands >= 1);
    // The compaction and its request.
    assert_eq!(state.compactions.len() as u64, report.compactions);
    assert!(report.compactions >= 1);
    assert_eq!(state.compaction_requests.len() as u64, report.compactions);
    // Agent edges: spawn, message, result and close.
    for kind in [
        InteractionEdgeKind::SpawnAgent,
        InteractionEdgeKind::SendMessage,
        InteractionEdgeKind::AgentResult,
        InteractionEdgeKind::CloseAgent,
    ] {
        assert!(
            state
                .interaction_edges
                .values()
                .any(|edge| edge.kind == kind),
            "no {kind:?} edge"
        );
    }
    // The interrupted turn ended cancelled.
    assert_eq!(report.interrupted_turns, 1);
    assert!(
        state
            .codex_turns
            .values()
            .any(|turn| format!("{:?}", turn.execution.status) == "Cancelled")
    );
}

#[test]
fn the_demo_command_prints_its_summary_and_writes_the_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let out = dir.path().join("state.json");
    let summary = ok(
        &store,
        &[
            "demo",
            "--turns",
            "4",
            "--agents",
            "1",
            "--seed",
            "3",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    for line in [
        "threads",
        "/root",
        "inference calls",
        "code cells",
        "dedup ratio",
        "state JSON",
    ] {
        assert!(summary.contains(line), "summary lacks {line:?}:\n{summary}");
    }
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("state written")).expect("json");
    assert_eq!(state["status"], "completed");
    assert!(ok(&store, &["verify"]).contains("sound"));
}

/// The fields codex-protocol requires (not `Option`, no serde default) of
/// each protocol event the demo writes as a tool runtime payload, and the
/// JSON type each must have.
fn required_protocol_fields(event_type: &str) -> &'static [(&'static str, &'static str)] {
    const EXEC_BEGIN: &[(&str, &str)] = &[
        ("call_id", "string"),
        ("turn_id", "string"),
        ("command", "array"),
        ("cwd", "absolute path"),
        ("parsed_cmd", "array"),
    ];
    const EXEC_END: &[(&str, &str)] = &[
        ("call_id", "string"),
        ("turn_id", "string"),
        ("command", "array"),
        ("cwd", "absolute path"),
        ("parsed_cmd", "array"),
        ("stdout", "string"),
        ("stderr", "string"),
        ("exit_code", "integer"),
        ("duration", "duration"),
        ("formatted_output", "string"),
        ("status", "exec status"),
    ];
    const SPAWN_BEGIN: &[(&str, &str)] = &[
        ("call_id", "string"),
        ("sender_thread_id", "string"),
        ("prompt", "string"),
        ("model", "string"),
        ("reasoning_effort", "reasoning effort"),
    ];
    const SPAWN_END: &[(&str, &str)] = &[
        ("call_id", "string"),
        ("sender_thread_id", "string"),
        ("prompt", "string"),
        ("model", "string"),
        ("reasoning_effort", "reasoning effort"),
        ("status", "agent status"),
    ];
    const INTERACTION_BEGIN: &[(&str, &str)] = &[
        ("call_id", "string"),
        ("sender_thread_id", "string"),
        ("receiver_thread_id", "string"),
        ("prompt", "string"),
    ];
    const INTERACTION_END: &[(&str, &str)] = &[
        ("call_id", "string"),
        ("sender_thread_id", "string"),
        ("receiver_thread_id", "string"),
        ("prompt", "string"),
        ("status", "agent status"),
    ];
    const CLOSE_BEGIN: &[(&str, &str)] = &[
        ("call_id", "string"),
        ("sender_thread_id", "string"),
        ("receiver_thread_id", "string"),
    ];
    const CLOSE_END: &[(&str, &str)] = &[
        ("call_id", "string"),
        ("sender_thread_id", "string"),
        ("receiver_thread_id", "string"),
        ("status", "agent status"),
    ];
    match event_type {
        "ExecCommandBeginEvent" => EXEC_BEGIN,
        "ExecCommandEndEvent" => EXEC_END,
        "CollabAgentSpawnBeginEvent" => SPAWN_BEGIN,
        "CollabAgentSpawnEndEvent" => SPAWN_END,
        "CollabAgentInteractionBeginEvent" => INTERACTION_BEGIN,
        "CollabAgentInteractionEndEvent" => INTERACTION_END,
        "CollabCloseBeginEvent" => CLOSE_BEGIN,
        "CollabCloseEndEvent" => CLOSE_END,
        other => panic!("no field list for {other}"),
    }
}

/// Whether `value` is codex-protocol's `AgentStatus` as serde writes it:
/// a unit variant's snake_case name, or `{"completed": string|null}` /
/// `{"errored": string}`.
fn is_agent_status(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(name) => [
            "pending_init",
            "running",
            "interrupted",
            "shutdown",
            "not_found",
        ]
        .contains(&name.as_str()),
        serde_json::Value::Object(map) if map.len() == 1 => {
            map.get("completed")
                .is_some_and(|v| v.is_string() || v.is_null())
                || map.get("errored").is_some_and(serde_json::Value::is_string)
        }
        _ => false,
    }
}

fn has_type(value: &serde_json::Value, expected: &str) -> bool {
    match expected {
        "string" => value.is_string(),
        "array" => value.is_array(),
        "integer" => value.is_i64(),
        "absolute path" => value.as_str().is_some_and(|path| path.starts_with('/')),
        "duration" => value["secs"].is_u64() && value["nanos"].is_u64(),
        "exec status" => value
            .as_str()
            .is_some_and(|status| ["completed", "failed", "declined"].contains(&status)),
        "reasoning effort" => value.as_str().is_some_and(|effort| {
            ["none", "minimal", "low", "medium", "high", "xhigh"].contains(&effort)
        }),
        "agent status" => is_agent_status(value),
        other => panic!("no check for {other}"),
    }
}

#[test]
fn the_demo_writes_every_field_codex_protocol_requires_in_its_runtime_payloads() {
    use std::collections::BTreeMap;
    use tracefold::event::{EventPayload, ToolCallKind};

    let dir = tempfile::tempdir().expect("tempdir");
    let (store, report) = record_small_demo(dir.path());
    let json = |hash: &tracefold::event::Hash| -> serde_json::Value {
        serde_json::from_slice(&store.read_payload(hash).expect("payload")).expect("json")
    };
    let mut kinds: BTreeMap<String, ToolCallKind> = BTreeMap::new();
    let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
    for event in store.events(&report.rollout_id).expect("events") {
        let event = event.expect("event");
        let (tool_call_id, payload, begin) = match &event.payload {
            EventPayload::ToolCallStarted {
                tool_call_id, kind, ..
            } => {
                kinds.insert(tool_call_id.clone(), kind.clone());
                continue;
            }
            EventPayload::ToolCallRuntimeStarted {
                tool_call_id,
                runtime_payload,
            } => (tool_call_id, runtime_payload, true),
            EventPayload::ToolCallRuntimeEnded {
                tool_call_id,
                runtime_payload,
                ..
            } => (tool_call_id, runtime_payload, false),
            EventPayload::ThreadStarted {
                metadata_payload: Some(metadata),
                ..
            } => {
                // The reference's `ThreadStartedTraceMetadata`: every field
                // is written (an absent `Option` as null).
                let value = json(&metadata.hash);
                for field in [
                    "thread_id",
                    "agent_path",
                    "task_name",
                    "nickname",
                    "agent_role",
                    "session_source",
                    "cwd",
                    "rollout_path",
                    "model",
                    "provider_name",
                    "approval_policy",
                    "sandbox_policy",
                ] {
                    assert!(
                        value.get(field).is_some(),
                        "metadata lacks {field}: {value}"
                    );
                }
                *checked.entry("ThreadStartedTraceMetadata").or_default() += 1;
                continue;
            }
            EventPayload::AgentResultObserved {
                carried_payload: Some(carried),
                ..
            } => {
                // The reference's `AgentResultTracePayload`.
                let value = json(&carried.hash);
                assert!(value["child_agent_path"].is_string(), "{value}");
                assert!(value["message"].is_string(), "{value}");
                assert!(is_agent_status(&value["status"]), "{value}");
                *checked.entry("AgentResultTracePayload").or_default() += 1;
                continue;
            }
            _ => continue,
        };
        let event_type = match (&kinds[tool_call_id], begin) {
            (ToolCallKind::ExecCommand, true) => "ExecCommandBeginEvent",
            (ToolCallKind::ExecCommand, false) => "ExecCommandEndEvent",
            (ToolCallKind::SpawnAgent, true) => "CollabAgentSpawnBeginEvent",
            (ToolCallKind::SpawnAgent, false) => "CollabAgentSpawnEndEvent",
            (ToolCallKind::SendMessage | ToolCallKind::AssignAgentTask, true) => {
                "CollabAgentInteractionBeginEvent"
            }
            (ToolCallKind::SendMessage | ToolCallKind::AssignAgentTask, false) => {
                "CollabAgentInteractionEndEvent"
            }
            (ToolCallKind::CloseAgent, true) => "CollabCloseBeginEvent",
            (ToolCallKind::CloseAgent, false) => "CollabCloseEndEvent",
            (kind, _) => panic!("runtime payload on a {kind:?} tool call"),
        };
        let value = json(&payload.hash);
        for (field, expected) in required_protocol_fields(event_type) {
            assert!(
                has_type(&value[*field], expected),
                "{event_type} of tool call {tool_call_id}: field {field} is not a {expected}: {value}"
            );
        }
        *checked.entry(event_type).or_default() += 1;
    }
    // Every kind of payload was seen, so none of the checks above was vacuous.
    for event_type in [
        "ExecCommandBeginEvent",
        "ExecCommandEndEvent",
        "CollabAgentSpawnBeginEvent",
        "CollabAgentSpawnEndEvent",
        "CollabAgentInteractionBeginEvent",
        "CollabAgentInteractionEndEvent",
        "CollabCloseBeginEvent",
        "CollabCloseEndEvent",
        "AgentResultTracePayload",
        "ThreadStartedTraceMetadata",
    ] {
        assert!(
            checked.contains_key(event_type),
            "no {event_type}: {checked:?}"
        );
    }
}
