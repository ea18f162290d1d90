//! Criterion bench of the reducer: reduce synthetic rollouts of n, 4n and 16n
//! events (n = 10,000) and report events per second. Time should grow
//! linearly (16n within 20x of n).
//!
//! The rollout shape is in `common/reduce_synth.rs`. Payloads are built once,
//! outside the measured loop; the bench never does I/O.

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

use reduce_synth::synthetic;

fn bench_reduce(c: &mut Criterion) {
    let n = 10_000usize;
    let mut group = c.benchmark_group("reduce");
    group.sample_size(10);
    for factor in [1usize, 4, 16] {
        let synth = synthetic(n * factor);
        group.throughput(Throughput::Elements(synth.events.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{factor}n")),
            &synth,
            |b, synth| {
                // Only the fold is timed. Each state is freed right after
                // its run, outside the timer, so the next run reuses that
                // memory. `iter_with_large_drop` would keep a whole batch of
                // states alive, and on this VM first touches of fresh memory
                // cost as much as the fold itself, varying run to run.
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let state = black_box(reduce("bench", &synth.events, &synth.payloads));
                        timed += start.elapsed();
                        drop(state);
                    }
                    timed
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_reduce);
criterion_main!(benches);
