//! Ingest of wire-format JSONL and import of reference trace bundles.
//!
//! Both are all or nothing per file: every line is parsed, checked and its
//! payloads resolved inside one uncommitted store write; any error drops the
//! write, so the store is unchanged. Payload files are read only from inside
//! the JSONL file's (or bundle's) directory: absolute paths, `..`, symlinks
//! and non-regular files are refused, each file opened once (no follow, non
//! blocking) and checked on its open descriptor.
//!
//! **Idempotent.** A rollout the store already holds is compared, event by
//! event, with the input: the same events again store nothing; the same
//! events and more at the end append only the new ones (a log that grew);
//! anything else is an error naming the rollout and the first differing seq,
//! and nothing is stored. A duplicate start (rollout, thread, turn, call,
//! compaction, code cell) is refused at its line.
//!
//! **Bounded.** An import spills its staged records to the store in bounded
//! batches that stay invisible until the final commit publishes the
//! manifests (see `store/writes.rs`), so memory does not grow with the file
//! and a crash leaves no visible partial rollout. Nothing is held per line
//! but the line itself.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::event::wire::{WireEvent, WirePayloadRef, parse_line};
use crate::event::{Event, EventPayload, Hash, PayloadKind, PayloadRef, Seq, StartTracker};
use crate::redact::Redactor;
use crate::store::{EventIter, Store, StoreOptions, Writes};

/// What an ingest or import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Rollout ids, in order of first appearance.
    pub rollout_ids: Vec<String>,
    /// What happened to each rollout, in the same order.
    pub rollouts: Vec<RolloutOutcome>,
    /// Events stored (appended) by this import, all rollouts together.
    pub events: u64,
    /// Bytes of a torn last line that were dropped (`allow_torn_tail`).
    pub torn_tail_bytes: u64,
}

/// What an import did to one rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutOutcome {
    pub rollout_id: String,
    /// The rollout was new to the store.
    pub created: bool,
    /// Events of the input the store already held (compared equal).
    pub already_stored: u64,
    /// Events appended.
    pub appended: u64,
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
    /// Largest payload read from a bundle that is not imported into a store
    /// (`reduce-bundle`, `diff`); an import uses its store's limit.
    pub max_payload_bytes: u64,
    /// Staged bytes past which an import applies them (invisibly) before
    /// its commit: bounds an import's memory.
    pub spill_threshold_bytes: usize,
}

/// sled's page cache for a store opened to import (`tracefold ingest`,
/// `import-codex`): an import reads little back (dedup lookups), and sled's
/// memory runs to several times its cache. A 1M-event file peaked at 468 MB
/// with the default 128 MiB and 358 MB with 64 MiB, 8% slower.
pub const IMPORT_CACHE_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// Default spill threshold. sled applies a batch under one pinned epoch, so
/// the garbage of every node version the batch makes is freed only after it:
/// peak memory measured about 20 times the batch (a 32 MiB batch peaked at
/// 736 MB, 4 MiB at 243 MB, 1 MiB at 164 MB for the same 40k payloads), for
/// no gain in time (BENCHMARKS.md, "Ingest scaling").
pub const SPILL_THRESHOLD_BYTES_DEFAULT: usize = 1024 * 1024;

