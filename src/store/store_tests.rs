use super::*;
use crate::event::{Event, EventPayload, PayloadKind, PayloadRef};
use crate::store::writes::EVENT_RECORD_BYTES_MAX;

fn open(dir: &Path) -> Store {
    Store::open(dir, StoreOptions::default()).expect("store opens")
}

fn started(trace: &str) -> EventPayload<PayloadRef> {
    EventPayload::RolloutStarted {
        trace_id: trace.to_string(),
        root_thread_id: "root".to_string(),
    }
}

#[test]
fn appended_events_read_back_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        let mut writes = store.writes().expect("writes");
        let num = writes.rollout("r1", true).expect("rollout");
        let payload = writes
            .put_payload_bytes(PayloadKind::InferenceRequest, b"{\"input\":[]}")
            .expect("payload");
        writes
            .append(num, 5, None, None, started("t"))
            .expect("append");
        writes
            .append(
                num,
                6,
                Some("root".into()),
                None,
                EventPayload::ProtocolEventObserved {
                    event_type: "x".into(),
                    event_payload: payload,
                },
            )
            .expect("append");
        writes.commit(true).expect("commit");
    }
    let store = open(dir.path());
    let manifest = store.manifest("r1").expect("manifest");
    assert_eq!(manifest.event_count, 2);
    assert_eq!(manifest.trace_id.as_deref(), Some("t"));
    assert_eq!(manifest.payload_refs, 1);
    let events: Vec<Event> = store
        .events("r1")
        .expect("events")
        .collect::<Result<_>>()
        .expect("decode");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].seq, 2);
    let EventPayload::ProtocolEventObserved { event_payload, .. } = &events[1].payload else {
        panic!("wrong event");
    };
    assert_eq!(
        store.read_payload(&event_payload.hash).expect("payload"),
        b"{\"input\":[]}"
    );
    assert!(store.verify().expect("verify").is_empty());
}

#[test]
fn a_dropped_write_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    {
        let mut writes = store.writes().expect("writes");
        let num = writes.rollout("gone", true).expect("rollout");
        writes
            .put_payload_bytes(PayloadKind::ToolResult, b"abc")
            .expect("payload");
        writes
            .append(num, 1, None, None, started("t"))
            .expect("append");
    }
    assert!(store.rollouts().expect("rollouts").is_empty());
    assert!(matches!(
        store.manifest("gone"),
        Err(Error::UnknownRollout(_))
    ));
    assert_eq!(store.stats().expect("stats").payloads, 0);
}

#[test]
fn a_second_open_of_the_same_store_is_refused_with_the_pid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = open(dir.path());
    let options = StoreOptions {
        lock_wait: std::time::Duration::from_millis(100),
        ..StoreOptions::default()
    };
    let Err(err) = Store::open(dir.path(), options) else {
        panic!("second open succeeded");
    };
    let message = err.to_string();
    assert!(
        message.contains(&format!("locked by pid {}", std::process::id())),
        "{message}"
    );
}

#[test]
fn an_open_waits_for_a_lock_released_within_its_wait() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = open(dir.path());
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(first);
    });
    let options = StoreOptions {
        lock_wait: std::time::Duration::from_secs(30),
        ..StoreOptions::default()
    };
    let second = Store::open(dir.path(), options);
    release.join().expect("release thread");
    assert!(second.is_ok(), "{:?}", second.err());
}

#[test]
fn large_payloads_use_an_index_level_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    // Distinct pseudo-random bytes: about 6,000 chunks of ~4 KiB.
    let mut state = 7u64;
    let bytes: Vec<u8> = (0..24_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut writes = store.writes().expect("writes");
    let r = writes
        .put_payload_bytes(PayloadKind::ToolResult, &bytes)
        .expect("payload");
    writes.commit(false).expect("commit");
    let recipe_bytes = store
        .tree()
        .get(payload_key(&r.hash))
        .expect("get")
        .expect("some");
    assert!(
        recipe_bytes.len() < 200_000,
        "recipe is {} bytes",
        recipe_bytes.len()
    );
    assert_eq!(store.read_payload(&r.hash).expect("reads"), bytes);
}

