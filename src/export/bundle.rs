//! Reference trace bundles without a store: read one into memory (for
//! `reduce-bundle` and `diff`), and write a stored rollout as one (`export
//! --format codex-bundle`).
//!
//! A written bundle holds only what the reference reads, unless asked for
//! the extensions ([`BundleOptions::with_extensions`]): events of the
//! reference's types (its `other` excluded: its reducer fails on it) and
//! payloads of its kinds. tracefold-only events are left out (a resumed
//! thread whose start is not in the log becomes its `thread_started`), and a
//! payload reference of a kind the reference does not know takes the kind
//! its event conventionally cites; [`BundleReport`] counts each change. Left
//! out events leave gaps in `seq`, which the reference accepts (it keeps
//! each line's seq and checks no order or contiguity) and so does
//! [`read_bundle`].
//!
//! Reading applies the same rules as `import-codex` (path confinement,
//! manifest agreement, increasing seq, torn tail) and keeps every line's seq
//! (a skipped seq becomes an `events_dropped` record, as the import stores
//! it), so reducing a bundle equals reducing its import. Writing goes to a
//! temporary directory beside the target, fsynced, then renamed, so a crash
//! never leaves a half-written bundle under the target name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::event::wire::{WireEvent, WirePayloadRef, to_line};
use crate::event::{Event, EventPayload, PayloadKind, PayloadRef, RAW_EVENT_SCHEMA_VERSION};
use crate::ingest::{
    BundleManifest, Confinement, IngestOptions, JsonlSource, WireBytes, check_manifest_rollout,
    check_seq_increases, max_line_bytes, open_no_follow_checked, read_bundle_manifest,
    read_wire_lines, seq_gap_records, wire_ref_bytes,
};
use crate::reducer::MemoryPayloads;
use crate::store::Store;

use super::PayloadIds;
use super::output::{resolve_output_path, sync_dir};

/// A bundle read into memory.
pub struct LoadedBundle {
    pub manifest: BundleManifest,
    /// Every line's own seq; each seq a line skips (the reference's writer
    /// consumes a seq when an event fails to serialise) is an
    /// `events_dropped` record, as `import-codex` stores it.
    pub events: Vec<Event>,
    pub payloads: MemoryPayloads,
    /// The bundle's path of each payload citation, in log order (the order
    /// the reducer mints `raw_payload` ids in).
    pub payload_paths: Vec<String>,
}

/// Reads a reference bundle into memory; no payload may exceed
/// `options.max_payload_bytes`.
pub fn read_bundle(bundle_dir: &Path, options: &IngestOptions<'_>) -> Result<LoadedBundle> {
    let manifest = read_bundle_manifest(bundle_dir)?;
    let limit = options.max_payload_bytes;
    let confinement = Confinement::new(bundle_dir);
    let log_path = bundle_dir.join(&manifest.raw_event_log);
    // The log is opened under the payload rules (inside, no symlink, regular).
    let file = open_no_follow_checked(bundle_dir, &manifest.raw_event_log)?;
    let source = JsonlSource {
        name: log_path.display().to_string(),
        base_dir: bundle_dir.to_path_buf(),
        reader: Box::new(file),
    };
    let mut payloads = MemoryPayloads::new();
    let mut payload_paths = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let mut last_seq = BTreeMap::new();
    read_wire_lines(source, max_line_bytes(limit), options, |location, event| {
        check_manifest_rollout(location, &event.rollout_id, &manifest.rollout_id)?;
        check_seq_increases(location, &manifest.rollout_id, event.seq, &mut last_seq)?;
        let seq = event.seq;
        let skipped = seq_gap_records(events.len() as u64, seq, event.wall_time_unix_ms)
            .map_err(|err| Error::input(location, err))?;
        events.extend(skipped);
        let payload = event
            .payload
            .try_map_refs(|r| {
                if let WirePayloadRef::File { path, .. } = &r {
                    payload_paths.push(path.clone());
                } else {
                    payload_paths.push(format!("payloads/{}.json", payload_paths.len() + 1));
                }
                load_ref(&confinement, r, limit, &mut payloads)
            })
            .map_err(|err| Error::input(location, format!("seq {seq}: {err}")))?;
        events.push(Event {
            seq,
            wall_time_unix_ms: event.wall_time_unix_ms,
            thread_id: event.thread_id,
            codex_turn_id: event.codex_turn_id,
            payload,
        });
        Ok(())
    })?;
    Ok(LoadedBundle {
        manifest,
        events,
        payloads,
        payload_paths,
    })
}

