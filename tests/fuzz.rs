//! Integration tests: a proptest-driven fuzz harness for the three parsers
//! of untrusted bytes: the wire-format line parser, the bincode record
//! decoder, and the reducer on arbitrary event sequences. The law is the
//! same for all three: any input gives `Ok` or `Err`, never a panic.
//!
//! Inputs are both arbitrary and mutated from valid ones (so the fuzzer gets
//! past the first byte); record mutations re-seal the CRC so the bincode body
//! decoder itself is exercised. The cargo-fuzz targets in `fuzz/` run the
//! same bodies for long runs. `PROPTEST_CASES` raises the case count.

use proptest::prelude::*;
use serde_json::{Value, json};
use tracefold::__internal::{Recipe, WirePayloadRef, decode_record, encode_record, parse_line};
use tracefold::event::{Event, EventPayload, Hash, PayloadKind, PayloadRef};
use tracefold::{MemoryPayloads, RolloutManifest, reduce};

use crate::support::line;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(256)
}

fn sample_lines() -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample.jsonl"),
    )
    .expect("sample");
    text.lines().map(str::to_string).collect()
}

/// Byte edits: (position, operation, byte).
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, op, byte) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let at = at % bytes.len();
        match op % 4 {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            2 => {
                bytes.remove(at);
            }
            _ => bytes[at] ^= 1 << (byte % 8),
        }
    }
    bytes
}

fn sample_event() -> Event {
    Event {
        seq: 7,
        wall_time_unix_ms: 1_767_225_600_000,
        thread_id: Some("root".into()),
        codex_turn_id: Some("turn".into()),
        payload: EventPayload::ProtocolEventObserved {
            event_type: "warning".into(),
            event_payload: PayloadRef {
                kind: PayloadKind::ProtocolEvent,
                hash: Hash::of(b"payload"),
                size_bytes: 7,
            },
        },
    }
}

/// Re-seals a mutated record's CRC so the body decoder sees it.
fn reseal(key: &[u8], mut record: Vec<u8>) -> Vec<u8> {
    if record.len() >= 5 {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(key);
        hasher.update(&record[5..]);
        let crc = hasher.finalize().to_le_bytes();
        record[1..5].copy_from_slice(&crc);
        record[0] = 1;
    }
    record
}

fn decode_all(key: &[u8], bytes: &[u8]) {
    let _ = decode_record::<Event>(key, bytes);
    let _ = decode_record::<RolloutManifest>(key, bytes);
    let _ = decode_record::<Recipe>(key, bytes);
}

/// A wire event from a small vocabulary of types and ids, so sequences hit
/// the reducer's cross-references (unknown threads, duplicate starts, ends
/// without starts, dangling payloads).
fn wire_event(seq: u64, choice: u8, id: u8) -> String {
    let thread = format!("t{}", id % 3);
    let turn = format!("turn{}", id % 2);
    let call = format!("c{}", id % 2);
    let inline = json!({"kind": {"type": "inference_request"}, "inline": {"n": id}});
    let payload: Value = match choice % 12 {
        0 => json!({"type": "rollout_started", "trace_id": "t", "root_thread_id": thread}),
        1 => {
            json!({"type": "thread_started", "thread_id": thread, "agent_path": format!("/{thread}"), "metadata_payload": null})
        }
        2 => json!({"type": "codex_turn_started", "codex_turn_id": turn, "thread_id": thread}),
        3 => json!({"type": "codex_turn_ended", "codex_turn_id": turn, "status": "completed"}),
        4 => {
            json!({"type": "inference_started", "inference_call_id": call, "thread_id": thread, "codex_turn_id": turn, "model": "m", "provider_name": "p", "request_payload": inline})
        }
        5 => {
            json!({"type": "inference_completed", "inference_call_id": call, "response_id": null, "upstream_request_id": null, "response_payload": inline})
        }
        6 => json!({"type": "events_dropped", "count": id, "reason": "fuzz"}),
        7 => json!({"type": "rollout_ended", "status": "completed"}),
        8 => {
            json!({"type": "code_cell_started", "runtime_cell_id": call, "model_visible_call_id": call, "source_js": "1"})
        }
        9 => {
            json!({"type": "thread_resumed", "thread_id": thread, "agent_path": "/x", "metadata_payload": null})
        }
        10 => {
            json!({"type": "agent_result_observed", "edge_id": "e", "child_thread_id": thread, "child_codex_turn_id": turn, "parent_thread_id": "t0", "message": "m", "carried_payload": null})
        }
        _ => json!({"type": "some_future_event", "x": id}),
    };
    line(seq, "fuzz", Some(&thread), Some(&turn), payload)
}

/// Parses wire lines into stored events, as ingest would (payloads into
/// memory); lines that do not parse are skipped.
fn to_events(lines: &[String]) -> (Vec<Event>, MemoryPayloads) {
    let mut payloads = MemoryPayloads::new();
    let mut events = Vec::new();
    for text in lines {
        let Ok(wire) = parse_line(text) else { continue };
        let mapped: Result<EventPayload<PayloadRef>, String> =
            wire.payload.try_map_refs(|r| match r {
                WirePayloadRef::Inline { kind, value } => {
                    let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
                    let size_bytes = bytes.len() as u64;
                    let hash = payloads.insert(bytes);
                    Ok(PayloadRef {
                        kind,
                        hash,
                        size_bytes,
                    })
                }
                _ => Err("not inline".to_string()),
            });
        if let Ok(payload) = mapped {
            events.push(Event {
                seq: wire.seq,
                wall_time_unix_ms: wire.wall_time_unix_ms,
                thread_id: wire.thread_id,
                codex_turn_id: wire.codex_turn_id,
                payload,
            });
        }
    }
    (events, payloads)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_wire_parser_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = parse_line(&text);
    }

    #[test]
    fn the_wire_parser_never_panics_on_mutated_valid_lines(
        pick in any::<usize>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let lines = sample_lines();
        let base = lines[pick % lines.len()].clone().into_bytes();
        let mutated = mutate(base, &edits);
        let _ = parse_line(&String::from_utf8_lossy(&mutated));
    }

    #[test]
    fn the_record_decoder_never_panics_on_arbitrary_bytes(
        key in prop::collection::vec(any::<u8>(), 0..40),
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        decode_all(&key, &bytes);
        decode_all(&key, &reseal(&key, bytes));
    }

    #[test]
    fn the_record_decoder_never_panics_on_mutated_valid_records(
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let key = b"e\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x07";
        let record = encode_record(key, &sample_event()).expect("encodes");
        let mutated = mutate(record, &edits);
        decode_all(key, &mutated);
        decode_all(key, &reseal(key, mutated));
    }

    #[test]
    fn the_reducer_never_panics_on_arbitrary_event_sequences(
        steps in prop::collection::vec((any::<u8>(), any::<u8>()), 0..40),
        shuffle in any::<bool>(),
    ) {
        let mut lines: Vec<String> = steps
            .iter()
            .enumerate()
            .map(|(index, (choice, id))| wire_event(index as u64 + 1, *choice, *id))
            .collect();
        if shuffle {
            lines.reverse();
        }
        let (events, payloads) = to_events(&lines);
        let _ = reduce("fuzz", events.iter(), &payloads);
    }
}