fn conversation(turns: usize) -> Vec<u8> {
    let mut text = String::from("{\"input\":[");
    for turn in 0..turns {
        if turn > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            "{{\"role\":\"user\",\"text\":\"turn {turn}: {}\"}}",
            "lorem ipsum dolor sit amet ".repeat(40 + turn % 7)
        ));
    }
    text.push_str("]}");
    text.into_bytes()
}

#[test]
fn requests_that_extend_earlier_ones_are_stored_as_bounded_deltas_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut refs = Vec::new();
    for turns in 10..30 {
        let mut writes = store.writes().expect("writes");
        let r = writes
            .put_payload_bytes(PayloadKind::InferenceRequest, &conversation(turns))
            .expect("payload");
        writes.commit(false).expect("commit");
        refs.push((turns, r));
    }
    let mut deltas = 0;
    for (turns, r) in &refs {
        assert_eq!(
            store.read_payload(&r.hash).expect("reads"),
            conversation(*turns)
        );
        let recipe = store.recipe(&r.hash).expect("recipe");
        if let Some(base) = recipe.base {
            deltas += 1;
            assert!(base.depth <= payload::BASE_DEPTH_MAX);
            // Only the new messages and the closing bracket were chunked.
            let stored: u64 = recipe.size_bytes - base.prefix_bytes;
            assert!(stored < 3_000, "suffix of {stored} bytes");
        }
    }
    assert!(deltas >= 15, "{deltas} of {} stored as deltas", refs.len());
    assert!(store.verify().expect("verify").is_empty());
}

#[test]
fn gc_keeps_the_base_of_a_live_delta_payload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut writes = store.writes().expect("writes");
    let first = writes.rollout("first", true).expect("rollout");
    let base = writes
        .put_payload_bytes(PayloadKind::InferenceRequest, &conversation(12))
        .expect("payload");
    writes
        .append(
            first,
            1,
            None,
            None,
            EventPayload::ProtocolEventObserved {
                event_type: "x".into(),
                event_payload: base.clone(),
            },
        )
        .expect("append");
    let second = writes.rollout("second", true).expect("rollout");
    let delta = writes
        .put_payload_bytes(PayloadKind::InferenceRequest, &conversation(13))
        .expect("payload");
    writes
        .append(
            second,
            2,
            None,
            None,
            EventPayload::ProtocolEventObserved {
                event_type: "x".into(),
                event_payload: delta.clone(),
            },
        )
        .expect("append");
    writes.commit(true).expect("commit");
    assert_eq!(
        store
            .recipe(&delta.hash)
            .expect("recipe")
            .base
            .map(|b| b.payload),
        Some(base.hash)
    );
    store.delete_rollout("first").expect("delete");
    store.gc().expect("gc");
    assert_eq!(
        store.read_payload(&delta.hash).expect("reads after gc"),
        conversation(13)
    );
    assert!(store.verify().expect("verify").is_empty());
}

/// A store with rollouts `keep` and `drop`, each citing one payload of its
/// own; returns the two payload hashes.
fn two_rollouts(store: &Store) -> (Hash, Hash) {
    let mut hashes = Vec::new();
    let mut writes = store.writes().expect("writes");
    for (rollout, body) in [
        ("keep", b"{\"keep\":1}".as_slice()),
        ("drop", b"{\"drop\":2}"),
    ] {
        let num = writes.rollout(rollout, true).expect("rollout");
        let payload = writes
            .put_payload_bytes(PayloadKind::ToolResult, body)
            .expect("payload");
        hashes.push(payload.hash);
        writes
            .append(num, 1, None, None, started("t"))
            .expect("append");
        writes
            .append(
                num,
                2,
                None,
                None,
                EventPayload::ProtocolEventObserved {
                    event_type: "x".into(),
                    event_payload: payload,
                },
            )
            .expect("append");
    }
    writes.commit(true).expect("commit");
    (hashes[0], hashes[1])
}

/// Flips a byte of the record under `key` (its checksum), leaving the rest,
/// such as the hashes it cites, intact.
fn damage(store: &Store, key: &[u8]) {
    let mut record = store
        .tree()
        .get(key)
        .expect("get")
        .expect("stored")
        .to_vec();
    record[1] ^= 0xff;
    store.tree().insert(key, record).expect("damage");
}

