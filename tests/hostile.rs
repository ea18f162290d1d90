//! Integration tests: hostile input beyond the core issue's list. Deeply
//! nested JSON, very long lines, invalid UTF-8, payload files that are
//! symlinks to devices or FIFOs, bundles whose manifest disagrees with their
//! events, duplicated and reordered events, unknown rollouts and payloads,
//! and a store whose sled files were damaged.
//!
//! Each must give a clear error naming what is wrong, never a panic, never
//! a hang on an endless input, and leave the store unchanged.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{
    bundle_with_payload_path, copy_dir, example, fails, files_under, import_rejected,
    ingest_rejected, line, ok, root_start_lines, seeded_store, store_fingerprint,
};

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let (dir, store, _) = seeded_store();
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    // The whole line nested.
    ingest_rejected(
        &store,
        dir.path(),
        "deep-line.jsonl",
        format!("{nested}\n").as_bytes(),
        &["deep-line.jsonl:1", "malformed event"],
    );
    // Nested inside an inline payload of an otherwise valid event.
    let mut lines = root_start_lines("deep");
    lines.push(format!(
        r#"{{"schema_version":1,"seq":3,"wall_time_unix_ms":1,"rollout_id":"deep","thread_id":"root","codex_turn_id":null,"payload":{{"type":"protocol_event_observed","event_type":"x","event_payload":{{"kind":{{"type":"protocol_event"}},"inline":{nested}}}}}}}"#
    ));
    ingest_rejected(
        &store,
        dir.path(),
        "deep-inline.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
        &["deep-inline.jsonl:3", "recursion limit"],
    );
}

#[test]
fn a_line_over_the_length_limit_is_rejected_without_reading_it_whole() {
    let (dir, store, _) = seeded_store();
    let before = store_fingerprint(&store);
    // Limit with --max-payload-bytes 1000: 2,000 + 1 MiB bytes per line.
    let long = format!("{{\"pad\":\"{}\"}}\n", "a".repeat(3 << 20));
    let file = dir.path().join("long.jsonl");
    std::fs::write(&file, long).expect("write");
    let err = fails(
        &store,
        &[
            "--max-payload-bytes",
            "1000",
            "ingest",
            file.to_str().expect("utf-8"),
        ],
    );
    assert!(
        err.contains("long.jsonl:1") && err.contains("line longer than 1050576 bytes"),
        "{err}"
    );
    assert_eq!(store_fingerprint(&store), before);
}

#[test]
fn invalid_utf8_is_rejected_naming_the_line_and_byte() {
    let (dir, store, _) = seeded_store();
    let mut content = (root_start_lines("utf8").join("\n") + "\n").into_bytes();
    content.extend_from_slice(b"{\"schema_version\":1,\"seq\":3, \"x\":\"\xff\xfe\"}\n");
    ingest_rejected(
        &store,
        dir.path(),
        "utf8.jsonl",
        &content,
        &["utf8.jsonl:3", "invalid UTF-8 at byte 34"],
    );
}

