//! Reduces the reduce bench's synthetic rollout outside criterion, for the
//! measurements in BENCHMARKS.md that criterion cannot make: the time per
//! event of single runs, and instruction counts under valgrind.
//!
//! ```text
//! cargo run --release --example reduce_work -- EVENTS [RUNS [SKIPPED [unchanged]]]
//! valgrind --tool=callgrind --toggle-collect='tracefold::reducer::reduce*' \
//!     target/release/examples/reduce_work EVENTS [RUNS]
//! valgrind --tool=callgrind --toggle-collect='tracefold::reducer::reduce_with*' \
//!     target/release/examples/reduce_work EVENTS RUNS SKIPPED [unchanged]
//! ```
//!
//! With `SKIPPED`, the rollout gets that many events the reducer cannot take
//! and is reduced with `ReduceOptions::keep_going` (0: keep-going on the
//! valid rollout): ends of unknown turns, which make the state before them
//! be rebuilt, or with `unchanged`, completions of unknown inference calls,
//! found before anything changed (`reduce_synth::with_failures`).
//!
//! Each run reduces the whole rollout; only the fold is timed, and its state
//! is freed after the timer stops, as in the criterion bench.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tracefold::{ReduceOptions, reduce, reduce_with};

#[path = "../benches/common/reduce_synth.rs"]
mod reduce_synth;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let parse = |arg: Option<String>, default: usize| match arg {
        None => Some(default),
        Some(text) => text.parse::<usize>().ok().filter(|&value| value > 0),
    };
    let (Some(events), Some(runs)) = (parse(args.next(), 10_000), parse(args.next(), 1)) else {
        eprintln!(
            "usage: reduce_work [EVENTS] [RUNS [SKIPPED]] (positive integers; SKIPPED may be 0)"
        );
        return ExitCode::from(2);
    };
    let skipped = match args.next().map(|text| text.parse::<usize>()) {
        None => None,
        Some(Ok(skipped)) => Some(skipped),
        Some(Err(_)) => {
            eprintln!(
                "usage: reduce_work [EVENTS] [RUNS [SKIPPED]] (positive integers; SKIPPED may be 0)"
            );
            return ExitCode::from(2);
        }
    };
    let synth = reduce_synth::synthetic(events);
    let synth = match skipped {
        Some(skipped) => {
            reduce_synth::with_failures(synth, skipped, args.next().as_deref() == Some("unchanged"))
        }
        None => synth,
    };
    let events = synth.events.len();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let state = black_box(match skipped {
            None => reduce("work", &synth.events, &synth.payloads),
            Some(_) => reduce_with(
                "work",
                &synth.events,
                &synth.payloads,
                ReduceOptions::keep_going(),
            ),
        });
        times.push(start.elapsed());
        if let Err(err) = state {
            eprintln!("reduce failed: {err}");
            return ExitCode::FAILURE;
        }
    }
    let per_event = |time: Duration| time.as_nanos() as f64 / events as f64;
    let total: Duration = times.iter().sum();
    let best = times.iter().min().copied().unwrap_or_default();
    println!(
        "{events} events x {runs} runs: mean {:.0} ns/event, best {:.0} ns/event",
        per_event(total) / runs as f64,
        per_event(best)
    );
    ExitCode::SUCCESS
}