impl Default for IngestOptions<'_> {
    fn default() -> Self {
        IngestOptions {
            allow_torn_tail: false,
            progress: None,
            redactor: Some(Redactor::new()),
            max_payload_bytes: StoreOptions::default().max_payload_bytes,
            spill_threshold_bytes: SPILL_THRESHOLD_BYTES_DEFAULT,
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
    writes.set_spill_threshold(options.spill_threshold_bytes);
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
    let mut import = Import {
        writes,
        store,
        base: Confinement::new(&source.base_dir),
        bundle,
        redactor: options.redactor.as_ref(),
        rollouts: IndexMap::new(),
        last_seq: BTreeMap::new(),
        events: 0,
    };
    let max_line_bytes = max_line_bytes(store.options().max_payload_bytes);
    let torn_tail_bytes = read_wire_lines(source, max_line_bytes, options, &mut import)?;
    let events = import.events;
    let rollouts: Vec<RolloutOutcome> = import
        .rollouts
        .into_values()
        .map(|rollout| rollout.outcome)
        .collect();
    Ok(IngestReport {
        rollout_ids: rollouts.iter().map(|r| r.rollout_id.clone()).collect(),
        rollouts,
        events,
        torn_tail_bytes,
    })
}

/// The longest line accepted: a payload inline at the size limit, escaped.
pub(crate) fn max_line_bytes(max_payload_bytes: u64) -> u64 {
    max_payload_bytes.saturating_mul(2).saturating_add(1 << 20)
}

/// What [`read_wire_lines`] hands each line to.
pub(crate) trait WireLines {
    /// One event and its location (`file:line`).
    fn event(&mut self, location: &str, event: WireEvent<WirePayloadRef>) -> Result<()>;

    /// A complete line that is not an event (too long, not UTF-8, not a wire
    /// event), with its text when it is UTF-8: returning the error stops the
    /// read (the default), returning `Ok` skips the line.
    fn bad_line(&mut self, location: &str, text: Option<&str>, error: Error) -> Result<()> {
        let _ = (location, text);
        Err(error)
    }
}

/// Reads wire events line by line into `lines`. Returns the bytes of a torn
/// last line that `allow_torn_tail` dropped (0 if none).
pub(crate) fn read_wire_lines(
    source: JsonlSource<'_>,
    max_line_bytes: u64,
    options: &IngestOptions<'_>,
    lines: &mut impl WireLines,
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
            lines.bad_line(
                &location,
                None,
                Error::input(
                    location.clone(),
                    format!("line longer than {max_line_bytes} bytes"),
                ),
            )?;
            // Skipped: the rest of the line goes unread to its newline.
            consumed += skip_past_newline(&mut reader)
                .map_err(|err| Error::io(format!("read {}", source.name), err))?;
            continue;
        }
        let complete = line.last() == Some(&b'\n');
        let text = match std::str::from_utf8(&line) {
            Ok(text) => text.trim_end_matches(['\n', '\r']),
            Err(err) if complete => {
                let message = format!("invalid UTF-8 at byte {}", err.valid_up_to());
                lines.bad_line(&location, None, Error::input(location.clone(), message))?;
                continue;
            }
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
            Err(err) => {
                lines.bad_line(
                    &location,
                    Some(text),
                    Error::input(location.clone(), err.to_string()),
                )?;
                continue;
            }
        };
        lines.event(&location, event)?;
    }
}

/// Reads and discards up to and including the next newline (or to the end);
/// returns the bytes read.
fn skip_past_newline(reader: &mut impl BufRead) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(skipped + at as u64 + 1);
            }
            None => {
                let len = buf.len();
                reader.consume(len);
                skipped += len as u64;
            }
        }
    }
}

/// One import in progress.
struct Import<'i, 'w, 's> {
    writes: &'i mut Writes<'w>,
    store: &'s Store,
    base: Confinement,
    bundle: Option<&'i BundleRules>,
    redactor: Option<&'i Redactor>,
    /// The rollouts of the input, by the id they are stored under.
    rollouts: IndexMap<String, RolloutImport>,
    /// The last wire seq per rollout: seqs must increase within a file.
    last_seq: BTreeMap<String, u64>,
    /// Events appended so far.
    events: u64,
}

/// One rollout of the input.
struct RolloutImport {
    num: u64,
    /// Stored events the input must match before it may append: the stored
    /// log from the input's first event on.
    stored: Option<StoredCursor>,
    /// Starts seen so far: the stored log before the input's first event,
    /// then the input.
    starts: StartTracker,
    outcome: RolloutOutcome,
    /// The seq of this rollout's last input event; 0 before the first event
    /// of a whole log (which aligns with seq 1), `None` before the first
    /// event of a continuation (which aligns with its own seq).
    last_wire_seq: Option<Seq>,
}

