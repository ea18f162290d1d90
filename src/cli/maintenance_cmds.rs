//! Maintenance commands: `delete` and `gc`.
//!
//! They print what they removed and reclaimed; the work (under the store's
//! write lock, never removing a record a remaining event cites) is
//! `Store::delete_rollout` and `Store::gc`. Nothing here touches sled.

use std::io::Write;

use super::output::stdout;
use super::terminal::escape;
use super::{Cli, EXIT_OK};
use crate::store::GcReport;

pub(super) fn delete(cli: &Cli, rollout: &str, no_gc: bool) -> anyhow::Result<i32> {
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
        let before = store.stats()?.disk_bytes;
        let gc = store.gc()?;
        let after = store.stats()?.disk_bytes;
        print_gc(&mut out, &gc, before, after)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn gc(cli: &Cli, json: bool) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let before = store.stats()?.disk_bytes;
    let report = store.gc()?;
    let after = store.stats()?.disk_bytes;
    let mut out = stdout();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_gc(&mut out, &report, before, after)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn print_gc(
    out: &mut impl Write,
    report: &GcReport,
    disk_before: u64,
    disk_after: u64,
) -> std::io::Result<()> {
    writeln!(
        out,
        "reclaimed {} payloads ({} bytes), {} chunks ({} stored bytes), {} orphan events; kept {} payloads, {} chunks; disk {} -> {} bytes",
        report.payloads_removed,
        report.payload_bytes_removed,
        report.chunks_removed,
        report.chunk_bytes_removed,
        report.orphan_events_removed,
        report.payloads_kept,
        report.chunks_kept,
        disk_before,
        disk_after
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