fn load_ref(
    confinement: &Confinement,
    r: WirePayloadRef,
    limit: u64,
    payloads: &mut MemoryPayloads,
) -> Result<PayloadRef> {
    let (kind, bytes) = match wire_ref_bytes(confinement, r, limit, None)? {
        WireBytes::Bytes { kind, bytes } => (kind, bytes),
        WireBytes::Stored { blake3, .. } => {
            return Err(Error::Other(format!(
                "payload {blake3} refers to a store; a bundle must carry its payloads"
            )));
        }
    };
    let size_bytes = bytes.len() as u64;
    let hash = payloads.insert(bytes);
    Ok(PayloadRef {
        kind,
        hash,
        size_bytes,
    })
}

/// How [`write_bundle`] writes a rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BundleOptions {
    /// Keep tracefold's extensions: the events the reference lacks (DESIGN.md,
    /// "Events the reference lacks"), `other` events, unknown event types
    /// and payload kinds the reference does not know, all as stored. The
    /// reference's reducer fails on such a bundle; tracefold reads it whole.
    pub with_extensions: bool,
}

/// What [`write_bundle`] changed so that the reference can read the bundle
/// (all empty with [`BundleOptions::with_extensions`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleReport {
    /// Events left out, counted by wire `type`.
    pub left_out: BTreeMap<String, u64>,
    /// `thread_resumed` events written as `thread_started`: the thread's
    /// start is not in this log (it resumes a thread of an earlier
    /// session), so later events that name it stay readable.
    pub resumes_as_starts: u64,
    /// Payload references of a kind the reference does not know, written
    /// under the kind their event conventionally cites; counted by the
    /// stored kind's name.
    pub relabelled_kinds: BTreeMap<String, u64>,
}

impl BundleReport {
    /// How many events were left out.
    pub fn left_out_count(&self) -> u64 {
        self.left_out.values().sum()
    }

    /// How many payload references were relabelled.
    pub fn relabelled_count(&self) -> u64 {
        self.relabelled_kinds.values().sum()
    }
}

/// How an event goes into a bundle the reference reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReferenceForm {
    /// One of the reference's event types: written as it is.
    Keep,
    /// tracefold-only, or one the reference's reducer fails on.
    LeaveOut,
    /// A `thread_resumed` whose thread has no start in the log.
    AsThreadStarted,
}

/// The form of `payload` in a reference bundle. `started` holds the threads
/// the log has started (or resumed as started) so far.
///
/// The match is exhaustive, so a new event variant must decide here.
fn reference_form<R>(payload: &EventPayload<R>, started: &mut BTreeSet<String>) -> ReferenceForm {
    match payload {
        EventPayload::ThreadStarted { thread_id, .. } => {
            started.insert(thread_id.clone());
            ReferenceForm::Keep
        }
        EventPayload::ThreadResumed { thread_id, .. } => {
            if started.insert(thread_id.clone()) {
                ReferenceForm::AsThreadStarted
            } else {
                ReferenceForm::LeaveOut
            }
        }
        EventPayload::RolloutStarted { .. }
        | EventPayload::RolloutEnded { .. }
        | EventPayload::ThreadEnded { .. }
        | EventPayload::CodexTurnStarted { .. }
        | EventPayload::CodexTurnEnded { .. }
        | EventPayload::InferenceStarted { .. }
        | EventPayload::InferenceCompleted { .. }
        | EventPayload::InferenceFailed { .. }
        | EventPayload::InferenceCancelled { .. }
        | EventPayload::ToolCallStarted { .. }
        | EventPayload::McpToolCallCorrelationAssigned { .. }
        | EventPayload::ToolCallRuntimeStarted { .. }
        | EventPayload::ToolCallRuntimeEnded { .. }
        | EventPayload::ToolCallEnded { .. }
        | EventPayload::CodeCellStarted { .. }
        | EventPayload::CodeCellInitialResponse { .. }
        | EventPayload::CodeCellEnded { .. }
        | EventPayload::CompactionRequestStarted { .. }
        | EventPayload::CompactionRequestCompleted { .. }
        | EventPayload::CompactionRequestFailed { .. }
        | EventPayload::CompactionInstalled { .. }
        | EventPayload::AgentResultObserved { .. }
        | EventPayload::ProtocolEventObserved { .. } => ReferenceForm::Keep,
        // The reference declares `Other` but never produces it, and its
        // reducer fails on it ("raw trace event has no reducer
        // implementation"); an unknown type fails its parser.
        EventPayload::Other { .. }
        | EventPayload::Unknown { .. }
        | EventPayload::TerminalSessionEnded { .. }
        | EventPayload::LocalCompactionInstalled { .. }
        | EventPayload::EventsDropped { .. }
        | EventPayload::CodeCellStoredValues { .. } => ReferenceForm::LeaveOut,
    }
}

