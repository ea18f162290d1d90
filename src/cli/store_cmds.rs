//! Store commands: ingest, import-codex, rollouts, events, payload, stats,
//! verify.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;

use super::{Cli, EXIT_NEGATIVE, EXIT_OK, format_unix_ms};
use crate::event::Hash;
use crate::event::wire::to_line;
use crate::export::{PayloadIds, RefStyle, to_wire};
use crate::ingest::{IngestOptions, IngestReport, JsonlSource, import_bundle, ingest_jsonl};
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
) -> anyhow::Result<i32> {
    let store = cli.open_store()?;
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
    run_import(total, allow_torn_tail, no_redact, |options| {
        Ok(ingest_jsonl(&store, source, options)?)
    })
}

/// Runs one all-or-nothing import with a progress bar on a terminal, then
/// reports a dropped torn tail and prints the rollout ids it stored.
fn run_import(
    total_bytes: Option<u64>,
    allow_torn_tail: bool,
    no_redact: bool,
    import: impl FnOnce(&IngestOptions<'_>) -> anyhow::Result<IngestReport>,
) -> anyhow::Result<i32> {
    let bar = progress_bar(total_bytes);
    let progress = |bytes: u64| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
        }
    };
    let options = IngestOptions {
        allow_torn_tail,
        progress: Some(&progress),
        redactor: (!no_redact).then(Redactor::new),
    };
    let report = import(&options)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if report.torn_tail_bytes > 0 {
        eprintln!(
            "dropped a torn last line of {} bytes",
            report.torn_tail_bytes
        );
    }
    // The options' redactor is the import's own, so its counts are this
    // import's.
    if let Some(line) = options
        .redactor
        .as_ref()
        .and_then(|redactor| redaction_summary(&redactor.counts()))
    {
        eprintln!("{line}");
    }
    let mut out = std::io::stdout().lock();
    for id in &report.rollout_ids {
        writeln!(out, "{id}")?;
    }
    Ok(EXIT_OK)
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

pub(super) fn import_codex(
    cli: &Cli,
    bundle_dir: &Path,
    rollout_id: Option<&str>,
    allow_torn_tail: bool,
    no_redact: bool,
) -> anyhow::Result<i32> {
    let store = cli.open_store()?;
    let total = std::fs::metadata(bundle_dir.join("trace.jsonl"))
        .map(|m| m.len())
        .ok();
    run_import(total, allow_torn_tail, no_redact, |options| {
        Ok(import_bundle(&store, bundle_dir, rollout_id, options)?)
    })
}

pub(super) fn rollouts(cli: &Cli, json: bool) -> anyhow::Result<i32> {
    let store = cli.open_store()?;
    let manifests = store.rollouts()?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &manifests)?;
        writeln!(out)?;
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
            manifest.rollout_id,
            manifest.status.as_str(),
            manifest.event_count,
            manifest
                .started_at_unix_ms
                .map_or_else(|| "-".to_string(), format_unix_ms)
        )?;
    }
    Ok(EXIT_OK)
}

pub(super) fn events(cli: &Cli, rollout: &str, inline_payloads: bool) -> anyhow::Result<i32> {
    let store = cli.open_store()?;
    let style = if inline_payloads {
        RefStyle::Inline
    } else {
        RefStyle::Stored
    };
    let mut ids = PayloadIds::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for event in store.events(rollout)? {
        let wire = to_wire(&store, rollout, &event?, &mut ids, style)?;
        writeln!(out, "{}", to_line(&wire))?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn payload(cli: &Cli, hash: &str) -> anyhow::Result<i32> {
    let hash: Hash = hash.parse()?;
    let store = cli.open_store()?;
    let bytes = store.read_payload(&hash)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn stats(cli: &Cli, json: bool) -> anyhow::Result<i32> {
    let store = cli.open_store()?;
    let stats = store.stats()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(EXIT_OK);
    }
    let ratio = |num: u64, den: u64| {
        if den == 0 {
            "-".to_string()
        } else {
            format!("{:.1}x", num as f64 / den as f64)
        }
    };
    println!("rollouts               {}", stats.rollouts);
    println!("events                 {}", stats.events);
    println!("payload references     {}", stats.payload_refs);
    println!("distinct payloads      {}", stats.payloads);
    println!("chunks                 {}", stats.chunks);
    println!("logical payload bytes  {}", stats.logical_payload_bytes);
    println!("unique payload bytes   {}", stats.unique_payload_bytes);
    println!("stored chunk bytes     {}", stats.stored_chunk_bytes);
    println!("disk bytes             {}", stats.disk_bytes);
    println!(
        "dedup + compression    {} (logical / stored)",
        ratio(stats.logical_payload_bytes, stats.stored_chunk_bytes)
    );
    Ok(EXIT_OK)
}

pub(super) fn verify(cli: &Cli) -> anyhow::Result<i32> {
    let store = cli.open_store()?;
    let findings = store.verify()?;
    if findings.is_empty() {
        println!("ok: store {} is sound", store.path().display());
        return Ok(EXIT_OK);
    }
    for finding in &findings {
        println!("{finding}");
    }
    eprintln!("{} finding(s)", findings.len());
    Ok(EXIT_NEGATIVE)
}
