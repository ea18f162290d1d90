//! Ingest of wire-format JSONL and import of reference trace bundles.
//!
//! Both are all or nothing per file: every line is parsed, checked and its
//! payloads resolved inside one uncommitted store write; any error drops the
//! write, so the store is unchanged. Payload files are read only from inside
//! the JSONL file's (or bundle's) directory: absolute paths, `..`, symlinks
//! and non-regular files are refused.
//!
//! Memory: an ingest holds its new data (deduplicated, compressed chunks and
//! encoded events) until it commits, and never more than one line at a time
//! of the input beyond that.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::event::wire::{WireEvent, WirePayloadRef, parse_line};
use crate::event::{EventPayload, Hash, PayloadKind, PayloadRef};
use crate::redact::Redactor;
use crate::store::{Store, Writes};

/// What an ingest or import stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Rollout ids, in order of first appearance.
    pub rollout_ids: Vec<String>,
    pub events: u64,
    /// Bytes of a torn last line that were dropped (`allow_torn_tail`).
    pub torn_tail_bytes: u64,
}

/// Options shared by ingest and import.
pub struct IngestOptions<'a> {
    /// Keep every complete line when the last line is torn, instead of failing.
    pub allow_torn_tail: bool,
    /// Called with the number of input bytes consumed so far.
    pub progress: Option<&'a dyn Fn(u64)>,
    /// Secrets are redacted from payloads and every string of an event
    /// before hashing (on by default; `None` keeps everything byte-exact).
    pub redactor: Option<Redactor>,
}

impl Default for IngestOptions<'_> {
    fn default() -> Self {
        IngestOptions {
            allow_torn_tail: false,
            progress: None,
            redactor: Some(Redactor::new()),
        }
    }
}

/// Where wire events come from.
pub struct JsonlSource<'a> {
    /// Name for error messages (`file.jsonl`, `<stdin>`).
    pub name: String,
    /// Directory payload `path`s are relative to.
    pub base_dir: PathBuf,
    pub reader: Box<dyn Read + 'a>,
}

impl JsonlSource<'_> {
    /// A JSONL file; payload paths are relative to its directory.
    pub fn file(path: &Path) -> Result<JsonlSource<'static>> {
        let file =
            File::open(path).map_err(|err| Error::io(format!("open {}", path.display()), err))?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(JsonlSource {
            name: path.display().to_string(),
            base_dir,
            reader: Box::new(file),
        })
    }
}

/// Appends the raw events of a JSONL source to the store, all or nothing.
pub fn ingest_jsonl(
    store: &Store,
    source: JsonlSource<'_>,
    options: &IngestOptions<'_>,
) -> Result<IngestReport> {
    let mut writes = store.writes()?;
    let report = ingest_into(&mut writes, store, source, options, None)?;
    writes.commit(true)?;
    Ok(report)
}

/// How a bundle's lines relate to its manifest during import.
struct BundleRules {
    manifest_rollout_id: String,
    store_as: String,
}

fn ingest_into(
    writes: &mut Writes<'_>,
    store: &Store,
    source: JsonlSource<'_>,
    options: &IngestOptions<'_>,
    bundle: Option<&BundleRules>,
) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    let base_dir = source.base_dir.clone();
    let max_line_bytes = max_line_bytes(store.options().max_payload_bytes);
    report.torn_tail_bytes =
        read_wire_lines(source, max_line_bytes, options, |location, event| {
            let context = EventContext {
                base_dir: &base_dir,
                location,
                bundle,
                redactor: options.redactor.as_ref(),
            };
            store_event(writes, &context, event, &mut last_seq, &mut report)
        })?;
    Ok(report)
}

/// The longest line accepted: a payload inline at the size limit, escaped.
pub(crate) fn max_line_bytes(max_payload_bytes: u64) -> u64 {
    max_payload_bytes.saturating_mul(2) + (1 << 20)
}

