//! `tracefold demo`: run the simulated host, reduce, write the state JSON and
//! print a summary.

use std::path::Path;

use super::{Cli, EXIT_OK};
use crate::demo::{DemoConfig, run};
use crate::export::bundle::write_atomically_with;
use crate::export::reduce_stored;
use crate::model::{AgentOrigin, RolloutTrace};
use crate::recorder::{Recorder, RecorderConfig};
use crate::reducer::write_state_json;

pub(super) fn demo(
    cli: &Cli,
    turns: u32,
    agents: u32,
    seed: u64,
    compaction_threshold_bytes: usize,
    out: &Path,
) -> anyhow::Result<i32> {
    let store = cli.open_or_create_store()?;
    let recorder = Recorder::start(&store, RecorderConfig::default())?;
    let config = DemoConfig {
        turns,
        agents,
        seed,
        compaction_threshold_bytes,
    };
    let started = std::time::Instant::now();
    let report = run(&recorder, config);
    recorder.shutdown()?;
    let recorded_in = started.elapsed();
    let writer = recorder.stats();
    let state = reduce_stored(&store, &report.rollout_id)?;
    write_atomically_with(out, |out| write_state_json(&state, out))?;
    let manifest = store.manifest(&report.rollout_id)?;

    println!(
        "rollout {} ({} events, recorded in {:.0?})",
        report.rollout_id, manifest.event_count, recorded_in
    );
    println!();
    println!("threads");
    print_tree(
        &state,
        state.root_thread_id.as_deref().unwrap_or_default(),
        1,
    );
    println!();
    let edges_by_kind = |kind: &str| {
        state
            .interaction_edges
            .values()
            .filter(|edge| {
                format!("{:?}", edge.kind).to_lowercase().replace('_', "") == kind.replace('_', "")
            })
            .count()
    };
    println!(
        "turns              {:>6}  ({} interrupted)",
        state.codex_turns.len(),
        report.interrupted_turns
    );
    println!("inference calls    {:>6}", state.inference_calls.len());
    println!("conversation items {:>6}", state.conversation_items.len());
    println!("tool calls         {:>6}", state.tool_calls.len());
    println!("code cells         {:>6}", state.code_cells.len());
    println!(
        "terminal ops       {:>6}  ({} sessions)",
        state.terminal_operations.len(),
        state.terminal_sessions.len()
    );
    println!("compactions        {:>6}", state.compactions.len());
    println!(
        "edges              {:>6}  (spawn {}, task {}, message {}, result {}, close {})",
        state.interaction_edges.len(),
        edges_by_kind("spawnagent"),
        edges_by_kind("assignagenttask"),
        edges_by_kind("sendmessage"),
        edges_by_kind("agentresult"),
        edges_by_kind("closeagent"),
    );
    println!("diagnostics        {:>6}", state.diagnostics.len());
    println!("events             {:>6}", manifest.event_count);
    println!();
    let logical = manifest.logical_payload_bytes;
    let stored = writer.bytes_stored.max(1);
    println!(
        "payload bytes      {logical:>10} logical ({} references)",
        manifest.payload_refs
    );
    println!(
        "                   {:>10} stored after chunk dedup + zstd",
        writer.bytes_stored
    );
    println!(
        "dedup ratio        {:>9.1}x",
        logical as f64 / stored as f64
    );
    println!();
    println!("state JSON         {}", out.display());
    println!("store              {}", store.path().display());
    Ok(EXIT_OK)
}

fn print_tree(state: &RolloutTrace, thread_id: &str, depth: usize) {
    let Some(thread) = state.threads.get(thread_id) else {
        return;
    };
    let turns = state
        .codex_turns
        .values()
        .filter(|turn| turn.thread_id == thread_id)
        .count();
    println!(
        "{}{}  ({} turns, {} items, {:?})",
        "  ".repeat(depth),
        thread.agent_path,
        turns,
        thread.conversation_item_ids.len(),
        thread.execution.status,
    );
    for child in state.threads.values() {
        if let AgentOrigin::Spawned {
            parent_thread_id, ..
        } = &child.origin
            && parent_thread_id == thread_id
        {
            print_tree(state, &child.thread_id, depth + 1);
        }
    }
}
