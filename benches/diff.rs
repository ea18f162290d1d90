//! One-shot timing of `diff` on two recordings of the same demo-like host
//! (about 100,000 events each by default): records both into a temporary
//! store, reduces them, then times the comparison with payload readers
//! (normalised content, what `tracefold diff` does) and by hashes alone.
//! `TRACEFOLD_DIFF_BENCH_TURNS` sets the root agent's turns.

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use tracefold::demo::{DemoConfig, run};
use tracefold::{
    DiffPolicy, Durability, Recorder, RecorderConfig, Store, StoreOptions, WriterConfig, diff,
    diff_with_payloads, reduce_stored,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let turns = std::env::var("TRACEFOLD_DIFF_BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    // `TRACEFOLD_DIFF_BENCH_STORE` keeps the recordings for later runs.
    let scratch = tempfile::tempdir()?;
    let path = std::env::var_os("TRACEFOLD_DIFF_BENCH_STORE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let store = Store::open(&path, StoreOptions::default())?;
    let config = DemoConfig {
        turns,
        agents: 8,
        seed: 7,
        compaction_threshold_bytes: 24 * 1024,
    };
    let started = Instant::now();
    let mut ids: Vec<String> = store
        .rollouts()?
        .into_iter()
        .map(|manifest| manifest.rollout_id)
        .collect();
    if ids.len() < 2 {
        // Buffered: this bench times reducing and diffing, not fsync; one
        // flush at shutdown makes the recordings durable.
        let recorder = Recorder::start(
            &store,
            RecorderConfig {
                writer: WriterConfig {
                    durability: Durability::Buffered,
                    ..WriterConfig::default()
                },
                ..RecorderConfig::default()
            },
        )?;
        ids = vec![
            run(&recorder, config).rollout_id,
            run(&recorder, config).rollout_id,
        ];
        recorder.shutdown()?;
    }
    let (first, second) = (ids[0].clone(), ids[1].clone());
    let events = store.events(&first)?.count();
    println!(
        "recorded 2 x {events} events ({turns} turns) in {:.1?}",
        started.elapsed()
    );
    let started = Instant::now();
    let a = reduce_stored(&store, &first)?;
    let b = reduce_stored(&store, &second)?;
    println!("reduced both in {:.1?}", started.elapsed());
    let policy = DiffPolicy::default();
    let started = Instant::now();
    let report = diff_with_payloads(&a, Some(&store), &b, Some(&store), &policy);
    println!(
        "diff with payload readers: {:.1?} (equivalent: {})",
        started.elapsed(),
        report.equivalent
    );
    if !report.equivalent {
        println!("{report}");
    }
    let started = Instant::now();
    let report = diff(&a, &b, &policy);
    println!(
        "diff by hashes only: {:.1?} (equivalent: {}, {} differences)",
        started.elapsed(),
        report.equivalent,
        report.further_differences + usize::from(!report.equivalent)
    );
    Ok(())
}
