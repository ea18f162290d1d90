//! Ingest time per payload against the number of distinct payloads in one
//! file: 10k, 40k and 160k distinct 512-byte payloads, one per event, each
//! file ingested (`ingest_jsonl`, the body of `tracefold ingest`) into a
//! fresh store opened as the CLI opens it for an import (64 MiB sled cache,
//! mimalloc). The target (issue 13): time per payload within 1.5x across
//! the sizes, i.e. linear ingest. Peak memory is measured on the CLI with a
//! 1M-event file (BENCHMARKS.md gives the command).

// Bench code states its expectations with `expect`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/synthetic_jsonl.rs"]
mod synthetic_jsonl;

// The `tracefold` binary's allocator, so the figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tracefold::{
    IMPORT_CACHE_CAPACITY_BYTES, IngestOptions, JsonlSource, Store, StoreOptions, ingest_jsonl,
};

const PAYLOAD_BYTES: usize = 512;

fn ingest_scaling(c: &mut Criterion) {
    let inputs = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("ingest_scaling");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(5));
    let mut per_payload = Vec::new();
    for payloads in [10_000u64, 40_000, 160_000] {
        let file = inputs.path().join(format!("p{payloads}.jsonl"));
        synthetic_jsonl::write_synthetic_jsonl(&file, payloads, payloads, PAYLOAD_BYTES)
            .expect("write input");
        group.throughput(Throughput::Elements(payloads));
        let mut total = Duration::ZERO;
        let mut runs = 0u32;
        group.bench_with_input(BenchmarkId::from_parameter(payloads), &file, |b, file| {
            b.iter_custom(|iterations| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iterations {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let options = StoreOptions {
                        cache_capacity_bytes: IMPORT_CACHE_CAPACITY_BYTES,
                        ..StoreOptions::default()
                    };
                    let store = Store::open(dir.path(), options).expect("open");
                    let source = JsonlSource::file(file).expect("input");
                    let started = Instant::now();
                    let report =
                        ingest_jsonl(&store, source, &IngestOptions::default()).expect("ingest");
                    elapsed += started.elapsed();
                    assert_eq!(report.events, payloads + 2);
                }
                total += elapsed;
                runs += iterations as u32;
                elapsed
            });
        });
        per_payload.push((payloads, total / runs.max(1) / payloads as u32));
    }
    group.finish();
    let first = per_payload[0].1;
    eprintln!("\ningest scaling (time per payload, and against 10k):");
    for (payloads, time) in &per_payload {
        eprintln!(
            "  {payloads:>7} distinct payloads: {:>6.1} us/payload, {:.2}x",
            time.as_secs_f64() * 1e6,
            time.as_secs_f64() / first.as_secs_f64()
        );
    }
}

criterion_group!(benches, ingest_scaling);
criterion_main!(benches);
