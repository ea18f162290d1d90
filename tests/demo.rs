//! Integration tests: the built-in simulated host, end to end.

use tracefold::demo::{DemoConfig, run};
use tracefold::export::reduce_stored;
use tracefold::model::{AgentOrigin, InteractionEdgeKind};
use tracefold::recorder::{Recorder, RecorderConfig};
use tracefold::store::{Store, StoreOptions};

use crate::support::ok;

#[test]
fn a_small_demo_reduces_to_the_threads_edges_cells_terminals_and_compaction_it_scripted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
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
