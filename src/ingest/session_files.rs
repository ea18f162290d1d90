//! Session files (Codex session rollouts, Claude Code transcripts) into
//! rollouts: which rollout and thread each file feeds, which of its lines
//! the store already holds, and the conversion of the rest.
//!
//! **One rollout per session tree.** A session that no other session
//! spawned starts a rollout of its own (its id is the session's). A
//! sub-agent's file (a Codex session whose `source` is a `thread_spawn`, a
//! Claude Code `SESSION/subagents/agent-ID.jsonl`) is a thread of its
//! parent's rollout: its events are appended at the rollout's end, after
//! whatever the store holds of the rollout, whichever file that came from.
//! [`Importer::order`] puts parents before their sub-agents so that one
//! import of a directory finds each parent's rollout in place. A sub-agent
//! whose parent the store does not hold becomes a rollout of its own.
//!
//! **Where a file left off** is read from the store: the rollout's
//! `source_line` events name each line of each file. A file with no line
//! past the stored ones is skipped (its last stored line checked against
//! the file's); a file that grew is converted from its start again, for the
//! converter's state, and only the events of its new lines are appended.
//! A file whose stored lines no longer match is an error naming the line.
//!
//! **Forks.** A Codex session whose `history_base` names its parent's
//! rollout starts from the parent's conversation up to that point, read
//! back from the parent's stored lines (so a fork imports after its parent,
//! in the same run or any earlier one).

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::claude_code::ClaudeSession;
use super::codex_session::CodexSession;
use super::emit::{Converter, Emitter};
use super::payloads::redacted_bytes;
use super::sources::{SourceFormat, open_text};
use super::{IngestOptions, IngestReport, JsonlSource, RolloutOutcome, ingest_jsonl};
use crate::error::{Error, Result};
use crate::event::{EventPayload, Hash};
use crate::store::{RolloutManifest, Store};

/// A file or bundle [`discover`](super::discover) found, with its format.
pub type Found = Result<(PathBuf, SourceFormat)>;

/// What a session file's first line and path say about its place.
#[derive(Debug, Clone)]
pub(crate) struct SessionHeader {
    /// The file's name in `source_line` events (and in a source export).
    pub(crate) name: String,
    /// The thread the file is the log of.
    pub(crate) thread_id: String,
    /// The thread that spawned it (a sub-agent).
    pub(crate) parent_thread_id: Option<String>,
    /// The rollout the file says it belongs to (Codex's `session_id`, a
    /// Claude Code sub-agent's session).
    pub(crate) rollout_hint: Option<String>,
    /// How far below a root session it is (0: a root).
    pub(crate) depth: u64,
    /// A Codex fork's (or revert's) `history_base`.
    pub(crate) history_base: Option<HistoryBase>,
}

/// Where a Codex session's inherited history ends: in the file of Codex
/// rollout `rollout` (a thread id, or a revert's own id), before the line
/// of `end_ordinal` (paginated files number their lines), else at byte
/// `end_byte`.
#[derive(Debug, Clone)]
pub(crate) struct HistoryBase {
    pub(crate) rollout: String,
    pub(crate) end_ordinal: Option<u64>,
    pub(crate) end_byte: u64,
}

impl HistoryBase {
    fn read(base: &Value) -> Option<HistoryBase> {
        Some(HistoryBase {
            rollout: base.get("thread_id")?.as_str()?.to_string(),
            end_ordinal: base.get("end_ordinal_exclusive").and_then(Value::as_u64),
            end_byte: base
                .get("end_byte_offset")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX),
        })
    }
}

