//! Store format 1, pinned by golden records (`tests/fixtures/format-v1/`).
//!
//! Each record was written by the build that introduced it and is checked
//! both ways: it decodes to the same whole struct, and encoding that struct
//! gives the same bytes. Reordering an event variant, a field or a codec
//! constant changes the bytes, and the test names the record. A store
//! directory written by format 1 (`store/`, the import of `store-input.jsonl`)
//! must open and give back its events and payloads.
//!
//! A new record (a new event variant's sample, say) is written by running the
//! test with `TRACEFOLD_WRITE_GOLDEN=1`, which writes missing records only and
//! never replaces one: a record that no longer matches is a format change,
//! which needs a new format version and its own directory.

use std::path::{Path, PathBuf};

use crate::codec::{FORMAT_VERSION, decode_record, encode_record};
use crate::event::samples::every_variant_with_planted_strings;
use crate::event::{Event, EventPayload, Hash, JsonText, PayloadKind, PayloadRef, RolloutStatus};
use crate::store::payload::{
    CHUNK_RAW, CHUNK_RECORD_VERSION, CHUNK_ZSTD, Recipe, RecipeBase, decode_chunk, encode_chunk,
};
use crate::store::{
    RolloutManifest, Store, StoreOptions, chunk_key, event_key, manifest_key, payload_key,
};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

fn writing() -> bool {
    std::env::var_os("TRACEFOLD_WRITE_GOLDEN").is_some_and(|value| value == "1")
}

/// The golden record `name`; written from `encoded` first when it is missing
/// and `TRACEFOLD_WRITE_GOLDEN=1`.
fn golden(name: &str, encoded: &[u8]) -> Vec<u8> {
    let path = golden_dir().join(name);
    if !path.exists() && writing() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, encoded).expect("write golden record");
    }
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (a new record is written by TRACEFOLD_WRITE_GOLDEN=1 cargo test format_v1)",
            path.display()
        )
    })
}

/// Checks a bincode record both ways against its golden bytes.
fn check_record<T>(name: &str, key: &[u8], value: &T)
where
    T: bincode::Encode + bincode::Decode<()> + PartialEq + std::fmt::Debug,
{
    let encoded = encode_record(key, value).expect("encodes");
    let stored = golden(name, &encoded);
    assert_eq!(stored[0], FORMAT_VERSION, "{name}: format version byte");
    let decoded: T = decode_record(key, &stored)
        .unwrap_or_else(|err| panic!("{name}: the golden record no longer decodes: {err}"));
    assert_eq!(&decoded, value, "{name}: decodes to another value");
    assert!(
        encoded == stored,
        "{name}: encodes to other bytes than format 1 ({} bytes, golden {})",
        encoded.len(),
        stored.len()
    );
}

/// Every payload kind, cycled through the samples' references (38 of
/// them, so each kind is in some record).
fn kinds() -> Vec<PayloadKind> {
    vec![
        PayloadKind::InferenceRequest,
        PayloadKind::InferenceResponse,
        PayloadKind::CompactionRequest,
        PayloadKind::CompactionCheckpoint,
        PayloadKind::CompactionResponse,
        PayloadKind::ToolInvocation,
        PayloadKind::ToolResult,
        PayloadKind::ToolRuntimeEvent,
        PayloadKind::TerminalRuntimeEvent,
        PayloadKind::ProtocolEvent,
        PayloadKind::SessionMetadata,
        PayloadKind::AgentResult,
        PayloadKind::CodeCellStoredValues,
        PayloadKind::Other("golden_kind".to_string()),
    ]
}