#[test]
fn a_damaged_event_never_blocks_gc_of_other_rollouts_and_keeps_what_it_cites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (kept, dropped) = two_rollouts(&store);
    // Damage the event of `keep` that cites its payload: flip a byte of the
    // record's header (its checksum), leaving the cited hash bytes intact.
    let num = store.manifest("keep").expect("manifest").rollout_num;
    let key = event_key(num, 2);
    damage(&store, &key);
    assert!(store.events("keep").expect("events").any(|e| e.is_err()));

    store.delete_rollout("drop").expect("delete works");
    let report = store.gc().expect("gc works despite the damage");
    assert_eq!(report.damaged_records_kept, 1);
    assert_eq!(report.payloads_removed, 1);
    assert!(
        store.read_payload(&kept).is_ok(),
        "the damaged event's payload stays"
    );
    assert!(matches!(
        store.read_payload(&dropped),
        Err(Error::UnknownPayload(_))
    ));
}

#[test]
fn gc_keeps_every_event_of_a_rollout_whose_manifest_is_damaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (kept, dropped) = two_rollouts(&store);
    let num = store.manifest("keep").expect("manifest").rollout_num;
    let key = manifest_key(num);
    damage(&store, &key);

    store.delete_rollout("drop").expect("delete works");
    let report = store.gc().expect("gc works despite the damage");
    assert_eq!(report.orphan_events_removed, 0);
    assert_eq!(report.damaged_records_kept, 1);
    assert!(store.read_payload(&kept).is_ok());
    assert!(store.read_payload(&dropped).is_err());
    assert_eq!(
        store.tree().scan_prefix(&event_key(num, 1)[..9]).count(),
        2,
        "both events of the rollout with the damaged manifest are kept"
    );
}

#[test]
fn manifest_counters_saturate_instead_of_wrapping() {
    let mut manifest = RolloutManifest::new(1, "r");
    let huge = PayloadRef {
        kind: PayloadKind::ToolResult,
        hash: Hash([7; 32]),
        size_bytes: u64::MAX,
    };
    for seq in 1..=2 {
        manifest.observe(&Event {
            seq,
            wall_time_unix_ms: 0,
            thread_id: None,
            codex_turn_id: None,
            payload: EventPayload::ProtocolEventObserved {
                event_type: "x".into(),
                event_payload: huge.clone(),
            },
        });
    }
    assert_eq!(manifest.logical_payload_bytes, u64::MAX);
    assert_eq!(manifest.payload_refs, 2);
}

#[test]
fn an_event_too_large_to_read_back_is_refused_by_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut writes = store.writes().expect("writes");
    let num = writes.rollout("big", true).expect("rollout");
    let body = format!(
        "{{\"type\":\"x\",\"pad\":\"{}\"}}",
        "a".repeat(EVENT_RECORD_BYTES_MAX)
    );
    let err = writes
        .append(
            num,
            1,
            None,
            None,
            EventPayload::Unknown {
                type_name: "x".into(),
                json: crate::event::JsonText(body),
            },
        )
        .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.starts_with("rollout big seq 1: refused: the event record is")
            && message.contains("over the limit of 8388608 bytes"),
        "{message}"
    );
    // The write goes on: the next event takes seq 1.
    assert_eq!(
        writes
            .append(num, 1, None, None, started("t"))
            .expect("fits"),
        1
    );
}

#[test]
fn gc_keeps_a_damaged_recipe_and_every_chunk_its_bytes_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (kept, dropped) = two_rollouts(&store);
    let recipe = store.recipe(&kept).expect("recipe");
    let key = payload_key(&kept);
    damage(&store, &key);

    store.delete_rollout("drop").expect("delete works");
    let report = store.gc().expect("gc works despite the damage");
    assert_eq!(report.damaged_records_kept, 1);
    assert!(
        store.tree().contains_key(key).expect("lookup"),
        "the damaged recipe stays"
    );
    for chunk in &recipe.entries {
        assert!(
            store.tree().contains_key(chunk_key(chunk)).expect("lookup"),
            "chunk {chunk} of the damaged recipe stays"
        );
    }
    assert!(store.read_payload(&dropped).is_err());
}