/// The stored log of a rollout the input is being compared with.
struct StoredCursor {
    events: EventIter,
    /// The stored seq the next input event is compared with.
    next_seq: Seq,
    last_seq: Seq,
}

impl WireLines for Import<'_, '_, '_> {
    fn event(&mut self, location: &str, event: WireEvent<WirePayloadRef>) -> Result<()> {
        self.import_event(location, event)
    }
}

impl Import<'_, '_, '_> {
    fn import_event(&mut self, location: &str, mut event: WireEvent<WirePayloadRef>) -> Result<()> {
        // Before anything uses the rollout id: the store keeps the redacted one.
        if let Some(redactor) = self.redactor {
            redactor.redact_event(
                &mut event.rollout_id,
                &mut event.thread_id,
                &mut event.codex_turn_id,
                &mut event.payload,
            );
        }
        let rollout_id = match self.bundle {
            Some(rules) => {
                check_manifest_rollout(location, &event.rollout_id, &rules.manifest_rollout_id)?;
                rules.store_as.clone()
            }
            None => event.rollout_id.clone(),
        };
        check_seq_increases(location, &rollout_id, event.seq, &mut self.last_seq)?;
        if !self.rollouts.contains_key(&rollout_id) {
            let rollout = self.open_rollout(location, &rollout_id, &event)?;
            self.rollouts.insert(rollout_id.clone(), rollout);
        }
        let Some(rollout) = self.rollouts.get_mut(&rollout_id) else {
            return Err(Error::Other(format!("rollout {rollout_id} was not opened")));
        };
        let wire_seq = event.seq;
        rollout
            .starts
            .observe(wire_seq, event.thread_id.as_deref(), &event.payload)
            .map_err(|dup| Error::input(location, format!("seq {wire_seq}: {dup}")))?;

        let comparing = rollout
            .stored
            .as_ref()
            .is_some_and(|cursor| cursor.next_seq <= cursor.last_seq);
        let (writes, base, redactor) = (&mut *self.writes, &self.base, self.redactor);
        let WireEvent {
            wall_time_unix_ms,
            thread_id,
            codex_turn_id,
            payload,
            ..
        } = event;
        let payload = payload
            .try_map_refs(|r| resolve_ref(writes, base, r, redactor, !comparing))
            .map_err(|err| Error::input(location, format!("seq {wire_seq}: {err}")))?;
        let event = Event {
            seq: wire_seq,
            wall_time_unix_ms,
            thread_id,
            codex_turn_id,
            payload,
        };
        // The seqs a whole log skips are kept as `events_dropped` records, so
        // the stored log carries the input's seqs and stays contiguous.
        if let Some(last) = rollout.last_wire_seq {
            let skipped = seq_gap_records(last, wire_seq, wall_time_unix_ms)
                .map_err(|err| Error::input(location, err))?;
            for gap in skipped {
                self.put(location, &rollout_id, gap)?;
            }
        }
        self.put(location, &rollout_id, event)
    }

    /// Compares `event` with the stored event it aligns with, or appends it
    /// once the input is past the stored log.
    fn put(&mut self, location: &str, rollout_id: &str, event: Event) -> Result<()> {
        let Some(rollout) = self.rollouts.get_mut(rollout_id) else {
            return Err(Error::Other(format!("rollout {rollout_id} was not opened")));
        };
        rollout.last_wire_seq = Some(event.seq);
        let comparing = rollout
            .stored
            .as_ref()
            .is_some_and(|cursor| cursor.next_seq <= cursor.last_seq);
        if comparing {
            return compare_with_stored(location, rollout_id, rollout, &event);
        }
        rollout.stored = None;
        self.writes
            .append(
                rollout.num,
                event.wall_time_unix_ms,
                event.thread_id,
                event.codex_turn_id,
                event.payload,
            )
            .map_err(|err| Error::input(location, err.to_string()))?;
        rollout.outcome.appended += 1;
        self.events += 1;
        Ok(())
    }

    /// The first event of `rollout_id` in the input: a new rollout, or a
    /// stored one that the input is compared with from the seq it aligns to.
    fn open_rollout(
        &mut self,
        location: &str,
        rollout_id: &str,
        first: &WireEvent<WirePayloadRef>,
    ) -> Result<RolloutImport> {
        let starts_log = matches!(first.payload, EventPayload::RolloutStarted { .. });
        let outcome = |created| RolloutOutcome {
            rollout_id: rollout_id.to_string(),
            created,
            ..RolloutOutcome::default()
        };
        match self.writes.rollout(rollout_id, false) {
            Ok(num) => {
                let manifest = self.store.manifest(rollout_id)?;
                // A whole log (a bundle, or a file that starts the rollout)
                // aligns with seq 1; a continuation with its own seq.
                let anchor = if self.bundle.is_some() || starts_log {
                    1
                } else {
                    first.seq
                };
                if anchor == 0 || anchor > manifest.event_count + 1 {
                    return Err(Error::input(
                        location,
                        format!(
                            "rollout {rollout_id} is stored with {} events; this file continues it at seq {} (expected at most seq {})",
                            manifest.event_count,
                            first.seq,
                            manifest.event_count + 1
                        ),
                    ));
                }
                let mut events = self.store.events_of(&manifest);
                let mut starts = StartTracker::new();
                for _ in 1..anchor {
                    let Some(stored) = events.next() else { break };
                    let stored = stored?;
                    // A stored log that already repeats a start is the
                    // reducer's to report; the tracker keeps the first.
                    let _ =
                        starts.observe(stored.seq, stored.thread_id.as_deref(), &stored.payload);
                }
                Ok(RolloutImport {
                    num,
                    stored: Some(StoredCursor {
                        events,
                        next_seq: anchor,
                        last_seq: manifest.event_count,
                    }),
                    starts,
                    outcome: outcome(false),
                    last_wire_seq: (anchor == 1).then_some(0),
                })
            }
            Err(Error::UnknownRollout(_)) => {
                if !starts_log && self.bundle.is_none() {
                    return Err(Error::input(
                        location,
                        format!(
                            "event for unknown rollout {rollout_id}: a new rollout must begin with rollout_started"
                        ),
                    ));
                }
                Ok(RolloutImport {
                    num: self.writes.rollout(rollout_id, true)?,
                    stored: None,
                    starts: StartTracker::new(),
                    outcome: outcome(true),
                    last_wire_seq: Some(0),
                })
            }
            Err(err) => Err(err),
        }
    }
}

