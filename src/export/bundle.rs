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
    BundleManifest, Confinement, IngestOptions, JsonlSource, WireBytes, WireLines,
    check_manifest_rollout, check_manifest_schema_version, check_seq_increases, max_line_bytes,
    open_no_follow_checked, read_bundle_manifest_any_version, read_wire_lines, seq_gap_records,
    wire_ref_bytes,
};
use crate::model::Diagnostic;
use crate::reducer::{MemoryPayloads, ReduceOptions};
use crate::store::Store;

use super::PayloadIds;
use super::output::{resolve_output_path, sync_dir};

/// A bundle read into memory.
pub struct LoadedBundle {
    /// The bundle's `manifest.json`. Its `schema_version` is 1, except from
    /// a keep-going read, which reads another version as 1 and says so in
    /// `read_diagnostics`.
    pub manifest: BundleManifest,
    /// Every line's own seq; each seq a line skips (the reference's writer
    /// consumes a seq when an event fails to serialise) is an
    /// `events_dropped` record, as `import-codex` stores it.
    pub events: Vec<Event>,
    /// The bytes of every payload `events` cite, by BLAKE3 content hash (a
    /// [`PayloadRef`]'s `hash`): the payload source to reduce `events` with.
    pub payloads: MemoryPayloads,
    /// The bundle's path of each payload citation, in log order (the order
    /// the reducer mints `raw_payload` ids in).
    pub payload_paths: Vec<String>,
    /// What a keep-going read ([`read_bundle_with`]) let pass: a
    /// [`Diagnostic::LINE_SKIPPED`] per line it left out, and one for a
    /// manifest `schema_version` it read as version 1. Always empty from a
    /// strict read.
    pub read_diagnostics: Vec<Diagnostic>,
}

/// Reads a reference bundle into memory; no payload may exceed
/// `options.max_payload_bytes`. Strict: the first line that breaks a rule
/// is an error naming its file and line.
pub fn read_bundle(bundle_dir: &Path, options: &IngestOptions<'_>) -> Result<LoadedBundle> {
    read_bundle_with(bundle_dir, options, ReduceOptions::default())
}

/// Reads a reference bundle for a reduction under `reduce`. Strict as
/// [`read_bundle`] by default. With [`ReduceOptions::keep_going`] a line
/// that breaks a rule is left out with a [`Diagnostic::LINE_SKIPPED`]
/// diagnostic in [`LoadedBundle::read_diagnostics`] naming its file, line
/// and (when it has one) seq, type and ids: a line that is not a wire event
/// (malformed JSON, an unknown event `schema_version`, too long, not UTF-8),
/// an event for another rollout than the manifest's, a seq that does not
/// increase, and an event whose payload cannot be read (a missing file, a
/// path outside the bundle, a payload over the size limit). A left-out line
/// whose seq follows the last one read becomes an `events_dropped` record at
/// that seq, so later seqs stay as the bundle has them and the reducer knows
/// an event is missing. A manifest `schema_version` other than 1 is read as
/// version 1, with a diagnostic. Still errors: a manifest that cannot be
/// read, an unreadable or unsafe log file, a torn last line (see
/// `allow_torn_tail`), and a gap over 4,096 seqs (`SEQ_GAP_MAX`).
pub fn read_bundle_with(
    bundle_dir: &Path,
    options: &IngestOptions<'_>,
    reduce: ReduceOptions,
) -> Result<LoadedBundle> {
    let manifest = read_bundle_manifest_any_version(bundle_dir)?;
    let mut read_diagnostics = Vec::new();
    if let Err(err) = check_manifest_schema_version(bundle_dir, &manifest) {
        if !reduce.keep_going {
            return Err(err);
        }
        read_diagnostics.push(Diagnostic::new(
            None,
            Diagnostic::LINE_SKIPPED,
            format!("{err}; read as version 1"),
        ));
    }
    let log_path = bundle_dir.join(&manifest.raw_event_log);
    // The log is opened under the payload rules (inside, no symlink, regular).
    let file = open_no_follow_checked(bundle_dir, &manifest.raw_event_log)?;
    let source = JsonlSource {
        name: log_path.display().to_string(),
        base_dir: bundle_dir.to_path_buf(),
        reader: Box::new(file),
    };
    read_log(manifest, source, options, reduce, read_diagnostics)
}