/// Reads wire events line by line, calling `on_event` with each event and
/// its location (`file:line`). Returns the bytes of a torn last line that
/// `allow_torn_tail` dropped (0 if none).
pub(crate) fn read_wire_lines(
    source: JsonlSource<'_>,
    max_line_bytes: u64,
    options: &IngestOptions<'_>,
    mut on_event: impl FnMut(&str, WireEvent<WirePayloadRef>) -> Result<()>,
) -> Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 16, source.reader);
    let mut consumed = 0u64;
    let mut line = Vec::new();
    let mut line_number = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(max_line_bytes + 1)
            .read_until(b'\n', &mut line)
            .map_err(|err| Error::io(format!("read {}", source.name), err))?;
        if read == 0 {
            return Ok(0);
        }
        line_number += 1;
        consumed += read as u64;
        if let Some(progress) = options.progress {
            progress(consumed);
        }
        let location = format!("{}:{line_number}", source.name);
        if line.len() as u64 > max_line_bytes {
            return Err(Error::input(
                location,
                format!("line longer than {max_line_bytes} bytes"),
            ));
        }
        let complete = line.last() == Some(&b'\n');
        let text = match std::str::from_utf8(&line) {
            Ok(text) => text.trim_end_matches(['\n', '\r']),
            Err(err) => {
                return Err(Error::input(
                    location,
                    format!("invalid UTF-8 at byte {}", err.valid_up_to()),
                ));
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let event = match parse_line(text) {
            Ok(event) => event,
            Err(err) if !complete => {
                // Nothing follows a line without a newline: it is the tail.
                if options.allow_torn_tail {
                    return Ok(line.len() as u64);
                }
                return Err(Error::input(
                    location,
                    format!(
                        "torn last line ({} bytes without a newline): {err}; --allow-torn-tail keeps the complete lines",
                        line.len()
                    ),
                ));
            }
            Err(err) => return Err(Error::input(location, err.to_string())),
        };
        on_event(&location, event)?;
    }
}

/// Where one line came from and how to treat it.
struct EventContext<'a> {
    base_dir: &'a Path,
    location: &'a str,
    bundle: Option<&'a BundleRules>,
    redactor: Option<&'a Redactor>,
}

fn store_event(
    writes: &mut Writes<'_>,
    context: &EventContext<'_>,
    mut event: WireEvent<WirePayloadRef>,
    last_seq: &mut BTreeMap<String, u64>,
    report: &mut IngestReport,
) -> Result<()> {
    let EventContext {
        base_dir,
        location,
        bundle,
        redactor,
    } = *context;
    // Before anything uses the rollout id: the store keeps the redacted one.
    if let Some(redactor) = redactor {
        redactor.redact_event(
            &mut event.rollout_id,
            &mut event.thread_id,
            &mut event.codex_turn_id,
            &mut event.payload,
        );
    }
    let rollout_id = match bundle {
        Some(rules) => {
            check_manifest_rollout(location, &event.rollout_id, &rules.manifest_rollout_id)?;
            rules.store_as.clone()
        }
        None => event.rollout_id.clone(),
    };
    check_seq_increases(location, &rollout_id, event.seq, last_seq)?;

    let num = match writes.rollout(&rollout_id, false) {
        Ok(num) => num,
        Err(Error::UnknownRollout(_)) => {
            let starts = matches!(event.payload, EventPayload::RolloutStarted { .. });
            if !starts && bundle.is_none() {
                return Err(Error::input(
                    location,
                    format!(
                        "event for unknown rollout {rollout_id}: a new rollout must begin with rollout_started"
                    ),
                ));
            }
            writes.rollout(&rollout_id, true)?
        }
        Err(err) => return Err(err),
    };
    if !report.rollout_ids.contains(&rollout_id) {
        report.rollout_ids.push(rollout_id.clone());
    }
    let seq = event.seq;
    let payload = event
        .payload
        .try_map_refs(|r| resolve_ref(writes, base_dir, r, redactor))
        .map_err(|err| Error::input(location, format!("seq {seq}: {err}")))?;
    writes.append(
        num,
        event.wall_time_unix_ms,
        event.thread_id,
        event.codex_turn_id,
        payload,
    )?;
    report.events += 1;
    Ok(())
}

fn resolve_ref(
    writes: &mut Writes<'_>,
    base_dir: &Path,
    r: WirePayloadRef,
    redactor: Option<&Redactor>,
) -> Result<PayloadRef> {
    match wire_ref_bytes(base_dir, r, writes.max_payload_bytes(), redactor)? {
        WireBytes::Bytes { kind, bytes } => writes.put_payload_bytes(kind, &bytes),
        WireBytes::Stored {
            kind,
            blake3,
            size_bytes,
        } => {
            if !writes.payload_known(&blake3)? {
                return Err(Error::Other(format!(
                    "payload {blake3} is not in this store (export with inline payloads to move rollouts between stores)"
                )));
            }
            Ok(PayloadRef {
                kind,
                hash: blake3,
                size_bytes,
            })
        }
    }
}

/// A bundle's line must be for the rollout its manifest names.
pub(crate) fn check_manifest_rollout(
    location: &str,
    event_rollout: &str,
    manifest_rollout: &str,
) -> Result<()> {
    if event_rollout == manifest_rollout {
        return Ok(());
    }
    Err(Error::input(
        location,
        format!(
            "event is for rollout {event_rollout} but the bundle manifest says {manifest_rollout}"
        ),
    ))
}

