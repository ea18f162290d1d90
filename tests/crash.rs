//! The crash test: a recording child process (`tracefold __crash-writer`:
//! many host threads, several rollouts, payloads of mixed sizes up to a few
//! hundred KiB, group commit) is killed with SIGKILL at random moments, over
//! and over, on the same store.
//!
//! After every kill the store must open; every event whose flush the child
//! acknowledged must be present with its payloads; every log must be
//! contiguous from seq 1 (the event iterator checks this); no event may cite
//! a missing payload and `verify` must find nothing; and the next child must
//! be able to keep recording into the same rollouts. Kills default to 30;
//! `TRACEFOLD_CRASH_KILLS` asks for more.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

/// Runs one child until killed after `run_ms`; returns its complete output
/// lines.
fn run_and_kill(store: &std::path::Path, run: u64, run_ms: u64) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .arg("--store")
        .arg(store)
        .args(["__crash-writer", "--threads", "8", "--rollouts", "3"])
        .args(["--seed", &run.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the recording child");
    let stdout = child.stdout.take().expect("stdout");
    let (ready_tx, ready_rx) = mpsc::channel();
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
                    if line.starts_with("ready") {
                        let _ = ready_tx.send(());
                    }
                    lines.push(line);
                }
                Ok(_) => break,
            }
        }
        lines
    });
    // The child is ready once its store is open and its threads run; if it
    // dies first, the channel closes and its stderr says why.
    if ready_rx.recv().is_err() {
        let output = child.wait_with_output().expect("child output");
        panic!(
            "child {run} exited before it was ready: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(run_ms));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    reader.join().expect("reader thread")
}

#[test]
fn acknowledged_events_survive_repeated_sigkill_of_a_recording_process() {
    let kills: u64 = std::env::var("TRACEFOLD_CRASH_KILLS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(30);
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