/// `payload` as the reference reads it, or `None` to leave it out.
fn to_reference_form(
    payload: EventPayload<PayloadRef>,
    started: &mut BTreeSet<String>,
    report: &mut BundleReport,
) -> Option<EventPayload<PayloadRef>> {
    let payload = match reference_form(&payload, started) {
        ReferenceForm::Keep => payload,
        ReferenceForm::LeaveOut => {
            *report
                .left_out
                .entry(payload.type_name().to_string())
                .or_default() += 1;
            return None;
        }
        ReferenceForm::AsThreadStarted => {
            let EventPayload::ThreadResumed {
                thread_id,
                agent_path,
                metadata_payload,
            } = payload
            else {
                unreachable!("only a thread resume is written as a thread start");
            };
            report.resumes_as_starts += 1;
            EventPayload::ThreadStarted {
                thread_id,
                agent_path,
                metadata_payload,
            }
        }
    };
    // Every reference of one event has the same conventional kind.
    let conventional = payload.conventional_payload_kinds().into_iter().next();
    Some(payload.map_refs(|mut r| {
        if !r.kind.is_reference_kind()
            && let Some(kind) = conventional.clone().filter(PayloadKind::is_reference_kind)
        {
            *report
                .relabelled_kinds
                .entry(r.kind.name().to_string())
                .or_default() += 1;
            r.kind = kind;
        }
        r
    }))
}

/// Writes stored rollout `rollout_id` as a reference bundle at `out`
/// (`manifest.json`, `trace.jsonl`, `payloads/{n}.json` with each payload's
/// exact bytes, one file per payload citation). `out` must not exist
/// or be an empty directory; a symbolic link is followed to its final
/// target, which the bundle replaces (the link stays a link).
///
/// Without [`BundleOptions::with_extensions`] the bundle holds only the
/// reference's event types and payload kinds (see the module doc); the
/// report says what was left out or changed.
pub fn write_bundle(
    store: &Store,
    rollout_id: &str,
    out: &Path,
    options: BundleOptions,
) -> Result<BundleReport> {
    let manifest = store.manifest(rollout_id)?;
    let target = resolve_output_path(out)?;
    let named = if target == out {
        out.display().to_string()
    } else {
        format!("{} (a link to {})", out.display(), target.display())
    };
    let existing = match std::fs::symlink_metadata(&target) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(Error::io(format!("inspect {named}"), err)),
    };
    if let Some(meta) = &existing {
        if !meta.is_dir() {
            return Err(Error::Other(format!(
                "{named} exists and is not a directory; a codex bundle is a directory"
            )));
        }
        let empty = std::fs::read_dir(&target)
            .map_err(|err| Error::io(format!("read {named}"), err))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::Other(format!(
                "{named} exists and is not empty; export writes a new bundle"
            )));
        }
    }
    let staging = staging_dir(&target)?;
    let report = match write_bundle_into(store, &manifest, &staging, options) {
        Ok(report) => report,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(err);
        }
    };
    if existing.is_some() {
        std::fs::remove_dir(&target).map_err(|err| Error::io(format!("replace {named}"), err))?;
    }
    std::fs::rename(&staging, &target).map_err(|err| {
        let _ = std::fs::remove_dir_all(&staging);
        Error::io(format!("rename into {named}"), err)
    })?;
    if let Some(parent) = target.parent() {
        sync_dir(parent);
    }
    Ok(report)
}

