//! `import PATH...`: files and directories (recursive), each file's format
//! detected from its name and first line, then imported by the importer of
//! that format. A file no importer takes is an error naming the file and
//! what it looked like (or the formats tried), never a JSON parser message.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::codex_session::looks_like_codex_session;
use super::session_files::Importer;
use super::{IngestOptions, IngestReport, JsonlSource, import_bundle, ingest_jsonl};
use crate::error::{Error, Result};
use crate::store::Store;

/// A format `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// tracefold's wire JSONL (the reference's trace events).
    WireJsonl,
    /// A reference trace bundle directory (`manifest.json`, `trace.jsonl`).
    ReferenceBundle,
    /// A Codex session rollout (`rollout-*.jsonl`, or `.jsonl.zst`).
    CodexSession,
    /// A Claude Code transcript (`~/.claude/projects/*/SESSION.jsonl`, and
    /// its sub-agents' `SESSION/subagents/agent-ID.jsonl`).
    ClaudeCode,
    /// An ATIF trajectory (`ATIF-v1.5` to `ATIF-v1.8`) and the sub-agent
    /// trajectories it references.
    Atif,
}

impl SourceFormat {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::WireJsonl => "wire JSONL",
            SourceFormat::ReferenceBundle => "reference trace bundle",
            SourceFormat::CodexSession => "Codex session rollout",
            SourceFormat::ClaudeCode => "Claude Code transcript",
            SourceFormat::Atif => "ATIF trajectory",
        }
    }

    /// A session log, converted line by line (its lines kept for `export
    /// --format source`).
    pub fn is_session(self) -> bool {
        matches!(self, SourceFormat::CodexSession | SourceFormat::ClaudeCode)
    }
}

/// The files and bundles under `path`, with their formats, in path order:
/// `path` itself when it is a file or a bundle, else every `.jsonl` and
/// `.jsonl.zst` file and every bundle below it (hidden files and
/// directories skipped). A file no importer takes, or a directory that
/// cannot be read, is an error in its place.
pub fn discover(path: &Path) -> Vec<Result<(PathBuf, SourceFormat)>> {
    let mut found = Vec::new();
    discover_into(path, &mut found);
    found
}

fn discover_into(path: &Path, found: &mut Vec<Result<(PathBuf, SourceFormat)>>) {
    match discover_one(path, found) {
        Ok(Some(format)) => found.push(Ok((path.to_path_buf(), format))),
        Ok(None) => {}
        Err(err) => found.push(Err(err)),
    }
}

/// `path`'s format when it is a file or a bundle; a directory's entries
/// go into `found` (`None`).
fn discover_one(
    path: &Path,
    found: &mut Vec<Result<(PathBuf, SourceFormat)>>,
) -> Result<Option<SourceFormat>> {
    let meta = std::fs::metadata(path)
        .map_err(|err| Error::io(format!("import {}", path.display()), err))?;
    if meta.is_dir() {
        if path.join("manifest.json").is_file() && path.join("trace.jsonl").is_file() {
            return Ok(Some(SourceFormat::ReferenceBundle));
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|err| Error::io(format!("read directory {}", path.display()), err))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|entry| {
                entry
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| !name.starts_with('.'))
            })
            .collect();
        entries.sort();
        // ATIF trajectories: the directory is one source, each of its
        // roots (a file no other one references) a rollout with the
        // sub-agent files it references.
        if super::atif::looks_like_atif_dir(path) {
            found.push(Ok((path.to_path_buf(), SourceFormat::Atif)));
        }
        for entry in entries {
            let is_dir = entry.is_dir();
            let name = entry.to_string_lossy();
            // Codex compresses an old session into `NAME.jsonl.zst` beside
            // it; while both exist, the plain file is the session.
            let plain_beside = name
                .strip_suffix(".zst")
                .is_some_and(|plain| Path::new(plain).is_file());
            if is_dir || name.ends_with(".jsonl") || (name.ends_with(".jsonl.zst") && !plain_beside)
            {
                discover_into(&entry, found);
            }
        }
        return Ok(None);
    }
    if !meta.is_file() {
        return Err(Error::Other(format!(
            "import {}: not a regular file or a directory",
            path.display()
        )));
    }
    detect_file(path).map(Some)
}

/// A file's first line, parsed (`None` when it is not JSON).
pub(crate) fn first_record(path: &Path) -> Result<Option<serde_json::Value>> {
    Ok(serde_json::from_str::<serde_json::Value>(first_line(path)?.trim_end()).ok())
}

/// A file's first line (at most 16 MiB of it).
fn first_line(path: &Path) -> Result<String> {
    let mut first = String::new();
    open_text(path)?
        .take(1 << 24)
        .read_line(&mut first)
        .map_err(|err| Error::io(format!("read {}", path.display()), err))?;
    Ok(first)
}

