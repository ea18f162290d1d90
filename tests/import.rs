//! Integration tests: importing what the store already holds. The same file
//! twice stores nothing; a log that grew appends only its new events;
//! different content under a stored id is refused naming the first differing
//! seq; a duplicate start is refused at its line; a rollout started again
//! through the recorder resumes instead of breaking; limits hold at every
//! door; a large import is bounded and leaves nothing visible when it fails
//! or dies.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tracefold::event::{EventPayload, ExecutionStatus, PayloadKind, RolloutStatus};
use tracefold::{
    IngestOptions, JsonlSource, Recorder, RecorderConfig, RolloutStart, ScriptedFaults, Store,
    StoreOptions, ThreadStart, ingest_jsonl, reduce_stored,
};

use crate::support::{
    example, fails, growing_conversation_jsonl, ingest_rejected, line, ok, read_events,
    root_start_lines, seeded_store, stats, store_fingerprint, tracefold,
};

/// The example rollout's lines.
fn sample_lines() -> Vec<String> {
    std::fs::read_to_string(example("sample.jsonl"))
        .expect("read sample")
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path
}

/// Runs `ingest FILE` (which must succeed); returns stdout and stderr.
fn ingest(store: &Path, file: &Path) -> (String, String) {
    let out = tracefold(store, &["ingest", file.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ingest failed: {stderr}");
    (String::from_utf8(out.stdout).expect("utf-8"), stderr)
}

#[test]
fn ingesting_the_same_file_twice_stores_nothing_the_second_time_and_says_so() {
    let (_dir, store, before) = seeded_store();
    let (stdout, stderr) = ingest(&store, &example("sample.jsonl"));
    assert_eq!(stdout.trim(), "rollout-example");
    assert!(
        stderr.contains("rollout-example: already stored (12 events); nothing imported"),
        "{stderr}"
    );
    assert_eq!(store_fingerprint(&store), before);
    // Still one rollout start: the log reduces and verifies.
    ok(&store, &["reduce", "rollout-example"]);
    assert!(ok(&store, &["verify"]).contains("sound"));
}

#[test]
fn a_log_that_grew_is_reingested_by_appending_only_its_new_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = sample_lines();
    let first_half = write_lines(dir.path(), "half.jsonl", &lines[..6]);
    let whole = write_lines(dir.path(), "whole.jsonl", &lines);

    let store = dir.path().join("store");
    let (_, said) = ingest(&store, &first_half);
    assert!(
        said.contains("rollout-example: new rollout, 6 events stored"),
        "{said}"
    );
    let (_, said) = ingest(&store, &whole);
    assert!(
        said.contains("rollout-example: 6 events already stored, 6 events appended"),
        "{said}"
    );
    let reference = dir.path().join("reference");
    ingest(&reference, &whole);
    assert_eq!(
        ok(&store, &["events", "rollout-example"]),
        ok(&reference, &["events", "rollout-example"])
    );
    assert_eq!(
        ok(&store, &["reduce", "rollout-example"]),
        ok(&reference, &["reduce", "rollout-example"])
    );

    // A continuation (no rollout_started) aligns by its own seq.
    let store = dir.path().join("continued");
    ingest(&store, &first_half);
    let rest = write_lines(dir.path(), "rest.jsonl", &lines[6..]);
    let (_, said) = ingest(&store, &rest);
    assert!(
        said.contains("rollout-example: 6 events appended"),
        "{said}"
    );
    let (_, said) = ingest(&store, &rest);
    assert!(
        said.contains("rollout-example: already stored (6 events); nothing imported"),
        "{said}"
    );
    assert_eq!(
        ok(&store, &["events", "rollout-example"]),
        ok(&reference, &["events", "rollout-example"])
    );
}

#[test]
fn different_content_under_a_stored_rollout_id_is_refused_naming_the_id_and_seq() {
    let (dir, store, _) = seeded_store();
    let mut lines = sample_lines();
    lines[4] = lines[4].replace("1767225600050", "1767225600051");
    ingest_rejected(
        &store,
        dir.path(),
        "changed-time.jsonl",
        lines.join("\n") + "\n",
        &[
            "changed-time.jsonl:5",
            "rollout rollout-example is already stored and differs from this input at seq 5",
            "wall_time_unix_ms 1767225600050 is stored, this line has 1767225600051",
        ],
    );
    let mut lines = sample_lines();
    lines[3] = lines[3].replace("Use exec_command", "Use a shell");
    lines.push(line(
        13,
        "rollout-example",
        None,
        None,
        json!({"type": "rollout_ended", "status": "completed"}),
    ));
    ingest_rejected(
        &store,
        dir.path(),
        "changed-payload.jsonl",
        lines.join("\n") + "\n",
        &[
            "changed-payload.jsonl:4",
            "differs from this input at seq 4",
            "payload 1 of the event is",
        ],
    );
}

#[test]
fn a_continuation_past_the_end_of_the_stored_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = sample_lines();
    let store = dir.path().join("store");
    ingest(&store, &write_lines(dir.path(), "half.jsonl", &lines[..6]));
    ingest_rejected(
        &store,
        dir.path(),
        "gap.jsonl",
        lines[8..].join("\n") + "\n",
        &[
            "gap.jsonl:1",
            "rollout rollout-example is stored with 6 events; this file continues it at seq 9 (expected at most seq 7)",
        ],
    );
}

