//! Integration tests: the store and the recorder through the public API.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;
use tracefold::event::{EventPayload, ExecutionStatus, PayloadKind};
use tracefold::{Recorder, RecorderConfig, RolloutStart, Store, StoreOptions, ThreadStart};

use crate::support::read_events;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreOptions::default()).expect("store opens")
}

#[test]
fn eight_threads_recording_into_one_rollout_give_a_contiguous_log_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    const THREADS: usize = 8;
    const CALLS: usize = 500;
    {
        let store = open(dir.path());
        let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
        let rollout = recorder.start_rollout(RolloutStart {
            rollout_id: Some("many".into()),
            trace_id: None,
            root: ThreadStart {
                thread_id: "root".into(),
                agent_path: "/root".into(),
                metadata: None,
            },
        });
        let root = rollout.root();
        let handles: Vec<_> = (0..THREADS)
            .map(|index| {
                let child = root.spawn_child(ThreadStart {
                    thread_id: format!("child-{index}"),
                    agent_path: format!("/root/worker{index}"),
                    metadata: None,
                });
                std::thread::spawn(move || {
                    let turn = child.start_turn(format!("turn-{index}"));
                    for call in 0..CALLS {
                        turn.protocol_event("warning", || {
                            json!({"thread": index, "call": call, "text": "x".repeat(call % 50)})
                        });
                    }
                    turn.end(ExecutionStatus::Completed);
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("host thread");
        }
        recorder.shutdown().expect("shutdown");
        assert_eq!(recorder.stats().events_dropped, 0);
    }
    let store = open(dir.path());
    let events = read_events(&store, "many");
    // rollout_started + root thread_started + per thread: thread_started,
    // turn start, CALLS events, turn end.
    assert_eq!(events.len(), 2 + THREADS * (CALLS + 3));
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.seq, index as u64 + 1);
    }
    // Every host thread's events are all there, in its own order.
    let mut next_call: BTreeMap<String, u64> = BTreeMap::new();
    for event in &events {
        if let EventPayload::ProtocolEventObserved { event_payload, .. } = &event.payload {
            let bytes = store.read_payload(&event_payload.hash).expect("payload");
            let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            let thread = event.thread_id.clone().expect("thread");
            let expected = next_call.entry(thread).or_default();
            assert_eq!(value["call"], json!(*expected));
            *expected += 1;
        }
    }
    assert_eq!(next_call.len(), THREADS);
    assert!(next_call.values().all(|count| *count == CALLS as u64));
    assert!(store.verify().expect("verify").is_empty());
}

#[test]
fn a_payload_reads_back_byte_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    bytes.extend_from_slice("unicode \u{1F600} and nul \0 bytes".as_bytes());
    let mut writes = store.writes().expect("writes");
    let r = writes
        .put_payload_bytes(PayloadKind::ToolResult, &bytes)
        .expect("stores");
    writes.commit(true).expect("commit");
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.read_payload(&r.hash).expect("reads"), bytes);
}

#[test]
fn verify_finds_a_flipped_byte_in_a_stored_chunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
        let rollout = recorder.start_rollout(RolloutStart {
            rollout_id: Some("r".into()),
            trace_id: None,
            root: ThreadStart {
                thread_id: "root".into(),
                agent_path: "/root".into(),
                metadata: Some(json!({"text": "some metadata ".repeat(300)})),
            },
        });
        drop(rollout);
        recorder.shutdown().expect("shutdown");
        assert!(store.verify().expect("verify").is_empty());
    }
    // Damage one chunk value directly in sled, as a bad disk would.
    {
        let db = crate::support::open_raw_sled(&dir.path().join("db"));
        let tree = db.open_tree("tracefold").expect("tree");
        let (key, value) = tree
            .scan_prefix(b"c")
            .next()
            .expect("a chunk")
            .expect("reads");
        let mut damaged = value.to_vec();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x01;
        tree.insert(key, damaged).expect("writes");
        db.flush().expect("flush");
    }
    let store = open(dir.path());
    let findings = store.verify().expect("verify runs");
    assert!(
        findings.iter().any(|f| f.subject.starts_with("chunk ")),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|f| f.message.contains("cites payload")),
        "{findings:?}"
    );
}

