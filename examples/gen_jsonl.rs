//! Writes a synthetic wire-format JSONL rollout for ingest measurements
//! (BENCHMARKS.md, "Ingest scaling"): `EVENTS` protocol events, each with an
//! inline JSON payload of about `BYTES` bytes, `DISTINCT` of them different.
//!
//! ```sh
//! cargo run --release --example gen_jsonl -- EVENTS DISTINCT BYTES OUT.jsonl
//! ```

#[path = "../benches/common/synthetic_jsonl.rs"]
mod synthetic_jsonl;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize, default: u64| {
        args.get(index)
            .and_then(|arg| arg.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let events = number(0, 10_000);
    let distinct = number(1, events);
    let bytes = number(2, 512) as usize;
    let out = args.get(3).map_or("synthetic.jsonl", String::as_str);
    synthetic_jsonl::write_synthetic_jsonl(std::path::Path::new(out), events, distinct, bytes)
}
