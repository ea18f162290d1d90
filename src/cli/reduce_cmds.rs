//! Reduce and export commands: reduce, reduce-bundle, export.
//!
//! Every file output goes through `output::write_to`: `-` is standard
//! output, a FIFO or device is written in place, a symbolic link is followed,
//! and only a new path or a regular file is replaced (atomically).

use std::path::Path;

use super::output::{self, note, write_to};
use super::terminal::escape;
use super::{Cli, EXIT_NEGATIVE, EXIT_OK};
use crate::event::wire::to_line;
use crate::export::bundle::{BundleOptions, BundleReport, read_bundle_with, write_bundle};
use crate::export::{
    PayloadIds, RefStyle, reduce_loaded_with, reduce_stored, reduce_stored_with, to_wire,
};
use crate::ingest::IngestOptions;
use crate::model::RolloutTrace;
use crate::reducer::{ReduceOptions, write_state_json};

/// `export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ExportFormat {
    /// A reference trace bundle directory.
    CodexBundle,
    /// Wire-format JSONL with payloads inline.
    Jsonl,
    /// The reduced state JSON.
    State,
    /// The files the rollout was imported from, byte for byte (a directory).
    Source,
    /// OpenTelemetry spans (GenAI semantic conventions) as OTLP/JSON.
    OtlpJson,
    /// ATIF v1.8 trajectories, one file per thread (a directory).
    Atif,
    /// One Parquet file per collection, for DuckDB and Spark (a directory).
    Parquet,
}

/// `--keep-going` as reduce options.
fn reduce_options(keep_going: bool) -> ReduceOptions {
    ReduceOptions { keep_going }
}

/// After the state was written: one stderr line per bundle line a
/// keep-going read left out (location and error) and per event a keep-going
/// reduction skipped (seq, event type, ids, error), and a count; exit 1 (a
/// negative answer: the state is partial) if there was any, else 0.
fn report_skipped(state: &RolloutTrace) -> i32 {
    let lines: Vec<_> = state
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_line_skipped())
        .collect();
    let skipped: Vec<_> = state
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_reduce_error())
        .collect();
    if skipped.is_empty() && lines.is_empty() {
        return EXIT_OK;
    }
    for diagnostic in &lines {
        eprintln!("left out {}", escape(&diagnostic.message));
    }
    for diagnostic in &skipped {
        let seq = diagnostic
            .seq
            .map_or_else(|| "?".to_string(), |seq| seq.to_string());
        let ids: Vec<String> = diagnostic
            .ids
            .iter()
            .filter(|(name, _)| *name != "rollout_id")
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        let what = diagnostic.event_type.as_deref().unwrap_or("event");
        let what = if ids.is_empty() {
            what.to_string()
        } else {
            format!("{what} ({})", ids.join(", "))
        };
        eprintln!(
            "skipped seq {seq} {}: {}",
            escape(&what),
            escape(&diagnostic.message)
        );
    }
    let count = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut parts = Vec::new();
    if !lines.is_empty() {
        parts.push(format!(
            "{} left out of the reading",
            count(lines.len(), "line", "lines")
        ));
    }
    if !skipped.is_empty() {
        parts.push(format!(
            "{} skipped",
            count(skipped.len(), "event", "events")
        ));
    }
    let codes = match (lines.is_empty(), skipped.is_empty()) {
        (false, false) => "a line_skipped or reduce_error diagnostic",
        (false, true) => "a line_skipped diagnostic",
        _ => "a reduce_error diagnostic",
    };
    eprintln!(
        "rollout {}: {}; the state has {codes} for each",
        escape(&state.rollout_id),
        parts.join(", ")
    );
    EXIT_NEGATIVE
}

pub(super) fn reduce(
    cli: &Cli,
    rollout: &str,
    out: Option<&Path>,
    keep_going: bool,
) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let state = reduce_stored_with(&store, rollout, reduce_options(keep_going))?;
    write_to(out.unwrap_or(Path::new("-")), |out| {
        write_state_json(&state, out)
    })?;
    Ok(report_skipped(&state))
}

pub(super) fn reduce_bundle(
    cli: &Cli,
    bundle_dir: &Path,
    out: Option<&Path>,
    allow_torn_tail: bool,
    keep_going: bool,
) -> anyhow::Result<i32> {
    let options = IngestOptions {
        allow_torn_tail,
        progress: None,
        max_payload_bytes: cli.max_payload_bytes,
        ..IngestOptions::default()
    };
    let bundle = read_bundle_with(bundle_dir, &options, reduce_options(keep_going))?;
    let state = reduce_loaded_with(&bundle, reduce_options(keep_going))?;
    let default_out = bundle_dir.join("state.json");
    write_to(out.unwrap_or(&default_out), |out| {
        write_state_json(&state, out)
    })?;
    Ok(report_skipped(&state))
}

