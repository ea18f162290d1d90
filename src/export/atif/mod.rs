//! A reduced rollout as ATIF trajectories (`export --format atif`): the
//! Agent Trajectory Interchange Format of Harbor's RFC 0001, version
//! [`ATIF_SCHEMA_VERSION`].
//!
//! One trajectory file per thread, the root's `trajectory.json`, each
//! other thread's `trajectory.{agent path}.json` beside it. A step that
//! spawned a sub-agent (the spawn tool call's observation result, or a
//! system step for a child no tool call spawned) references the child's
//! file by `subagent_trajectory_ref` (`trajectory_id` the child's thread id,
//! `trajectory_path` its file name), the form the spec gives for sub-agents
//! kept in files of their own. `session_id` is the rollout id, which every
//! file shares; `trajectory_id` the thread id.
//!
//! How a thread becomes steps is in `steps.rs`. Tracefold's own ids (thread,
//! inference call, tool call, turn, item ids, seqs) go in each object's
//! `extra.tracefold`, the place ATIF gives producers for what it has no
//! field for (every ATIF object forbids other keys). This module reads
//! payloads only through [`PayloadSource`] and writes only through
//! `write_new_dir`: a new or empty directory, filled beside it and renamed
//! into place, so a failed export leaves nothing.

mod steps;

use std::io::Write;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::bundle::{LoadedBundle, write_new_dir};
use crate::error::{Error, Result};
use crate::event::PayloadRef;
use crate::ingest::{BundleManifest, IngestOptions, JsonlSource};
use crate::model::{InferenceCall, RolloutTrace, TokenUsage};
use crate::reducer::PayloadSource;
use crate::store::Store;

/// The ATIF version the export writes.
pub const ATIF_SCHEMA_VERSION: &str = "ATIF-v1.8";

/// The root thread's file name.
pub const ROOT_FILE: &str = "trajectory.json";

/// One trajectory, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct AtifFile {
    /// The file's name in the output directory.
    pub file_name: String,
    /// The thread it is the trajectory of.
    pub thread_id: String,
    /// The trajectory document.
    pub trajectory: Value,
}

/// What the export reads beyond the state: payloads, by the state's
/// `raw_payload` ids.
pub(crate) struct Payloads<'a> {
    trace: &'a RolloutTrace,
    source: Option<&'a dyn PayloadSource>,
}

impl Payloads<'_> {
    /// Payload `raw_payload_id` as JSON; `None` without a payload source,
    /// for an id the state does not hold, or for bytes that are not JSON.
    /// A payload the source cannot read is an error.
    pub(crate) fn json(&self, raw_payload_id: &str) -> Result<Option<Value>> {
        let (Some(source), Some(entry)) =
            (self.source, self.trace.raw_payloads.get(raw_payload_id))
        else {
            return Ok(None);
        };
        let payload = PayloadRef {
            kind: entry.kind.clone(),
            hash: entry.blake3,
            size_bytes: entry.size_bytes,
        };
        let bytes = source.read_payload(&payload).map_err(|err| {
            Error::Other(format!(
                "atif export: read payload {raw_payload_id} ({}): {err}",
                entry.blake3.to_hex()
            ))
        })?;
        Ok(serde_json::from_slice(&bytes).ok())
    }
}

/// The trajectories of `trace`, the root's first, then each thread in the
/// agent tree's order (parents before children). `payloads` reads tool
/// arguments and names from the recorded responses and invocations; without
/// it they come from the state's conversation items alone.
pub fn trajectories(
    trace: &RolloutTrace,
    payloads: Option<&dyn PayloadSource>,
) -> Result<Vec<AtifFile>> {
    let mut out = Vec::new();
    for_each_trajectory(trace, payloads, &mut |file| {
        out.push(file);
        Ok(())
    })?;
    Ok(out)
}

