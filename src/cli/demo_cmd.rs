//! `tracefold demo`: run the simulated host, reduce, write the state JSON and
//! print a summary. With `--out -` the state JSON is standard output, so the
//! summary goes to standard error instead. A reader that closes either one
//! early ends the command quietly.

use std::io::Write;
use std::path::Path;

use super::output::{is_stdout, note, stdout, write_to};
use super::terminal::escape;
use super::{Cli, EXIT_OK};
use crate::demo::{DemoConfig, run};
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
    no_compact: bool,
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
    // The recorder holds a handle on the store; packing needs the only one.
    drop(recorder);
    let (store, packed) = super::maintenance_cmds::finish_write(store, no_compact, true)?;
    let state = reduce_stored(&store, &report.rollout_id)?;
    write_to(out, |out| write_state_json(&state, out))?;
    let manifest = store.manifest(&report.rollout_id)?;
    // The summary is built whole, then written: to standard output, where a
    // closed pipe ends the command quietly, or (with `--out -`) to standard
    // error, where a closed pipe is ignored (the state JSON was written).
    let mut summary: Vec<u8> = Vec::new();
    let w = &mut summary;

    writeln!(
        w,
        "rollout {} ({} events, recorded in {:.0?})",
        escape(&report.rollout_id),
        manifest.event_count,
        recorded_in
    )?;
    writeln!(w)?;
    writeln!(w, "threads")?;
    print_tree(
        w,
        &state,
        state.root_thread_id.as_deref().unwrap_or_default(),
        1,
    )?;
    writeln!(w)?;
    write_counts(w, &state, report.interrupted_turns, manifest.event_count)?;
    writeln!(w)?;
    let logical = manifest.logical_payload_bytes;
    let stored = writer.bytes_stored.max(1);
    writeln!(
        w,
        "payload bytes      {logical:>10} logical ({} references)",
        manifest.payload_refs
    )?;
    writeln!(
        w,
        "                   {:>10} stored after chunk dedup + zstd",
        writer.bytes_stored
    )?;
    writeln!(
        w,
        "dedup ratio        {:>9.1}x",
        logical as f64 / stored as f64
    )?;
    // The honest figure: everything the store directory holds (sled's own
    // files and overhead included, and any earlier rollouts).
    store.flush()?;
    let disk = store.stats()?.disk_bytes;
    writeln!(
        w,
        "store on disk      {disk:>10} bytes ({:.1}x this rollout's logical bytes)",
        logical as f64 / disk.max(1) as f64
    )?;
    if let Some(packed) = packed {
        writeln!(
            w,
            "                   {:>10} bytes before packing ({} payloads, {} stream bytes)",
            packed.disk_bytes_before, packed.payloads_packed, packed.stream_bytes
        )?;
    }
    writeln!(w)?;
    let out_name = if is_stdout(out) {
        "(standard output)".to_string()
    } else {
        out.display().to_string()
    };
    writeln!(w, "state JSON         {}", escape(&out_name))?;
    writeln!(
        w,
        "store              {}",
        escape(&store.path().display().to_string())
    )?;
    if is_stdout(out) {
        note(String::from_utf8_lossy(summary.trim_ascii_end()));
    } else {
        let mut stdout = stdout();
        stdout.write_all(&summary)?;
        stdout.flush()?;
    }
    Ok(EXIT_OK)
}

/// The summary's object counts: one line per kind of object in the reduced
/// state, edges by kind, diagnostics and events.
fn write_counts(
    w: &mut dyn Write,
    state: &RolloutTrace,
    interrupted_turns: u64,
    event_count: u64,
) -> std::io::Result<()> {
    let edges_by_kind = |kind: &str| {
        state
            .interaction_edges
            .values()
            .filter(|edge| {
                format!("{:?}", edge.kind).to_lowercase().replace('_', "") == kind.replace('_', "")
            })
            .count()
    };
    writeln!(
        w,
        "turns              {:>6}  ({} interrupted)",
        state.codex_turns.len(),
        interrupted_turns
    )?;
    writeln!(w, "inference calls    {:>6}", state.inference_calls.len())?;
    writeln!(
        w,
        "conversation items {:>6}",
        state.conversation_items.len()
    )?;
    writeln!(w, "tool calls         {:>6}", state.tool_calls.len())?;
    writeln!(w, "code cells         {:>6}", state.code_cells.len())?;
    writeln!(
        w,
        "terminal ops       {:>6}  ({} sessions)",
        state.terminal_operations.len(),
        state.terminal_sessions.len()
    )?;
    writeln!(w, "compactions        {:>6}", state.compactions.len())?;
    writeln!(
        w,
        "edges              {:>6}  (spawn {}, task {}, message {}, result {}, close {})",
        state.interaction_edges.len(),
        edges_by_kind("spawnagent"),
        edges_by_kind("assignagenttask"),
        edges_by_kind("sendmessage"),
        edges_by_kind("agentresult"),
        edges_by_kind("closeagent"),
    )?;
    writeln!(w, "diagnostics        {:>6}", state.diagnostics.len())?;
    writeln!(w, "events             {event_count:>6}")?;
    Ok(())
}

fn print_tree(
    w: &mut dyn Write,
    state: &RolloutTrace,
    thread_id: &str,
    depth: usize,
) -> std::io::Result<()> {
    let Some(thread) = state.threads.get(thread_id) else {
        return Ok(());
    };
    let turns = state
        .codex_turns
        .values()
        .filter(|turn| turn.thread_id == thread_id)
        .count();
    writeln!(
        w,
        "{}{}  ({} turns, {} items, {:?})",
        "  ".repeat(depth),
        escape(&thread.agent_path),
        turns,
        thread.conversation_item_ids.len(),
        thread.execution.status,
    )?;
    for child in state.threads.values() {
        if let AgentOrigin::Spawned {
            parent_thread_id, ..
        } = &child.origin
            && parent_thread_id == thread_id
        {
            print_tree(w, state, &child.thread_id, depth + 1)?;
        }
    }
    Ok(())
}
