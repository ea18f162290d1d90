//! `export --format parquet`: stored rollouts as Parquet files for DuckDB,
//! Spark, Polars and pandas, one file per collection of the state JSON
//! (`threads.parquet`, `inference_calls.parquet`, ...), plus `events` and
//! `raw_payloads` for the raw log and `rollouts` for one row per rollout.
//! Every table starts with `rollout_id`, so the files of one export (every
//! rollout of a store, [`write_parquet_all`]) or of several (one directory
//! each, read with a glob) are queried together. The tables and columns
//! are documented in `docs/parquet-schema.md`, whose version is
//! [`PARQUET_SCHEMA_VERSION`].
//!
//! Memory stays bounded by one rollout's reduced state: the log is read
//! once, each event written into `events` and `raw_payloads` as the reducer
//! takes it, then the state's collections are written one after the
//! other, and with several rollouts one rollout is read at a time. Rows go
//! out in batches of 8,192 and row groups of at most 65,536 rows or 32 MiB
//! (`table.rs`). Pages are zstd-compressed.
//!
//! The directory is written as `--format codex-bundle` writes one: the
//! target must not exist or be an empty directory (a link to one is
//! followed), the files go into a staging directory beside it, each fsynced,
//! and the staging directory is renamed into place, so a failed export
//! leaves nothing behind. This module reads the store and writes files; it
//! never prints.

mod log;
mod runtime;
mod state;
mod table;

use std::path::Path;

use crate::error::Result;
use crate::store::{RolloutManifest, Store};

use super::bundle::write_new_dir;
use super::output::sync_dir;
use super::reduce_stored_observed;
pub use table::PARQUET_SCHEMA_VERSION;
use table::{Column, Table};

/// What a Parquet export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetReport {
    /// How many rollouts the files hold.
    pub rollouts: u64,
    /// Each file (its name in the directory) and its number of rows, in
    /// the order of [`TABLES`].
    pub files: Vec<(String, u64)>,
}

/// The tables an export writes, each as `NAME.parquet`: `rollouts`, then
/// the state's collections in the order the state JSON lists them, then
/// the raw log.
pub const TABLES: [&str; 15] = [
    "rollouts",
    "threads",
    "codex_turns",
    "conversation_items",
    "inference_calls",
    "code_cells",
    "tool_calls",
    "terminal_sessions",
    "terminal_operations",
    "compactions",
    "compaction_requests",
    "interaction_edges",
    "raw_payloads",
    "diagnostics",
    "events",
];

/// The open tables of one export.
struct Tables {
    rollouts: Table,
    threads: Table,
    codex_turns: Table,
    conversation_items: Table,
    inference_calls: Table,
    code_cells: Table,
    tool_calls: Table,
    terminal_sessions: Table,
    terminal_operations: Table,
    compactions: Table,
    compaction_requests: Table,
    interaction_edges: Table,
    raw_payloads: Table,
    diagnostics: Table,
    events: Table,
}

impl Tables {
    fn create(dir: &Path) -> Result<Tables> {
        let table = |name: &str, columns: &'static [Column]| Table::create(dir, name, columns);
        Ok(Tables {
            rollouts: table("rollouts", state::ROLLOUTS)?,
            threads: table("threads", state::THREADS)?,
            codex_turns: table("codex_turns", state::CODEX_TURNS)?,
            conversation_items: table("conversation_items", state::CONVERSATION_ITEMS)?,
            inference_calls: table("inference_calls", state::INFERENCE_CALLS)?,
            code_cells: table("code_cells", runtime::CODE_CELLS)?,
            tool_calls: table("tool_calls", state::TOOL_CALLS)?,
            terminal_sessions: table("terminal_sessions", runtime::TERMINAL_SESSIONS)?,
            terminal_operations: table("terminal_operations", runtime::TERMINAL_OPERATIONS)?,
            compactions: table("compactions", runtime::COMPACTIONS)?,
            compaction_requests: table("compaction_requests", runtime::COMPACTION_REQUESTS)?,
            interaction_edges: table("interaction_edges", state::INTERACTION_EDGES)?,
            raw_payloads: table("raw_payloads", log::RAW_PAYLOADS)?,
            diagnostics: table("diagnostics", state::DIAGNOSTICS)?,
            events: table("events", log::EVENTS)?,
        })
    }

    /// Adds one rollout: its log while it is read and reduced, then its
    /// state's collections one by one.
    fn rollout(&mut self, store: &Store, manifest: &RolloutManifest) -> Result<()> {
        let mut log = log::LogRows::new(store, &manifest.rollout_id);
        let state = reduce_stored_observed(store, manifest, |event| {
            log.write(event, &mut self.events, &mut self.raw_payloads)
        })?;
        state::rollouts(&mut self.rollouts, &state, manifest)?;
        state::threads(&mut self.threads, &state)?;
        state::codex_turns(&mut self.codex_turns, &state)?;
        state::conversation_items(&mut self.conversation_items, &state)?;
        state::inference_calls(&mut self.inference_calls, &state)?;
        runtime::code_cells(&mut self.code_cells, &state)?;
        state::tool_calls(&mut self.tool_calls, &state)?;
        runtime::terminal_sessions(&mut self.terminal_sessions, &state)?;
        runtime::terminal_operations(&mut self.terminal_operations, &state)?;
        runtime::compactions(&mut self.compactions, &state)?;
        runtime::compaction_requests(&mut self.compaction_requests, &state)?;
        state::interaction_edges(&mut self.interaction_edges, &state)?;
        state::diagnostics(&mut self.diagnostics, &state)
    }

    /// Closes every file, in the order of [`TABLES`].
    fn finish(self) -> Result<Vec<(String, u64)>> {
        [
            self.rollouts,
            self.threads,
            self.codex_turns,
            self.conversation_items,
            self.inference_calls,
            self.code_cells,
            self.tool_calls,
            self.terminal_sessions,
            self.terminal_operations,
            self.compactions,
            self.compaction_requests,
            self.interaction_edges,
            self.raw_payloads,
            self.diagnostics,
            self.events,
        ]
        .into_iter()
        .map(Table::finish)
        .collect()
    }
}

/// Writes the rollouts of `manifests` into a new directory `out` (which
/// must not exist, or be an empty directory), one rollout at a time.
fn write(store: &Store, manifests: &[RolloutManifest], out: &Path) -> Result<ParquetReport> {
    write_new_dir(out, "a parquet export", |dir| {
        let mut tables = Tables::create(dir)?;
        for manifest in manifests {
            tables.rollout(store, manifest)?;
        }
        let files = tables.finish()?;
        sync_dir(dir);
        Ok(ParquetReport {
            rollouts: manifests.len() as u64,
            files,
        })
    })
}

/// Writes stored rollout `rollout_id` as Parquet files into a new
/// directory `out` (which must not exist, or be an empty directory; a
/// symbolic link is followed to its final target). A rollout the reducer
/// cannot reduce is an error, and nothing is written.
pub fn write_parquet(store: &Store, rollout_id: &str, out: &Path) -> Result<ParquetReport> {
    let manifest = store.manifest(rollout_id)?;
    write(store, std::slice::from_ref(&manifest), out)
}

/// Writes every rollout of the store into one set of Parquet files in a
/// new directory `out` (as [`write_parquet`]), one rollout after the
/// other in the store's order; a store without rollouts gives files
/// without rows. The first rollout the reducer cannot reduce is an error
/// naming it, and nothing is written.
pub fn write_parquet_all(store: &Store, out: &Path) -> Result<ParquetReport> {
    let manifests = store.rollouts()?;
    write(store, &manifests, out)
}
