//! A synthetic wire-format JSONL rollout for ingest measurements: `events`
//! protocol events after a rollout and thread start, each with an inline
//! JSON payload of about `payload_bytes` bytes, of which `distinct` are
//! different (event n carries payload n mod `distinct`). Deterministic.
//! Shared by `benches/ingest_scaling.rs` and `examples/gen_jsonl.rs`.

use std::io::Write;
use std::path::Path;

/// Writes the rollout to `path`.
pub fn write_synthetic_jsonl(
    path: &Path,
    events: u64,
    distinct: u64,
    payload_bytes: usize,
) -> std::io::Result<()> {
    let distinct = distinct.max(1);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let envelope = |seq: u64, payload: &str| {
        format!(
            "{{\"schema_version\":1,\"seq\":{seq},\"wall_time_unix_ms\":{},\"rollout_id\":\"synthetic\",\"thread_id\":\"root\",\"codex_turn_id\":null,\"payload\":{payload}}}\n",
            1_767_225_600_000u64 + seq
        )
    };
    file.write_all(
        envelope(
            1,
            r#"{"type":"rollout_started","trace_id":"trace","root_thread_id":"root"}"#,
        )
        .as_bytes(),
    )?;
    file.write_all(
        envelope(
            2,
            r#"{"type":"thread_started","thread_id":"root","agent_path":"/root","metadata_payload":null}"#,
        )
        .as_bytes(),
    )?;
    for n in 0..events {
        let which = n % distinct;
        // Filler that differs per payload and still compresses like text:
        // an xorshift stream seeded by the payload's number, as short words.
        let mut state = which.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
        let mut text = String::with_capacity(payload_bytes + 8);
        while text.len() < payload_bytes {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(&format!("{:x} ", state % 1_000_000));
        }
        let payload = format!(
            r#"{{"type":"protocol_event_observed","event_type":"tick","event_payload":{{"kind":{{"type":"protocol_event"}},"inline":{{"n":{which},"text":"{text}"}}}}}}"#
        );
        file.write_all(envelope(n + 3, &payload).as_bytes())?;
    }
    file.flush()
}
