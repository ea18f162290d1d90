//! Integration tests: store format 2, the pack tier (issue 16).
//!
//! `Store::compact` moves the hot tier (sled records) into an immutable
//! pack file; reads, `verify`, `stats` and appends go through both tiers.
//! These tests hold the pack to what the hot tier promised, through the
//! public API and the CLI only (the pack's encoding changes under them):
//! every event and payload reads back identical after a compaction, after
//! appends on top of a pack and after a second compaction; and a format-1
//! store (the golden fixture) is read as is and upgraded by its first
//! compaction; and `gc` counts what deleted rollouts left dead in the pack,
//! which the next compaction (run by `delete` when worth it) gives back;
//! and a damaged pack is found and named, never a panic (`damage`).

mod damage;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tracefold::demo::DemoConfig;
use tracefold::event::{Event, EventPayload, ExecutionStatus, Hash, RolloutStatus};
use tracefold::{
    IngestOptions, JsonlSource, Recorder, RecorderConfig, RolloutManifest, RolloutStart, Store,
    StoreOptions, StoreStats, ThreadStart, ingest_jsonl,
};

use crate::support::{
    Words, file_names, files_under, growing_conversation_jsonl, line, ok, read_events,
    root_start_lines,
};

/// Everything a store gives back: each rollout's manifest and events, and
/// the bytes of every payload they cite.
#[derive(Debug, PartialEq)]
pub struct Contents {
    pub rollouts: BTreeMap<String, (RolloutManifest, Vec<Event>)>,
    pub payloads: BTreeMap<Hash, Vec<u8>>,
}

impl Contents {
    /// Reads every rollout's events and every payload they cite.
    pub fn read(store: &Store) -> Contents {
        let mut rollouts = BTreeMap::new();
        let mut payloads = BTreeMap::new();
        for manifest in store.rollouts().expect("rollouts") {
            let events = read_events(store, &manifest.rollout_id);
            assert_eq!(events.len() as u64, manifest.event_count);
            for (event, seq) in events.iter().zip(1..) {
                assert_eq!(event.seq, seq, "{}: seq", manifest.rollout_id);
                for cited in event.payload.payload_refs() {
                    if let Entry::Vacant(entry) = payloads.entry(cited.hash) {
                        let bytes = store.read_payload(&cited.hash).unwrap_or_else(|err| {
                            panic!("{} seq {seq}: {err}", manifest.rollout_id)
                        });
                        assert_eq!(bytes.len() as u64, cited.size_bytes, "seq {seq}");
                        entry.insert(bytes);
                    }
                }
            }
            rollouts.insert(manifest.rollout_id.clone(), (manifest, events));
        }
        Contents { rollouts, payloads }
    }

    /// Fails, naming the first difference (rollout, event or payload),
    /// unless `self` is `expected`: the whole structs are too large for an
    /// assertion message.
    pub fn assert_same(&self, expected: &Contents, context: &str) {
        let ids = |c: &Contents| c.rollouts.keys().cloned().collect::<Vec<_>>();
        assert_eq!(ids(self), ids(expected), "{context}: rollout ids");
        for (id, (manifest, events)) in &self.rollouts {
            let (expected_manifest, expected_events) = &expected.rollouts[id];
            assert_eq!(manifest, expected_manifest, "{context}: manifest of {id}");
            for (event, expected_event) in events.iter().zip(expected_events) {
                assert_eq!(event, expected_event, "{context}: {id} seq {}", event.seq);
            }
            assert_eq!(events.len(), expected_events.len(), "{context}: {id}");
        }
        let hashes = |c: &Contents| c.payloads.keys().copied().collect::<Vec<_>>();
        assert_eq!(hashes(self), hashes(expected), "{context}: payloads");
        for (hash, bytes) in &self.payloads {
            assert!(
                *bytes == expected.payloads[hash],
                "{context}: payload {hash} reads back other bytes"
            );
        }
    }

    /// The events of `rollout`.
    pub fn events(&self, rollout: &str) -> &[Event] {
        &self.rollouts[rollout].1
    }
}

/// What `stats` counts, without what a compaction is meant to change (the
/// stored bytes, the pack's share and the disk).
pub fn counts(stats: &StoreStats) -> [u64; 6] {
    [
        stats.rollouts,
        stats.events,
        stats.payloads,
        stats.payload_refs,
        stats.logical_payload_bytes,
        stats.unique_payload_bytes,
    ]
}

