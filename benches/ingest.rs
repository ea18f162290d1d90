//! Ingest, storage and record-call latency, each beside its baselines.
//!
//! - ingest: the demo workload recorded through the recorder into a fresh
//!   store (until durable), against (a) a faithful writer of the reference's
//!   bundle format and (b) the same encoded records written straight into
//!   sled in batches (the store's ceiling). Reported as events/s.
//! - storage: bytes on disk for a 200-turn demo rollout, tracefold vs the
//!   reference bundle of the same rollout.
//! - record call latency: what a host thread pays per recorder call, median
//!   and p99, with the writer running.
//!
//! A summary with ratios from this one run is printed at the end (the
//! numbers BENCHMARKS.md records). `TRACEFOLD_BENCH_TURNS` sizes the ingest
//! workload (default 60 turns, 3 agents).

// Bench code states its expectations with `expect`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tracefold::event::ExecutionStatus;
use tracefold::{
    Overflow, Recorder, RecorderConfig, RolloutStart, Store, StoreOptions, ThreadStart,
    TurnRecorder, WriterConfig,
};

use common::{
    ReferenceWriter, Workload, demo_workload, dir_bytes, record_with_tracefold,
    record_with_tracefold_batched, store_records, write_raw_sled,
};

fn turns() -> u32 {
    std::env::var("TRACEFOLD_BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

fn run_tracefold(workload: &Workload) -> Duration {
    run_tracefold_with(workload, record_with_tracefold)
}

fn run_tracefold_batched(workload: &Workload) -> Duration {
    run_tracefold_with(workload, record_with_tracefold_batched)
}

fn run_tracefold_with(workload: &Workload, record: fn(&Store, &Workload) -> Recorder) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let started = Instant::now();
    let recorder = record(&store, workload);
    let elapsed = started.elapsed();
    recorder.shutdown().expect("shutdown");
    assert_eq!(recorder.stats().events_dropped, 0);
    elapsed
}

fn run_reference(workload: &Workload) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = ReferenceWriter::create(dir.path(), workload);
    let started = Instant::now();
    for event in &workload.events {
        writer.append(event);
    }
    started.elapsed()
}

fn run_raw_sled(records: &[(Vec<u8>, Vec<u8>)]) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    write_raw_sled(dir.path(), records, 1000);
    started.elapsed()
}

/// The records tracefold writes for `workload`, for the raw-sled ceiling.
fn tracefold_records(workload: &Workload) -> Vec<(Vec<u8>, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
        record_with_tracefold(&store, workload)
            .shutdown()
            .expect("shutdown");
    }
    store_records(dir.path())
}

fn ingest(c: &mut Criterion) {
    let workload = demo_workload(turns(), 3, 7);
    let records = tracefold_records(&workload);
    let events = workload.events.len() as u64;
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(events));
    group.bench_function("tracefold_recorder", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_tracefold(&workload)).sum())
    });
    group.bench_function("tracefold_recorder_batched", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_tracefold_batched(&workload)).sum())
    });
    group.bench_function("reference_bundle_writer", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_reference(&workload)).sum())
    });
    group.bench_function("raw_sled_ceiling", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_raw_sled(&records)).sum())
    });
    group.finish();
}

fn small_turn(recorder: &Recorder) -> TurnRecorder {
    let rollout = recorder.start_rollout(RolloutStart {
        rollout_id: None,
        trace_id: None,
        root: ThreadStart {
            thread_id: "root".into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    });
    rollout.root().start_turn("turn-1")
}

fn record_call(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    // Drop on a full queue: the bench measures the call, never a wait.
    let config = RecorderConfig {
        writer: WriterConfig {
            overflow: Overflow::Drop,
            ..WriterConfig::default()
        },
        ..RecorderConfig::default()
    };
    let recorder = Recorder::start(&store, config).expect("recorder");
    let turn = small_turn(&recorder);
    let disabled = TurnRecorder::disabled();
    let mut group = c.benchmark_group("record_call");
    group.bench_function("disabled_handle", |b| {
        b.iter(|| disabled.protocol_event("warning", || json!({"message": "never built"})))
    });
    group.bench_function("turn_end_no_payload", |b| {
        b.iter(|| turn.end(black_box(ExecutionStatus::Completed)))
    });
    group.bench_function("protocol_event_small_json", |b| {
        b.iter(|| turn.protocol_event("warning", || json!({"message": "disk almost full"})))
    });
    group.finish();
    recorder.shutdown().expect("shutdown");
}

/// Per-call latency distribution at a steady host pace (one call every
/// `pace`), with the writer draining concurrently.
fn latency_percentiles(calls: usize, pace: Duration) -> (Duration, Duration, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let turn = small_turn(&recorder);
    let mut samples = Vec::with_capacity(calls);
    for index in 0..calls {
        let started = Instant::now();
        match index % 4 {
            0 => turn.protocol_event(
                "warning",
                || json!({"message": "disk almost full", "n": index}),
            ),
            1 => turn.end(ExecutionStatus::Completed),
            2 => turn.code_cell_started("1", "call_1", "text('hi')"),
            _ => turn.protocol_event("turn_started", || json!({"turn": index})),
        }
        samples.push(started.elapsed());
        let until = started + pace;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
    recorder.shutdown().expect("shutdown");
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99), at(0.999))
}