/// Compares an input event with the stored event it aligns with: equal, the
/// input moves on; different, the import fails naming the first difference.
fn compare_with_stored(
    location: &str,
    rollout_id: &str,
    rollout: &mut RolloutImport,
    event: &Event,
) -> Result<()> {
    let payload = &event.payload;
    let Some(cursor) = rollout.stored.as_mut() else {
        return Err(Error::Other(format!(
            "rollout {rollout_id} has no stored log to compare"
        )));
    };
    let seq = cursor.next_seq;
    let stored = match cursor.events.next() {
        Some(stored) => stored?,
        None => {
            return Err(Error::Event {
                rollout_id: rollout_id.to_string(),
                seq,
                message: "missing: the stored log ends before its manifest's count".to_string(),
            });
        }
    };
    let difference = if stored.payload.type_name() != payload.type_name() {
        Some(format!(
            "the stored event is {}, this line is {}",
            stored.payload.type_name(),
            payload.type_name()
        ))
    } else if stored.wall_time_unix_ms != event.wall_time_unix_ms {
        Some(format!(
            "wall_time_unix_ms {} is stored, this line has {}",
            stored.wall_time_unix_ms, event.wall_time_unix_ms
        ))
    } else if stored.thread_id != event.thread_id {
        Some("thread_id differs".to_string())
    } else if stored.codex_turn_id != event.codex_turn_id {
        Some("codex_turn_id differs".to_string())
    } else if stored.payload != *payload {
        Some(describe_payload_difference(&stored, payload))
    } else {
        None
    };
    if let Some(difference) = difference {
        return Err(Error::input(
            location,
            format!(
                "rollout {rollout_id} is already stored and differs from this input at seq {seq}: {difference}; nothing was imported (import it under another id to keep both)"
            ),
        ));
    }
    cursor.next_seq += 1;
    rollout.outcome.already_stored += 1;
    Ok(())
}