/// The pack files (`pack-*.tfpack`) in a store directory, by name.
pub fn pack_files(store_dir: &Path) -> Vec<String> {
    file_names(store_dir)
        .into_iter()
        .filter(|name| name.starts_with("pack-") && name.ends_with(".tfpack"))
        .collect()
}

/// The one pack file of a compacted store.
pub fn the_pack(store_dir: &Path) -> PathBuf {
    let packs = pack_files(store_dir);
    assert_eq!(packs.len(), 1, "one pack file: {packs:?}");
    store_dir.join(&packs[0])
}

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    files
        .iter()
        .map(|file| std::fs::metadata(file).expect("metadata").len())
        .sum()
}

/// Writes rollout `rollout` as JSONL: its start, then `notes` protocol
/// events, each with a payload of `words` pseudo-random words (distinct, so
/// they take room in the pack), the first one the same in every rollout.
pub fn notes_jsonl(dir: &Path, rollout: &str, notes: u64, words: usize, seed: u64) -> PathBuf {
    let mut text = Words::new(seed);
    let mut lines = root_start_lines(rollout);
    for n in 0..notes {
        let body = if n == 0 {
            json!({"note": "shared by every rollout"})
        } else {
            json!({"note": n, "text": text.sentence(words)})
        };
        lines.push(line(
            n + 3,
            rollout,
            Some("root"),
            None,
            json!({"type": "protocol_event_observed", "event_type": "note",
                   "event_payload": {"kind": {"type": "protocol_event"}, "inline": body}}),
        ));
    }
    let path = dir.join(format!("{rollout}.jsonl"));
    std::fs::write(&path, lines.join("\n") + "\n").expect("write jsonl");
    path
}

/// Ingests `notes_jsonl(...)` into `store`.
pub fn ingest_notes(store: &Store, dir: &Path, rollout: &str, notes: u64, seed: u64) {
    let file = notes_jsonl(dir, rollout, notes, 400, seed);
    let source = JsonlSource::file(&file).expect("open jsonl");
    ingest_jsonl(store, source, &IngestOptions::default()).expect("ingest");
}

/// Ingests the growing conversation `rollout` (`turns` turns, `seed`).
pub fn ingest_conversation(store: &Store, dir: &Path, rollout: &str, turns: u64, seed: u64) {
    let file = growing_conversation_jsonl(dir, rollout, turns, seed);
    let source = JsonlSource::file(&file).expect("open jsonl");
    ingest_jsonl(store, source, &IngestOptions::default()).expect("ingest");
}

/// Compacts `store`, checking that the compaction kept every count and
/// left nothing hot; returns the reopened store.
pub fn compact_checked(store: Store) -> Store {
    let stats = store.stats().expect("stats");
    let (store, report) = store.compact().expect("compact");
    assert_eq!(report.events_packed, stats.events, "{report:?}");
    assert_eq!(report.payloads_packed, stats.payloads, "{report:?}");
    let after = store.stats().expect("stats");
    assert_eq!(counts(&after), counts(&stats), "{after:#?}\n{stats:#?}");
    assert_eq!(
        (after.pack_events, after.pack_payloads),
        (after.events, after.payloads)
    );
    assert_eq!(after.pack_bytes, report.pack_bytes);
    assert_eq!(after.chunks, 0);
    assert_eq!(store.hot_record_bytes().expect("hot bytes"), 0);
    assert_eq!(store.verify().expect("verify"), Vec::new());
    store
}

/// `tracefold reduce` of each of `rollouts`, by id (the store must be closed).
fn reduced(store_dir: &Path, rollouts: &[&str]) -> Vec<String> {
    rollouts
        .iter()
        .map(|rollout| ok(store_dir, &["reduce", rollout]))
        .collect()
}

pub fn open(store_dir: &Path) -> Store {
    Store::open(store_dir, StoreOptions::default()).expect("open store")
}