/// Whether the summary should run: on a plain `cargo bench`, or when the
/// filter names it (criterion runs every group function whatever the filter).
fn summary_requested() -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .any(|filter| "summary".contains(filter.as_str()))
}

fn summary(_c: &mut Criterion) {
    if !summary_requested() {
        return;
    }
    let workload = demo_workload(turns(), 3, 7);
    let records = tracefold_records(&workload);
    let events = workload.events.len() as f64;
    let mb = workload.logical_payload_bytes as f64 / 1e6;
    let median = |mut runs: Vec<Duration>| {
        runs.sort_unstable();
        runs[runs.len() / 2]
    };
    let ours = median((0..5).map(|_| run_tracefold(&workload)).collect());
    let batched = median((0..5).map(|_| run_tracefold_batched(&workload)).collect());
    let reference = median((0..5).map(|_| run_reference(&workload)).collect());
    let ceiling = median((0..5).map(|_| run_raw_sled(&records)).collect());
    let rate = |d: Duration| events / d.as_secs_f64();
    println!();
    println!(
        "== ingest summary (demo workload: {} events, {:.1} MB logical payloads, {} stored records)",
        workload.events.len(),
        mb,
        records.len()
    );
    for (name, d) in [
        ("tracefold recorder", ours),
        ("tracefold, one flush", batched),
        ("reference bundle writer", reference),
        ("raw sled ceiling", ceiling),
    ] {
        println!(
            "{name:<26} {:>10.0} events/s {:>9.1} MB/s  ({:.1} ms)",
            rate(d),
            mb / d.as_secs_f64(),
            d.as_secs_f64() * 1e3
        );
    }
    println!(
        "tracefold / reference      {:>10.1}x",
        rate(ours) / rate(reference)
    );
    println!(
        "tracefold / sled ceiling   {:>10.1}%  (with one flush: {:.1}%)",
        100.0 * rate(ours) / rate(ceiling),
        100.0 * rate(batched) / rate(ceiling)
    );

    // Storage for a 200-turn rollout.
    let long = demo_workload(200, 3, 7);
    let ours_dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(ours_dir.path(), StoreOptions::default()).expect("store");
        record_with_tracefold(&store, &long)
            .shutdown()
            .expect("shutdown");
    }
    let reference_dir = tempfile::tempdir().expect("tempdir");
    {
        let writer = ReferenceWriter::create(reference_dir.path(), &long);
        for event in &long.events {
            writer.append(event);
        }
    }
    let ours_bytes = dir_bytes(ours_dir.path());
    let reference_bytes = dir_bytes(reference_dir.path());
    println!();
    println!(
        "== storage (200-turn demo rollout: {} events, {:.1} MB logical payloads)",
        long.events.len(),
        long.logical_payload_bytes as f64 / 1e6
    );
    println!("tracefold store            {:>12} bytes", ours_bytes);
    println!("reference bundle           {:>12} bytes", reference_bytes);
    println!(
        "tracefold / reference      {:>12.4} (1/{:.1})",
        ours_bytes as f64 / reference_bytes as f64,
        reference_bytes as f64 / ours_bytes as f64
    );

    // Record call latency at a heavy host pace (50k calls/s).
    let (p50, p99, p999) = latency_percentiles(200_000, Duration::from_micros(20));
    println!();
    println!("== record call latency (200,000 calls, one every 20 us, writer running)");
    println!("median {:?}  p99 {:?}  p99.9 {:?}", p50, p99, p999);
}

criterion_group!(benches, ingest, record_call, summary);
criterion_main!(benches);