/// The header of `path` in `format`, from its first line and its path.
pub(crate) fn session_header(
    path: &Path,
    format: SourceFormat,
    first: Option<&Value>,
) -> Result<SessionHeader> {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A compressed session's lines are those of the file inside.
    let plain = file_name
        .strip_suffix(".zst")
        .unwrap_or(&file_name)
        .to_string();
    match format {
        SourceFormat::CodexSession => {
            let meta = first.and_then(|record| record.get("payload"));
            let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
            let Some(thread_id) = text(meta.and_then(|m| m.get("id"))) else {
                return Err(Error::Other(format!(
                    "import {}: its session_meta has no string `id`",
                    path.display()
                )));
            };
            let spawn = meta.and_then(|m| m.pointer("/source/subagent/thread_spawn"));
            let parent_thread_id = text(spawn.and_then(|s| s.get("parent_thread_id")));
            let depth = match &parent_thread_id {
                Some(_) => spawn
                    .and_then(|s| s.get("depth"))
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .max(1),
                None => 0,
            };
            let history_base = meta
                .and_then(|m| m.get("history_base"))
                .and_then(HistoryBase::read);
            let session = text(meta.and_then(|m| m.get("session_id")));
            Ok(SessionHeader {
                name: plain,
                rollout_hint: session.filter(|id| *id != thread_id),
                depth: depth + u64::from(history_base.is_some()),
                thread_id,
                parent_thread_id,
                history_base,
            })
        }
        SourceFormat::ClaudeCode => {
            let stem = plain.strip_suffix(".jsonl").unwrap_or(&plain).to_string();
            let parent_dir = path.parent();
            let in_subagents = parent_dir
                .and_then(Path::file_name)
                .is_some_and(|name| name == "subagents");
            let session_dir = parent_dir.and_then(Path::parent).and_then(Path::file_name);
            match (in_subagents, session_dir, stem.strip_prefix("agent-")) {
                (true, Some(session), Some(agent)) => {
                    let session = session.to_string_lossy().into_owned();
                    Ok(SessionHeader {
                        name: format!("{session}/subagents/{plain}"),
                        thread_id: agent.to_string(),
                        parent_thread_id: Some(session.clone()),
                        rollout_hint: Some(session),
                        depth: 1,
                        history_base: None,
                    })
                }
                _ => Ok(SessionHeader {
                    name: plain,
                    thread_id: stem,
                    parent_thread_id: None,
                    rollout_hint: None,
                    depth: 0,
                    history_base: None,
                }),
            }
        }
        SourceFormat::WireJsonl | SourceFormat::ReferenceBundle | SourceFormat::Atif => {
            Err(Error::Other(format!(
                "import {}: {} is not a session format",
                path.display(),
                format.name()
            )))
        }
    }
}

/// What the store holds of one source file of a rollout.
#[derive(Debug, Clone, Default)]
struct StoredFile {
    /// Lines stored (they run from 1).
    lines: u64,
    /// The last stored line's payload.
    last: Option<Hash>,
}

/// What the store holds of a rollout's source files, and the work its log
/// leaves open: (inference calls, turns) started and not ended, each with
/// its thread.
#[derive(Debug, Default)]
struct StoredRollout {
    /// Events in its log (0 for a rollout the store does not hold).
    event_count: u64,
    files: BTreeMap<String, StoredFile>,
    /// Each thread started, with the file whose first line started it.
    threads: BTreeMap<String, String>,
    open_calls: BTreeMap<String, String>,
    open_turns: BTreeMap<String, String>,
}

impl StoredRollout {
    /// Whether thread `thread` has work the log leaves open that a
    /// finished file of `format` ends: a call, and for Claude Code (which
    /// writes no turn ends) a turn.
    fn unsettled(&self, thread: &str, format: SourceFormat) -> bool {
        let turns = match format {
            SourceFormat::ClaudeCode => Some(self.open_turns.values()),
            _ => None,
        };
        self.open_calls
            .values()
            .chain(turns.into_iter().flatten())
            .any(|owner| owner == thread)
    }
}

/// A file not written for this long is finished: a call or turn left open
/// at its end is ended there (Claude Code writes no end for the last
/// response of a session; a model response streams for seconds, and a tool
/// result rarely comes minutes after the last line).
const COLD_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether `path` was last written longer than [`COLD_AFTER`] ago.
fn is_cold(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|age| age >= COLD_AFTER)
}

/// One `import` run over session files: remembers which rollout each
/// thread went to, so a sub-agent finds its parent's.
pub struct Importer<'s> {
    store: &'s Store,
    threads: BTreeMap<String, String>,
    /// ATIF: keep a sub-agent reference that resolves to nothing as its
    /// step's observation only, instead of failing the import.
    pub(crate) allow_missing_subagents: bool,
}

impl<'s> Importer<'s> {
    /// An import run into `store`.
    pub fn new(store: &'s Store) -> Importer<'s> {
        Importer {
            store,
            threads: BTreeMap::new(),
            allow_missing_subagents: false,
        }
    }

    /// ATIF trajectories whose sub-agent references resolve to nothing
    /// import anyway, each such reference kept as its step's observation
    /// only (a warning says so); by default such a trajectory is an error.
    pub fn allow_missing_subagents(mut self, allow: bool) -> Importer<'s> {
        self.allow_missing_subagents = allow;
        self
    }