/// The last inference request of `events`, read back.
fn last_request(store: &Store, events: &[Event]) -> (Hash, Value) {
    let hash = events
        .iter()
        .rev()
        .find_map(|event| match &event.payload {
            EventPayload::InferenceStarted {
                request_payload, ..
            } => Some(request_payload.hash),
            _ => None,
        })
        .expect("an inference request");
    let bytes = store.read_payload(&hash).expect("request reads");
    (hash, serde_json::from_slice(&bytes).expect("request json"))
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// Continues the packed rollout `conv` (a new session resumes its root
/// thread) with requests that extend its last packed request, a response
/// that repeats a packed payload, and a turn id the packed log already
/// used (dropped); starts rollout `late`. Returns the payload bytes sent,
/// by hash, and the repeated payload's hash.
fn append_after_compaction(store: &Store) -> (BTreeMap<Hash, Vec<u8>>, Hash) {
    let packed = read_events(store, "conv");
    let (_, mut request) = last_request(store, &packed);
    let repeated = packed
        .iter()
        .find_map(|event| match &event.payload {
            EventPayload::InferenceCompleted {
                response_payload: response,
                ..
            } => Some(response.hash),
            _ => None,
        })
        .expect("a packed response");
    let repeated_value: Value =
        serde_json::from_slice(&store.read_payload(&repeated).expect("reads")).expect("json");
    let mut sent = BTreeMap::new();
    let mut send = |value: &Value| {
        let bytes = serde_json::to_vec(value).expect("json");
        sent.insert(Hash::of(&bytes), bytes);
        value.clone()
    };

    let recorder = Recorder::start(store, RecorderConfig::default()).expect("recorder");
    let rollout = recorder.start_rollout(RolloutStart {
        rollout_id: Some("conv".into()),
        trace_id: None,
        root: ThreadStart {
            thread_id: "root".into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    });
    // The packed log started turn-0: starting it again is refused.
    rollout.root().start_turn("turn-0");
    for turn in 0..3 {
        let turn_recorder = rollout.root().start_turn(format!("late-turn-{turn}"));
        request["input"]
            .as_array_mut()
            .expect("input")
            .push(user(&format!("and now step {turn} of the late session")));
        let body = send(&request);
        let call = turn_recorder.start_inference("m", "p", || body);
        let response = if turn == 1 {
            send(&repeated_value)
        } else {
            send(
                &json!({"output_items": [{"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": format!("late answer {turn}")}]}]}),
            )
        };
        let response_id = format!("late-resp-{turn}");
        call.completed(Some(response_id.as_str()), None, || response);
        turn_recorder.end(ExecutionStatus::Completed);
    }
    let late = recorder.start_rollout(RolloutStart {
        rollout_id: Some("late".into()),
        trace_id: None,
        root: ThreadStart {
            thread_id: "late-root".into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    });
    let turn = late.root().start_turn("late-only");
    let body = send(&json!({"input": [user("a rollout that starts after the pack")]}));
    let response = send(&json!({"output_items": []}));
    turn.start_inference("m", "p", || body)
        .completed(Some("late-only-resp"), None, || response);
    turn.end(ExecutionStatus::Completed);
    late.end(RolloutStatus::Completed);
    recorder.shutdown().expect("shutdown");
    assert_eq!(
        recorder.stats().events_dropped,
        1,
        "turn-0 again is dropped"
    );
    (sent, repeated)
}

#[test]
fn every_event_and_payload_reads_back_identical_through_two_compactions_and_appends_between() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let store = open(&store_dir);
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let demo = tracefold::demo::run(
        &recorder,
        DemoConfig {
            turns: 20,
            agents: 2,
            ..DemoConfig::default()
        },
    );
    recorder.shutdown().expect("shutdown");
    ingest_conversation(&store, dir.path(), "conv", 12, 5);
    let hot = Contents::read(&store);
    let hot_stats = store.stats().expect("stats");
    assert!(store.hot_record_bytes().expect("hot") > 0);
    assert_eq!(hot_stats.pack_bytes, 0);
    // The conversation resends itself: its requests are stored as deltas.
    assert!(hot_stats.stored_chunk_bytes * 4 < hot_stats.unique_payload_bytes);
    drop(store);
    assert!(pack_files(&store_dir).is_empty());
    let demo_id = demo.rollout_id.as_str();
    let states = reduced(&store_dir, &[demo_id, "conv"]);

    // First compaction: the pack holds everything, and reads are unchanged.
    let store = compact_checked(open(&store_dir));
    let first_pack = the_pack(&store_dir);
    Contents::read(&store).assert_same(&hot, "after the first compaction");
    drop(store);
    assert_eq!(reduced(&store_dir, &[demo_id, "conv"]), states);

    // Appends on top of the pack: the resumed rollout's seq goes on.
    let store = open(&store_dir);
    let (sent, repeated) = append_after_compaction(&store);
    // Each late request extends the packed one before it, so the first is
    // stored as a delta of a packed payload, not whole: the hot tier holds
    // its new turn's bytes, the others' and 15 small events (3.6 KB here;
    // 9.9 KB when the first late request was stored whole).
    let request_bytes = sent.values().map(Vec::len).max().expect("sent");
    let hot_bytes = store.hot_record_bytes().expect("hot");
    assert!(
        hot_bytes < request_bytes as u64 / 4,
        "{hot_bytes} hot bytes after 3 requests of about {request_bytes}"
    );
    let both = Contents::read(&store);
    assert_eq!(store.verify().expect("verify"), Vec::new());
    let packed_conv = hot.events("conv");
    let conv = both.events("conv");
    // A read from any seq: inside the pack's block, at the tiers' border,
    // in the hot tier, past the end.
    let manifest = store.manifest("conv").expect("manifest");
    let border = packed_conv.len() as u64;
    for first in [
        0,
        1,
        2,
        border / 2,
        border,
        border + 1,
        border + 3,
        manifest.event_count,
        manifest.event_count + 1,
    ] {
        let tail: Vec<Event> = store
            .events_from(&manifest, first)
            .collect::<tracefold::Result<_>>()
            .unwrap_or_else(|err| panic!("events from seq {first}: {err}"));
        let skip = first.saturating_sub(1) as usize;
        assert_eq!(
            tail,
            conv[skip.min(conv.len())..],
            "events from seq {first}"
        );
    }
    assert!(
        conv[..packed_conv.len()] == *packed_conv,
        "the packed part of conv"
    );
    // thread_resumed, the drop of turn-0's second start (the resumed
    // session saw the packed log), then 3 turns of 4 events.
    let late_types: Vec<&str> = conv[packed_conv.len()..]
        .iter()
        .map(|event| event.payload.type_name())
        .collect();
    assert_eq!(late_types.len(), 14, "{late_types:?}");
    assert_eq!(
        late_types[..3],
        ["thread_resumed", "events_dropped", "codex_turn_started"]
    );
    for (hash, bytes) in &sent {
        assert_eq!(&both.payloads[hash], bytes, "payload {hash}");
    }
    for (id, rollout) in &hot.rollouts {
        if id != "conv" {
            assert!(both.rollouts[id] == *rollout, "{id} changed");
        }
    }
    let stats = store.stats().expect("stats");
    assert_eq!(
        stats.events,
        hot_stats.events + 14 + both.events("late").len() as u64
    );
    // The repeated response is the packed payload, not a new one.
    assert!(hot.payloads.contains_key(&repeated));
    let new_payloads = sent
        .keys()
        .filter(|h| !hot.payloads.contains_key(h))
        .count();
    assert_eq!(stats.payloads, hot_stats.payloads + new_payloads as u64);
    assert!(store.hot_record_bytes().expect("hot") > 0);
    drop(store);
    let states = reduced(&store_dir, &[demo_id, "conv", "late"]);

    // Second compaction: a new generation replaces the first pack.
    let store = compact_checked(open(&store_dir));
    let second_pack = the_pack(&store_dir);
    assert_ne!(second_pack, first_pack);
    assert!(!first_pack.exists());
    Contents::read(&store).assert_same(&both, "after the second compaction");
    drop(store);
    assert_eq!(reduced(&store_dir, &[demo_id, "conv", "late"]), states);
    let store = open(&store_dir);
    Contents::read(&store).assert_same(&both, "reopened");
    assert_eq!(store.verify().expect("verify"), Vec::new());
}

