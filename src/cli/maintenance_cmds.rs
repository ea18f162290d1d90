//! Maintenance commands: `delete`, `gc` and `compact`.
//!
//! They print what they removed and reclaimed; the work (under the store's
//! write lock, never removing a record a remaining event cites) is
//! `Store::delete_rollout` and `Store::gc`. Nothing here touches sled.

use std::io::Write;

use super::output::{note, stdout};
use super::terminal::escape;
use super::{Cli, EXIT_OK};
use serde::Serialize;

use crate::store::{CompactReport, GcReport, Store};

pub(super) fn delete(
    cli: &Cli,
    rollout: &str,
    no_gc: bool,
    no_compact: bool,
) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let report = store.delete_rollout(rollout)?;
    let mut out = stdout();
    writeln!(
        out,
        "deleted rollout {} ({} events)",
        escape(&report.rollout_id),
        report.events_removed
    )?;
    if !no_gc {
        let collected = collect(store, no_compact)?;
        print_gc(&mut out, &collected)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn gc(cli: &Cli, json: bool, no_compact: bool) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let collected = collect(store, no_compact)?;
    let mut out = stdout();
    if json {
        serde_json::to_writer_pretty(&mut out, &collected)?;
        writeln!(out)?;
    } else {
        print_gc(&mut out, &collected)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn compact(cli: &Cli, json: bool) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let (_store, report) = store.compact()?;
    let mut out = stdout();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "packed {} events and {} payloads ({} stream bytes) into a {}-byte pack; disk {} -> {} bytes",
            report.events_packed,
            report.payloads_packed,
            report.stream_bytes,
            report.pack_bytes,
            report.disk_bytes_before,
            report.disk_bytes_after
        )?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// After a command that may have written: packs the store when that is
/// worth it (`Store::compaction_worthwhile`) and allowed, else, when it
/// `wrote`, checkpoints it (`Store::checkpoint`: the next open need not
/// replay what was written). Returns the store and what a compaction did.
pub(super) fn finish_write(
    store: Store,
    no_compact: bool,
    wrote: bool,
) -> anyhow::Result<(Store, Option<CompactReport>)> {
    if no_compact || !store.compaction_worthwhile(None)? {
        let store = if wrote { store.checkpoint()? } else { store };
        return Ok((store, None));
    }
    let (store, report) = store.compact()?;
    Ok((store, Some(report)))
}

/// [`finish_write`], saying on standard error when it packed.
pub(super) fn finish_write_noted(
    store: Store,
    no_compact: bool,
    wrote: bool,
) -> anyhow::Result<Store> {
    let (store, report) = finish_write(store, no_compact, wrote)?;
    if let Some(report) = report {
        note(format_args!(
            "packed the store: disk {} -> {} bytes (`--no-compact` skips this)",
            report.disk_bytes_before, report.disk_bytes_after
        ));
    }
    Ok(store)
}

/// What `gc` (or `delete`'s collection) did, as `gc --json` prints it.
#[derive(Debug, Serialize)]
struct Collected {
    #[serde(flatten)]
    gc: GcReport,
    disk_bytes_before: u64,
    disk_bytes_after: u64,
    /// The database was rewritten with its live records only.
    compacted: Option<CompactReport>,
}

/// Collects garbage, then compacts when it is worth it
/// (`Store::compaction_worthwhile`).
fn collect(store: Store, no_compact: bool) -> anyhow::Result<Collected> {
    let disk_bytes_before = store.stats()?.disk_bytes;
    let gc = store.gc()?;
    let (store, compacted) = if !no_compact && store.compaction_worthwhile(Some(&gc))? {
        let (store, report) = store.compact()?;
        (store, Some(report))
    } else {
        (store, None)
    };
    Ok(Collected {
        gc,
        disk_bytes_before,
        disk_bytes_after: store.stats()?.disk_bytes,
        compacted,
    })
}

fn print_gc(out: &mut impl Write, collected: &Collected) -> std::io::Result<()> {
    let report = &collected.gc;
    writeln!(
        out,
        "reclaimed {} payloads ({} bytes), {} chunks ({} stored bytes), {} orphan events; kept {} payloads, {} chunks; disk {} -> {} bytes{}",
        report.payloads_removed,
        report.payload_bytes_removed,
        report.chunks_removed,
        report.chunk_bytes_removed,
        report.orphan_events_removed,
        report.payloads_kept,
        report.chunks_kept,
        collected.disk_bytes_before,
        collected.disk_bytes_after,
        if collected.compacted.is_some() {
            " (compacted)"
        } else {
            ""
        }
    )?;
    if report.damaged_records_kept > 0 {
        writeln!(
            out,
            "kept {} damaged record(s) and everything they might cite; run `tracefold verify` to see them",
            report.damaged_records_kept
        )?;
    }
    Ok(())
}
