//! Hidden test helpers: `__crash-writer`, the recording child process that
//! the crash test kills with SIGKILL.
//!
//! It records from many host threads into several rollouts through the
//! public `Recorder` API with group commit, and after each successful
//! `flush()` prints `ack run=R dropped=D counts=c0,c1,...`, where `ci` is how
//! many events thread `i` had handed over before that flush began: all of
//! them are durable. Every payload carries `{run, thread, n}` so the test can
//! check exactly which events survived. It must never be shown in `--help`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{Cli, EXIT_ERROR, EXIT_OK};
use crate::recorder::{Recorder, RecorderConfig, RolloutStart, ThreadStart};
use crate::writer::WriterConfig;
use crate::writer::{Durability, Overflow};

/// Deterministic xorshift, so a seed reproduces a run's payloads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Text of about `len` bytes from a small vocabulary (compressible, like
/// real conversation text, but different per call).
fn filler(rng: &mut Rng, len: usize) -> String {
    const WORDS: &[&str] = &[
        "agent", "reads", "file", "cargo", "build", "error", "value", "store", "event", "chunk",
        "thread", "turn", "tool", "output", "model", "request",
    ];
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        let word = rng.next();
        out.push_str(WORDS[(word % WORDS.len() as u64) as usize]);
        if word.is_multiple_of(7) {
            out.push_str(&(word % 100_000).to_string());
        }
        out.push(' ');
    }
    out
}

pub(super) fn crash_writer(
    cli: &Cli,
    threads: usize,
    rollouts: usize,
    seed: u64,
    events_per_thread: Option<u64>,
) -> anyhow::Result<i32> {
    let threads = threads.max(1);
    let rollouts = rollouts.max(1);
    let store = cli.open_or_create_store()?;
    let config = RecorderConfig {
        writer: WriterConfig {
            durability: Durability::GroupCommit {
                max_wait: Duration::from_millis(2),
            },
            // Small, so a flush waits behind little and acknowledgements come often.
            queue_capacity: 256,
            // A drop would make an acknowledgement wrong: wait instead.
            overflow: Overflow::Block {
                max_wait: Duration::from_secs(60),
            },
            ..WriterConfig::default()
        },
    };
    let recorder = Recorder::start(&store, config)?;
    let handles: Vec<_> = (0..rollouts)
        .map(|index| {
            recorder.start_rollout(RolloutStart {
                rollout_id: Some(format!("crash-{index}")),
                trace_id: Some(format!("trace-crash-{index}")),
                root: ThreadStart {
                    thread_id: format!("root-{index}"),
                    agent_path: "/root".to_string(),
                    metadata: None,
                },
            })
        })
        .collect();
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for thread in 0..threads {
        let turn = handles[thread % rollouts]
            .root()
            .start_turn(format!("turn-{seed}-{thread}"));
        let counts = Arc::clone(&counts);
        workers.push(std::thread::spawn(move || {
            let mut rng = Rng((seed << 8 | thread as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut n = 0u64;
            while events_per_thread.is_none_or(|limit| n < limit) {
                n += 1;
                // 1 in 300 payloads is big: enough to cross chunk and
                // group boundaries without making the store huge.
                let roll = rng.next() % 300;
                let len = if roll == 0 {
                    100_000 + (rng.next() % 300_000) as usize
                } else {
                    50 + (rng.next() % 2000) as usize
                };
                let pad = filler(&mut rng, len);
                turn.protocol_event(
                    "crash_test",
                    || json!({"run": seed, "thread": thread, "n": n, "pad": pad}),
                );
                counts[thread].store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        }));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready pid={}", std::process::id())?;
    out.flush()?;
    let finish = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            for worker in workers {
                let _ = worker.join();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    loop {
        let finished = done.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(15));
        let snapshot: Vec<String> = counts
            .iter()
            .map(|count| count.load(Ordering::SeqCst).to_string())
            .collect();
        match recorder.flush() {
            Ok(()) => {
                let dropped = recorder.stats().events_dropped;
                writeln!(
                    out,
                    "ack run={seed} dropped={dropped} counts={}",
                    snapshot.join(",")
                )?;
                out.flush()?;
            }
            Err(err) => {
                writeln!(out, "flush-error {err}")?;
                out.flush()?;
                return Ok(EXIT_ERROR);
            }
        }
        if finished {
            break;
        }
    }
    let _ = finish.join();
    recorder.shutdown()?;
    Ok(EXIT_OK)
}