/// A pack's stream is cut into frames, and a read decompresses a frame
/// only as far as it needs (further on a later read): payloads of a stream
/// several frames long read back identical front to back, back to front
/// and interleaved, each order on a freshly opened store (nothing cached).
#[test]
fn payloads_of_a_stream_several_frames_long_read_back_in_any_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let store = open(&store_dir);
    ingest_notes(&store, dir.path(), "notes", 1500, 3);
    let hot = Contents::read(&store);
    let stats = store.stats().expect("stats");
    assert!(
        stats.unique_payload_bytes > 3 << 20,
        "more than 3 frames of 1 MiB: {stats:?}"
    );
    drop(compact_checked(store));
    // The order they were written in: the stream's order.
    let mut written: Vec<Hash> = Vec::new();
    for event in hot.events("notes") {
        for cited in event.payload.payload_refs() {
            if !written.contains(&cited.hash) {
                written.push(cited.hash);
            }
        }
    }
    let backwards: Vec<Hash> = written.iter().rev().copied().collect();
    let (evens, odds): (Vec<_>, Vec<_>) = written.iter().enumerate().partition(|(n, _)| n % 2 == 0);
    let interleaved: Vec<Hash> = odds
        .into_iter()
        .rev()
        .zip(evens)
        .flat_map(|((_, a), (_, b))| [*a, *b])
        .collect();
    for (name, order) in [
        ("front to back", &written),
        ("back to front", &backwards),
        ("interleaved", &interleaved),
    ] {
        let store = open(&store_dir);
        for hash in order {
            let bytes = store
                .read_payload(hash)
                .unwrap_or_else(|err| panic!("{name}: {hash}: {err}"));
            assert!(bytes == hot.payloads[hash], "{name}: payload {hash}");
        }
    }
}

