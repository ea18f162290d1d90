//! The crash tests: child processes working on one store are killed with
//! SIGKILL at random moments, over and over.
//!
//! The first kills a recording child (`tracefold __crash-writer`: many host
//! threads, several rollouts, payloads of mixed sizes up to a few hundred
//! KiB, group commit). The second interleaves kills of a smaller recording
//! child with kills of a maintenance child (`tracefold __crash-compactor`:
//! scratch rollouts written and deleted, `gc`, `compact`, in a loop), timed
//! from the lines it prints so that kills land inside a compaction (at
//! least one must), inside a delete or `gc`, and anywhere in its loop.
//!
//! After every kill the store must open; every event whose flush a child
//! acknowledged must be present with its payloads; every log must be
//! contiguous from seq 1 (the event iterator checks this); no event may cite
//! a missing payload and `verify` must find nothing; and the next child must
//! be able to keep recording into the same rollouts. After a maintenance
//! kill, no leftover of the interrupted compaction (copied database, old
//! database, temporary or superseded pack) survives the open. Kills default
//! to 30 per test; `TRACEFOLD_CRASH_KILLS` asks for more.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracefold::event::EventPayload;
use tracefold::{Store, StoreOptions};

use crate::support::Words;

/// The last acknowledgement a child printed: per-thread counts.
fn parse_ack(line: &str) -> (u64, Vec<u64>) {
    let mut dropped = 0;
    let mut counts = Vec::new();
    for field in line.split_whitespace().skip(1) {
        if let Some(value) = field.strip_prefix("dropped=") {
            dropped = value.parse().expect("dropped count");
        } else if let Some(value) = field.strip_prefix("counts=") {
            counts = value
                .split(',')
                .map(|count| count.parse().expect("count"))
                .collect();
        }
    }
    (dropped, counts)
}

/// Kills asked for by `TRACEFOLD_CRASH_KILLS` (default 30).
fn kills_asked() -> u64 {
    std::env::var("TRACEFOLD_CRASH_KILLS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(30)
}

/// A running child: its complete output lines arrive on `lines` as they are
/// printed, with the time each was read.
struct Running {
    child: std::process::Child,
    lines: mpsc::Receiver<(Instant, String)>,
    reader: std::thread::JoinHandle<Vec<(Instant, String)>>,
    seen: Vec<(Instant, String)>,
}

impl Running {
    fn spawn(store: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracefold"))
            .arg("--store")
            .arg(store)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut lines = Vec::new();
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => break,
                    // Only complete lines count: the kill can tear the last one.
                    Ok(_) if buffer.last() == Some(&b'\n') => {
                        let line = String::from_utf8_lossy(&buffer).trim().to_string();
                        let at = Instant::now();
                        let _ = sender.send((at, line.clone()));
                        lines.push((at, line));
                    }
                    Ok(_) => break,
                }
            }
            lines
        });
        Running {
            child,
            lines,
            reader,
            seen: Vec::new(),
        }
    }

    /// Waits for the next line starting with `prefix`; if the child exits
    /// first, fails with its stderr.
    fn wait_for(&mut self, prefix: &str) -> Instant {
        loop {
            match self.lines.recv() {
                Ok((at, line)) => {
                    let found = line.starts_with(prefix);
                    self.seen.push((at, line));
                    if found {
                        return at;
                    }
                }
                Err(_) => {
                    let _ = self.child.wait();
                    let mut stderr = String::new();
                    if let Some(mut pipe) = self.child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                    }
                    panic!(
                        "the child exited before printing {prefix:?} (lines {:?}): {stderr}",
                        self.seen
                    );
                }
            }
        }
    }

    /// SIGKILL; returns every complete line the child printed.
    fn kill(mut self) -> Vec<(Instant, String)> {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
        self.reader.join().expect("reader thread")
    }
}

