//! Fuzz target: the reducer on arbitrary event sequences. The input is read
//! as wire-format lines; lines that parse become events (inline payloads
//! kept in memory), and the whole sequence is reduced. Any `Err` is fine; a
//! panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracefold::__internal::{WirePayloadRef, parse_line};
use tracefold::event::{Event, EventPayload, PayloadRef};
use tracefold::{MemoryPayloads, reduce};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut payloads = MemoryPayloads::new();
    let mut events = Vec::new();
    for line in text.lines().take(512) {
        let Ok(wire) = parse_line(line) else { continue };
        let mapped: Result<EventPayload<PayloadRef>, ()> = wire.payload.try_map_refs(|r| match r {
            WirePayloadRef::Inline { kind, value } => {
                let bytes = serde_json::to_vec(&value).map_err(|_| ())?;
                let size_bytes = bytes.len() as u64;
                Ok(PayloadRef { kind, hash: payloads.insert(bytes), size_bytes })
            }
            WirePayloadRef::InlineText { kind, text } => {
                let size_bytes = text.len() as u64;
                Ok(PayloadRef { kind, hash: payloads.insert(text.into_bytes()), size_bytes })
            }
            WirePayloadRef::Stored { kind, blake3, size_bytes, .. } => {
                Ok(PayloadRef { kind, hash: blake3, size_bytes })
            }
            WirePayloadRef::File { .. } => Err(()),
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
    let _ = reduce("fuzz", events.iter(), &payloads);
});