/// The store format a store directory's sled database records (`Mformat`),
/// read with the store closed.
pub fn recorded_format(store_dir: &Path) -> Vec<u8> {
    let db = crate::support::open_raw_sled(&store_dir.join("db"));
    let tree = db.open_tree("tracefold").expect("tree");
    tree.get(b"Mformat")
        .expect("read Mformat")
        .expect("Mformat is recorded")
        .to_vec()
}

/// A copy of the golden format-1 store directory (see
/// src/format_v1_tests.rs) at `store_dir`: opening writes sled's own files.
pub fn golden_format_1_store(store_dir: &Path) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1/store");
    std::fs::create_dir_all(store_dir.join("db/blobs")).expect("mkdir");
    for file in ["db/conf", "db/db"] {
        std::fs::copy(golden.join(file), store_dir.join(file)).expect("copy golden store");
    }
}

#[test]
fn the_first_compaction_upgrades_a_format_1_store_and_keeps_every_event_and_payload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    golden_format_1_store(&store_dir);
    assert_eq!(recorded_format(&store_dir), [1]);

    // Read as is: opening and reading leave it format 1.
    let store = Store::open_existing(&store_dir, StoreOptions::default()).expect("opens");
    let before = Contents::read(&store);
    let stats = store.stats().expect("stats");
    assert!(before.payloads.len() > 1, "the golden store has payloads");
    assert!(stats.payloads > 0 && stats.events > 0);
    assert_eq!((stats.pack_bytes, stats.pack_events), (0, 0));
    assert_eq!(store.verify().expect("verify"), Vec::new());
    drop(store);
    assert_eq!(recorded_format(&store_dir), [1]);
    assert!(pack_files(&store_dir).is_empty());

    // The first compaction writes a pack and format 2.
    let store = Store::open_existing(&store_dir, StoreOptions::default()).expect("opens");
    let store = compact_checked(store);
    Contents::read(&store).assert_same(&before, "after the upgrade");
    drop(store);
    the_pack(&store_dir);
    assert_eq!(recorded_format(&store_dir), [2]);

    let store = Store::open_existing(&store_dir, StoreOptions::default()).expect("reopens");
    Contents::read(&store).assert_same(&before, "reopened after the upgrade");
    assert_eq!(store.verify().expect("verify"), Vec::new());
    assert_eq!(counts(&store.stats().expect("stats")), counts(&stats));
}

/// Hashes of the payloads `rollouts` cite in `contents`.
fn cited_by<'a>(contents: &Contents, rollouts: impl Iterator<Item = &'a String>) -> Vec<Hash> {
    let mut hashes: Vec<Hash> = rollouts
        .flat_map(|id| contents.events(id))
        .flat_map(|event| event.payload.payload_refs())
        .map(|cited| cited.hash)
        .collect();
    hashes.sort();
    hashes.dedup();
    hashes
}