#[test]
fn a_duplicate_start_inside_one_input_is_refused_with_its_line_and_seq() {
    let (dir, store, _) = seeded_store();
    let mut lines = root_start_lines("dup-thread");
    lines.push(line(
        3,
        "dup-thread",
        None,
        None,
        json!({"type": "thread_started", "thread_id": "root", "agent_path": "/again", "metadata_payload": null}),
    ));
    ingest_rejected(
        &store,
        dir.path(),
        "dup-thread.jsonl",
        lines.join("\n") + "\n",
        &[
            "dup-thread.jsonl:3",
            "seq 3: duplicate start of thread root (first started at seq 2)",
        ],
    );

    let mut lines = root_start_lines("dup-turn");
    for seq in [3, 4] {
        lines.push(line(
            seq,
            "dup-turn",
            Some("root"),
            Some("t"),
            json!({"type": "codex_turn_started", "codex_turn_id": "t", "thread_id": "root"}),
        ));
    }
    ingest_rejected(
        &store,
        dir.path(),
        "dup-turn.jsonl",
        lines.join("\n") + "\n",
        &[
            "dup-turn.jsonl:4",
            "duplicate start of codex turn t (first started at seq 3)",
        ],
    );

    let mut lines = root_start_lines("dup-rollout");
    lines.push(line(
        7,
        "dup-rollout",
        None,
        None,
        json!({"type": "rollout_started", "trace_id": "t2", "root_thread_id": "root"}),
    ));
    ingest_rejected(
        &store,
        dir.path(),
        "dup-rollout.jsonl",
        lines.join("\n") + "\n",
        &["dup-rollout.jsonl:3", "seq 7: duplicate start of rollout"],
    );

    // A continuation may not start again what the stored log started.
    let mut lines = sample_lines();
    lines.truncate(6);
    ingest(&store, &write_lines(dir.path(), "again.jsonl", &lines));
    let restart = line(
        13,
        "rollout-example",
        Some("thread-root"),
        Some("turn-1"),
        json!({"type": "codex_turn_started", "codex_turn_id": "turn-1", "thread_id": "thread-root"}),
    );
    ingest_rejected(
        &store,
        dir.path(),
        "restart.jsonl",
        restart + "\n",
        &[
            "restart.jsonl:1",
            "duplicate start of codex turn turn-1 (first started at seq 3)",
        ],
    );
}

fn recorder_store(dir: &Path) -> Store {
    Store::open(dir, StoreOptions::default()).expect("open")
}

fn start(recorder: &Recorder, root: &str) -> tracefold::RolloutRecorder {
    recorder.start_rollout(RolloutStart {
        rollout_id: Some("session".into()),
        trace_id: Some("trace".into()),
        root: ThreadStart {
            thread_id: root.into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    })
}

#[test]
fn starting_a_stored_rollout_again_resumes_it_and_it_still_reduces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = recorder_store(dir.path());
    for (session, turn) in [(1, "turn-1"), (2, "turn-2")] {
        let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
        let rollout = start(&recorder, "root");
        let child = rollout.root().spawn_child(ThreadStart {
            thread_id: "child".into(),
            agent_path: "/root/child".into(),
            metadata: None,
        });
        let turn = rollout.root().start_turn(turn);
        turn.end(ExecutionStatus::Completed);
        child.end(RolloutStatus::Completed);
        rollout.end(RolloutStatus::Completed);
        recorder.shutdown().expect("shutdown");
        assert_eq!(recorder.stats().events_dropped, 0, "session {session}");
    }
    let events = read_events(&store, "session");
    let types: Vec<&str> = events.iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "rollout_started").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "thread_resumed").count(),
        2,
        "{types:?}"
    );
    let state = reduce_stored(&store, "session").expect("still reduces");
    assert_eq!(state.codex_turns.len(), 2);
    assert_eq!(state.threads["root"].resumed_at_seqs.len(), 1);
    assert_eq!(state.threads["child"].resumed_at_seqs.len(), 1);
    assert_eq!(state.status, RolloutStatus::Completed);
}