/// Runs one recording child with `shape` arguments until killed `run_ms`
/// after it is ready (its store open and its threads running); returns its
/// complete output lines.
fn run_writer(store: &Path, run: u64, shape: &[&str], run_ms: u64) -> Vec<String> {
    let seed = run.to_string();
    let mut args = vec!["__crash-writer", "--seed", &seed];
    args.extend_from_slice(shape);
    let mut child = Running::spawn(store, &args);
    child.wait_for("ready");
    std::thread::sleep(Duration::from_millis(run_ms));
    child.kill().into_iter().map(|(_, line)| line).collect()
}

/// Runs one recording child until killed after `run_ms`; returns its
/// complete output lines.
fn run_and_kill(store: &Path, run: u64, run_ms: u64) -> Vec<String> {
    run_writer(store, run, &["--threads", "8", "--rollouts", "3"], run_ms)
}

#[test]
fn acknowledged_events_survive_repeated_sigkill_of_a_recording_process() {
    let kills = kills_asked();
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let mut timing = Words::new(0xC4A5);
    let mut acknowledged_total = 0u64;
    let mut found_total = 0u64;
    let mut acks_total = 0u64;
    for run in 1..=kills {
        let run_ms = 150 + timing.next() % 450;
        let lines = run_and_kill(&store_dir, run, run_ms);
        let acks: Vec<&String> = lines.iter().filter(|l| l.starts_with("ack ")).collect();
        acks_total += acks.len() as u64;
        assert!(
            !lines.iter().any(|l| l.starts_with("flush-error")),
            "run {run}: {lines:?}"
        );
        let acknowledged = acks.last().map(|line| parse_ack(line)).unwrap_or_default();
        assert_eq!(acknowledged.0, 0, "run {run} dropped events");

        // Reopen: the store opens, verifies, and holds every acknowledged event.
        let store = Store::open(&store_dir, StoreOptions::default())
            .unwrap_or_else(|err| panic!("run {run}: the store does not reopen: {err}"));
        let findings = store.verify().expect("verify runs");
        assert!(findings.is_empty(), "run {run}: verify found {findings:#?}");
        let mut found: BTreeMap<u64, u64> = BTreeMap::new();
        for manifest in store.rollouts().expect("rollouts") {
            for event in store.events(&manifest.rollout_id).expect("events") {
                let event = event.unwrap_or_else(|err| panic!("run {run}: {err}"));
                let EventPayload::ProtocolEventObserved { event_payload, .. } = &event.payload
                else {
                    continue;
                };
                // This run's threads record under turn `turn-{run}-{thread}`;
                // earlier runs were checked after their own kill (and verify
                // still checks every payload of every run).
                let this_run = format!("turn-{run}-");
                if !event
                    .codex_turn_id
                    .as_deref()
                    .is_some_and(|turn| turn.starts_with(&this_run))
                {
                    continue;
                }
                let bytes = store
                    .read_payload(&event_payload.hash)
                    .unwrap_or_else(|err| panic!("run {run} seq {}: {err}", event.seq));
                let value: Value = serde_json::from_slice(&bytes).expect("payload json");
                if value["run"].as_u64() != Some(run) {
                    continue;
                }
                let thread = value["thread"].as_u64().expect("thread");
                let n = value["n"].as_u64().expect("n");
                // One host thread's events are stored in the order it made them.
                let previous = found.entry(thread).or_default();
                assert_eq!(n, *previous + 1, "run {run} thread {thread}");
                *previous = n;
            }
        }
        for (thread, acked) in acknowledged.1.iter().enumerate() {
            let present = found.get(&(thread as u64)).copied().unwrap_or(0);
            assert!(
                present >= *acked,
                "run {run} thread {thread}: {acked} acknowledged, {present} found"
            );
            acknowledged_total += acked;
        }
        found_total += found.values().sum::<u64>();
    }
    let store = Store::open(&store_dir, StoreOptions::default()).expect("final reopen");
    let stats = store.stats().expect("stats");
    println!(
        "crash test: {kills} kills, {acks_total} acknowledged flushes, {acknowledged_total} events acknowledged, {found_total} events found, store {} events / {} payloads / {} disk bytes",
        stats.events, stats.payloads, stats.disk_bytes
    );
    assert!(acknowledged_total > 0, "no run acknowledged anything");
}

