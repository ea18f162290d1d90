//! `import PATH...`: files and directories (recursive), each file's format
//! detected from its name and first line, then imported by the importer of
//! that format. A file no importer takes is an error naming the file and
//! what it looked like (or the formats tried), never a JSON parser message.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::codex_session::{CodexSession, looks_like_codex_session};
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
}

impl SourceFormat {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::WireJsonl => "wire JSONL",
            SourceFormat::ReferenceBundle => "reference trace bundle",
            SourceFormat::CodexSession => "Codex session rollout",
        }
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

/// The format of a file, from its first line.
fn detect_file(path: &Path) -> Result<SourceFormat> {
    let mut first = String::new();
    open_text(path)?
        .take(1 << 24)
        .read_line(&mut first)
        .map_err(|err| Error::io(format!("read {}", path.display()), err))?;
    let first = first.trim_end();
    let record = serde_json::from_str::<serde_json::Value>(first).ok();
    if record.as_ref().is_some_and(looks_like_codex_session) {
        return Ok(SourceFormat::CodexSession);
    }
    if record.as_ref().is_some_and(looks_like_wire_event) {
        return Ok(SourceFormat::WireJsonl);
    }
    let looked = match &record {
        _ if first.is_empty() => "an empty file",
        Some(record) if looks_like_claude_code(record) => {
            "a Claude Code transcript, which this build does not import yet"
        }
        Some(_) => "JSON lines of no known shape",
        None => "not JSON lines",
    };
    Err(Error::Other(format!(
        "import {}: {looked} (tried: wire JSONL, Codex session rollout, reference trace bundle)",
        path.display()
    )))
}

/// A file's text: decompressed when its name ends in `.zst`.
fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
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
/// `parentUuid`), a file-history snapshot, or a summary (`leafUuid`).
fn looks_like_claude_code(record: &serde_json::Value) -> bool {
    record.get("sessionId").is_some()
        || record.get("parentUuid").is_some()
        || record.get("leafUuid").is_some()
        || record.get("type").and_then(|kind| kind.as_str()) == Some("file-history-snapshot")
}

/// Imports one file or bundle `discover` found.
pub fn import_source(
    store: &Store,
    path: &Path,
    format: SourceFormat,
    options: &IngestOptions<'_>,
) -> Result<IngestReport> {
    match format {
        SourceFormat::WireJsonl => ingest_jsonl(store, JsonlSource::file(path)?, options),
        SourceFormat::ReferenceBundle => import_bundle(store, path, None, options),
        SourceFormat::CodexSession => {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy())
                .unwrap_or_default();
            // A compressed session's lines are those of the file inside.
            let name = name.strip_suffix(".zst").unwrap_or(&name).to_string();
            let reader = ConvertedReader {
                source: open_text(path)?,
                session: CodexSession::new(name),
                line: 0,
                out: Vec::new(),
                at: 0,
            };
            let source = JsonlSource {
                name: path.display().to_string(),
                base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                reader: Box::new(reader),
            };
            ingest_jsonl(store, source, options)
        }
    }
}

/// A session file read as the wire JSONL it converts to. A last line
/// without its line ending that is not a whole record is a write in
/// progress: it is left for the next import.
struct ConvertedReader {
    source: Box<dyn BufRead>,
    session: CodexSession,
    line: u64,
    out: Vec<u8>,
    at: usize,
}

impl Read for ConvertedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.out.len() {
            self.out.clear();
            self.at = 0;
            let mut raw = Vec::new();
            if self.source.read_until(b'\n', &mut raw)? == 0 {
                return Ok(0);
            }
            if raw.last() != Some(&b'\n')
                && serde_json::from_slice::<serde::de::IgnoredAny>(&raw).is_err()
            {
                return Ok(0);
            }
            self.line += 1;
            self.session
                .convert(self.line, &raw, &mut self.out)
                .map_err(|err| std::io::Error::other(err.to_string()))?;
        }
        let take = buf.len().min(self.out.len() - self.at);
        buf[..take].copy_from_slice(&self.out[self.at..self.at + take]);
        self.at += take;
        Ok(take)
    }
}
