//! Criterion bench of the reducer: reduce synthetic rollouts of n, 4n and 16n
//! events (n = 10,000) and report events per second. Time should grow
//! linearly (16n within 20x of n).
//!
//! The rollout shape is in `common/reduce_synth.rs`. Payloads are built once,
//! outside the measured loop; the bench never does I/O. The group
//! `reduce_1k_outputs` repeats the sizes with 1 KiB command outputs.
//! `reduce_keep_going` reduces n and 4n with `ReduceOptions::keep_going`,
//! without failures and with 1, 10 and 100 skipped events spread evenly:
//! `rebuilt` ones (found after a mutable borrow: each costs a clone of the
//! state and applying the events since the previous one again) and
//! `unchanged` ones (found before anything changed: skipped in place).

use std::hint::black_box;
use std::time::{Duration, Instant};

// The same allocator as the `tracefold` binary: the reduced state is many
// small allocations, and glibc's free path dominated the profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tracefold::{ReduceOptions, reduce, reduce_with};

#[path = "common/reduce_synth.rs"]
mod reduce_synth;

use reduce_synth::{Synth, synthetic, synthetic_with_output, with_failures};

/// The fold only: each state is freed right after its run, outside the
/// timer, so the next run reuses that memory. `iter_with_large_drop` would
/// keep a whole batch of states alive, and on this VM first touches of fresh
/// memory cost as much as the fold itself, varying run to run.
fn timed_reduce(synth: &Synth, iters: u64) -> Duration {
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let state = black_box(reduce("bench", &synth.events, &synth.payloads));
        timed += start.elapsed();
        drop(state);
    }
    timed
}

/// Rollouts of n, 4n and 16n events (n = 10,000) built by `build`.
fn bench_sizes(c: &mut Criterion, group: &str, build: impl Fn(usize) -> Synth) {
    let n = 10_000usize;
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    for factor in [1usize, 4, 16] {
        let synth = build(n * factor);
        group.throughput(Throughput::Elements(synth.events.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{factor}n")),
            &synth,
            |b, synth| b.iter_custom(|iters| timed_reduce(synth, iters)),
        );
    }
    group.finish();
}

/// The acceptance bench: one-line command outputs, bookkeeping-bound.
fn bench_reduce(c: &mut Criterion) {
    bench_sizes(c, "reduce", synthetic);
}

/// The same rollout shape with 1 KiB command outputs, for comparison.
fn bench_reduce_1k_outputs(c: &mut Criterion) {
    bench_sizes(c, "reduce_1k_outputs", |events| {
        synthetic_with_output(events, 1024)
    });
}

/// Keep-going reductions: the same fold, plus the rebuild per skipped event.
fn bench_reduce_keep_going(c: &mut Criterion) {
    let n = 10_000usize;
    let mut group = c.benchmark_group("reduce_keep_going");
    group.sample_size(10);
    for factor in [1usize, 4] {
        for (failures, unchanged) in [
            (0usize, false),
            (1, false),
            (10, false),
            (100, false),
            (100, true),
        ] {
            let synth = with_failures(synthetic(n * factor), failures, unchanged);
            let kind = if unchanged { "unchanged" } else { "rebuilt" };
            group.throughput(Throughput::Elements(synth.events.len() as u64));
            group.bench_with_input(
                BenchmarkId::from_parameter(format!("{factor}n/{failures}_{kind}")),
                &synth,
                |b, synth| {
                    b.iter_custom(|iters| {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            let state = black_box(reduce_with(
                                "bench",
                                &synth.events,
                                &synth.payloads,
                                ReduceOptions::keep_going(),
                            ));
                            timed += start.elapsed();
                            drop(state);
                        }
                        timed
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_reduce,
    bench_reduce_1k_outputs,
    bench_reduce_keep_going
);
criterion_main!(benches);