/// The smaller recording child of the interleaved test: its store must stay
/// small enough to compact (at zstd level 19) many times in a test's time.
const SMALL_WRITER: &[&str] = &[
    "--threads",
    "4",
    "--rollouts",
    "2",
    "--pad-bytes",
    "600",
    "--big-one-in",
    "1500",
    "--pause-ms",
    "3",
];

/// Where a maintenance child is killed from.
#[derive(Debug, Clone, Copy)]
enum Aim {
    /// Anywhere in the loop after a compaction completed.
    AfterACompaction,
    /// Inside a compaction: within half the last one's time after it starts.
    InCompaction,
    /// Inside the delete or the gc after it.
    InDeleteOrGc,
}

/// How long the maintenance child's steps took last time (as the test saw
/// its lines arrive): only used to aim the next kill.
struct StepTimes {
    compact: Duration,
    delete_and_gc: Duration,
    cycle: Duration,
}

impl StepTimes {
    /// Updates the times from a killed child's lines.
    fn learn(&mut self, lines: &[(Instant, String)]) {
        let mut last: BTreeMap<&str, Instant> = BTreeMap::new();
        for (at, line) in lines {
            let step = line.split_whitespace().next().unwrap_or("");
            match step {
                "compact-done" => {
                    if let Some(start) = last.get("compact-start") {
                        self.compact = *at - *start;
                    }
                    if let Some(start) = last.get("write") {
                        self.cycle = *at - *start;
                    }
                }
                "gc-done" => {
                    if let Some(start) = last.get("delete") {
                        self.delete_and_gc = *at - *start;
                    }
                }
                _ => {}
            }
            last.insert(step, *at);
        }
    }
}