/// The format of a file, from its first line.
fn detect_file(path: &Path) -> Result<SourceFormat> {
    if super::atif::looks_like_atif_file(path) {
        return Ok(SourceFormat::Atif);
    }
    let first = first_line(path)?;
    let first = first.trim_end();
    let record = serde_json::from_str::<serde_json::Value>(first).ok();
    if record.as_ref().is_some_and(looks_like_codex_session) {
        return Ok(SourceFormat::CodexSession);
    }
    if record.as_ref().is_some_and(looks_like_wire_event) {
        return Ok(SourceFormat::WireJsonl);
    }
    if record.as_ref().is_some_and(looks_like_claude_code) || claude_code_later(path, &record)? {
        return Ok(SourceFormat::ClaudeCode);
    }
    let looked = match &record {
        _ if first.is_empty() => "an empty file",
        Some(_) => "JSON lines of no known shape",
        None => "not JSON lines",
    };
    Err(Error::Other(format!(
        "import {}: {looked} (tried: wire JSONL, Codex session rollout, Claude Code transcript, \
         ATIF trajectory, reference trace bundle)",
        path.display()
    )))
}

/// Lines of session state (`{"type": "mode"}`, `{"type": "last-prompt"}`)
/// that newer Claude Code writes before its first message record: when
/// the first line is such a bare typed record, the next lines decide.
fn claude_code_later(path: &Path, first: &Option<serde_json::Value>) -> Result<bool> {
    let bare_typed = first.as_ref().is_some_and(|record| {
        record.get("type").is_some_and(serde_json::Value::is_string)
            && record.get("payload").is_none()
            && record.get("schema_version").is_none()
    });
    if !bare_typed {
        return Ok(false);
    }
    let reader = open_text(path)?;
    for line in reader.take(1 << 24).lines().skip(1).take(64) {
        let line = line.map_err(|err| Error::io(format!("read {}", path.display()), err))?;
        if let Ok(record) = serde_json::from_str::<serde_json::Value>(&line)
            && looks_like_claude_code(&record)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first wall time a session file gives (a record's `timestamp`, its
/// payload's, or a snapshot's), among its first lines: the time its
/// rollout and thread start, when their line has none.
pub(crate) fn first_timestamp(path: &Path) -> Option<String> {
    let reader = open_text(path).ok()?;
    for line in reader.take(1 << 26).lines().take(256) {
        let record: serde_json::Value = serde_json::from_str(&line.ok()?).ok()?;
        for pointer in ["/timestamp", "/payload/timestamp", "/snapshot/timestamp"] {
            if let Some(at) = record.pointer(pointer).and_then(serde_json::Value::as_str) {
                return Some(at.to_string());
            }
        }
    }
    None
}

/// A file's text: decompressed when its name ends in `.zst`.
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
    let file =
        File::open(path).map_err(|err| Error::io(format!("open {}", path.display()), err))?;
    if path.to_string_lossy().ends_with(".zst") {
        let decoder = zstd::stream::read::Decoder::new(file)
            .map_err(|err| Error::io(format!("open {}", path.display()), err))?;
        return Ok(Box::new(BufReader::new(decoder)));
    }
    Ok(Box::new(BufReader::new(file)))
}

fn looks_like_wire_event(record: &serde_json::Value) -> bool {
    record.get("schema_version").is_some()
        && record.get("seq").is_some()
        && record.get("payload").is_some()
}

/// A Claude Code transcript's first record: a message (`sessionId`,
/// `parentUuid`), a file-history snapshot, a queued prompt, or a summary
/// (`leafUuid`).
fn looks_like_claude_code(record: &serde_json::Value) -> bool {
    let kind = record.get("type").and_then(|kind| kind.as_str());
    record.get("sessionId").is_some()
        || record.get("parentUuid").is_some()
        || (kind == Some("summary") && record.get("leafUuid").is_some())
        || kind == Some("file-history-snapshot")
}

/// Imports one file or bundle `discover` found (a session file on its
/// own: a sub-agent finds its parent's rollout only when the store already
/// has it; [`Importer`] remembers across the files of one run).
pub fn import_source(
    store: &Store,
    path: &Path,
    format: SourceFormat,
    options: &IngestOptions<'_>,
) -> Result<IngestReport> {
    Importer::new(store).import(path, format, options)
}

impl Importer<'_> {
    /// Imports one file or bundle `discover` found.
    pub fn import(
        &mut self,
        path: &Path,
        format: SourceFormat,
        options: &IngestOptions<'_>,
    ) -> Result<IngestReport> {
        match format {
            SourceFormat::WireJsonl => {
                ingest_jsonl(self.store(), JsonlSource::file(path)?, options)
            }
            SourceFormat::ReferenceBundle => import_bundle(self.store(), path, None, options),
            SourceFormat::CodexSession | SourceFormat::ClaudeCode => {
                self.import_session(path, format, options)
            }
            SourceFormat::Atif => {
                super::atif::import_atif(self.store(), path, self.allow_missing_subagents, options)
            }
        }
    }
}