#[test]
fn starting_a_stored_rollout_with_another_root_is_refused_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = recorder_store(dir.path());
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rollout = start(&recorder, "root");
    rollout.end(RolloutStatus::Completed);
    recorder.flush().expect("flush");
    let before = read_events(&store, "session");

    let other = start(&recorder, "another-root");
    other.root().start_turn("t").end(ExecutionStatus::Completed);
    other.end(RolloutStatus::Completed);
    recorder.shutdown().expect("shutdown");
    // rollout_started, thread_started, turn start and end, thread_ended,
    // rollout_ended.
    assert_eq!(recorder.stats().events_dropped, 6);
    assert_eq!(read_events(&store, "session"), before);
    reduce_stored(&store, "session").expect("still reduces");
}

#[test]
fn an_event_too_large_to_read_back_is_refused_at_ingest() {
    let (dir, store, _) = seeded_store();
    let mut lines = root_start_lines("huge");
    lines.push(line(
        3,
        "huge",
        None,
        None,
        json!({"type": "future_event_type", "body": "x".repeat(9 << 20)}),
    ));
    ingest_rejected(
        &store,
        dir.path(),
        "huge.jsonl",
        lines.join("\n") + "\n",
        &[
            "huge.jsonl:3",
            "rollout huge seq 3",
            "over the limit of 8388608 bytes",
        ],
    );
    // The store still collects garbage and deletes rollouts.
    ok(&store, &["gc"]);
    ok(&store, &["delete", "rollout-example"]);
}

#[test]
fn a_stored_payload_reference_must_match_the_stored_size() {
    let (dir, store, _) = seeded_store();
    let exported = ok(&store, &["events", "rollout-example"]);
    let renamed: Vec<String> = exported
        .lines()
        .map(|l| l.replace("\"rollout-example\"", "\"copy\""))
        .collect();
    // Honest sizes import (stored refs name payloads this store holds).
    let honest = write_lines(dir.path(), "honest.jsonl", &renamed);
    ingest(&store, &honest);
    ok(&store, &["delete", "copy"]);
    for claimed in ["1000000000000000", &u64::MAX.to_string()] {
        let mut lying = renamed.clone();
        let mut event: Value = serde_json::from_str(&lying[1]).expect("json");
        let real = event["payload"]["metadata_payload"]["size_bytes"].clone();
        event["payload"]["metadata_payload"]["size_bytes"] =
            serde_json::from_str(claimed).expect("number");
        lying[1] = event.to_string();
        ingest_rejected(
            &store,
            dir.path(),
            "lying.jsonl",
            lying.join("\n") + "\n",
            &[
                "lying.jsonl:2",
                &format!(
                    "is {real} bytes in this store, but the reference claims size_bytes {claimed}"
                ),
            ],
        );
    }
}

#[test]
fn reduce_bundle_and_diff_honour_max_payload_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let bundle = example("bundle");
    let bundle = bundle.to_str().expect("utf-8");
    let out = dir.path().join("state.json");
    let out = out.to_str().expect("utf-8");
    ok(&store, &["reduce-bundle", bundle, "-o", out]);
    let err = fails(
        &store,
        &[
            "--max-payload-bytes",
            "64",
            "reduce-bundle",
            bundle,
            "-o",
            out,
        ],
    );
    assert!(err.contains("over the limit of 64 bytes"), "{err}");
    let err = fails(
        &store,
        &["--max-payload-bytes", "64", "diff", bundle, bundle],
    );
    assert!(err.contains("over the limit of 64 bytes"), "{err}");
}

#[test]
fn payloads_that_are_not_text_export_as_base64_and_ingest_back_byte_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let bytes: Vec<u8> = vec![b'o', b'k', 0xff, 0x00, 0xfe, b'\n', 0x80];
    {
        let store = recorder_store(&path);
        let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
        let rollout = start(&recorder, "root");
        let turn = rollout.root().start_turn("t");
        turn.protocol_event("terminal_output", || bytes.clone());
        turn.end(ExecutionStatus::Completed);
        rollout.end(RolloutStatus::Completed);
        recorder.shutdown().expect("shutdown");
    }
    let hash = blake3::hash(&bytes).to_hex().to_string();
    assert_eq!(tracefold(&path, &["payload", &hash]).stdout, bytes);

    let inline = ok(&path, &["events", "session", "--inline-payloads"]);
    assert!(
        inline.contains("\"inline_base64\":\"b2v/AP4KgA==\""),
        "{inline}"
    );
    let exported = dir.path().join("session.jsonl");
    ok(
        &path,
        &[
            "export",
            "session",
            "--format",
            "jsonl",
            "--out",
            exported.to_str().expect("utf-8"),
        ],
    );
    let other = dir.path().join("other");
    ingest(&other, &exported);
    assert_eq!(tracefold(&other, &["payload", &hash]).stdout, bytes);
    assert_eq!(
        ok(&other, &["events", "session"]),
        ok(&path, &["events", "session"])
    );
}

