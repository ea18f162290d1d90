//! Store commands: ingest, import-codex, rollouts, events, payload, stats,
//! verify.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::output::{note, stdout};
use super::terminal::escape;
use super::{Cli, EXIT_NEGATIVE, EXIT_OK, format_unix_ms};
use crate::event::Hash;
use crate::event::wire::to_line;
use crate::export::{PayloadIds, RefStyle, to_wire};
use crate::ingest::{
    Importer, IngestOptions, IngestReport, JsonlSource, RolloutOutcome, discover, import_bundle,
    ingest_jsonl,
};
use crate::redact::Redactor;

/// A progress bar on stderr when it is a terminal, else nothing.
fn progress_bar(total_bytes: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match total_bytes {
        Some(total) => indicatif::ProgressBar::new(total),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {wide_bar} {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

pub(super) fn ingest(
    cli: &Cli,
    file: &Path,
    allow_torn_tail: bool,
    no_redact: bool,
    no_compact: bool,
) -> anyhow::Result<i32> {
    let store = cli.open_store_for_import()?;
    let (source, total) = if file.as_os_str() == "-" {
        let source = JsonlSource {
            name: "<stdin>".to_string(),
            base_dir: std::env::current_dir().context("current directory")?,
            reader: Box::new(std::io::stdin().lock()),
        };
        (source, None)
    } else {
        let total = std::fs::metadata(file).map(|m| m.len()).ok();
        (JsonlSource::file(file)?, total)
    };
    let wrote = run_import(total, allow_torn_tail, no_redact, false, |options| {
        Ok(ingest_jsonl(&store, source, options)?)
    })? > 0;
    super::maintenance_cmds::finish_write_noted(store, no_compact, wrote)?;
    Ok(EXIT_OK)
}

/// Runs one all-or-nothing import with a progress bar on a terminal, then
/// reports a dropped torn tail and prints the rollout ids it stored (with
/// `quiet`, only those it stored something for, and no progress bar).
/// Returns the number of events it stored.
fn run_import(
    total_bytes: Option<u64>,
    allow_torn_tail: bool,
    no_redact: bool,
    quiet: bool,
    import: impl FnOnce(&IngestOptions<'_>) -> anyhow::Result<IngestReport>,
) -> anyhow::Result<u64> {
    let bar = if quiet {
        None
    } else {
        progress_bar(total_bytes)
    };
    let progress = |bytes: u64| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
        }
    };
    let options = IngestOptions {
        allow_torn_tail,
        progress: Some(&progress),
        redactor: (!no_redact).then(Redactor::new),
        ..IngestOptions::default()
    };
    let report = import(&options)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    for line in &report.unconverted_lines {
        note(format_args!("warning: {}", escape(line)));
    }
    if report.torn_tail_bytes > 0 {
        note(format_args!(
            "dropped a torn last line of {} bytes",
            report.torn_tail_bytes
        ));
    }
    for outcome in &report.rollouts {
        if !quiet || outcome.appended > 0 {
            note(describe_outcome(outcome));
        }
    }
    // The options' redactor is the import's own, so its counts are this
    // import's.
    if let Some(line) = options
        .redactor
        .as_ref()
        .and_then(|redactor| redaction_summary(&redactor.counts()))
    {
        note(line);
    }
    let mut out = stdout();
    for (id, outcome) in report.rollout_ids.iter().zip(&report.rollouts) {
        if !quiet || outcome.appended > 0 {
            writeln!(out, "{}", escape(id))?;
        }
    }
    out.flush()?;
    Ok(report.rollouts.iter().map(|outcome| outcome.appended).sum())
}

/// One line per rollout of an import: what it stored.
fn describe_outcome(outcome: &RolloutOutcome) -> String {
    let id = escape(&outcome.rollout_id);
    let events = |n: u64| {
        if n == 1 {
            "1 event".to_string()
        } else {
            format!("{n} events")
        }
    };
    match (outcome.created, outcome.appended, outcome.already_stored) {
        (true, appended, _) => format!("{id}: new rollout, {} stored", events(appended)),
        (false, 0, stored) => format!(
            "{id}: already stored ({}); nothing imported",
            events(stored)
        ),
        // A file that continues a stored rollout (a sub-agent's, a file
        // that grew) is compared with none of it.
        (false, appended, 0) => format!("{id}: {} appended", events(appended)),
        (false, appended, stored) => format!(
            "{id}: {} already stored, {} appended",
            events(stored),
            events(appended)
        ),
    }
}

/// `redacted 5 values: jwt 2, openai-api-key 3`, or `None` when nothing
/// was redacted.
fn redaction_summary(counts: &[(String, u64)]) -> Option<String> {
    let total: u64 = counts.iter().map(|(_, count)| count).sum();
    if total == 0 {
        return None;
    }
    let per_rule: Vec<String> = counts
        .iter()
        .map(|(id, count)| format!("{id} {count}"))
        .collect();
    let values = if total == 1 { "value" } else { "values" };
    Some(format!(
        "redacted {total} {values}: {}",
        per_rule.join(", ")
    ))
}

/// `import PATH...`: every file and bundle found, each imported all or
/// nothing; a file that fails is reported and the others still import.
/// With `follow` (seconds), again and again until interrupted, the store
/// closed between rounds and never packed.
pub(super) fn import(
    cli: &Cli,
    paths: &[PathBuf],
    no_redact: bool,
    no_compact: bool,
    follow: Option<u64>,
    allow_missing_subagents: bool,
) -> anyhow::Result<i32> {
    let Some(every) = follow else {
        let round = import_round(
            cli,
            paths,
            no_redact,
            no_compact,
            false,
            allow_missing_subagents,
        )?;
        if round.failed > 0 {
            anyhow::bail!(
                "{} of {} files were not imported (each error is above)",
                round.failed,
                round.files
            );
        }
        return Ok(EXIT_OK);
    };
    let named: Vec<String> = paths
        .iter()
        .map(|path| escape(&path.display().to_string()).into_owned())
        .collect();
    note(format_args!(
        "following {} every {every} s (Ctrl-C stops; `compact` packs the store afterwards)",
        named.join(", ")
    ));
    let mut total = 0u64;
    loop {
        let round = import_round(cli, paths, no_redact, true, true, allow_missing_subagents)?;
        total += round.events;
        if round.events > 0 || round.failed > 0 {
            let failed = if round.failed > 0 {
                format!("; {} files failed", round.failed)
            } else {
                String::new()
            };
            note(format_args!(
                "follow: {} events stored, {total} since start ({} files watched){failed}",
                round.events, round.files
            ));
        }
        std::thread::sleep(std::time::Duration::from_secs(every.max(1)));
    }
}

/// What one pass of `import` over its paths did.
struct Round {
    files: usize,
    failed: usize,
    events: u64,
}

/// One pass of `import` over `paths`; `quiet`: name only the files that
/// failed or stored something.
fn import_round(
    cli: &Cli,
    paths: &[PathBuf],
    no_redact: bool,
    no_compact: bool,
    quiet: bool,
    allow_missing_subagents: bool,
) -> anyhow::Result<Round> {
    let found = Importer::order(paths.iter().flat_map(|path| discover(path)).collect());
    let store = cli.open_store_for_import()?;
    let mut importer = Importer::new(&store).allow_missing_subagents(allow_missing_subagents);
    let mut round = Round {
        files: found.len(),
        failed: 0,
        events: 0,
    };
    for entry in &found {
        let result = entry
            .as_ref()
            .map_err(|err| anyhow::anyhow!("{err}"))
            .and_then(|(path, format)| {
                if !quiet {
                    note(format_args!(
                        "{} ({})",
                        escape(&path.display().to_string()),
                        format.name()
                    ));
                }
                let total = std::fs::metadata(path).map(|m| m.len()).ok();
                run_import(total, false, no_redact, quiet, |options| {
                    Ok(importer.import(path, *format, options)?)
                })
            });
        match result {
            Ok(events) => round.events += events,
            Err(err) => {
                round.failed += 1;
                note(format_args!("error: {}", escape(&super::error_line(&err))));
            }
        }
    }
    super::maintenance_cmds::finish_write_noted(store, no_compact, round.events > 0)?;
    Ok(round)
}

pub(super) fn import_codex(
    cli: &Cli,
    bundle_dir: &Path,
    rollout_id: Option<&str>,
    allow_torn_tail: bool,
    no_redact: bool,
    no_compact: bool,
) -> anyhow::Result<i32> {
    let store = cli.open_store_for_import()?;
    let total = std::fs::metadata(bundle_dir.join("trace.jsonl"))
        .map(|m| m.len())
        .ok();
    let wrote = run_import(total, allow_torn_tail, no_redact, false, |options| {
        Ok(import_bundle(&store, bundle_dir, rollout_id, options)?)
    })? > 0;
    super::maintenance_cmds::finish_write_noted(store, no_compact, wrote)?;
    Ok(EXIT_OK)
}

pub(super) fn rollouts(cli: &Cli, json: bool) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let manifests = store.rollouts()?;
    let mut out = stdout();
    if json {
        serde_json::to_writer_pretty(&mut out, &manifests)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(EXIT_OK);
    }
    writeln!(
        out,
        "{:<38} {:<10} {:>8}  STARTED",
        "ROLLOUT", "STATUS", "EVENTS"
    )?;
    for manifest in manifests {
        writeln!(
            out,
            "{:<38} {:<10} {:>8}  {}",
            escape(&manifest.rollout_id),
            manifest.status.as_str(),
            manifest.event_count,
            manifest
                .started_at_unix_ms
                .map_or_else(|| "-".to_string(), format_unix_ms)
        )?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn events(cli: &Cli, rollout: &str, inline_payloads: bool) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let style = if inline_payloads {
        RefStyle::Inline
    } else {
        RefStyle::Stored
    };
    let manifest = store.manifest(rollout)?;
    let mut ids = PayloadIds::default();
    let mut out = stdout();
    for (printed, event) in store.events_of(&manifest).enumerate() {
        // The events read so far are printed; the error says where the log
        // stopped and why.
        let wire = event.and_then(|event| {
            to_wire(&store, rollout, &event, &mut ids, style).map_err(|err| crate::Error::Event {
                rollout_id: rollout.to_string(),
                seq: event.seq,
                message: err.to_string(),
            })
        });
        match wire {
            Ok(wire) => writeln!(out, "{}", to_line(&wire))?,
            Err(err) => {
                out.flush()?;
                let (at, why) = match err {
                    crate::Error::Event { seq, message, .. } => (format!("at seq {seq}"), message),
                    other => (format!("after seq {printed}"), other.to_string()),
                };
                anyhow::bail!(
                    "events of rollout {rollout} stopped {at} of {} ({printed} printed): {why}",
                    manifest.event_count
                );
            }
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn payload(cli: &Cli, hash: &str) -> anyhow::Result<i32> {
    let hash: Hash = hash.parse()?;
    let store = cli.open_existing_store()?;
    let bytes = store.read_payload(&hash)?;
    let mut out = stdout();
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn stats(cli: &Cli, json: bool) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let stats = store.stats()?;
    let mut out = stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&stats)?)?;
        out.flush()?;
        return Ok(EXIT_OK);
    }
    // No ratio without payloads: an empty store's "0.0x" would read as a
    // loss.
    let ratio = |num: u64, den: u64| {
        if num == 0 || den == 0 {
            "-".to_string()
        } else {
            format!("{:.1}x", num as f64 / den as f64)
        }
    };
    writeln!(out, "rollouts               {}", stats.rollouts)?;
    writeln!(out, "events                 {}", stats.events)?;
    writeln!(out, "payload references     {}", stats.payload_refs)?;
    writeln!(out, "distinct payloads      {}", stats.payloads)?;
    writeln!(out, "chunks                 {}", stats.chunks)?;
    writeln!(
        out,
        "logical payload bytes  {}",
        stats.logical_payload_bytes
    )?;
    writeln!(out, "unique payload bytes   {}", stats.unique_payload_bytes)?;
    writeln!(out, "stored chunk bytes     {}", stats.stored_chunk_bytes)?;
    writeln!(
        out,
        "pack                   {} bytes ({} events, {} payloads)",
        stats.pack_bytes, stats.pack_events, stats.pack_payloads
    )?;
    writeln!(out, "disk bytes             {}", stats.disk_bytes)?;
    writeln!(
        out,
        "dedup + compression    {} (logical payload bytes / stored chunk bytes)",
        ratio(stats.logical_payload_bytes, stats.stored_chunk_bytes)
    )?;
    writeln!(
        out,
        "on disk                {} (logical payload bytes / disk bytes, everything included)",
        ratio(stats.logical_payload_bytes, stats.disk_bytes)
    )?;
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn verify(cli: &Cli) -> anyhow::Result<i32> {
    let store = cli.open_existing_store()?;
    let findings = store.verify()?;
    let mut out = stdout();
    if findings.is_empty() {
        writeln!(
            out,
            "ok: store {} is sound",
            escape(&store.path().display().to_string())
        )?;
        out.flush()?;
        return Ok(EXIT_OK);
    }
    for finding in &findings {
        writeln!(out, "{}", escape(&finding.to_string()))?;
    }
    out.flush()?;
    note(format_args!("{} finding(s)", findings.len()));
    Ok(EXIT_NEGATIVE)
}
