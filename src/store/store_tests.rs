use super::*;
use crate::event::PayloadKind;

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
    let Err(err) = Store::open(dir.path(), StoreOptions::default()) else {
        panic!("second open succeeded");
    };
    let message = err.to_string();
    assert!(
        message.contains(&format!("locked by pid {}", std::process::id())),
        "{message}"
    );
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