/// Reads the wire events of `source` into memory under `manifest` (a
/// bundle's, or one made for events converted from another format);
/// payload files are read from inside `source.base_dir`.
pub(crate) fn read_log(
    manifest: BundleManifest,
    source: JsonlSource<'_>,
    options: &IngestOptions<'_>,
    reduce: ReduceOptions,
    read_diagnostics: Vec<Diagnostic>,
) -> Result<LoadedBundle> {
    let limit = options.max_payload_bytes;
    let mut reading = BundleReading {
        confinement: Confinement::new(&source.base_dir),
        limit,
        keep_going: reduce.keep_going,
        rollout_id: manifest.rollout_id.clone(),
        payloads: MemoryPayloads::new(),
        payload_paths: Vec::new(),
        events: Vec::new(),
        last_seq: BTreeMap::new(),
        read_diagnostics,
    };
    read_wire_lines(source, max_line_bytes(limit), options, &mut reading)?;
    Ok(LoadedBundle {
        manifest,
        events: reading.events,
        payloads: reading.payloads,
        payload_paths: reading.payload_paths,
        read_diagnostics: reading.read_diagnostics,
    })
}

/// A bundle's log being read into memory.
struct BundleReading {
    confinement: Confinement,
    limit: u64,
    keep_going: bool,
    /// The manifest's rollout id.
    rollout_id: String,
    payloads: MemoryPayloads,
    payload_paths: Vec<String>,
    events: Vec<Event>,
    last_seq: BTreeMap<String, u64>,
    read_diagnostics: Vec<Diagnostic>,
}

impl BundleReading {
    /// Reads one event; an error leaves everything as it was (payload bytes
    /// already loaded stay in the memory store, cited by nothing).
    fn read_event(&mut self, location: &str, event: WireEvent<WirePayloadRef>) -> Result<()> {
        check_manifest_rollout(location, &event.rollout_id, &self.rollout_id)?;
        let seq = event.seq;
        let previous = self.last_seq.get(&self.rollout_id).copied();
        check_seq_increases(location, &self.rollout_id, seq, &mut self.last_seq)?;
        let paths_before = self.payload_paths.len();
        let loaded = self.load_event(location, event);
        if loaded.is_err() {
            self.payload_paths.truncate(paths_before);
            match previous {
                Some(previous) => self.last_seq.insert(self.rollout_id.clone(), previous),
                None => self.last_seq.remove(&self.rollout_id),
            };
        }
        loaded
    }

    /// Loads the payloads of `event` (seq checked) and appends it after the
    /// records of the seqs it skips.
    fn load_event(&mut self, location: &str, event: WireEvent<WirePayloadRef>) -> Result<()> {
        let seq = event.seq;
        let skipped = seq_gap_records(self.events.len() as u64, seq, event.wall_time_unix_ms)
            .map_err(|err| Error::input(location, err))?;
        let (confinement, limit) = (&self.confinement, self.limit);
        let (payload_paths, payloads) = (&mut self.payload_paths, &mut self.payloads);
        let payload = event
            .payload
            .try_map_refs(|r| {
                if let WirePayloadRef::File { path, .. } = &r {
                    payload_paths.push(path.clone());
                } else {
                    payload_paths.push(format!("payloads/{}.json", payload_paths.len() + 1));
                }
                load_ref(confinement, r, limit, payloads)
            })
            .map_err(|err| Error::input(location, format!("seq {seq}: {err}")))?;
        self.events.extend(skipped);
        self.events.push(Event {
            seq,
            wall_time_unix_ms: event.wall_time_unix_ms,
            thread_id: event.thread_id,
            codex_turn_id: event.codex_turn_id,
            payload,
        });
        Ok(())
    }

    /// Leaves out the line at `location` (keep-going): a diagnostic, and an
    /// `events_dropped` record at its seq when that seq is the next one.
    fn skip_line(&mut self, location: &str, line: LineFacts, error: &Error) -> Result<()> {
        // The error names the location itself.
        let mut diagnostic = Diagnostic::new(line.seq, Diagnostic::LINE_SKIPPED, error.to_string());
        diagnostic.event_type = line.event_type;
        diagnostic.ids = line.ids;
        self.read_diagnostics.push(diagnostic);
        let last = self.events.len() as u64;
        if let Some(seq) = line.seq
            && line.same_rollout
            && seq > last
        {
            let mut records = seq_gap_records(last, seq, line.wall_time_unix_ms)
                .map_err(|err| Error::input(location, err))?;
            records.push(Event {
                seq,
                wall_time_unix_ms: line.wall_time_unix_ms,
                thread_id: None,
                codex_turn_id: None,
                payload: EventPayload::EventsDropped {
                    count: 1,
                    reason: format!(
                        "{location} was left out (its line_skipped diagnostic says why)"
                    ),
                },
            });
            self.events.extend(records);
            self.last_seq.insert(self.rollout_id.clone(), seq);
        }
        Ok(())
    }
}