/// [`trajectories`] one at a time: each is handed to `sink` as soon as it
/// is made, so only one thread's trajectory is in memory; the first error
/// `sink` returns stops it.
pub fn for_each_trajectory(
    trace: &RolloutTrace,
    payloads: Option<&dyn PayloadSource>,
    sink: &mut dyn FnMut(AtifFile) -> Result<()>,
) -> Result<()> {
    let view = crate::view::RolloutView::of(trace);
    let files = file_names(&view);
    let payloads = Payloads {
        trace,
        source: payloads,
    };
    let index = steps::Index::of(trace, &view);
    for node in &view.threads {
        let Some(thread) = trace.threads.get(&node.thread_id) else {
            continue;
        };
        let steps = steps::thread_steps(trace, &index, &payloads, &files, &node.thread_id)?;
        let calls: &[(&String, &InferenceCall)] = index
            .calls
            .get(node.thread_id.as_str())
            .map_or(&[], Vec::as_slice);
        let usage = thread_usage(calls);
        let model = thread
            .default_model
            .clone()
            .or_else(|| calls.first().map(|(_, call)| call.model.clone()));
        let version = match &thread.raw_metadata_payload_id {
            Some(id) => payloads.json(id)?.and_then(|meta| {
                ["cli_version", "version"]
                    .iter()
                    .find_map(|key| meta.get(key).and_then(Value::as_str).map(str::to_string))
            }),
            None => None,
        };
        let name = node.nickname.clone().unwrap_or_else(|| {
            node.agent_path
                .rsplit('/')
                .find(|part| !part.is_empty())
                .unwrap_or("agent")
                .to_string()
        });
        let mut agent = json!({
            "name": name,
            "version": version.unwrap_or_else(|| "unknown".to_string()),
        });
        if let Some(model) = model {
            agent["model_name"] = json!(model);
        }
        agent["extra"] = json!({"tracefold": {"agent_path": node.agent_path}});
        let calls = calls.len();
        let trajectory = json!({
            "schema_version": ATIF_SCHEMA_VERSION,
            "session_id": trace.rollout_id,
            "trajectory_id": node.thread_id,
            "agent": agent,
            "final_metrics": {
                "total_prompt_tokens": usage.input_tokens,
                "total_completion_tokens": usage.output_tokens,
                "total_cached_tokens": usage.cached_input_tokens,
                "total_steps": steps.len(),
                "extra": {"tracefold": {
                    "inference_calls": calls,
                    "reasoning_output_tokens": usage.reasoning_output_tokens,
                    "cache_write_input_tokens": usage.cache_write_input_tokens,
                }},
            },
            "extra": {"tracefold": {
                "rollout_id": trace.rollout_id,
                "trace_id": trace.trace_id,
                "thread_id": node.thread_id,
                "agent_path": node.agent_path,
                "parent_thread_id": node.parent_thread_id,
                "status": node.status,
                "started_seq": thread.execution.started_seq,
                "exported_by": format!("tracefold {}", env!("CARGO_PKG_VERSION")),
            }},
            "steps": steps,
        });
        sink(AtifFile {
            file_name: files
                .get(node.thread_id.as_str())
                .cloned()
                .unwrap_or_default(),
            thread_id: node.thread_id.clone(),
            trajectory,
        })?;
    }
    Ok(())
}

/// The tokens of a thread's inference calls, added up.
fn thread_usage(calls: &[(&String, &InferenceCall)]) -> TokenUsage {
    let mut total = TokenUsage::default();
    for usage in calls.iter().filter_map(|(_, call)| call.usage.as_ref()) {
        total.input_tokens += usage.input_tokens;
        total.cached_input_tokens += usage.cached_input_tokens;
        total.output_tokens += usage.output_tokens;
        total.reasoning_output_tokens += usage.reasoning_output_tokens;
        total.cache_write_input_tokens += usage.cache_write_input_tokens;
    }
    total
}