#[test]
fn gc_counts_what_deleted_rollouts_left_in_the_pack_and_the_next_compaction_gives_it_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let store = open(&store_dir);
    for n in 0..6 {
        ingest_notes(&store, dir.path(), &format!("notes-{n}"), 60, n);
    }
    ingest_conversation(&store, dir.path(), "conv", 10, 9);
    let store = compact_checked(store);
    let before = Contents::read(&store);
    let pack_bytes = store.stats().expect("stats").pack_bytes;
    let deleted: Vec<String> = (0..4).map(|n| format!("notes-{n}")).collect();
    for id in &deleted {
        store.delete_rollout(id).expect("delete");
    }
    let kept: Vec<String> = before
        .rollouts
        .keys()
        .filter(|id| !deleted.contains(id))
        .cloned()
        .collect();
    let live = cited_by(&before, kept.iter());
    let dead = cited_by(&before, deleted.iter())
        .into_iter()
        .filter(|hash| !live.contains(hash))
        .count();
    drop(store);
    let disk_before = dir_bytes(&store_dir);

    let store = open(&store_dir);
    let report = store.gc().expect("gc");
    let dead_events: u64 = deleted
        .iter()
        .map(|id| before.rollouts[id].0.event_count)
        .sum();
    assert_eq!(report.pack_events_dead, dead_events, "{report:#?}");
    assert_eq!(report.pack_payloads_dead, dead as u64, "{report:#?}");
    assert!(report.pack_stream_bytes_dead > 0, "{report:#?}");
    assert!(report.pack_stream_bytes_dead < report.pack_stream_bytes);
    // Nothing hot to sweep: the pack is immutable.
    assert_eq!(
        (report.payloads_removed, report.chunks_removed),
        (0, 0),
        "{report:#?}"
    );
    assert!(
        store
            .compaction_worthwhile(Some(&report))
            .expect("worthwhile")
    );

    let (store, compacted) = store.compact().expect("compact");
    assert!(compacted.pack_bytes < pack_bytes, "{compacted:#?}");
    assert_eq!(store.verify().expect("verify"), Vec::new());
    let after = Contents::read(&store);
    assert_eq!(
        after.rollouts.keys().collect::<Vec<_>>(),
        kept.iter().collect::<Vec<_>>()
    );
    for id in &kept {
        assert!(after.rollouts[id] == before.rollouts[id], "{id} changed");
    }
    assert_eq!(after.payloads.len(), live.len());
    for (hash, bytes) in &after.payloads {
        assert!(*bytes == before.payloads[hash], "payload {hash}");
    }
    for id in &deleted {
        assert!(
            matches!(store.events(id), Err(tracefold::Error::UnknownRollout(_))),
            "{id} is gone"
        );
    }
    let stats = store.stats().expect("stats");
    assert_eq!(
        (stats.pack_payloads, stats.payloads),
        (live.len() as u64, live.len() as u64)
    );
    assert_eq!(stats.pack_events, stats.events);
    let again = store.gc().expect("gc");
    assert_eq!((again.pack_events_dead, again.pack_payloads_dead), (0, 0));
    drop(store);
    let disk_after = dir_bytes(&store_dir);
    assert!(
        disk_after < disk_before,
        "{disk_before} -> {disk_after} bytes"
    );
}

#[test]
fn cli_delete_compacts_when_worth_it_and_the_directory_shrinks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    for n in 0..4 {
        let file = notes_jsonl(dir.path(), &format!("notes-{n}"), 40, 400, n);
        ok(&store_dir, &["ingest", file.to_str().expect("utf-8")]);
    }
    ok(&store_dir, &["compact"]);
    let pack = the_pack(&store_dir);
    let pack_bytes = std::fs::metadata(&pack).expect("pack").len();
    let disk_before = dir_bytes(&store_dir);
    let kept = ok(&store_dir, &["events", "notes-3", "--inline-payloads"]);
    let mut compacted = 0;
    for n in 0..3 {
        let out = ok(&store_dir, &["delete", &format!("notes-{n}")]);
        compacted += usize::from(out.contains("(compacted)"));
    }
    assert!(compacted > 0, "no delete compacted");
    let pack = the_pack(&store_dir);
    assert!(std::fs::metadata(&pack).expect("pack").len() < pack_bytes);
    let disk_after = dir_bytes(&store_dir);
    assert!(
        disk_after < disk_before,
        "{disk_before} -> {disk_after} bytes"
    );
    assert_eq!(
        ok(&store_dir, &["events", "notes-3", "--inline-payloads"]),
        kept
    );
    ok(&store_dir, &["verify"]);
    let listing = ok(&store_dir, &["rollouts", "--json"]);
    let listing: Value = serde_json::from_str(&listing).expect("json");
    assert_eq!(listing.as_array().expect("array").len(), 1, "{listing}");
}