    /// The store imported into.
    pub(crate) fn store(&self) -> &'s Store {
        self.store
    }

    /// Orders what [`discover`](super::discover) found for import: every
    /// session file after the sessions it derives from (sub-agents after
    /// their parents, forks after the session they fork), the rest as
    /// found.
    pub fn order(found: Vec<Found>) -> Vec<Found> {
        let mut keyed: Vec<(u64, usize, Found)> = found
            .into_iter()
            .enumerate()
            .map(|(position, entry)| {
                let depth = match &entry {
                    Ok((path, format)) if format.is_session() => super::sources::first_record(path)
                        .ok()
                        .and_then(|first| session_header(path, *format, first.as_ref()).ok())
                        .map_or(0, |header| header.depth),
                    _ => 0,
                };
                (depth, position, entry)
            })
            .collect();
        keyed.sort_by_key(|(depth, position, _)| (*depth, *position));
        keyed.into_iter().map(|(_, _, entry)| entry).collect()
    }

    /// Imports one session file: the lines past those the store holds.
    pub(crate) fn import_session(
        &mut self,
        path: &Path,
        format: SourceFormat,
        options: &IngestOptions<'_>,
    ) -> Result<IngestReport> {
        let first = super::sources::first_record(path)?;
        let header = session_header(path, format, first.as_ref())?;
        let (rollout_id, stored, rollout) = self.place(&header)?;
        self.threads
            .insert(header.thread_id.clone(), rollout_id.clone());
        let cold = is_cold(path);
        let event_count = rollout.event_count;
        let settle = cold && rollout.unsettled(&header.thread_id, format);
        let unchanged = IngestReport {
            rollout_ids: vec![rollout_id.clone()],
            rollouts: vec![RolloutOutcome {
                rollout_id: rollout_id.clone(),
                created: false,
                already_stored: event_count,
                appended: 0,
            }],
            events: 0,
            torn_tail_bytes: 0,
            unconverted_lines: Vec::new(),
        };
        if stored.lines > 0 && !self.grew(path, &stored, options)? && !settle {
            return Ok(unchanged);
        }
        let mut converter: Box<dyn Converter> = match format {
            SourceFormat::CodexSession => {
                let mut session = CodexSession::new(header.name.clone());
                // A thread another file started (a revert's new file).
                if rollout
                    .threads
                    .get(&header.thread_id)
                    .is_some_and(|file| *file != header.name)
                {
                    session = session.resuming();
                }
                if let Some(base) = &header.history_base {
                    self.inherit(&mut session, base, &header.thread_id, 0)?;
                }
                Box::new(session)
            }
            _ => Box::new(ClaudeSession::new(
                header.name.clone(),
                header.thread_id.clone(),
                header.parent_thread_id.clone(),
            )),
        };
        let mut emit = Emitter::new(&rollout_id, event_count + 1);
        emit.at(super::sources::first_timestamp(path).as_deref());
        let mut unconverted = Vec::new();
        let reader = ConvertedReader {
            source: open_text(path)?,
            converter: &mut *converter,
            unconverted: &mut unconverted,
            emit,
            quiet_through: stored.lines,
            stored: rollout,
            cold,
            line: 0,
            at: 0,
            done: false,
        };
        let source = JsonlSource {
            name: path.display().to_string(),
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            reader: Box::new(reader),
        };
        let report = ingest_jsonl(self.store, source, options)?;
        // Lines converted to nothing new (a torn line, work already ended).
        let mut report = if report.rollouts.is_empty() {
            IngestReport {
                torn_tail_bytes: report.torn_tail_bytes,
                ..unchanged
            }
        } else {
            report
        };
        report.unconverted_lines = unconverted;
        Ok(report)
    }

    /// The rollout `header`'s file goes to, what it holds of the file, and
    /// what it holds in all.
    fn place(&self, header: &SessionHeader) -> Result<(String, StoredFile, StoredRollout)> {
        let parent_rollout = header
            .parent_thread_id
            .as_ref()
            .and_then(|parent| self.threads.get(parent).cloned());
        let mut candidates: Vec<String> = Vec::new();
        for candidate in [
            Some(header.thread_id.clone()),
            header.rollout_hint.clone(),
            parent_rollout,
            header.parent_thread_id.clone(),
        ]
        .into_iter()
        .flatten()
        {
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
        // Where the file already is.
        let mut found: Vec<(String, StoredRollout)> = Vec::new();
        for candidate in candidates {
            let Some(rollout) = self.stored_rollout(&candidate)? else {
                continue;
            };
            if let Some(stored) = rollout.files.get(&header.name) {
                let stored = stored.clone();
                return Ok((candidate, stored, rollout));
            }
            found.push((candidate, rollout));
        }
        // A sub-agent goes to its parent's rollout when the store has it;
        // anything else to its own (which an earlier file of its thread may
        // have started).
        let own = |(id, _): &(String, StoredRollout)| *id == header.thread_id;
        let pick = match &header.parent_thread_id {
            Some(_) => found.iter().position(|entry| !own(entry)),
            None => found.iter().position(own),
        };
        Ok(match pick {
            Some(at) => {
                let (id, rollout) = found.swap_remove(at);
                (id, StoredFile::default(), rollout)
            }
            None => (
                header.thread_id.clone(),
                StoredFile::default(),
                StoredRollout::default(),
            ),
        })
    }

    /// Rollout `rollout_id`'s manifest, or `None` when the store has no
    /// such rollout.
    fn manifest_of(&self, rollout_id: &str) -> Result<Option<RolloutManifest>> {
        match self.store.manifest(rollout_id) {
            Ok(manifest) => Ok(Some(manifest)),
            Err(Error::UnknownRollout(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// What rollout `rollout_id` holds, or `None` when the store has no
    /// such rollout.
    fn stored_rollout(&self, rollout_id: &str) -> Result<Option<StoredRollout>> {
        let Some(manifest) = self.manifest_of(rollout_id)? else {
            return Ok(None);
        };
        let mut stored = StoredRollout {
            event_count: manifest.event_count,
            ..StoredRollout::default()
        };
        let mut last_file = String::new();
        for event in self.store.events_of(&manifest) {
            match event?.payload {
                EventPayload::SourceLine {
                    file,
                    line,
                    line_payload,
                } => {
                    let entry = stored.files.entry(file.clone()).or_default();
                    entry.lines = line;
                    entry.last = Some(line_payload.hash);
                    last_file = file;
                }
                EventPayload::ThreadStarted { thread_id, .. } => {
                    stored.threads.insert(thread_id, last_file.clone());
                }
                EventPayload::InferenceStarted {
                    inference_call_id,
                    thread_id,
                    ..
                } => {
                    stored.open_calls.insert(inference_call_id, thread_id);
                }
                EventPayload::InferenceCompleted {
                    inference_call_id, ..
                }
                | EventPayload::InferenceFailed {
                    inference_call_id, ..
                }
                | EventPayload::InferenceCancelled {
                    inference_call_id, ..
                } => {
                    stored.open_calls.remove(&inference_call_id);
                }
                EventPayload::CodexTurnStarted {
                    codex_turn_id,
                    thread_id,
                } => {
                    stored.open_turns.insert(codex_turn_id, thread_id);
                }
                EventPayload::CodexTurnEnded { codex_turn_id, .. } => {
                    stored.open_turns.remove(&codex_turn_id);
                }
                _ => {}
            }
        }
        Ok(Some(stored))
    }

    /// Whether `path` has a complete line past the `stored` ones; an error
    /// when its last stored line is no longer the file's.
    fn grew(&self, path: &Path, stored: &StoredFile, options: &IngestOptions<'_>) -> Result<bool> {
        let mut reader = open_text(path)?;
        let mut raw = Vec::new();
        for line in 1..=stored.lines {
            raw.clear();
            let read = reader
                .read_until(b'\n', &mut raw)
                .map_err(|err| Error::io(format!("read {}", path.display()), err))?;
            let changed = |why: &str| {
                Error::Other(format!(
                    "import {}: the file changed since it was imported: {why}; the store keeps \
                     its {} lines as imported (import the file under another name to keep both)",
                    path.display(),
                    stored.lines
                ))
            };
            if read == 0 || raw.last() != Some(&b'\n') {
                return Err(changed(&format!(
                    "it has fewer than {} lines",
                    stored.lines
                )));
            }
            // The line as the import stored it (redacted as its payload).
            if line == stored.lines {
                let hash = Hash::of(&redacted_bytes(options.redactor.as_ref(), raw.clone()));
                if Some(hash) != stored.last {
                    return Err(changed(&format!("line {line} differs")));
                }
            }
        }
        raw.clear();
        reader
            .read_until(b'\n', &mut raw)
            .map_err(|err| Error::io(format!("read {}", path.display()), err))?;
        Ok(raw.last() == Some(&b'\n'))
    }

    /// Feeds `session` the lines of the Codex session file `base` names
    /// that come before its cut (after that file's own inherited history,
    /// when it is a fork or a revert too). The file is looked for in the
    /// store: in the rollout of `base`'s id, else in that of `thread` (a
    /// revert's base is a file of its own thread).
    fn inherit(
        &self,
        session: &mut CodexSession,
        base: &HistoryBase,
        thread: &str,
        depth: u32,
    ) -> Result<()> {
        let mut manifest = None;
        for candidate in [base.rollout.as_str(), thread] {
            let rollout = self
                .threads
                .get(candidate)
                .map_or(candidate, String::as_str);
            manifest = self.manifest_of(rollout)?;
            if manifest.is_some() {
                break;
            }
        }
        let Some(manifest) = manifest else {
            return Err(Error::Other(format!(
                "it continues the history of Codex rollout {} (its history_base), which the \
                 store does not hold: import that session's file first",
                base.rollout
            )));
        };
        // The base file: the one named after the base's id, else the first.
        let suffix = format!("{}.jsonl", base.rollout);
        let mut names: Vec<String> = Vec::new();
        for event in self.store.events_of(&manifest) {
            if let EventPayload::SourceLine { file, line: 1, .. } = event?.payload {
                names.push(file);
            }
        }
        let Some(file) = names
            .iter()
            .find(|name| name.ends_with(&suffix))
            .or(names.first())
            .cloned()
        else {
            return Err(Error::Other(format!(
                "its history_base names Codex rollout {}, whose stored log has no source lines",
                base.rollout
            )));
        };
        let mut at = 0u64;
        for event in self.store.events_of(&manifest) {
            let EventPayload::SourceLine {
                file: name,
                line,
                line_payload,
            } = event?.payload
            else {
                continue;
            };
            if name != file {
                continue;
            }
            let bytes = self.store.read_payload(&line_payload.hash)?;
            let record: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            at += bytes.len() as u64;
            if line == 1 {
                let grand = record
                    .pointer("/payload/history_base")
                    .and_then(HistoryBase::read);
                if let (Some(grand), true) = (grand, depth < 64) {
                    self.inherit(session, &grand, thread, depth + 1)?;
                }
                continue;
            }
            let before_cut = match (
                base.end_ordinal,
                record.get("ordinal").and_then(Value::as_u64),
            ) {
                (Some(end), Some(ordinal)) => ordinal < end,
                _ => at <= base.end_byte,
            };
            if !before_cut {
                break;
            }
            session.inherit(&bytes);
        }
        Ok(())
    }
}

/// A session file read as the wire JSONL it converts to. A last line
/// without its line ending that is not a whole record is a write in
/// progress: it is left for the next import.
struct ConvertedReader<'c> {
    source: Box<dyn BufRead>,
    converter: &'c mut dyn Converter,
    /// Where the lines kept only as source lines are reported.
    unconverted: &'c mut Vec<String>,
    emit: Emitter,
    /// Lines the store holds: converted quietly.
    quiet_through: u64,
    /// What the store holds of the rollout: after the quiet lines, the
    /// converter ends what an earlier import ended at the file's end.
    stored: StoredRollout,
    /// The file is finished: what is open at its end is ended.
    cold: bool,
    line: u64,
    at: usize,
    /// The file's end was read.
    done: bool,
}

impl ConvertedReader<'_> {
    /// After the last quiet line: an earlier import that found the file
    /// finished ended its open call and turn there; so does this one
    /// (quietly), to continue from the same state.
    fn settle(&mut self) {
        let open = self.converter.open_work();
        let ended_call = open
            .call
            .is_some_and(|call| !self.stored.open_calls.contains_key(call));
        let ended_turn = open
            .turn
            .is_some_and(|turn| !self.stored.open_turns.contains_key(turn));
        if ended_call || ended_turn {
            self.converter.finish(&mut self.emit);
        }
    }
}

impl Read for ConvertedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.emit.out.len() {
            self.emit.out.clear();
            self.at = 0;
            if self.done {
                return Ok(0);
            }
            let mut raw = Vec::new();
            let read = self.source.read_until(b'\n', &mut raw)?;
            let torn = read > 0
                && raw.last() != Some(&b'\n')
                && serde_json::from_slice::<serde::de::IgnoredAny>(&raw).is_err();
            if read == 0 || torn {
                // The end: a finished file's open work ends here (a torn
                // line means it is still being written), in new events.
                self.done = true;
                self.emit.quiet = false;
                if self.cold && !torn {
                    self.converter.finish(&mut self.emit);
                }
                continue;
            }
            self.line += 1;
            self.emit.quiet = self.line <= self.quiet_through;
            self.converter
                .convert(self.line, &raw, &mut self.emit)
                .map_err(|err| std::io::Error::other(err.to_string()))?;
            self.unconverted.append(&mut self.emit.unconverted);
            if self.line == self.quiet_through {
                self.settle();
            }
        }
        let out = &self.emit.out;
        let take = buf.len().min(out.len() - self.at);
        buf[..take].copy_from_slice(&out[self.at..self.at + take]);
        self.at += take;
        Ok(take)
    }
}