/// A JSONL rollout of `turns` growing requests whose last line is broken.
fn failing_conversation(dir: &Path, turns: u64) -> PathBuf {
    let good = growing_conversation_jsonl(dir, "big", turns, 11);
    let mut text = std::fs::read_to_string(&good).expect("read");
    text.push_str("{\"this is\": \"not an event\"}\n");
    let bad = dir.join("big-bad.jsonl");
    std::fs::write(&bad, text).expect("write");
    bad
}

#[test]
fn a_large_import_spills_in_bounded_batches_and_a_failure_takes_everything_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Arc::new(ScriptedFaults::new());
    let options = StoreOptions {
        faults: Some(faults.clone()),
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path().join("store"), options).expect("open");
    let bad = failing_conversation(dir.path(), 120);
    let import = IngestOptions {
        spill_threshold_bytes: 16 * 1024,
        ..IngestOptions::default()
    };
    let batches_before = faults.batches.load(std::sync::atomic::Ordering::SeqCst);
    let err = ingest_jsonl(&store, JsonlSource::file(&bad).expect("open"), &import)
        .expect_err("the last line is broken");
    assert!(err.to_string().contains("big-bad.jsonl:483"), "{err}");
    let batches = faults.batches.load(std::sync::atomic::Ordering::SeqCst) - batches_before;
    assert!(
        batches > 10,
        "only {batches} batches: the import did not spill"
    );
    let stats = store.stats().expect("stats");
    assert_eq!((stats.rollouts, stats.payloads, stats.chunks), (0, 0, 0));
    assert!(store.verify().expect("verify").is_empty());

    // Without the broken line the same import, spilled, equals one batch.
    let good = dir.path().join("big.jsonl");
    let report =
        ingest_jsonl(&store, JsonlSource::file(&good).expect("open"), &import).expect("imports");
    assert_eq!(report.events, 482);
    let other = Store::open(dir.path().join("one-batch"), StoreOptions::default()).expect("open");
    ingest_jsonl(
        &other,
        JsonlSource::file(&good).expect("open"),
        &IngestOptions::default(),
    )
    .expect("imports");
    assert_eq!(read_events(&store, "big"), read_events(&other, "big"));
    assert_eq!(
        store.stats().expect("stats").payloads,
        other.stats().expect("stats").payloads
    );
}

#[test]
fn an_import_that_dies_after_spilling_leaves_no_visible_rollout_and_gc_collects_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    {
        let store = Store::open(&path, StoreOptions::default()).expect("open");
        let mut writes = store.writes().expect("writes");
        writes.set_spill_threshold(4096);
        let num = writes.rollout("dies", true).expect("rollout");
        for n in 0..200u64 {
            let text = format!(
                "{{\"n\":{n},\"pad\":\"{}\"}}",
                "x".repeat(2000 + n as usize)
            );
            let payload = writes
                .put_payload_bytes(PayloadKind::ProtocolEvent, text.as_bytes())
                .expect("payload");
            writes
                .append(
                    num,
                    n as i64,
                    None,
                    None,
                    EventPayload::ProtocolEventObserved {
                        event_type: "x".to_string(),
                        event_payload: payload,
                    },
                )
                .expect("append");
        }
        // The process dies here: no commit, no rollback (its lock is never
        // released, as in a killed process).
        std::mem::forget(writes);
        store.flush().expect("flush what was spilled");
    }
    let store = Store::open(&path, StoreOptions::default()).expect("reopen");
    assert!(store.rollouts().expect("rollouts").is_empty());
    assert!(store.verify().expect("verify").is_empty());
    let spilled = store.stats().expect("stats");
    assert!(spilled.payloads > 100, "{spilled:?}");
    let report = store.gc().expect("gc");
    assert!(report.orphan_events_removed > 100, "{report:?}");
    let after = store.stats().expect("stats");
    assert_eq!((after.payloads, after.chunks), (0, 0), "{after:?}");
    // The rollout number is not reused by accident: a new one starts clean.
    drop(store);
    let again = tempfile::tempdir().expect("tempdir");
    let file = growing_conversation_jsonl(again.path(), "dies", 3, 1);
    ok(&path, &["ingest", file.to_str().expect("utf-8")]);
    assert_eq!(stats(&path)["events"], 14);
}

