//! Criterion bench of the reducer: reduce synthetic rollouts of n, 4n and 16n
//! events (n = 10,000) and report events per second. Time should grow
//! linearly (16n within 20x of n).
//!
//! The rollout shape is in `common/reduce_synth.rs`. Payloads are built once,
//! outside the measured loop; the bench never does I/O. The group
//! `reduce_1k_outputs` repeats the sizes with 1 KiB command outputs.

use std::hint::black_box;
use std::time::{Duration, Instant};

// The same allocator as the `tracefold` binary: the reduced state is many
// small allocations, and glibc's free path dominated the profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tracefold::reducer::reduce;

#[path = "common/reduce_synth.rs"]
mod reduce_synth;

use reduce_synth::{Synth, synthetic, synthetic_with_output};

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

criterion_group!(benches, bench_reduce, bench_reduce_1k_outputs);
criterion_main!(benches);
