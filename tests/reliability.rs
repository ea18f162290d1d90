//! Integration tests: retention (`delete`, `gc`), concurrency (many threads,
//! several rollouts, a second process) and injected faults (failing writes,
//! failing flushes, a full disk) through the store's fault seam.
//!
//! Each test states what must survive and what must be reported; none
//! depends on timing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{Value, json};
use tracefold::__internal::{EIO, ENOSPC};
use tracefold::event::{EventPayload, ExecutionStatus};
use tracefold::{
    FaultInjector, IngestOptions, JsonlSource, Recorder, RecorderConfig, RolloutStart,
    ScriptedFaults, Store, StoreOptions, ThreadStart, TurnRecorder, ingest_jsonl,
};

use crate::support::{fails, growing_conversation_jsonl, ok, read_events, seeded_store, stats};

fn start(recorder: &Recorder, rollout: &str) -> TurnRecorder {
    recorder
        .start_rollout(RolloutStart {
            rollout_id: Some(rollout.to_string()),
            trace_id: None,
            root: ThreadStart {
                thread_id: format!("{rollout}-root"),
                agent_path: "/root".into(),
                metadata: None,
            },
        })
        .root()
        .start_turn(format!("{rollout}-turn"))
}

/// Every payload every event of every rollout cites reads back.
fn assert_every_payload_reads_back(store: &Store) {
    for manifest in store.rollouts().expect("rollouts") {
        for event in read_events(store, &manifest.rollout_id) {
            event.payload.for_each_ref(|r| {
                store.read_payload(&r.hash).unwrap_or_else(|err| {
                    panic!("{} seq {}: {err}", manifest.rollout_id, event.seq)
                });
            });
        }
    }
}

fn number(stats: &Value, field: &str) -> u64 {
    stats[field].as_u64().expect(field)
}

#[test]
fn deleting_a_rollout_and_collecting_garbage_shrinks_the_store_and_the_rest_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    // Left in sled's hot tier, whose records gc removes one by one (the
    // pack's dead records are the compaction's: tests/pack.rs).
    for (name, seed) in [("keep-a", 1), ("drop-b", 2), ("keep-c", 3)] {
        let file = growing_conversation_jsonl(dir.path(), name, 30, seed);
        ok(
            &store,
            &["ingest", "--no-compact", file.to_str().expect("utf-8")],
        );
    }
    let before = stats(&store);
    let out = ok(&store, &["delete", "drop-b"]);
    assert!(out.contains("deleted rollout drop-b (122 events)"), "{out}");
    assert!(out.contains("reclaimed"), "{out}");
    let after = stats(&store);
    eprintln!(
        "gc: chunks {} -> {}, stored_chunk_bytes {} -> {}, disk_bytes {} -> {}",
        before["chunks"],
        after["chunks"],
        before["stored_chunk_bytes"],
        after["stored_chunk_bytes"],
        before["disk_bytes"],
        after["disk_bytes"]
    );
    assert_eq!(number(&after, "rollouts"), 2);
    assert!(number(&after, "chunks") < number(&before, "chunks"));
    assert!(number(&after, "stored_chunk_bytes") < number(&before, "stored_chunk_bytes"));
    assert!(number(&after, "payloads") < number(&before, "payloads"));
    ok(&store, &["verify"]);
    for rollout in ["keep-a", "keep-c"] {
        let events = ok(&store, &["events", rollout, "--inline-payloads"]);
        assert_eq!(events.lines().count(), 122);
    }
    fails(&store, &["events", "drop-b"]);
    // A second gc finds nothing more; the deleted rollout ingests again.
    let again: Value = serde_json::from_str(&ok(&store, &["gc", "--json"])).expect("json");
    assert_eq!(again["chunks_removed"], json!(0));
    assert_eq!(again["payloads_removed"], json!(0));
    let file = dir.path().join("drop-b.jsonl");
    ok(&store, &["ingest", file.to_str().expect("utf-8")]);
    ok(&store, &["verify"]);
    let opened = Store::open(&store, StoreOptions::default()).expect("open");
    assert_every_payload_reads_back(&opened);
}

#[test]
fn deleting_every_rollout_gives_the_disk_space_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let names = ["a", "b", "c"];
    for (seed, name) in names.iter().enumerate() {
        let file = growing_conversation_jsonl(dir.path(), name, 200, seed as u64);
        ok(&store, &["ingest", file.to_str().expect("utf-8")]);
    }
    let full = number(&stats(&store), "disk_bytes");
    for name in names {
        ok(&store, &["delete", name]);
    }
    let empty = stats(&store);
    eprintln!(
        "disk bytes: {full} with three rollouts, {} after deleting them",
        empty["disk_bytes"]
    );
    assert_eq!(number(&empty, "chunks"), 0);
    assert!(
        number(&empty, "disk_bytes") < full / 2,
        "the store directory did not shrink: {full} -> {}",
        empty["disk_bytes"]
    );
    ok(&store, &["verify"]);
    // Nothing is left to give back: a second gc does not rewrite the store.
    let again: Value = serde_json::from_str(&ok(&store, &["gc", "--json"])).expect("json");
    assert_eq!(again["compacted"], Value::Null);
    // The store still works: the rollouts ingest again, and stats tells
    // the logical-to-disk ratio beside the chunk ratio.
    let file = dir.path().join("a.jsonl");
    ok(&store, &["ingest", file.to_str().expect("utf-8")]);
    let printed = ok(&store, &["stats"]);
    assert!(
        printed.contains("on disk") && printed.contains("logical payload bytes / disk bytes"),
        "{printed}"
    );
}