/// Each thread's file name: the root's [`ROOT_FILE`], the others
/// `trajectory.{agent path below /root, '/' as '.'}.json`, with only
/// `[A-Za-z0-9_-]` kept (anything else is `_`), so no thread id or path
/// can name a file outside the directory; a name already taken gets the
/// thread's position.
fn file_names(view: &crate::view::RolloutView) -> IndexMap<&str, String> {
    let mut names: IndexMap<&str, String> = IndexMap::new();
    let mut taken = std::collections::BTreeSet::new();
    for (position, node) in view.threads.iter().enumerate() {
        let name = if position == 0 {
            ROOT_FILE.to_string()
        } else {
            let path = node
                .agent_path
                .strip_prefix("/root/")
                .unwrap_or(&node.agent_path);
            let clean: String = path
                .trim_matches('/')
                .chars()
                .map(|c| match c {
                    '/' => '.',
                    c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => c,
                    _ => '_',
                })
                .collect();
            let clean = if clean.is_empty() {
                format!("thread-{position}")
            } else {
                clean
            };
            format!("trajectory.{clean}.json")
        };
        let name = if taken.contains(&name) {
            format!("{}-{position}.json", name.trim_end_matches(".json"))
        } else {
            name
        };
        taken.insert(name.clone());
        names.insert(node.thread_id.as_str(), name);
    }
    names
}

/// What [`write_atif`] wrote: each file's name and step count.
pub type AtifReport = Vec<(String, usize)>;

/// Writes rollout `rollout_id` as ATIF trajectories into a new directory
/// `out` (which must not exist, or be empty), one file per thread.
pub fn write_atif(store: &Store, rollout_id: &str, out: &Path) -> Result<AtifReport> {
    let trace = super::reduce_stored(store, rollout_id)?;
    write_new_dir(out, "an ATIF export", |dir| {
        let mut report = AtifReport::new();
        // Each trajectory is written as it is made, then dropped.
        for_each_trajectory(&trace, Some(store as &dyn PayloadSource), &mut |file| {
            let path = dir.join(&file.file_name);
            let created = std::fs::File::create_new(&path)
                .map_err(|err| Error::io(format!("create {}", path.display()), err))?;
            let mut writer = std::io::BufWriter::new(created);
            serde_json::to_writer_pretty(&mut writer, &file.trajectory)
                .map_err(std::io::Error::from)
                .and_then(|()| writer.write_all(b"\n"))
                .and_then(|()| writer.into_inner().map_err(|err| err.into_error()))
                .and_then(|created| created.sync_all())
                .map_err(|err| Error::io(format!("write {}", path.display()), err))?;
            let steps = file.trajectory["steps"].as_array().map_or(0, Vec::len);
            report.push((file.file_name, steps));
            Ok(())
        })?;
        Ok(report)
    })
}

/// Reads ATIF trajectories (a file, or a directory holding one root
/// trajectory) into memory as a bundle would be: the events an import
/// would store, under a manifest made from them, for `diff`, `show` and
/// `view` to reduce without a store.
pub fn read_atif(path: &Path, options: &IngestOptions<'_>) -> Result<LoadedBundle> {
    let conversion = crate::ingest::convert_atif(path)?;
    let manifest = BundleManifest {
        schema_version: 1,
        trace_id: conversion.trace_id,
        rollout_id: conversion.rollout_id,
        root_thread_id: conversion.root_thread_id,
        started_at_unix_ms: conversion.started_at_unix_ms,
        raw_event_log: path.display().to_string(),
        payloads_dir: String::new(),
    };
    let source = JsonlSource {
        name: format!("{} (converted from ATIF)", path.display()),
        base_dir: std::path::PathBuf::from("."),
        reader: Box::new(std::io::Cursor::new(conversion.events)),
    };
    super::bundle::read_log(
        manifest,
        source,
        options,
        crate::reducer::ReduceOptions::default(),
        Vec::new(),
    )
}