impl WireLines for BundleReading {
    fn event(&mut self, location: &str, event: WireEvent<WirePayloadRef>) -> Result<()> {
        if !self.keep_going {
            return self.read_event(location, event);
        }
        let facts = LineFacts::of_event(&event, &self.rollout_id);
        match self.read_event(location, event) {
            Ok(()) => Ok(()),
            Err(err) => self.skip_line(location, facts, &err),
        }
    }

    fn bad_line(&mut self, location: &str, text: Option<&str>, error: Error) -> Result<()> {
        if !self.keep_going {
            return Err(error);
        }
        let facts = text
            .map(|text| LineFacts::of_text(text, &self.rollout_id))
            .unwrap_or_default();
        self.skip_line(location, facts, &error)
    }
}

/// What is known of a line left out: for its diagnostic and its seq.
#[derive(Default)]
struct LineFacts {
    seq: Option<u64>,
    wall_time_unix_ms: i64,
    event_type: Option<String>,
    ids: indexmap::IndexMap<String, String>,
    /// Whether it names the manifest's rollout (only then does its seq count).
    same_rollout: bool,
}

impl LineFacts {
    fn of_event(event: &WireEvent<WirePayloadRef>, manifest_rollout: &str) -> LineFacts {
        let mut ids = indexmap::IndexMap::new();
        ids.insert("rollout_id".to_string(), event.rollout_id.clone());
        if let Some(thread_id) = &event.thread_id {
            ids.insert("thread_id".to_string(), thread_id.clone());
        }
        if let Some(turn_id) = &event.codex_turn_id {
            ids.insert("codex_turn_id".to_string(), turn_id.clone());
        }
        LineFacts {
            seq: Some(event.seq),
            wall_time_unix_ms: event.wall_time_unix_ms,
            event_type: Some(event.payload.type_name().to_string()),
            ids,
            same_rollout: event.rollout_id == manifest_rollout,
        }
    }

    /// What a line that is not a wire event still says, if it is a JSON
    /// object: its `seq`, `type`, and envelope ids.
    fn of_text(text: &str, manifest_rollout: &str) -> LineFacts {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) else {
            return LineFacts::default();
        };
        let string = |key: &str| object.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let mut ids = indexmap::IndexMap::new();
        for key in ["rollout_id", "thread_id", "codex_turn_id"] {
            if let Some(value) = string(key) {
                ids.insert(key.to_string(), value);
            }
        }
        let event_type = object
            .get("payload")
            .and_then(|payload| payload.get("type"))
            .and_then(|v| v.as_str())
            .or_else(|| object.get("type").and_then(|v| v.as_str()))
            .map(str::to_string);
        LineFacts {
            seq: object.get("seq").and_then(serde_json::Value::as_u64),
            wall_time_unix_ms: object
                .get("wall_time_unix_ms")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0),
            event_type,
            same_rollout: string("rollout_id").as_deref() == Some(manifest_rollout),
            ids,
        }
    }
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
        | EventPayload::CodeCellStoredValues { .. }
        | EventPayload::SourceLine { .. } => ReferenceForm::LeaveOut,
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
    write_new_dir(out, "a codex bundle", |staging| {
        write_bundle_into(store, &manifest, staging, options)
    })
}

/// Writes a directory at `out` through `fill`, all or nothing: `out` must
/// not exist or be an empty directory (a link is followed to its target);
/// `fill` writes into a staging directory beside it, which then replaces
/// it. `what` names the directory in errors.
pub(super) fn write_new_dir<R>(
    out: &Path,
    what: &str,
    fill: impl FnOnce(&Path) -> Result<R>,
) -> Result<R> {
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
                "{named} exists and is not a directory; {what} is a directory"
            )));
        }
        let empty = std::fs::read_dir(&target)
            .map_err(|err| Error::io(format!("read {named}"), err))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::Other(format!(
                "{named} exists and is not empty; export writes a new directory"
            )));
        }
    }
    let staging = staging_dir(&target)?;
    let report = match fill(&staging) {
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
    std::fs::create_dir_all(&staging)
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
    std::fs::create_dir(dir.join("payloads"))
        .map_err(|err| Error::io(format!("create {}", dir.join("payloads").display()), err))?;
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