#[cfg(unix)]
#[test]
fn payload_files_that_are_devices_or_fifos_are_refused_without_blocking() {
    let (dir, store, _) = seeded_store();
    // A symlink to an endless device, inside the bundle.
    let zero = bundle_with_payload_path(dir.path(), "payloads/zero.json");
    std::os::unix::fs::symlink("/dev/zero", zero.join("payloads/zero.json")).expect("symlink");
    import_rejected(&store, &zero, &["trace.jsonl:2", "symlink"]);
    // A FIFO nobody writes to: opening it for reading would block forever.
    let fifo = bundle_with_payload_path(dir.path(), "payloads/fifo.json");
    let made = Command::new("mkfifo")
        .arg(fifo.join("payloads/fifo.json"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    import_rejected(&store, &fifo, &["trace.jsonl:2", "not a regular file"]);
    // The event log itself as a symlink to a device.
    let log = dir.path().join("log-device");
    copy_dir(&example("bundle"), &log);
    std::fs::remove_file(log.join("trace.jsonl")).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", log.join("trace.jsonl")).expect("symlink");
    import_rejected(&store, &log, &["trace.jsonl", "symlink"]);
}

#[test]
fn a_bundle_whose_manifest_disagrees_with_its_events_is_rejected() {
    let (dir, store, _) = seeded_store();
    let bundle = dir.path().join("disagree");
    copy_dir(&example("bundle"), &bundle);
    let manifest = std::fs::read_to_string(bundle.join("manifest.json")).expect("read");
    std::fs::write(
        bundle.join("manifest.json"),
        manifest.replace("\"rollout-example\"", "\"some-other-rollout\""),
    )
    .expect("write");
    import_rejected(
        &store,
        &bundle,
        &["trace.jsonl:1", "bundle manifest says some-other-rollout"],
    );
    // A manifest naming an event log that is not there.
    let missing = dir.path().join("missing-log");
    copy_dir(&example("bundle"), &missing);
    std::fs::remove_file(missing.join("trace.jsonl")).expect("rm");
    import_rejected(&store, &missing, &["trace.jsonl"]);
}

#[test]
fn duplicated_and_reordered_events_are_rejected_naming_the_seq() {
    let (dir, store, _) = seeded_store();
    let mut lines = root_start_lines("dup");
    lines.push(lines[1].clone());
    ingest_rejected(
        &store,
        dir.path(),
        "dup.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
        &["dup.jsonl:3", "seq 2 does not increase"],
    );
    let mut lines = root_start_lines("reorder");
    lines.push(line(
        4,
        "reorder",
        Some("root"),
        None,
        json!({"type": "codex_turn_started", "codex_turn_id": "t", "thread_id": "root"}),
    ));
    lines.push(line(
        3,
        "reorder",
        Some("root"),
        None,
        json!({"type": "codex_turn_ended", "codex_turn_id": "t", "status": "completed"}),
    ));
    ingest_rejected(
        &store,
        dir.path(),
        "reorder.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
        &["reorder.jsonl:4", "seq 3 does not increase"],
    );
}

#[test]
fn events_for_unknown_rollouts_or_payloads_are_rejected() {
    let (dir, store, _) = seeded_store();
    let mut lines = root_start_lines("known");
    lines.push(line(3, "elsewhere", None, None, json!({"type": "thread_started", "thread_id": "x", "agent_path": "/x", "metadata_payload": null})));
    ingest_rejected(
        &store,
        dir.path(),
        "unknown.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
        &["unknown.jsonl:3", "unknown rollout elsewhere"],
    );
    let mut lines = root_start_lines("stored");
    lines.push(line(3, "stored", Some("root"), None, json!({
        "type": "protocol_event_observed", "event_type": "x",
        "event_payload": {"raw_payload_id": "raw_payload:000001", "kind": {"type": "protocol_event"},
            "blake3": "00".repeat(32), "size_bytes": 4}
    })));
    ingest_rejected(
        &store,
        dir.path(),
        "stored.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
        &["stored.jsonl:3", "is not in this store"],
    );
}

/// Runs the CLI with a bound on its run time (a damaged store must not make
/// it hang); returns exit code and stderr.
fn run_bounded(store: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .arg("--store")
        .arg(store)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            let output = child.wait_with_output().expect("output");
            return (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tracefold {args:?} hung on a damaged store");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_damaged_sled_file_gives_a_clear_error_or_findings_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pristine = dir.path().join("pristine");
    let file = crate::support::growing_conversation_jsonl(dir.path(), "r", 20, 5);
    ok(&pristine, &["ingest", file.to_str().expect("utf-8")]);
    let listing = ok(&pristine, &["rollouts", "--json"]);
    let mut files = Vec::new();
    files_under(&pristine.join("db"), &mut files);
    let mut outcomes = Vec::new();
    for (index, target) in files.iter().enumerate() {
        let len = std::fs::metadata(target).expect("meta").len();
        if len == 0 {
            continue;
        }
        for (variant, fraction) in [(0, 0.5), (1, 0.1), (2, 0.9)] {
            let damaged = dir.path().join(format!("damaged-{index}-{variant}"));
            copy_dir(&pristine, &damaged);
            let relative = target.strip_prefix(&pristine).expect("inside");
            let path = damaged.join(relative);
            let mut bytes = std::fs::read(&path).expect("read");
            let at = ((len as f64 * fraction) as usize).min(bytes.len() - 1);
            for byte in bytes.iter_mut().skip(at).take(64) {
                *byte ^= 0x5a;
            }
            std::fs::write(&path, bytes).expect("write");
            for command in [&["rollouts"][..], &["verify"][..]] {
                let (code, err) = run_bounded(&damaged, command);
                assert!(
                    matches!(code, Some(0..=2)),
                    "{command:?} on {} flipped at {at}: exit {code:?}: {err}",
                    relative.display()
                );
                assert!(
                    !err.contains("panicked"),
                    "{command:?} on {}: {err}",
                    relative.display()
                );
                outcomes.push(format!(
                    "{} @{at} {command:?}: exit {code:?} {}",
                    relative.display(),
                    err.lines().next().unwrap_or("")
                ));
            }
            // When sled opens the damaged copy, whatever it serves is still
            // checked: the listing is the pristine one or verify says why not.
            let (code, _) = run_bounded(&damaged, &["verify"]);
            if code == Some(0) {
                let damaged_listing = ok(&damaged, &["rollouts", "--json"]);
                outcomes.push(format!(
                    "{} @{at}: opens, verifies, listing {}",
                    relative.display(),
                    if damaged_listing == listing {
                        "identical"
                    } else {
                        "differs"
                    }
                ));
            }
        }
    }
    eprintln!("{}", outcomes.join("\n"));
}

/// A copy of `store` with 64 bytes flipped at `offset` of `db/db`.
fn flipped_copy(store: &Path, to: &Path, offset: usize) {
    copy_dir(store, to);
    let path = to.join("db/db");
    let mut bytes = std::fs::read(&path).expect("read");
    for byte in bytes.iter_mut().skip(offset).take(64) {
        *byte ^= 0x5a;
    }
    std::fs::write(&path, bytes).expect("write");
}

/// Stderr of a CLI run holds one `error:` line and nothing of a raw panic.
fn assert_one_clean_error_line(what: &str, stderr: &str) {
    for raw in [
        "panicked at",
        "thread '",
        "RUST_BACKTRACE",
        "stack backtrace",
    ] {
        assert!(!stderr.contains(raw), "{what}: {raw:?} in {stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("error: "), "{what}: {stderr}");
}

#[test]
fn a_sled_panic_on_a_damaged_store_is_one_error_line_with_sleds_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pristine = dir.path().join("pristine");
    // Big enough for several sled segments: flips past the first MiB make
    // sled 0.34.7 panic while recovering its log. Written by a recorder,
    // which leaves the log for the next open to recover (the CLI's writing
    // commands reopen the database at their end: `Store::checkpoint`).
    ok(
        &pristine,
        &[
            "__crash-writer",
            "--threads",
            "2",
            "--rollouts",
            "1",
            "--events-per-thread",
            "2000",
            "--pause-ms",
            "0",
            "--big-one-in",
            "0",
        ],
    );
    let len = std::fs::metadata(pristine.join("db/db")).expect("db").len() as usize;
    assert!(len > (3 << 19), "the recorded store is only {len} bytes");
    // Where sled panics depends on how the writer grouped the demo's
    // events into segments: try every 32 KiB past the first MiB until it
    // does (measured: a run of offsets between 1 and 2 MiB).
    let mut panicked = false;
    for offset in ((1 << 20)..len.saturating_sub(64)).step_by(32 << 10) {
        if panicked {
            break;
        }
        let damaged = dir.path().join(format!("damaged-{offset}"));
        flipped_copy(&pristine, &damaged, offset);
        let opened = tracefold::Store::open_existing(&damaged, tracefold::StoreOptions::default());
        let message = match opened {
            Err(tracefold::Error::Open { message, .. }) => message,
            Err(other) => panic!("flip at {offset}: unexpected error {other}"),
            Ok(store) => {
                drop(store);
                std::fs::remove_dir_all(&damaged).expect("clean up");
                continue;
            }
        };
        if !message.starts_with("sled panicked while opening the database (") {
            std::fs::remove_dir_all(&damaged).expect("clean up");
            continue;
        }
        panicked = true;
        // sled's own message and where it panicked are in the error, and
        // the advice is recovery, since this is damage.
        assert!(message.contains(".rs:"), "{message}");
        assert!(
            message.contains("restore the store from a backup"),
            "{message}"
        );
        for command in [&["rollouts"][..], &["verify"][..], &["events", "x"][..]] {
            let (code, stderr) = run_bounded(&damaged, command);
            assert_eq!(code, Some(2), "{command:?}: {stderr}");
            assert_one_clean_error_line(&format!("{command:?} at {offset}"), &stderr);
            assert!(stderr.contains("sled panicked while opening"), "{stderr}");
        }
    }
    assert!(
        panicked,
        "no flip past the first MiB made sled panic: the test no longer reaches sled's panic"
    );
}

/// A fault injector that fails the reads whose (1-based) numbers it holds.
#[derive(Debug)]
struct FailReads {
    failing: Vec<u64>,
    seen: std::sync::atomic::AtomicU64,
}

impl tracefold::FaultInjector for FailReads {
    fn check(&self, point: tracefold::FaultPoint) -> std::io::Result<()> {
        if point != tracefold::FaultPoint::Read {
            return Ok(());
        }
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if self.failing.contains(&n) {
            Err(std::io::Error::from_raw_os_error(
                tracefold::__internal::EIO,
            ))
        } else {
            Ok(())
        }
    }
}

fn open_with_faults(
    store: &Path,
    faults: std::sync::Arc<dyn tracefold::FaultInjector>,
) -> tracefold::Store {
    tracefold::Store::open(
        store,
        tracefold::StoreOptions {
            faults: Some(faults),
            ..tracefold::StoreOptions::default()
        },
    )
    .expect("open")
}

#[test]
fn verify_goes_on_past_read_errors_and_lists_each() {
    let (_dir, store, _) = seeded_store();
    // How many records a clean verify reads.
    let counter = std::sync::Arc::new(tracefold::ScriptedFaults::new());
    let reads = {
        let opened = open_with_faults(&store, counter.clone());
        assert_eq!(opened.verify().expect("verify"), []);
        counter.reads.load(std::sync::atomic::Ordering::SeqCst)
    };
    assert!(reads > 12, "{reads}");
    // The first record read (a chunk) and the last (the last event) fail.
    let faults = std::sync::Arc::new(FailReads {
        failing: vec![1, reads],
        seen: std::sync::atomic::AtomicU64::new(0),
    });
    let findings = open_with_faults(&store, faults).verify().expect("verify");
    let failed: Vec<String> = findings
        .iter()
        .filter(|finding| finding.message.starts_with("read failed: "))
        .map(|finding| finding.subject.clone())
        .collect();
    assert_eq!(failed.len(), 2, "{findings:#?}");
    assert!(failed[0].starts_with("chunk "), "{failed:?}");
    assert_eq!(failed[1], "event rollout#1 seq 12", "{failed:?}");
    // What the unread chunk breaks is reported as well.
    assert!(
        findings
            .iter()
            .any(|finding| finding.message.contains("missing or damaged")),
        "{findings:#?}"
    );

    // Every read failing: a range of more than 8 records is given up after
    // 8 errors in a row, and verify still ends, having tried every range.
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big");
    let file = crate::support::growing_conversation_jsonl(dir.path(), "r", 20, 5);
    ok(&big, &["ingest", file.to_str().expect("utf-8")]);
    let all = std::sync::Arc::new(tracefold::ScriptedFaults::new());
    all.fail_reads(Some(tracefold::__internal::EIO));
    let findings = open_with_faults(&big, all.clone())
        .verify()
        .expect("verify");
    let subjects: Vec<&str> = findings
        .iter()
        .map(|finding| finding.subject.as_str())
        .collect();
    let read_failures = |prefix: &str| {
        findings
            .iter()
            .filter(|finding| {
                finding.subject.starts_with(prefix) && finding.message.starts_with("read failed: ")
            })
            .count()
    };
    assert_eq!(read_failures("chunk "), 8, "{subjects:#?}");
    assert_eq!(read_failures("payload "), 8, "{subjects:#?}");
    assert_eq!(read_failures("manifest "), 1, "{subjects:#?}");
    let given_up: Vec<&str> = findings
        .iter()
        .filter(|finding| {
            finding
                .message
                .contains("the rest of the range was not checked")
        })
        .map(|finding| finding.subject.as_str())
        .collect();
    assert_eq!(given_up.len(), 2, "{subjects:#?}");
    assert!(
        given_up[0].starts_with("chunks after chunk "),
        "{given_up:?}"
    );
    assert!(
        given_up[1].starts_with("payloads after payload "),
        "{given_up:?}"
    );
    assert_eq!(findings.len(), 19, "{subjects:#?}");
}

#[test]
fn verify_lists_every_damaged_record_on_the_command_line() {
    let (_dir, store, _) = seeded_store();
    let damaged_keys = {
        let db = crate::support::open_raw_sled(&store.join("db"));
        let tree = db.open_tree("tracefold").expect("tree");
        let mut damaged = Vec::new();
        // Two chunks, one recipe and one event, each with a flipped byte.
        let records: Vec<_> = [(&b"c"[..], 0), (b"c", 1), (b"p", 0), (b"e", 5)]
            .into_iter()
            .map(|(prefix, nth)| {
                tree.scan_prefix(prefix)
                    .nth(nth)
                    .expect("record")
                    .expect("read")
            })
            .collect();
        for (key, value) in records {
            let mut bytes = value.to_vec();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            tree.insert(&key, bytes).expect("write");
            damaged.push(key.to_vec());
        }
        db.flush().expect("flush");
        damaged
    };
    assert_eq!(damaged_keys.len(), 4);
    let out = crate::support::tracefold(&store, &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let chunk_findings = stdout.lines().filter(|l| l.starts_with("chunk ")).count();
    assert_eq!(chunk_findings, 2, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("payload ") && l.contains(": recipe: ")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("rollout rollout-example seq 6: ")),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" finding(s)"),
        "{stdout}"
    );
}

#[test]
fn events_that_stop_part_way_say_at_which_seq_and_why() {
    let (_dir, store, _) = seeded_store();
    let events = ok(&store, &["events", "rollout-example"]);
    // Remove the recipe of the payload seq 2 cites: its inline export fails.
    let second: serde_json::Value =
        serde_json::from_str(events.lines().nth(1).expect("line")).expect("json");
    let hash = second["payload"]["metadata_payload"]["blake3"]
        .as_str()
        .expect("hash")
        .to_string();
    {
        let db = crate::support::open_raw_sled(&store.join("db"));
        let tree = db.open_tree("tracefold").expect("tree");
        let mut key = vec![b'p'];
        key.extend((0..32).map(|i| u8::from_str_radix(&hash[i * 2..i * 2 + 2], 16).expect("hex")));
        tree.remove(&key).expect("remove recipe");
        db.flush().expect("flush");
    }
    let out =
        crate::support::tracefold(&store, &["events", "rollout-example", "--inline-payloads"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "the event before it is printed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: events of rollout rollout-example stopped at seq 2 of 12 (1 printed): "
        ),
        "{stderr}"
    );
    assert!(stderr.contains(&hash), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A damaged event record: the stored-reference listing stops there.
    {
        let db = crate::support::open_raw_sled(&store.join("db"));
        let tree = db.open_tree("tracefold").expect("tree");
        let (key, value) = tree.scan_prefix(b"e").nth(6).expect("event").expect("read");
        let mut bytes = value.to_vec();
        bytes[2] ^= 0xff;
        tree.insert(&key, bytes).expect("write");
        db.flush().expect("flush");
    }
    let out = crate::support::tracefold(&store, &["events", "rollout-example"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: events of rollout rollout-example stopped at seq 7 of 12 (6 printed): corrupt record"
        ),
        "{stderr}"
    );
}