fn staging_dir(out: &Path) -> Result<PathBuf> {
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".to_string());
    let staging = parent.join(format!(".{name}.tracefold-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .map_err(|err| Error::io(format!("clear {}", staging.display()), err))?;
    }
    std::fs::create_dir_all(staging.join("payloads"))
        .map_err(|err| Error::io(format!("create {}", staging.display()), err))?;
    Ok(staging)
}

fn write_bundle_into(
    store: &Store,
    manifest: &crate::store::RolloutManifest,
    dir: &Path,
    options: BundleOptions,
) -> Result<BundleReport> {
    let bundle_manifest = BundleManifest {
        schema_version: 1,
        trace_id: manifest.trace_id.clone().unwrap_or_default(),
        rollout_id: manifest.rollout_id.clone(),
        root_thread_id: manifest.root_thread_id.clone().unwrap_or_default(),
        started_at_unix_ms: manifest.started_at_unix_ms.unwrap_or_default(),
        raw_event_log: "trace.jsonl".to_string(),
        payloads_dir: "payloads".to_string(),
    };
    let manifest_json = serde_json::to_vec_pretty(&bundle_manifest)
        .map_err(|err| Error::Other(format!("manifest: {err}")))?;
    write_synced(&dir.join("manifest.json"), &manifest_json)?;

    let log_path = dir.join("trace.jsonl");
    let log = File::create(&log_path)
        .map_err(|err| Error::io(format!("create {}", log_path.display()), err))?;
    let mut log = BufWriter::new(log);
    let mut ids = PayloadIds::default();
    let mut report = BundleReport::default();
    let mut started = BTreeSet::new();
    for event in store.events_of(manifest) {
        let event = event?;
        // Ids count every citation of the stored log, left out or not, so a
        // payload keeps the id and path the rollout's state gives it.
        let mut citation_ids = Vec::new();
        event
            .payload
            .for_each_ref(|_| citation_ids.push(ids.next_id()));
        let payload = if options.with_extensions {
            event.payload
        } else {
            match to_reference_form(event.payload, &mut started, &mut report) {
                Some(payload) => payload,
                // Its seq is skipped: the reference keeps each line's seq.
                None => continue,
            }
        };
        let mut citation_ids = citation_ids.into_iter();
        let payload = payload.try_map_refs(|r| {
            // One file per citation, as the reference's writer lays a bundle
            // out, so a reference bundle imported and exported again has the
            // same ids and paths.
            let id = citation_ids.next().unwrap_or_else(|| ids.next_id());
            let ordinal = id
                .trim_start_matches("raw_payload:")
                .trim_start_matches('0');
            let path = format!("payloads/{ordinal}.json");
            let bytes = store.read_payload(&r.hash)?;
            write_synced(&dir.join(&path), &bytes)?;
            Ok::<_, Error>(WirePayloadRef::File {
                raw_payload_id: format!("raw_payload:{ordinal}"),
                kind: r.kind,
                path,
            })
        })?;
        let wire = WireEvent {
            schema_version: RAW_EVENT_SCHEMA_VERSION,
            seq: event.seq,
            wall_time_unix_ms: event.wall_time_unix_ms,
            rollout_id: manifest.rollout_id.clone(),
            thread_id: event.thread_id,
            codex_turn_id: event.codex_turn_id,
            payload,
        };
        writeln!(log, "{}", to_line(&wire))
            .map_err(|err| Error::io(format!("write {}", log_path.display()), err))?;
    }
    let file = log
        .into_inner()
        .map_err(|err| Error::io(format!("write {}", log_path.display()), err.into_error()))?;
    file.sync_all()
        .map_err(|err| Error::io(format!("sync {}", log_path.display()), err))?;
    sync_dir(&dir.join("payloads"));
    sync_dir(dir);
    Ok(report)
}

/// Writes a file and fsyncs it.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file =
        File::create(path).map_err(|err| Error::io(format!("create {}", path.display()), err))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|err| Error::io(format!("write {}", path.display()), err))
}
