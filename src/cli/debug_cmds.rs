//! Hidden test helpers: the child processes that the crash test kills with
//! SIGKILL. They must never be shown in `--help`.
//!
//! `__crash-writer` records from many host threads into several rollouts
//! through the public `Recorder` API with group commit, and after each
//! successful `flush()` prints `ack run=R dropped=D counts=c0,c1,...`, where
//! `ci` is how many events thread `i` had handed over before that flush
//! began: all of them are durable. Every payload carries `{run, thread, n}`
//! so the test can check exactly which events survived.
//!
//! `__crash-compactor` loops over what a maintenance process does to the
//! same store: it writes two scratch rollouts, deletes the older scratch
//! rollouts (one of them still hot, the others in the pack), collects
//! garbage and compacts, printing a line as each step starts and ends, so
//! the test can kill it inside a chosen step and tell where the kill landed.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{Cli, EXIT_ERROR, EXIT_OK};
use crate::event::{EventPayload, PayloadKind};
use crate::recorder::{Recorder, RecorderConfig, RolloutStart, ThreadStart};
use crate::store::Store;
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

/// What a `__crash-writer` records (its command-line arguments).
#[derive(clap::Args, Debug, Clone, Copy)]
pub(super) struct CrashWriterShape {
    /// Host threads, each recording its own turn
    #[arg(long, default_value_t = 8)]
    pub threads: usize,
    /// Rollouts the threads share (thread `i` records into `i % rollouts`)
    #[arg(long, default_value_t = 3)]
    pub rollouts: usize,
    /// The run number: in every payload and turn id
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many events per thread (default: run until killed)
    #[arg(long)]
    pub events_per_thread: Option<u64>,
    /// A payload's padding is 50 bytes plus up to this many more
    #[arg(long, default_value_t = 2000)]
    pub pad_bytes: u64,
    /// One payload in this many is big (100 to 400 KB); 0: none
    #[arg(long, default_value_t = 300)]
    pub big_one_in: u64,
    /// Pause of each thread after each event, in milliseconds
    #[arg(long, default_value_t = 1)]
    pub pause_ms: u64,
}

pub(super) fn crash_writer(cli: &Cli, shape: CrashWriterShape) -> anyhow::Result<i32> {
    let CrashWriterShape {
        threads,
        rollouts,
        seed,
        events_per_thread,
        pad_bytes,
        big_one_in,
        pause_ms,
    } = shape;
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
        ..RecorderConfig::default()
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
                // 1 in 300 payloads is big by default: enough to cross
                // chunk and group boundaries without making the store huge.
                let big = big_one_in > 0 && rng.next().is_multiple_of(big_one_in);
                let len = if big {
                    100_000 + (rng.next() % 300_000) as usize
                } else {
                    50 + (rng.next() % pad_bytes.max(1)) as usize
                };
                let pad = filler(&mut rng, len);
                turn.protocol_event(
                    "crash_test",
                    || json!({"run": seed, "thread": thread, "n": n, "pad": pad}),
                );
                counts[thread].store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(pause_ms));
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

/// Scratch payloads per scratch rollout.
const SCRATCH_PAYLOADS: u64 = 20;

pub(super) fn crash_compactor(cli: &Cli, seed: u64) -> anyhow::Result<i32> {
    let mut store = cli.open_existing_store()?;
    let mut out = std::io::stdout().lock();
    let mut say = |line: std::fmt::Arguments<'_>| -> std::io::Result<()> {
        writeln!(out, "{line}")?;
        out.flush()
    };
    say(format_args!("ready pid={}", std::process::id()))?;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for iteration in 1u64.. {
        let keep = format!("scratch-{seed}-{iteration}");
        say(format_args!("write {keep}"))?;
        write_scratch(&store, &keep, &mut rng)?;
        say(format_args!("delete"))?;
        for manifest in store.rollouts()? {
            let id = manifest.rollout_id;
            if id.starts_with("scratch-") && id != keep {
                store.delete_rollout(&id)?;
            }
        }
        say(format_args!("gc-start"))?;
        let gc = store.gc()?;
        say(format_args!(
            "gc-done payloads_removed={} chunks_removed={} pack_events_dead={} pack_payloads_dead={}",
            gc.payloads_removed, gc.chunks_removed, gc.pack_events_dead, gc.pack_payloads_dead
        ))?;
        say(format_args!("compact-start"))?;
        let (compacted, report) = store.compact()?;
        store = compacted;
        say(format_args!(
            "compact-done events={} payloads={} pack_bytes={}",
            report.events_packed, report.payloads_packed, report.pack_bytes
        ))?;
    }
    Ok(EXIT_OK)
}

/// Writes rollout `id` and `{id}-tmp` (deleted by the same iteration, so
/// gc has hot records to sweep), each with its own scratch payloads, in one
/// durable write.
fn write_scratch(store: &Store, id: &str, rng: &mut Rng) -> anyhow::Result<()> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        });
    let mut writes = store.writes()?;
    for rollout_id in [id.to_string(), format!("{id}-tmp")] {
        let num = writes.rollout(&rollout_id, true)?;
        for n in 0..SCRATCH_PAYLOADS {
            let body = json!({"scratch": rollout_id, "n": n, "pad": filler(rng, 2000)});
            let payload = writes
                .put_payload_bytes(PayloadKind::ProtocolEvent, body.to_string().as_bytes())?;
            writes.append(
                num,
                now_ms,
                None,
                None,
                EventPayload::ProtocolEventObserved {
                    event_type: "scratch".to_string(),
                    event_payload: payload,
                },
            )?;
        }
    }
    writes.commit(true)?;
    Ok(())
}