/// One stored event per variant: every sample, plus an unknown type.
fn golden_events() -> Vec<Event> {
    let (mut samples, _) = every_variant_with_planted_strings();
    samples.push(EventPayload::Unknown {
        type_name: "golden_future_event".to_string(),
        json: JsonText(r#"{"type":"golden_future_event","n":1}"#.to_string()),
    });
    let kinds = kinds();
    let mut cited = 0usize;
    samples
        .into_iter()
        .enumerate()
        .map(|(index, sample)| {
            let payload = sample.map_refs(|()| {
                cited += 1;
                PayloadRef {
                    kind: kinds[cited % kinds.len()].clone(),
                    hash: Hash::of(format!("golden payload {cited}").as_bytes()),
                    size_bytes: 100 + cited as u64,
                }
            });
            let index = index as u64;
            Event {
                seq: index + 1,
                wall_time_unix_ms: 1_767_225_600_000 + index as i64,
                thread_id: index.is_multiple_of(2).then(|| format!("thread-{index}")),
                codex_turn_id: index.is_multiple_of(3).then(|| format!("turn-{index}")),
                payload,
            }
        })
        .collect()
}

#[test]
fn format_v1_event_records_decode_and_encode_as_golden() {
    let events = golden_events();
    // Every variant has its sample (a new variant must get one in
    // `event::samples`), and so its record.
    let mut types: Vec<&str> = events.iter().map(|e| e.payload.type_name()).collect();
    types.sort_unstable();
    types.dedup();
    let mut expected: Vec<&str> = crate::event::KNOWN_EVENT_TYPES.to_vec();
    expected.push("golden_future_event");
    expected.sort_unstable();
    assert_eq!(types, expected);
    for event in &events {
        let name = format!("events/{:02}-{}.bin", event.seq, event.payload.type_name());
        check_record(&name, &event_key(1, event.seq), event);
    }
}

#[test]
fn format_v1_recipe_and_manifest_records_decode_and_encode_as_golden() {
    let hash = |text: &str| Hash::of(text.as_bytes());
    let recipes = [
        (
            "recipe-level0.bin",
            Recipe {
                size_bytes: 70_000,
                level: 0,
                entries: vec![hash("chunk a"), hash("chunk b")],
                base: None,
            },
        ),
        (
            "recipe-level1.bin",
            Recipe {
                size_bytes: 9_000_000,
                level: 1,
                entries: vec![hash("index a"), hash("index b"), hash("index c")],
                base: None,
            },
        ),
        (
            "recipe-with-base.bin",
            Recipe {
                size_bytes: 80_000,
                level: 0,
                entries: vec![hash("suffix chunk")],
                base: Some(RecipeBase {
                    payload: hash("base payload"),
                    prefix_bytes: 70_000,
                    depth: 3,
                }),
            },
        ),
    ];
    for (name, recipe) in &recipes {
        check_record(name, &payload_key(&hash(name)), recipe);
    }
    let manifest = RolloutManifest {
        rollout_num: 7,
        rollout_id: "rollout-golden".to_string(),
        trace_id: Some("trace-golden".to_string()),
        root_thread_id: Some("thread-root".to_string()),
        started_at_unix_ms: Some(1_767_225_600_000),
        ended_at_unix_ms: Some(1_767_225_660_000),
        status: RolloutStatus::Completed,
        event_count: 42,
        payload_refs: 17,
        logical_payload_bytes: 123_456,
    };
    check_record("manifest.bin", &manifest_key(7), &manifest);
}

#[test]
fn format_v1_chunk_records_of_each_codec_decode_as_golden() {
    // Raw: bytes zstd cannot shrink (a BLAKE3 stream); zstd: repetitive text.
    let mut raw = Vec::new();
    let mut block = Hash::of(b"golden raw chunk").0;
    while raw.len() < 2048 {
        raw.extend_from_slice(&block);
        block = Hash::of(&block).0;
    }
    let text = "the same agent log line, again and again\n".repeat(200);
    for (name, piece, codec) in [
        ("chunk-raw.bin", raw.as_slice(), CHUNK_RAW),
        ("chunk-zstd.bin", text.as_bytes(), CHUNK_ZSTD),
    ] {
        let encoded = encode_chunk(piece);
        let stored = golden(name, &encoded);
        let hash = Hash::of(piece);
        assert_eq!(&stored[..2], &[CHUNK_RECORD_VERSION, codec], "{name}");
        assert_eq!(&encoded[..2], &[CHUNK_RECORD_VERSION, codec], "{name}");
        assert_eq!(
            decode_chunk(&hash, &stored).expect(name),
            piece,
            "{name}: decodes to other bytes"
        );
        // zstd's output may change with its version; the raw codec's not.
        if codec == CHUNK_RAW {
            assert!(encoded == stored, "{name}: encodes to other bytes");
        }
        // The key is the hash of the decoded bytes.
        assert_eq!(chunk_key(&hash)[1..], hash.0);
    }
}

/// The format-1 store directory's files (the lock file is not part of it).
const STORE_FILES: [&str; 2] = ["db/conf", "db/db"];

#[test]
fn a_format_v1_store_directory_opens_and_gives_back_its_events_and_payloads() {
    let input = golden_dir().join("store-input.jsonl");
    let scratch = tempfile::tempdir().expect("tempdir");
    // What this build stores for the input, in a fresh store.
    let fresh = Store::open(scratch.path().join("fresh"), StoreOptions::default()).expect("open");
    let source = crate::ingest::JsonlSource::file(&input).expect("golden input");
    let report =
        crate::ingest::ingest_jsonl(&fresh, source, &crate::ingest::IngestOptions::default())
            .expect("ingest");
    let rollout = report.rollout_ids[0].clone();
    if writing() && !golden_dir().join("store").join(STORE_FILES[1]).exists() {
        fresh.flush().expect("flush");
        drop(fresh);
        for file in STORE_FILES {
            let to = golden_dir().join("store").join(file);
            std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            std::fs::copy(scratch.path().join("fresh").join(file), to).expect("copy");
        }
        return;
    }

    // The golden directory, copied (opening may write sled's own files).
    let copy = scratch.path().join("golden");
    std::fs::create_dir_all(copy.join("db/blobs")).expect("mkdir");
    for file in STORE_FILES {
        let from = golden_dir().join("store").join(file);
        std::fs::copy(&from, copy.join(file))
            .unwrap_or_else(|err| panic!("{}: {err}", from.display()));
    }
    let golden = Store::open_existing(&copy, StoreOptions::default()).expect("opens");
    assert_eq!(
        golden.verify().expect("verifies"),
        Vec::new(),
        "the golden store verifies clean"
    );
    assert_eq!(
        golden.rollouts().expect("rollouts"),
        fresh.rollouts().expect("rollouts")
    );
    let events = |store: &Store| -> Vec<Event> {
        store
            .events(&rollout)
            .expect("events")
            .collect::<crate::error::Result<Vec<Event>>>()
            .expect("decode")
    };
    let stored = events(&golden);
    assert_eq!(stored, events(&fresh));
    let mut payloads = 0;
    for event in &stored {
        for cited in event.payload.payload_refs() {
            assert_eq!(
                golden.read_payload(&cited.hash).expect("payload reads"),
                fresh.read_payload(&cited.hash).expect("payload reads"),
                "seq {}",
                event.seq
            );
            payloads += 1;
        }
    }
    assert!(payloads > 0, "the golden input cites payloads");
}