#[cfg(unix)]
#[test]
fn a_payload_file_swapped_for_a_fifo_never_hangs_an_import() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = crate::support::bundle_with_payload_path(dir.path(), "payloads/1.json");
    let payload = bundle.join("payloads/1.json");
    let regular = bundle.join("payloads/regular");
    let fifo = bundle.join("payloads/fifo");
    std::fs::copy(&payload, &regular).expect("copy");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // Swap the payload between a regular file and a FIFO as fast as possible.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let (payload, regular, fifo) = (payload.clone(), regular.clone(), fifo.clone());
        std::thread::spawn(move || {
            let mut flip = false;
            while !stop.load(Ordering::Relaxed) {
                let source = if flip { &fifo } else { &regular };
                let _ = std::fs::hard_link(source, payload.with_extension("next"));
                let _ = std::fs::rename(payload.with_extension("next"), &payload);
                flip = !flip;
            }
        })
    };
    let store = dir.path().join("store");
    let mut outcomes = (0, 0);
    for attempt in 0..40 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tracefold"))
            .arg("--store")
            .arg(&store)
            .args([
                "import-codex",
                bundle.to_str().expect("utf-8"),
                "--rollout-id",
            ])
            .arg(format!("try-{attempt}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                stop.store(true, Ordering::Relaxed);
                panic!("import {attempt} hung on a payload swapped for a FIFO");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stderr = child.wait_with_output().expect("output").stderr;
        let stderr = String::from_utf8_lossy(&stderr);
        if status.success() {
            outcomes.0 += 1;
        } else {
            assert!(stderr.contains("not a regular file"), "{stderr}");
            outcomes.1 += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().expect("swapper");
    eprintln!(
        "{} imports read the file, {} met the FIFO",
        outcomes.0, outcomes.1
    );
}

/// An import reads, redacts and hashes payloads on a second thread, ahead
/// of the writes: errors still come in input order. A missing payload file
/// on line 3 is the error even when line 5 does not parse, and a line that
/// does not parse is the error only when the lines before it are sound.
#[test]
fn import_errors_are_reported_in_input_order_whatever_runs_ahead() {
    let (dir, store, _) = seeded_store();
    let cites = |seq: u64, path: &str| {
        line(
            seq,
            "ordered",
            Some("root"),
            None,
            json!({"type": "protocol_event_observed", "event_type": "x",
                   "event_payload": {"raw_payload_id": format!("raw_payload:{seq}"),
                                     "kind": {"type": "protocol_event"}, "path": path}}),
        )
    };
    std::fs::write(dir.path().join("present.json"), b"{\"ok\":true}").expect("payload");
    let mut lines = root_start_lines("ordered");
    lines.push(cites(3, "missing.json"));
    lines.push(cites(4, "present.json"));
    lines.push("{ this line is not an event".to_string());
    ingest_rejected(
        &store,
        dir.path(),
        "missing-then-bad.jsonl",
        lines.join("\n") + "\n",
        &["missing-then-bad.jsonl:3", "missing.json"],
    );
    lines[2] = cites(3, "present.json");
    ingest_rejected(
        &store,
        dir.path(),
        "bad-line.jsonl",
        lines.join("\n") + "\n",
        &["bad-line.jsonl:5"],
    );
}

/// A writing command that does not compact checkpoints the store: sled
/// writes its snapshot (`db/snap.*`) only when it opens a database, and an
/// open replays everything written since that snapshot, so the command
/// reopens the database once at its end instead of leaving the replay to
/// the next reader. (Relies on sled 0.34's file names: DESIGN.md,
/// "Assumptions about sled".)
#[test]
fn ingest_without_compaction_leaves_a_checkpointed_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let snapshots = |store: &Path| {
        std::fs::read_dir(store.join("db"))
            .expect("db")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("snap."))
            .count()
    };
    ok(
        &store,
        &[
            "ingest",
            "--no-compact",
            example("sample.jsonl").to_str().expect("utf-8"),
        ],
    );
    assert_eq!(snapshots(&store), 1, "no snapshot after the ingest");
    assert!(ok(&store, &["verify"]).contains("sound"));
    ok(&store, &["reduce", "rollout-example"]);
}