/// What the model remembers of one append: its clock and payload bytes.
type ModelEvent = (i64, Option<Vec<u8>>);

/// One step of the append/reopen model.
#[derive(Debug, Clone)]
enum Step {
    Append {
        rollout: u8,
        payload: Option<Vec<u8>>,
    },
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..3, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..3000)))
            .prop_map(|(rollout, payload)| Step::Append { rollout, payload }),
        1 => Just(Step::Reopen),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/store.txt"),
        )),
        ..ProptestConfig::default()
    })]

    /// Any sequence of appends and reopens reads back exactly what was
    /// appended, in order, checked against a simple in-memory model.
    #[test]
    fn appends_and_reopens_read_back_exactly_what_was_appended(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut model: BTreeMap<String, Vec<ModelEvent>> = BTreeMap::new();
        let mut store = Some(open(dir.path()));
        let mut clock = 0i64;
        for step in &steps {
            match step {
                Step::Reopen => {
                    drop(store.take());
                    store = Some(open(dir.path()));
                }
                Step::Append { rollout, payload } => {
                    let store = store.as_ref().expect("open");
                    let id = format!("r{rollout}");
                    clock += 1;
                    let mut writes = store.writes().expect("writes");
                    let num = writes.rollout(&id, true).expect("rollout");
                    let r = payload.as_ref().map(|bytes| {
                        writes.put_payload_bytes(PayloadKind::ToolResult, bytes).expect("payload")
                    });
                    writes
                        .append(num, clock, None, None, EventPayload::ToolCallEnded {
                            tool_call_id: format!("call-{clock}"),
                            status: ExecutionStatus::Completed,
                            result_payload: r,
                        })
                        .expect("append");
                    writes.commit(false).expect("commit");
                    model.entry(id).or_default().push((clock, payload.clone()));
                }
            }
        }
        drop(store.take());
        let store = open(dir.path());
        for (id, expected) in &model {
            let events = read_events(&store, id);
            prop_assert_eq!(events.len(), expected.len());
            for (index, (event, (clock, payload))) in events.iter().zip(expected).enumerate() {
                prop_assert_eq!(event.seq, index as u64 + 1);
                prop_assert_eq!(event.wall_time_unix_ms, *clock);
                let EventPayload::ToolCallEnded { tool_call_id, result_payload, .. } = &event.payload else {
                    panic!("wrong event {:?}", event.payload);
                };
                prop_assert_eq!(tool_call_id, &format!("call-{clock}"));
                let read = result_payload.as_ref().map(|r| store.read_payload(&r.hash).expect("payload"));
                prop_assert_eq!(&read, payload);
            }
        }
        prop_assert_eq!(store.rollouts().expect("rollouts").len(), model.len());
        prop_assert!(store.verify().expect("verify").is_empty());
    }
}

#[test]
fn recorder_handles_are_usable_from_many_threads_at_once() {
    // Handles are Send + Sync and cheap to clone.
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<tracefold::TurnRecorder>();
    assert_send_sync::<tracefold::ThreadRecorder>();
    assert_send_sync::<tracefold::RolloutRecorder>();
    assert_send_sync::<Arc<Recorder>>();
}

#[test]
fn open_existing_refuses_a_path_without_a_store_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let file = dir.path().join("file");
    std::fs::write(&file, "not a store").expect("write");
    for path in [&missing, &empty, &file] {
        match Store::open_existing(path, StoreOptions::default()) {
            Err(tracefold::Error::NoStore { path: named }) => assert_eq!(&named, path),
            Err(other) => panic!("{}: {other}", path.display()),
            Ok(_) => panic!("{} opened", path.display()),
        }
    }
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(&empty).expect("read").count(), 0);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "not a store");
    let message = Store::open_existing(&missing, StoreOptions::default())
        .err()
        .map(|err| err.to_string());
    assert_eq!(message, Some(format!("no store at {}", missing.display())));
    // `open` still creates; then `open_existing` finds it.
    drop(open(&missing));
    let reopened = Store::open_existing(&missing, StoreOptions::default()).expect("opens");
    assert!(reopened.rollouts().expect("rollouts").is_empty());
}