/// `seq` must increase strictly within a rollout of one file; records it.
pub(crate) fn check_seq_increases(
    location: &str,
    rollout_id: &str,
    seq: u64,
    last_seq: &mut BTreeMap<String, u64>,
) -> Result<()> {
    if let Some(previous) = last_seq.get(rollout_id)
        && seq <= *previous
    {
        return Err(Error::input(
            location,
            format!(
                "seq {seq} does not increase (previous seq {previous} of rollout {rollout_id})"
            ),
        ));
    }
    last_seq.insert(rollout_id.to_string(), seq);
    Ok(())
}

/// A wire payload reference made concrete: the bytes to store, or a
/// payload some store already holds.
pub(crate) enum WireBytes {
    Bytes {
        kind: PayloadKind,
        bytes: Vec<u8>,
    },
    Stored {
        kind: PayloadKind,
        blake3: Hash,
        size_bytes: u64,
    },
}

/// The bytes a wire payload reference stands for: a confined file's exact
/// bytes, an inline value as compact JSON (key order kept), or inline text.
/// With a redactor, secrets are replaced first (a file's bytes are kept
/// exactly unless something was redacted).
pub(crate) fn wire_ref_bytes(
    base_dir: &Path,
    r: WirePayloadRef,
    limit_bytes: u64,
    redactor: Option<&Redactor>,
) -> Result<WireBytes> {
    let (kind, bytes) = match r {
        WirePayloadRef::File {
            kind,
            path,
            raw_payload_id,
        } => {
            let bytes = read_payload_file(base_dir, &path, limit_bytes)
                .map_err(|err| Error::Other(format!("payload {raw_payload_id} ({path}): {err}")))?;
            match redactor.and_then(|redactor| redactor.redact_bytes(&bytes)) {
                Some(redacted) => (kind, redacted),
                None => (kind, bytes),
            }
        }
        WirePayloadRef::Inline { kind, mut value } => {
            if let Some(redactor) = redactor {
                redactor.redact_json(&mut value);
            }
            let bytes = serde_json::to_vec(&value)
                .map_err(|err| Error::Other(format!("inline payload: {err}")))?;
            (kind, bytes)
        }
        WirePayloadRef::InlineText { kind, text } => {
            match redactor.and_then(|redactor| redactor.redact_str(&text)) {
                Some(redacted) => (kind, redacted.into_bytes()),
                None => (kind, text.into_bytes()),
            }
        }
        WirePayloadRef::Stored {
            kind,
            blake3,
            size_bytes,
            ..
        } => {
            return Ok(WireBytes::Stored {
                kind,
                blake3,
                size_bytes,
            });
        }
    };
    Ok(WireBytes::Bytes { kind, bytes })
}

/// Checks a bundle-relative path: relative, no `..`, not a symlink, a
/// regular file, and inside `base_dir` once resolved. Returns the full path
/// and its metadata.
fn confined_path(base_dir: &Path, relative: &str) -> Result<(PathBuf, std::fs::Metadata)> {
    let rel = Path::new(relative);
    if relative.is_empty() {
        return Err(Error::Other("empty payload path".to_string()));
    }
    for component in rel.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::Other(format!(
                    "path {relative} leaves the bundle directory (..)"
                )));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::Other(format!("path {relative} is absolute")));
            }
        }
    }
    let full = base_dir.join(rel);
    let meta = std::fs::symlink_metadata(&full)
        .map_err(|err| Error::io(format!("payload file {}", full.display()), err))?;
    if meta.file_type().is_symlink() {
        return Err(Error::Other(format!(
            "payload file {} is a symlink",
            full.display()
        )));
    }
    if !meta.is_file() {
        return Err(Error::Other(format!(
            "payload file {} is not a regular file",
            full.display()
        )));
    }
    let base = base_dir
        .canonicalize()
        .map_err(|err| Error::io(format!("bundle directory {}", base_dir.display()), err))?;
    let canonical = full
        .canonicalize()
        .map_err(|err| Error::io(format!("payload file {}", full.display()), err))?;
    if !canonical.starts_with(&base) {
        return Err(Error::Other(format!(
            "path {relative} resolves outside the bundle directory (through a symlink)"
        )));
    }
    Ok((full, meta))
}