#[test]
fn deleting_an_unknown_rollout_is_an_error_naming_it() {
    // A store that exists: on a path without one, every command but the
    // recording ones stops at "no store at DIR" first.
    let (_dir, store, _) = seeded_store();
    let err = fails(&store, &["delete", "nope"]);
    assert!(err.contains("rollout nope not found"), "{err}");
}

#[test]
fn gc_under_a_live_recorder_never_leaves_it_citing_a_reclaimed_payload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let payload = json!({"text": "shared payload ".repeat(2000)});
    let first = start(&recorder, "first");
    first.protocol_event("warning", || payload.clone());
    recorder.flush().expect("flush");
    // The writer's caches now say the payload is stored; delete and gc
    // remove it while the writer is alive.
    store.delete_rollout("first").expect("delete");
    let report = store.gc().expect("gc");
    assert!(report.payloads_removed >= 1, "{report:?}");
    let second = start(&recorder, "second");
    second.protocol_event("warning", || payload.clone());
    second.end(ExecutionStatus::Completed);
    recorder.flush().expect("flush");
    assert!(store.verify().expect("verify").is_empty());
    assert_every_payload_reads_back(&store);
    assert_eq!(recorder.stats().events_dropped, 0);
}

#[test]
fn sixteen_threads_recording_into_four_rollouts_keep_every_event_in_order() {
    const THREADS: usize = 16;
    const CALLS: u64 = 300;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rollouts: Vec<_> = (0..4)
        .map(|index| {
            recorder.start_rollout(RolloutStart {
                rollout_id: Some(format!("r{index}")),
                trace_id: None,
                root: ThreadStart {
                    thread_id: format!("root{index}"),
                    agent_path: "/root".into(),
                    metadata: None,
                },
            })
        })
        .collect();
    let handles: Vec<_> = (0..THREADS)
        .map(|index| {
            let turn = rollouts[index % 4].root().start_turn(format!("turn-{index}"));
            std::thread::spawn(move || {
                for call in 0..CALLS {
                    turn.protocol_event("warning", || {
                        json!({"thread": index, "call": call, "text": "y".repeat((call % 97) as usize)})
                    });
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("host thread");
    }
    recorder.flush().expect("flush");
    assert_eq!(recorder.stats().events_dropped, 0);
    let mut next: BTreeMap<u64, u64> = BTreeMap::new();
    for index in 0..4 {
        let events = read_events(&store, &format!("r{index}"));
        assert_eq!(events.len() as u64, 2 + 4 * (1 + CALLS));
        for event in &events {
            if let EventPayload::ProtocolEventObserved { event_payload, .. } = &event.payload {
                let value: Value = serde_json::from_slice(
                    &store.read_payload(&event_payload.hash).expect("payload"),
                )
                .expect("json");
                let expected = next
                    .entry(value["thread"].as_u64().expect("thread"))
                    .or_default();
                assert_eq!(value["call"], json!(*expected));
                *expected += 1;
            }
        }
    }
    assert_eq!(next.len(), THREADS);
    assert!(next.values().all(|count| *count == CALLS));
    assert!(store.verify().expect("verify").is_empty());
}

#[test]
fn a_second_process_is_refused_with_the_pid_of_the_recording_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .arg("--store")
        .arg(&store)
        .args([
            "__crash-writer",
            "--threads",
            "2",
            "--events-per-thread",
            "1000000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the recording process");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ready = String::new();
    lines.read_line(&mut ready).expect("ready line");
    assert_eq!(ready.trim(), format!("ready pid={}", child.id()));
    let err = fails(&store, &["rollouts"]);
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(
        err.contains(&format!("is locked by pid {}", child.id())),
        "{err}"
    );
    // The holder is gone: the store opens and its log is sound.
    ok(&store, &["verify"]);
}

/// A store just closed must reopen while other threads spawn processes: each
/// child holds a copy of the lock descriptor until it execs. Before `open`
/// waited for the lock, most of these reopens failed with "locked by pid"
/// naming this very process (and the crash and full-disk tests failed
/// together now and then under a loaded machine).
#[test]
fn a_store_reopens_while_other_threads_spawn_processes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().expect("tempdir");
    let stop = Arc::new(AtomicBool::new(false));
    let spawners: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut spawned = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let status = Command::new(env!("CARGO_BIN_EXE_tracefold"))
                        .arg("--version")
                        .stdout(Stdio::null())
                        .status()
                        .expect("spawn");
                    assert!(status.success());
                    spawned += 1;
                }
                spawned
            })
        })
        .collect();
    let mut failures = Vec::new();
    for round in 0..100 {
        match Store::open(dir.path(), StoreOptions::default()) {
            Ok(store) => drop(store),
            Err(err) => failures.push(format!("round {round}: {err}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let spawned: u32 = spawners
        .into_iter()
        .map(|spawner| spawner.join().expect("spawner"))
        .sum();
    assert!(spawned > 0, "no process was spawned during the reopens");
    assert!(failures.is_empty(), "{failures:#?}");
}

fn faulty_store(dir: &Path, faults: &Arc<ScriptedFaults>) -> Store {
    let injector: Arc<dyn FaultInjector> = faults.clone();
    let options = StoreOptions {
        faults: Some(injector),
        ..StoreOptions::default()
    };
    Store::open(dir, options).expect("open")
}

#[test]
fn a_full_disk_during_a_write_poisons_the_recorder_without_failing_the_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Arc::new(ScriptedFaults::new());
    let kept;
    {
        let store = faulty_store(dir.path(), &faults);
        let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
        let turn = start(&recorder, "r");
        for call in 0..10 {
            turn.protocol_event("warning", || json!({"call": call}));
        }
        recorder.flush().expect("flush before the fault");
        kept = read_events(&store, "r").len();
        faults.fail_batches(Some(ENOSPC));
        for call in 10..30 {
            turn.protocol_event("warning", || json!({"call": call}));
        }
        let err = recorder.flush().expect_err("the failed write is reported");
        assert!(err.to_string().contains("No space left on device"), "{err}");
        assert!(recorder.stats().events_dropped >= 20);
        // Space is back, but the writer stays poisoned: no silent retry.
        faults.fail_batches(None);
        for call in 30..35 {
            turn.protocol_event("warning", || json!({"call": call}));
        }
        let err = recorder.flush().expect_err("still poisoned");
        assert!(err.to_string().contains("refuses writes"), "{err}");
        assert!(recorder.stats().events_dropped >= 25);
        let _ = recorder.shutdown();
    }
    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    assert_eq!(read_events(&store, "r").len(), kept);
    assert!(store.verify().expect("verify").is_empty());
}

#[test]
fn a_failed_flush_refuses_further_writes_and_counts_them_as_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Arc::new(ScriptedFaults::new());
    let store = faulty_store(dir.path(), &faults);
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let turn = start(&recorder, "r");
    recorder.flush().expect("flush");
    faults.fail_flushes(Some(EIO));
    turn.protocol_event("warning", || json!({"call": 1}));
    let err = recorder.flush().expect_err("the failed flush is reported");
    assert!(err.to_string().contains("flush failed"), "{err}");
    faults.fail_flushes(None);
    let dropped = recorder.stats().events_dropped;
    for call in 0..5 {
        turn.protocol_event("warning", || json!({"call": call}));
    }
    assert!(recorder.flush().is_err());
    assert_eq!(recorder.stats().events_dropped, dropped + 5);
    // Other writers are refused too: the store is poisoned until reopened.
    assert!(store.writes().is_err());
}

#[test]
fn an_ingest_that_hits_a_full_disk_fails_and_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Arc::new(ScriptedFaults::new());
    let store = faulty_store(&dir.path().join("store"), &faults);
    let file = growing_conversation_jsonl(dir.path(), "r", 5, 1);
    faults.fail_batches(Some(ENOSPC));
    let err = ingest_jsonl(
        &store,
        JsonlSource::file(&file).expect("source"),
        &IngestOptions::default(),
    )
    .expect_err("full disk");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(store.rollouts().expect("rollouts").is_empty());
    assert_eq!(store.stats().expect("stats").chunks, 0);
    faults.fail_batches(None);
    ingest_jsonl(
        &store,
        JsonlSource::file(&file).expect("source"),
        &IngestOptions::default(),
    )
    .expect("ingest after space is back");
    assert_eq!(read_events(&store, "r").len(), 22);
}

#[test]
fn a_dropped_event_is_recorded_in_the_log_and_reduces_to_a_diagnostic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        max_payload_bytes: 1000,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), options).expect("open");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let turn = start(&recorder, "r");
    let call = turn.start_inference("m", "p", || json!({"input": "x".repeat(5000)}));
    call.completed(None, None, || json!({"output": "ok"}));
    turn.end(ExecutionStatus::Completed);
    recorder.flush().expect("flush");
    assert_eq!(recorder.stats().events_dropped, 1);
    let events = read_events(&store, "r");
    assert!(events.iter().any(|event| matches!(
        &event.payload,
        EventPayload::EventsDropped { count: 1, reason } if reason.contains("over the limit")
    )));
    let state = tracefold::reduce("r", events.iter(), &store)
        .expect("a recorded drop is a diagnostic, not a fatal error");
    assert!(
        state.diagnostics.iter().any(|d| d.code == "events_dropped"),
        "{:?}",
        state.diagnostics
    );
}
