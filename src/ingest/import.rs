//! One import in progress: each wire event is redacted, checked (its
//! rollout, its seq, duplicate starts), its payloads resolved, and then
//! either compared with the stored event it aligns with (a rollout the store
//! already holds) or appended to the uncommitted write.
//!
//! A whole log (a bundle, or a file that starts its rollout) aligns with
//! seq 1; a continuation with its own seq. Any difference from the stored
//! log is an error naming the rollout and the first differing seq.
//!
//! Two threads share the work: a second one redacts each event and reads,
//! redacts and hashes its payloads ([`prepare_event`]), up to
//! [`EVENTS_AHEAD`] events ahead of this one, which checks and writes them
//! in input order. Errors come out in input order too: a line that fails
//! to parse is reported only after the events before it were written (or
//! one of them failed).

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::event::wire::{WireEvent, WirePayloadRef};
use crate::event::{Event, EventPayload, PayloadRef, Seq, StartTracker};
use crate::redact::Redactor;
use crate::store::{EventIter, Store, Writes};

use super::payloads::{PreparedRef, prepare_ref, resolve_prepared};
use super::{
    Confinement, IngestOptions, IngestReport, JsonlSource, RolloutOutcome, WireLines,
    check_manifest_rollout, check_seq_increases, max_line_bytes, read_wire_lines, seq_gap_records,
};

/// How a bundle's lines relate to its manifest during import.
pub(super) struct BundleRules {
    pub(super) manifest_rollout_id: String,
    pub(super) store_as: String,
}

/// Reads `source` into `writes` (uncommitted), comparing with or appending
/// to the store's rollouts; `bundle` holds a bundle's rules.
pub(super) fn ingest_into(
    writes: &mut Writes<'_>,
    store: &Store,
    source: JsonlSource<'_>,
    options: &IngestOptions<'_>,
    bundle: Option<&BundleRules>,
) -> Result<IngestReport> {
    let limit_bytes = writes.max_payload_bytes();
    let base = Confinement::new(&source.base_dir);
    let redactor = options.redactor.as_ref();
    let mut import = Import {
        writes,
        store,
        bundle,
        rollouts: IndexMap::new(),
        last_seq: BTreeMap::new(),
        events: 0,
    };
    let max_line_bytes = max_line_bytes(store.options().max_payload_bytes);
    let torn_tail_bytes = std::thread::scope(|scope| {
        let (to_worker, from_main) = crossbeam_channel::bounded(EVENTS_AHEAD);
        let (to_main, prepared) = crossbeam_channel::bounded(PREPARED_AHEAD);
        let base = &base;
        std::thread::Builder::new()
            .name("tracefold-import".to_string())
            .spawn_scoped(scope, move || {
                for (location, event) in from_main {
                    let event = prepare_event(base, limit_bytes, redactor, event);
                    if to_main.send((location, event)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|err| Error::io("spawn the import's reading thread", err))?;
        let mut pipeline = Pipeline {
            import: &mut import,
            to_worker,
            prepared,
            in_flight: 0,
            failed: false,
        };
        match read_wire_lines(source, max_line_bytes, options, &mut pipeline) {
            Ok(torn) => pipeline.drain().map(|()| torn),
            // An event failed: the input stops there.
            Err(err) if pipeline.failed => Err(err),
            // The input itself failed: the events before it come first.
            Err(err) => pipeline.drain().and(Err(err)),
        }
        // Dropping the pipeline closes the worker's input; it stops.
    })?;
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
        unconverted_lines: Vec::new(),
    })
}

/// Events the reading thread may hold or have queued ahead of the writes.
const EVENTS_AHEAD: usize = 32;
/// Prepared events (payload bytes read) waiting for the writes: what bounds
/// the memory the pipeline adds, a few events' payloads.
const PREPARED_AHEAD: usize = 2;

/// An event with its payloads read, redacted and hashed, or the error the
/// first of them met (reported in the order resolving them would).
type PreparedEvent = WireEvent<Result<PreparedRef>>;

/// The reading thread's part of an event: redacts its strings (before
/// anything uses the rollout id: the store keeps the redacted one), then
/// reads, redacts and hashes each payload it cites.
fn prepare_event(
    base: &Confinement,
    limit_bytes: u64,
    redactor: Option<&Redactor>,
    mut event: WireEvent<WirePayloadRef>,
) -> PreparedEvent {
    if let Some(redactor) = redactor {
        redactor.redact_event(
            &mut event.rollout_id,
            &mut event.thread_id,
            &mut event.codex_turn_id,
            &mut event.payload,
        );
    }
    event.map_refs(|r| prepare_ref(base, r, limit_bytes, redactor))
}

/// The import's side of the pipeline: hands each line's event to the
/// reading thread and writes the prepared ones as they come back, in order.
struct Pipeline<'p, 'i, 'w, 's> {
    import: &'p mut Import<'i, 'w, 's>,
    to_worker: crossbeam_channel::Sender<(String, WireEvent<WirePayloadRef>)>,
    prepared: crossbeam_channel::Receiver<(String, PreparedEvent)>,
    /// Events handed over and not yet written.
    in_flight: usize,
    /// Writing an event failed: its error is the import's.
    failed: bool,
}

impl Pipeline<'_, '_, '_, '_> {
    /// Writes the oldest event handed over, waiting for it.
    fn write_next(&mut self) -> Result<()> {
        let (location, event) = self.prepared.recv().map_err(|_| {
            Error::Other("the import's reading thread stopped before the input's end".into())
        })?;
        self.in_flight -= 1;
        self.import
            .import_event(&location, event)
            .inspect_err(|_| self.failed = true)
    }

    /// Writes every event handed over.
    fn drain(&mut self) -> Result<()> {
        while self.in_flight > 0 {
            self.write_next()?;
        }
        Ok(())
    }
}

impl WireLines for Pipeline<'_, '_, '_, '_> {
    fn event(&mut self, location: &str, event: WireEvent<WirePayloadRef>) -> Result<()> {
        if self.in_flight >= EVENTS_AHEAD {
            self.write_next()?;
        }
        self.to_worker
            .send((location.to_string(), event))
            .map_err(|_| Error::Other("the import's reading thread stopped".into()))?;
        self.in_flight += 1;
        while !self.prepared.is_empty() {
            self.write_next()?;
        }
        Ok(())
    }

    fn bad_line(&mut self, location: &str, text: Option<&str>, error: Error) -> Result<()> {
        let _ = (location, text);
        // The events before the line come first, as without the pipeline;
        // then the line stops the import.
        self.drain()?;
        Err(error)
    }
}

/// One import in progress.
struct Import<'i, 'w, 's> {
    writes: &'i mut Writes<'w>,
    store: &'s Store,
    bundle: Option<&'i BundleRules>,
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

impl Import<'_, '_, '_> {
    /// Checks and writes (or compares) one event the reading thread
    /// prepared: its rollout, its seq, its starts, then its payloads.
    fn import_event(&mut self, location: &str, event: PreparedEvent) -> Result<()> {
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
        let writes = &mut *self.writes;
        let WireEvent {
            wall_time_unix_ms,
            thread_id,
            codex_turn_id,
            payload,
            ..
        } = event;
        let payload = payload
            .try_map_refs(|r| r.and_then(|r| resolve_prepared(writes, r, !comparing)))
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
    fn open_rollout<R>(
        &mut self,
        location: &str,
        rollout_id: &str,
        first: &WireEvent<R>,
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