fn describe_payload_difference(stored: &Event, payload: &EventPayload<PayloadRef>) -> String {
    let stored_refs = stored.payload.payload_refs();
    let input_refs = payload.payload_refs();
    for (index, (a, b)) in stored_refs.iter().zip(&input_refs).enumerate() {
        if a != b {
            return format!(
                "payload {} of the event is {} ({} bytes) in the store, {} ({} bytes) here",
                index + 1,
                a.hash,
                a.size_bytes,
                b.hash,
                b.size_bytes
            );
        }
    }
    if stored_refs.len() != input_refs.len() {
        return format!(
            "the stored event cites {} payloads, this line {}",
            stored_refs.len(),
            input_refs.len()
        );
    }
    "the event's fields differ".to_string()
}

/// Resolves a wire reference to a stored one. With `stage`, new payload
/// bytes are staged in the write; without, they are only hashed (an event
/// compared with the stored log stores nothing).
fn resolve_ref(
    writes: &mut Writes<'_>,
    base: &Confinement,
    r: WirePayloadRef,
    redactor: Option<&Redactor>,
    stage: bool,
) -> Result<PayloadRef> {
    match wire_ref_bytes(base, r, writes.max_payload_bytes(), redactor)? {
        WireBytes::Bytes { kind, bytes } if stage => writes.put_payload_bytes(kind, &bytes),
        WireBytes::Bytes { kind, bytes } => Ok(PayloadRef {
            kind,
            hash: Hash::of(&bytes),
            size_bytes: bytes.len() as u64,
        }),
        WireBytes::Stored {
            kind,
            blake3,
            size_bytes,
        } => match writes.payload_size(&blake3)? {
            None => Err(Error::Other(format!(
                "payload {blake3} is not in this store (export with inline payloads to move rollouts between stores)"
            ))),
            Some(stored) if stored != size_bytes => Err(Error::Other(format!(
                "payload {blake3} is {stored} bytes in this store, but the reference claims size_bytes {size_bytes}"
            ))),
            Some(_) => Ok(PayloadRef {
                kind,
                hash: blake3,
                size_bytes,
            }),
        },
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

/// The most seqs one gap in a bundle may skip: each becomes a record, so a
/// line claiming seq 10^12 must not make a trillion of them.
pub const SEQ_GAP_MAX: u64 = 4096;

/// The `events_dropped` records standing for the seqs between the last
/// event's seq (`last`, 0 before the first) and `seq`, so a log keeps the
/// seqs its lines carry and stays contiguous (the store's invariant). A gap
/// over [`SEQ_GAP_MAX`] is an error.
pub(crate) fn seq_gap_records(
    last: u64,
    seq: u64,
    wall_time_unix_ms: i64,
) -> std::result::Result<Vec<Event>, String> {
    let missing = seq.saturating_sub(last + 1);
    if missing > SEQ_GAP_MAX {
        return Err(format!(
            "seq {seq} follows seq {last}: a gap of {missing} seqs is over the limit of {SEQ_GAP_MAX}"
        ));
    }
    Ok((last + 1..seq)
        .map(|skipped| Event {
            seq: skipped,
            wall_time_unix_ms,
            thread_id: None,
            codex_turn_id: None,
            payload: EventPayload::EventsDropped {
                count: 1,
                reason: format!("seq {skipped} is missing from the input"),
            },
        })
        .collect())
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
/// bytes, an inline value as compact JSON (key order kept), inline text or
/// base64. With a redactor, secrets are replaced first (a file's bytes are
/// kept exactly unless something was redacted). Nothing over `limit_bytes`
/// is accepted.
pub(crate) fn wire_ref_bytes(
    base: &Confinement,
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
            let bytes = base
                .read(&path, limit_bytes)
                .map_err(|err| Error::Other(format!("payload {raw_payload_id} ({path}): {err}")))?;
            (kind, redacted_bytes(redactor, bytes))
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
        WirePayloadRef::InlineBase64 { kind, bytes } => (kind, redacted_bytes(redactor, bytes)),
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
    if bytes.len() as u64 > limit_bytes {
        return Err(Error::PayloadTooLarge {
            size_bytes: bytes.len() as u64,
            limit_bytes,
        });
    }
    Ok(WireBytes::Bytes { kind, bytes })
}

fn redacted_bytes(redactor: Option<&Redactor>, bytes: Vec<u8>) -> Vec<u8> {
    match redactor.and_then(|redactor| redactor.redact_bytes(&bytes)) {
        Some(redacted) => redacted,
        None => bytes,
    }
}

/// The directory an input's payload files must stay inside.
pub(crate) struct Confinement {
    base: PathBuf,
    /// The directory resolved once (`None` if it does not resolve; every
    /// read then fails naming it).
    canonical: std::result::Result<PathBuf, String>,
}

impl Confinement {
    pub(crate) fn new(base: &Path) -> Confinement {
        Confinement {
            base: base.to_path_buf(),
            canonical: base
                .canonicalize()
                .map_err(|err| format!("bundle directory {}: {err}", base.display())),
        }
    }

    /// Opens `relative` once, refusing anything that could read outside the
    /// directory or block: the path must be relative without `..`; the last
    /// component is opened without following a symlink and without blocking
    /// (a FIFO opens at once instead of waiting for a writer); the open
    /// descriptor must be a regular file; and where the system tells the
    /// open file's real path, it must lie inside the directory (a symlinked
    /// directory on the way cannot lead out). No check precedes the open, so
    /// nothing can be swapped between a check and the open.
    pub(crate) fn open(&self, relative: &str) -> Result<(File, u64)> {
        if relative.is_empty() {
            return Err(Error::Other("empty payload path".to_string()));
        }
        for component in Path::new(relative).components() {
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
        let base = self
            .canonical
            .as_ref()
            .map_err(|err| Error::Other(err.clone()))?;
        let full = self.base.join(relative);
        let file = open_no_follow_nonblocking(&full)?;
        let meta = file
            .metadata()
            .map_err(|err| Error::io(format!("stat payload file {}", full.display()), err))?;
        if !meta.is_file() {
            return Err(Error::Other(format!(
                "payload file {} is not a regular file",
                full.display()
            )));
        }
        let real = opened_path(&file)
            .map_or_else(|| full.canonicalize(), Ok)
            .map_err(|err| Error::io(format!("payload file {}", full.display()), err))?;
        if !real.starts_with(base) {
            return Err(Error::Other(format!(
                "path {relative} resolves outside the bundle directory (through a symlink)"
            )));
        }
        Ok((file, meta.len()))
    }

    /// Reads a confined file whole, refusing one over `limit_bytes`.
    pub(crate) fn read(&self, relative: &str, limit_bytes: u64) -> Result<Vec<u8>> {
        let (file, len) = self.open(relative)?;
        if len > limit_bytes {
            return Err(Error::PayloadTooLarge {
                size_bytes: len,
                limit_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(limit_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| {
                Error::io(
                    format!("read payload file {}", self.base.join(relative).display()),
                    err,
                )
            })?;
        if bytes.len() as u64 > limit_bytes {
            return Err(Error::PayloadTooLarge {
                size_bytes: bytes.len() as u64,
                limit_bytes,
            });
        }
        Ok(bytes)
    }
}

/// Reads a payload file named by a bundle-relative path, refusing anything
/// that could read outside the bundle or block.
pub fn read_payload_file(base_dir: &Path, relative: &str, limit_bytes: u64) -> Result<Vec<u8>> {
    Confinement::new(base_dir).read(relative, limit_bytes)
}

#[cfg(unix)]
fn open_no_follow_nonblocking(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|err| {
            if err.raw_os_error() == Some(libc::ELOOP) {
                Error::Other(format!("payload file {} is a symlink", path.display()))
            } else {
                Error::io(format!("open payload file {}", path.display()), err)
            }
        })
}

#[cfg(not(unix))]
fn open_no_follow_nonblocking(path: &Path) -> Result<File> {
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(Error::Other(format!(
            "payload file {} is a symlink",
            path.display()
        )));
    }
    File::open(path).map_err(|err| Error::io(format!("open payload file {}", path.display()), err))
}

/// The real path of an open file, where the system tells it (Linux's
/// `/proc/self/fd`).
#[cfg(target_os = "linux")]
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn opened_path(_file: &File) -> Option<PathBuf> {
    None
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
    let manifest = read_bundle_manifest_any_version(bundle_dir)?;
    check_manifest_schema_version(bundle_dir, &manifest)?;
    Ok(manifest)
}

/// The error for a manifest `schema_version` this build does not read.
pub(crate) fn check_manifest_schema_version(
    bundle_dir: &Path,
    manifest: &BundleManifest,
) -> Result<()> {
    if manifest.schema_version == 1 {
        return Ok(());
    }
    Err(Error::input(
        bundle_dir.join("manifest.json").display().to_string(),
        format!(
            "unsupported manifest schema_version {}",
            manifest.schema_version
        ),
    ))
}

/// Reads a bundle's manifest and checks all but its `schema_version`.
pub(crate) fn read_bundle_manifest_any_version(bundle_dir: &Path) -> Result<BundleManifest> {
    let path = bundle_dir.join("manifest.json");
    let bytes = read_payload_file(bundle_dir, "manifest.json", 1 << 20)
        .map_err(|err| Error::input(path.display().to_string(), err.to_string()))?;
    let manifest: BundleManifest = serde_json::from_slice(&bytes).map_err(|err| {
        Error::input(
            path.display().to_string(),
            format!("malformed manifest: {err}"),
        )
    })?;
    if manifest.rollout_id.is_empty() {
        return Err(Error::input(path.display().to_string(), "empty rollout_id"));
    }
    Ok(manifest)
}

/// Imports a reference trace bundle (`manifest.json`, `trace.jsonl`,
/// `payloads/`) as one rollout, all or nothing. A rollout already stored
/// under that id is compared with the bundle (see the module docs).
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
    writes.set_spill_threshold(options.spill_threshold_bytes);
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
    let created = match report.rollouts.first() {
        Some(outcome) => outcome.created,
        None => {
            // An empty log: the rollout is the manifest alone.
            let created = writes.rollout(&rollout_id, false).is_err();
            report.rollout_ids.push(rollout_id.clone());
            report.rollouts.push(RolloutOutcome {
                rollout_id: rollout_id.clone(),
                created,
                ..RolloutOutcome::default()
            });
            created
        }
    };
    if created {
        let num = writes.rollout(&rollout_id, true)?;
        writes.set_identity(
            num,
            &manifest.trace_id,
            &manifest.root_thread_id,
            manifest.started_at_unix_ms,
        );
    }
    writes.commit(true)?;
    Ok(report)
}

/// Opens a bundle's file (its event log) under the payload rules; errors
/// name the file.
pub(crate) fn open_no_follow_checked(bundle_dir: &Path, relative: &str) -> Result<File> {
    Confinement::new(bundle_dir)
        .open(relative)
        .map(|(file, _)| file)
        .map_err(|err| {
            Error::input(
                bundle_dir.join(relative).display().to_string(),
                err.to_string(),
            )
        })
}