/// A delay in `0..=range`, from `timing`.
fn some_of(range: Duration, timing: &mut Words) -> Duration {
    let ms = u64::try_from(range.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(timing.next() % (ms + 1))
}

/// Runs one maintenance child and kills it as `aim` says; returns the step
/// the kill landed in: the last line it printed (`compact-start`: inside a
/// compaction).
fn kill_maintenance(
    store: &Path,
    run: u64,
    aim: Aim,
    times: &mut StepTimes,
    timing: &mut Words,
) -> String {
    let seed = run.to_string();
    let mut child = Running::spawn(store, &["__crash-compactor", "--seed", &seed]);
    child.wait_for("ready");
    let delay = match aim {
        Aim::AfterACompaction => {
            child.wait_for("compact-done");
            some_of(times.cycle, timing)
        }
        Aim::InCompaction => {
            child.wait_for("compact-start");
            some_of(times.compact / 2, timing)
        }
        Aim::InDeleteOrGc => {
            child.wait_for("delete");
            some_of(times.delete_and_gc, timing)
        }
    };
    std::thread::sleep(delay);
    let lines = child.kill();
    times.learn(&lines);
    let (_, last) = lines.last().expect("the child printed ready");
    last.split_whitespace().next().unwrap_or("").to_string()
}

/// Checks the store after a kill: it opens, no leftover of an interrupted
/// compaction survives, verify finds nothing, every log is contiguous, each
/// host thread's events of each run are there in order from its first, and
/// at least as many as were acknowledged (`acked`, by run and thread).
/// Returns the number of recorded events found.
fn check_after_kill(store_dir: &Path, run: u64, acked: &BTreeMap<(u64, u64), u64>) -> u64 {
    let store = Store::open(store_dir, StoreOptions::default())
        .unwrap_or_else(|err| panic!("run {run}: the store does not reopen: {err}"));
    let names = crate::support::file_names(store_dir);
    let packs = names
        .iter()
        .filter(|name| name.starts_with("pack-"))
        .count();
    assert!(
        packs <= 1
            && names
                .iter()
                .all(|name| !name.ends_with(".tmp") && name != "db.compact" && name != "db.old"),
        "run {run}: leftovers in the store directory: {names:?}"
    );
    let findings = store.verify().expect("verify runs");
    assert!(findings.is_empty(), "run {run}: verify found {findings:#?}");
    let mut found: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for manifest in store.rollouts().expect("rollouts") {
        for (event, seq) in store.events_of(&manifest).zip(1..) {
            let event = event.unwrap_or_else(|err| panic!("run {run}: {err}"));
            assert_eq!(event.seq, seq, "run {run}: {}", manifest.rollout_id);
            let EventPayload::ProtocolEventObserved {
                event_type,
                event_payload,
            } = &event.payload
            else {
                continue;
            };
            if event_type != "crash_test" {
                continue;
            }
            let bytes = store
                .read_payload(&event_payload.hash)
                .unwrap_or_else(|err| {
                    panic!("run {run}: {} seq {seq}: {err}", manifest.rollout_id)
                });
            let value: Value = serde_json::from_slice(&bytes).expect("payload json");
            let key = (
                value["run"].as_u64().expect("run"),
                value["thread"].as_u64().expect("thread"),
            );
            let n = value["n"].as_u64().expect("n");
            // One host thread's events are stored in the order it made them.
            let previous = found.entry(key).or_default();
            assert_eq!(n, *previous + 1, "run {run}: events of {key:?}");
            *previous = n;
        }
    }
    for (key, acked) in acked {
        let present = found.get(key).copied().unwrap_or(0);
        assert!(
            present >= *acked,
            "run {run}: writer run {} thread {}: {acked} acknowledged, {present} found",
            key.0,
            key.1
        );
    }
    found.values().sum()
}

#[test]
fn acknowledged_events_survive_sigkill_during_appends_compaction_and_gc() {
    let kills = kills_asked();
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let mut timing = Words::new(0x5EED);
    // Guesses until the first maintenance child has been timed.
    let mut times = StepTimes {
        compact: Duration::from_millis(400),
        delete_and_gc: Duration::from_millis(50),
        cycle: Duration::from_millis(1000),
    };
    let aims = [Aim::AfterACompaction, Aim::InCompaction, Aim::InDeleteOrGc];
    let mut acked: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut landed: BTreeMap<String, u64> = BTreeMap::new();
    let mut found = 0;
    for run in 1..=kills {
        if run % 2 == 1 {
            let lines = run_writer(&store_dir, run, SMALL_WRITER, 100 + timing.next() % 300);
            assert!(
                !lines.iter().any(|l| l.starts_with("flush-error")),
                "run {run}: {lines:?}"
            );
            let ack = lines.iter().rev().find(|l| l.starts_with("ack "));
            let (dropped, counts) = ack.map(|line| parse_ack(line)).unwrap_or_default();
            assert_eq!(dropped, 0, "run {run} dropped events");
            for (thread, count) in counts.into_iter().enumerate() {
                acked.insert((run, thread as u64), count);
            }
            *landed.entry("append".to_string()).or_default() += 1;
        } else {
            let aim = aims[(run / 2 - 1) as usize % aims.len()];
            let step = kill_maintenance(&store_dir, run, aim, &mut times, &mut timing);
            *landed.entry(step).or_default() += 1;
        }
        found = check_after_kill(&store_dir, run, &acked);
    }
    let store = Store::open(&store_dir, StoreOptions::default()).expect("final reopen");
    let stats = store.stats().expect("stats");
    println!(
        "crash test with maintenance: {kills} kills, landed in {landed:?}; {} events acknowledged, {found} found; store {} events ({} packed) / {} payloads / {} disk bytes",
        acked.values().sum::<u64>(),
        stats.events,
        stats.pack_events,
        stats.payloads,
        stats.disk_bytes
    );
    assert!(
        acked.values().sum::<u64>() > 0,
        "no run acknowledged anything"
    );
    // Aimed at from a compaction's start, within half the last one's time.
    assert!(
        landed.get("compact-start").copied().unwrap_or(0) > 0,
        "no kill landed inside a compaction: {landed:?}"
    );
}