/// What `export` takes.
#[derive(Debug, clap::Args)]
pub(super) struct ExportArgs {
    #[arg(required_unless_present = "all")]
    rollout: Option<String>,
    /// With parquet: every rollout of the store, in one set of files
    #[arg(long, conflicts_with = "rollout")]
    all: bool,
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Output path (`-` for stdout with jsonl, state and otlp-json; a new or
    /// empty directory for codex-bundle, source, atif and parquet)
    #[arg(long)]
    out: std::path::PathBuf,
    /// With codex-bundle: keep tracefold-only events and payload kinds,
    /// which the reference cannot read (left out by default)
    #[arg(long)]
    with_extensions: bool,
    /// With otlp-json: cut each body attribute (messages, tool arguments
    /// and results) to this many bytes [default: 65536]
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<usize>,
}

/// `export`: `rollout` is `None` with `--all`, which only `parquet` takes.
pub(super) fn export(cli: &Cli, args: &ExportArgs) -> anyhow::Result<i32> {
    let (rollout, format, out, with_extensions, max_body_bytes) = (
        args.rollout.as_deref(),
        args.format,
        args.out.as_path(),
        args.with_extensions,
        args.max_body_bytes,
    );
    if max_body_bytes.is_some() && format != ExportFormat::OtlpJson {
        anyhow::bail!("--max-body-bytes applies to --format otlp-json only");
    }
    if rollout.is_none() && format != ExportFormat::Parquet {
        anyhow::bail!(
            "--all applies to --format parquet only; export other formats one rollout at a time"
        );
    }
    if format == ExportFormat::Source && output::is_stdout(out) {
        anyhow::bail!(
            "a source export is a directory and cannot go to standard output; give --out a new or empty directory"
        );
    }
    if format == ExportFormat::CodexBundle && output::is_stdout(out) {
        anyhow::bail!(
            "a codex bundle is a directory and cannot go to standard output; give --out a new or empty directory"
        );
    }
    if format == ExportFormat::Parquet && output::is_stdout(out) {
        anyhow::bail!(
            "a parquet export is a directory and cannot go to standard output; give --out a new or empty directory"
        );
    }
    if with_extensions && format != ExportFormat::CodexBundle {
        anyhow::bail!(
            "--with-extensions applies to --format codex-bundle only; jsonl and state always keep everything"
        );
    }
    let store = cli.open_existing_store()?;
    let Some(rollout) = rollout else {
        // `--all`, which only parquet takes (checked above).
        return super::parquet_cmd::export(&store, None, out);
    };
    match format {
        ExportFormat::Parquet => return super::parquet_cmd::export(&store, Some(rollout), out),
        ExportFormat::CodexBundle => {
            let report = write_bundle(&store, rollout, out, BundleOptions { with_extensions })?;
            report_bundle_changes(&report);
        }
        ExportFormat::Source => {
            let files = crate::export::source::write_source(&store, rollout, out)?;
            for (file, lines) in files {
                note(format_args!("{}: {lines} lines", escape(&file)));
            }
        }
        ExportFormat::State => {
            let state = reduce_stored(&store, rollout)?;
            write_to(out, |out| write_state_json(&state, out))?;
        }
        ExportFormat::OtlpJson => {
            let state = reduce_stored(&store, rollout)?;
            let mut options = crate::export::otlp::OtlpOptions::default();
            options.max_body_bytes = max_body_bytes.unwrap_or(options.max_body_bytes);
            write_to(out, |out| {
                crate::export::otlp::write_otlp_json(&state, &options, out)
            })?;
        }
        ExportFormat::Atif => {
            if output::is_stdout(out) {
                anyhow::bail!(
                    "an ATIF export is a directory and cannot go to standard output; give --out a new or empty directory"
                );
            }
            for (file, steps) in crate::export::atif::write_atif(&store, rollout, out)? {
                note(format_args!("{}: {steps} steps", escape(&file)));
            }
        }
        ExportFormat::Jsonl => {
            // Streamed line by line. A store error stops the write (leaving
            // a file target as it was) and is reported as itself.
            let events = store.events(rollout)?;
            let mut ids = PayloadIds::default();
            let mut failure: Option<anyhow::Error> = None;
            let written = write_to(out, |sink| {
                for event in events {
                    let wire = event.and_then(|event| {
                        to_wire(&store, rollout, &event, &mut ids, RefStyle::Inline)
                    });
                    match wire {
                        Ok(wire) => {
                            sink.write_all(to_line(&wire).as_bytes())?;
                            sink.write_all(b"\n")?;
                        }
                        Err(err) => {
                            failure = Some(err.into());
                            return Err(std::io::Error::other("export stopped"));
                        }
                    }
                }
                Ok(())
            });
            if let Some(err) = failure {
                return Err(err);
            }
            written?;
        }
    }
    Ok(EXIT_OK)
}

/// Says on standard error what a codex-bundle export left out or changed so
/// that the reference can read it, e.g. "left out 4 events the reference
/// cannot read: code_cell_stored_values 4; --with-extensions keeps them".
fn report_bundle_changes(report: &BundleReport) {
    let counts = |counts: &std::collections::BTreeMap<String, u64>| {
        counts
            .iter()
            .map(|(name, count)| format!("{} {count}", escape(name)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let left_out = report.left_out_count();
    if left_out > 0 {
        note(format_args!(
            "left out {} the reference cannot read: {}; --with-extensions keeps them",
            plural(left_out, "event", "events"),
            counts(&report.left_out)
        ));
    }
    if report.resumes_as_starts > 0 {
        note(format_args!(
            "wrote {} as thread_started: the thread's start is not in this rollout's log",
            plural(
                report.resumes_as_starts,
                "thread_resumed event",
                "thread_resumed events"
            )
        ));
    }
    let relabelled = report.relabelled_count();
    if relabelled > 0 {
        note(format_args!(
            "wrote {} of kinds the reference does not know under their event's usual kind: {}; --with-extensions keeps them",
            plural(relabelled, "payload reference", "payload references"),
            counts(&report.relabelled_kinds)
        ));
    }
}