/// Reads a payload file named by a bundle-relative path, refusing anything
/// that could read outside the bundle or block.
pub fn read_payload_file(base_dir: &Path, relative: &str, limit_bytes: u64) -> Result<Vec<u8>> {
    let (full, meta) = confined_path(base_dir, relative)?;
    if meta.len() > limit_bytes {
        return Err(Error::PayloadTooLarge {
            size_bytes: meta.len(),
            limit_bytes,
        });
    }
    let file = open_no_follow(&full)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| Error::io(format!("read payload file {}", full.display()), err))?;
    if bytes.len() as u64 > limit_bytes {
        return Err(Error::PayloadTooLarge {
            size_bytes: bytes.len() as u64,
            limit_bytes,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW (Linux): a symlink swapped in after the checks fails to open.
    const O_NOFOLLOW: i32 = 0o400_000;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW)
        .open(path)
        .map_err(|err| Error::io(format!("open payload file {}", path.display()), err))?;
    let meta = file
        .metadata()
        .map_err(|err| Error::io(format!("stat payload file {}", path.display()), err))?;
    if !meta.is_file() {
        return Err(Error::Other(format!(
            "payload file {} is not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> Result<File> {
    File::open(path).map_err(|err| Error::io(format!("open payload file {}", path.display()), err))
}

/// The reference bundle's `manifest.json`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BundleManifest {
    pub schema_version: u32,
    pub trace_id: String,
    pub rollout_id: String,
    pub root_thread_id: String,
    pub started_at_unix_ms: i64,
    pub raw_event_log: String,
    pub payloads_dir: String,
}

/// Reads and checks a bundle's manifest.
pub fn read_bundle_manifest(bundle_dir: &Path) -> Result<BundleManifest> {
    let path = bundle_dir.join("manifest.json");
    let bytes = read_payload_file(bundle_dir, "manifest.json", 1 << 20)
        .map_err(|err| Error::input(path.display().to_string(), err.to_string()))?;
    let manifest: BundleManifest = serde_json::from_slice(&bytes).map_err(|err| {
        Error::input(
            path.display().to_string(),
            format!("malformed manifest: {err}"),
        )
    })?;
    if manifest.schema_version != 1 {
        return Err(Error::input(
            path.display().to_string(),
            format!(
                "unsupported manifest schema_version {}",
                manifest.schema_version
            ),
        ));
    }
    if manifest.rollout_id.is_empty() {
        return Err(Error::input(path.display().to_string(), "empty rollout_id"));
    }
    Ok(manifest)
}

/// Imports a reference trace bundle (`manifest.json`, `trace.jsonl`,
/// `payloads/`) as one rollout, all or nothing.
pub fn import_bundle(
    store: &Store,
    bundle_dir: &Path,
    store_as: Option<&str>,
    options: &IngestOptions<'_>,
) -> Result<IngestReport> {
    let mut manifest = read_bundle_manifest(bundle_dir)?;
    let mut rollout_id = store_as.unwrap_or(&manifest.rollout_id).to_string();
    // The ids the manifest gives the store are redacted like the events'
    // (which are checked against the redacted manifest rollout id).
    if let Some(redactor) = &options.redactor {
        for id in [
            &mut rollout_id,
            &mut manifest.rollout_id,
            &mut manifest.trace_id,
            &mut manifest.root_thread_id,
        ] {
            redactor.redact_string(id);
        }
    }
    let log_name = manifest.raw_event_log.clone();
    let log_path = bundle_dir.join(&log_name);
    let reader = open_no_follow_checked(bundle_dir, &log_name)?;
    let mut writes = store.writes()?;
    if writes.rollout(&rollout_id, false).is_ok() {
        return Err(Error::input(
            bundle_dir.display().to_string(),
            format!(
                "rollout {rollout_id} already exists in the store (use --rollout-id to import under another id)"
            ),
        ));
    }
    let rules = BundleRules {
        manifest_rollout_id: manifest.rollout_id.clone(),
        store_as: rollout_id.clone(),
    };
    let source = JsonlSource {
        name: log_path.display().to_string(),
        base_dir: bundle_dir.to_path_buf(),
        reader: Box::new(reader),
    };
    let mut report = ingest_into(&mut writes, store, source, options, Some(&rules))?;
    let num = writes.rollout(&rollout_id, true)?;
    writes.set_identity(
        num,
        &manifest.trace_id,
        &manifest.root_thread_id,
        manifest.started_at_unix_ms,
    );
    if report.rollout_ids.is_empty() {
        report.rollout_ids.push(rollout_id);
    }
    writes.commit(true)?;
    Ok(report)
}

/// Opens a bundle's file (its event log) under the payload rules; errors
/// name the file.
pub(crate) fn open_no_follow_checked(bundle_dir: &Path, relative: &str) -> Result<File> {
    let opened = confined_path(bundle_dir, relative).and_then(|(full, _)| open_no_follow(&full));
    opened.map_err(|err| {
        Error::input(
            bundle_dir.join(relative).display().to_string(),
            err.to_string(),
        )
    })
}
