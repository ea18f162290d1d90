//! Integration tests: the store commands of the CLI, end to end, including
//! every bad input of the core issue (each rejected, the store unchanged).

use serde_json::json;

use crate::support::{
    bundle_with_payload_path, content_stats, example, fails, growing_conversation_jsonl,
    import_rejected, ingest_rejected, line, ok, seeded_store, stats, store_fingerprint, tracefold,
};

#[test]
fn ingest_prints_the_rollout_id_and_events_print_back() {
    let (_dir, store, _) = seeded_store();
    let listing = ok(&store, &["rollouts"]);
    assert!(listing.contains("rollout-example"), "{listing}");
    assert!(listing.contains("completed"), "{listing}");
    let events = ok(&store, &["events", "rollout-example"]);
    assert_eq!(events.lines().count(), 12);
    // Stored refs name a payload that `payload` prints byte for byte.
    let second: serde_json::Value =
        serde_json::from_str(events.lines().nth(1).expect("line")).expect("json");
    let hash = second["payload"]["metadata_payload"]["blake3"]
        .as_str()
        .expect("hash");
    let bytes = tracefold(&store, &["payload", hash]).stdout;
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("payload json");
    assert_eq!(value["cwd"], "/work");
    assert!(ok(&store, &["verify"]).contains("sound"));
}

#[test]
fn events_with_inline_payloads_ingest_into_another_store_unchanged() {
    let (dir, store, _) = seeded_store();
    let exported = ok(&store, &["events", "rollout-example", "--inline-payloads"]);
    let file = dir.path().join("exported.jsonl");
    std::fs::write(&file, &exported).expect("write");
    let other = dir.path().join("other");
    ok(&other, &["ingest", file.to_str().expect("utf-8")]);
    assert_eq!(
        ok(&other, &["events", "rollout-example"]),
        ok(&store, &["events", "rollout-example"])
    );
}

#[test]
fn importing_the_same_bundle_twice_adds_almost_no_stored_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let bundle = example("bundle");
    let bundle = bundle.to_str().expect("utf-8");
    assert_eq!(
        ok(&store, &["import-codex", bundle]).trim(),
        "rollout-example"
    );
    let once = stats(&store);
    assert_eq!(
        ok(&store, &["import-codex", bundle, "--rollout-id", "again"]).trim(),
        "again"
    );
    let twice = content_stats(&store);
    assert_eq!(twice["rollouts"], 2);
    assert_eq!(
        twice["logical_payload_bytes"].as_u64(),
        once["logical_payload_bytes"].as_u64().map(|b| b * 2)
    );
    assert_eq!(twice["stored_chunk_bytes"], once["stored_chunk_bytes"]);
    assert_eq!(twice["payloads"], once["payloads"]);
    // Importing it again under a stored id stores nothing and says so.
    let out = tracefold(&store, &["import-codex", bundle, "--rollout-id", "again"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("again: already stored (12 events); nothing imported"),
        "{said}"
    );
    assert_eq!(content_stats(&store), twice);
}

#[test]
fn a_growing_conversation_stores_ten_times_fewer_bytes_than_it_ingests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let file = growing_conversation_jsonl(dir.path(), "long", 60, 3);
    ok(&store, &["ingest", file.to_str().expect("utf-8")]);
    let stats = stats(&store);
    let logical = stats["logical_payload_bytes"].as_u64().expect("u64");
    let stored = stats["stored_chunk_bytes"].as_u64().expect("u64");
    let ratio = logical as f64 / stored as f64;
    assert!(
        ratio >= 10.0,
        "logical {logical} / stored {stored} = {ratio:.1}"
    );
}

fn start_lines(rollout: &str) -> Vec<String> {
    vec![line(
        1,
        rollout,
        None,
        None,
        json!({"type": "rollout_started", "trace_id": "t", "root_thread_id": "root"}),
    )]
}

#[test]
fn malformed_json_is_rejected_naming_the_line() {
    let (dir, store, _) = seeded_store();
    let mut lines = start_lines("bad");
    lines.push("{not json".to_string());
    ingest_rejected(
        &store,
        dir.path(),
        "malformed.jsonl",
        &(lines.join("\n") + "\n"),
        &["malformed.jsonl:2", "malformed event"],
    );
}

#[test]
fn a_wrong_field_type_is_rejected_naming_the_line_and_type() {
    let (dir, store, _) = seeded_store();
    let mut lines = start_lines("bad");
    lines.push(line(
        2,
        "bad",
        None,
        None,
        json!({"type": "rollout_ended", "status": 7}),
    ));
    ingest_rejected(
        &store,
        dir.path(),
        "wrong_type.jsonl",
        &(lines.join("\n") + "\n"),
        &["wrong_type.jsonl:2", "rollout_ended"],
    );
}

#[test]
fn a_non_increasing_seq_is_rejected_naming_it() {
    let (dir, store, _) = seeded_store();
    let mut lines = start_lines("bad");
    lines.push(line(
        1,
        "bad",
        None,
        None,
        json!({"type": "rollout_ended", "status": "completed"}),
    ));
    ingest_rejected(
        &store,
        dir.path(),
        "seq.jsonl",
        &(lines.join("\n") + "\n"),
        &["seq.jsonl:2", "seq 1 does not increase"],
    );
}

#[test]
fn a_torn_last_line_is_rejected_unless_allowed() {
    let (dir, store, _) = seeded_store();
    let mut lines = start_lines("torn");
    lines.push(line(
        2,
        "torn",
        None,
        None,
        json!({"type": "rollout_ended", "status": "completed"}),
    ));
    let mut content = lines.join("\n") + "\n";
    content.push_str(r#"{"schema_version":1,"seq":3,"wall_ti"#);
    ingest_rejected(
        &store,
        dir.path(),
        "torn.jsonl",
        &content,
        &["torn.jsonl:3", "torn last line"],
    );
    let file = dir.path().join("torn.jsonl");
    let out = tracefold(
        &store,
        &["ingest", file.to_str().expect("utf-8"), "--allow-torn-tail"],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dropped a torn last line"));
    assert!(ok(&store, &["rollouts"]).contains("torn"));
}

#[test]
fn an_event_for_an_unknown_rollout_is_rejected() {
    let (dir, store, _) = seeded_store();
    let content = line(
        1,
        "nowhere",
        None,
        None,
        json!({"type": "rollout_ended", "status": "completed"}),
    ) + "\n";
    ingest_rejected(
        &store,
        dir.path(),
        "unknown.jsonl",
        &content,
        &["unknown.jsonl:1", "unknown rollout nowhere"],
    );
}

#[test]
fn payload_paths_outside_the_bundle_are_rejected() {
    let (dir, store, _) = seeded_store();
    std::fs::write(dir.path().join("secret.json"), "{\"secret\":1}").expect("write");
    let parent = bundle_with_payload_path(dir.path(), "../secret.json");
    import_rejected(
        &store,
        &parent,
        &["trace.jsonl:2", "raw_payload:1", "leaves the bundle"],
    );
    let absolute = dir.path().join("secret.json");
    let absolute = bundle_with_payload_path(dir.path(), absolute.to_str().expect("utf-8"));
    import_rejected(&store, &absolute, &["trace.jsonl:2", "is absolute"]);
    #[cfg(unix)]
    {
        let linked = bundle_with_payload_path(dir.path(), "payloads/link.json");
        std::os::unix::fs::symlink(
            dir.path().join("secret.json"),
            linked.join("payloads/link.json"),
        )
        .expect("symlink");
        import_rejected(&store, &linked, &["trace.jsonl:2", "symlink"]);
        let through_dir = bundle_with_payload_path(dir.path(), "outside/secret.json");
        std::os::unix::fs::symlink(dir.path(), through_dir.join("outside")).expect("symlink");
        import_rejected(
            &store,
            &through_dir,
            &["trace.jsonl:2", "outside the bundle"],
        );
    }
}

#[test]
fn a_missing_payload_file_is_rejected_naming_it() {
    let (dir, store, _) = seeded_store();
    let bundle = bundle_with_payload_path(dir.path(), "payloads/404.json");
    import_rejected(&store, &bundle, &["trace.jsonl:2", "payloads/404.json"]);
}

#[test]
fn a_missing_input_file_is_one_error_line_naming_its_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.jsonl");
    let err = fails(
        &dir.path().join("store"),
        &["ingest", missing.to_str().expect("utf-8")],
    );
    assert!(
        err.starts_with(&format!("error: open {}: ", missing.display())),
        "{err}"
    );
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_payload_over_the_size_limit_is_rejected() {
    let (dir, store, _) = seeded_store();
    let before = store_fingerprint(&store);
    let bundle = example("bundle");
    let out = tracefold(
        &store,
        &[
            "--max-payload-bytes",
            "100",
            "import-codex",
            bundle.to_str().expect("utf-8"),
            "--rollout-id",
            "big",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("over the limit of 100 bytes"), "{err}");
    assert!(err.contains("trace.jsonl:"), "{err}");
    assert_eq!(store_fingerprint(&store), before);
    let _ = dir;
}

#[test]
fn a_second_process_opening_the_same_store_is_refused_with_the_holders_pid() {
    let (_dir, store, _) = seeded_store();
    let held = tracefold::Store::open(&store, tracefold::StoreOptions::default())
        .expect("this process opens the store");
    let err = fails(&store, &["rollouts"]);
    assert!(
        err.contains(&format!("locked by pid {}", std::process::id())),
        "{err}"
    );
    drop(held);
    assert!(ok(&store, &["rollouts"]).contains("rollout-example"));
}

#[test]
fn verify_exits_one_with_a_line_per_finding() {
    let (_dir, store, _) = seeded_store();
    {
        let db = crate::support::open_raw_sled(&store.join("db"));
        let tree = db.open_tree("tracefold").expect("tree");
        let (key, value) = tree.scan_prefix(b"c").next().expect("chunk").expect("read");
        let mut damaged = value.to_vec();
        damaged[2] ^= 0xff;
        tree.insert(key, damaged).expect("write");
        db.flush().expect("flush");
    }
    let out = tracefold(&store, &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("chunk ")), "{stdout}");
}

/// The commands that only read a store (or change only what is there),
/// with their arguments; `OUT` stands for an output path.
const READ_COMMANDS: &[&[&str]] = &[
    &["rollouts"],
    &["rollouts", "--json"],
    &["events", "rollout-example"],
    &[
        "payload",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ],
    &["stats"],
    &["verify"],
    &["reduce", "rollout-example"],
    &["reduce", "rollout-example", "-o", "OUT"],
    &[
        "export",
        "rollout-example",
        "--format",
        "jsonl",
        "--out",
        "OUT",
    ],
    &[
        "export",
        "rollout-example",
        "--format",
        "state",
        "--out",
        "OUT",
    ],
    &[
        "export",
        "rollout-example",
        "--format",
        "codex-bundle",
        "--out",
        "OUT",
    ],
    &["diff", "rollout-example", "other-rollout"],
    &["show", "rollout-example"],
    &["view", "rollout-example", "-o", "OUT"],
    &["gc"],
    &["delete", "rollout-example"],
];

#[test]
fn read_commands_on_a_path_without_a_store_fail_and_create_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let out_arg = out.to_str().expect("utf-8");
    // A mistyped path, and an existing directory that holds no store.
    let missing = dir.path().join("mistyped-store");
    let empty = dir.path().join("empty-dir");
    std::fs::create_dir(&empty).expect("mkdir");
    for store in [&missing, &empty] {
        for command in READ_COMMANDS {
            let args: Vec<&str> = command
                .iter()
                .map(|arg| if *arg == "OUT" { out_arg } else { arg })
                .collect();
            let err = fails(store, &args);
            // Commands that take a path or a rollout id say which they
            // looked for.
            let looked_for = if ["diff", "show", "view"].contains(&args[0]) {
                "rollout-example is no file or directory, and no store holds rollouts to look it up in: "
            } else {
                ""
            };
            assert_eq!(
                err.trim_end(),
                format!("error: {looked_for}no store at {}", store.display()),
                "{args:?}"
            );
            assert!(!out.exists(), "{args:?} wrote its output");
        }
    }
    assert!(!missing.exists(), "a read command created the store");
    assert_eq!(
        std::fs::read_dir(&empty).expect("read").count(),
        0,
        "a read command wrote into a directory without a store"
    );
    // The commands that record still create a store.
    let sample = example("sample.jsonl");
    assert_eq!(
        ok(&missing, &["ingest", sample.to_str().expect("utf-8")]).trim(),
        "rollout-example"
    );
    assert!(ok(&missing, &["verify"]).contains("sound"));
}

#[test]
fn the_default_store_is_not_created_by_a_read_command_run_elsewhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .current_dir(dir.path())
        .env_remove("TRACEFOLD_STORE")
        .arg("verify")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "error: no store at tracefold-store"
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 0);
}

/// Rollout ids a terminal would act on: a forged line, a colour escape, a
/// right-to-left override.
const HOSTILE_IDS: &[&str] = &[
    "evil\nforged: store is sound",
    "red\u{1b}[31mcolour\u{1b}[0m",
    "invoice\u{202e}fdp.exe",
];

/// Whether `text` holds a raw newline inside a line, an escape character
/// or a bidirectional override; each line is checked on its own.
fn assert_no_raw_controls(what: &str, text: &str) {
    for ch in ['\u{1b}', '\u{202e}', '\r', '\u{7}'] {
        assert!(!text.contains(ch), "{what}: raw {ch:?} in {text:?}");
    }
    assert!(
        !text.lines().any(|line| line.starts_with("forged")),
        "{what}: a forged line in {text:?}"
    );
}

#[test]
fn ids_with_newlines_escapes_and_overrides_are_printed_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let mut lines = Vec::new();
    for id in HOSTILE_IDS {
        lines.push(line(
            1,
            id,
            None,
            None,
            json!({"type": "rollout_started", "trace_id": "t", "root_thread_id": "root"}),
        ));
        lines.push(line(
            2,
            id,
            None,
            None,
            json!({"type": "thread_started", "thread_id": "root", "agent_path": "/root\n\u{1b}[2Jforged", "metadata_payload": null}),
        ));
        if *id == HOSTILE_IDS[0] {
            // A turn only this rollout has, so a diff names the thread path.
            lines.push(line(
                3,
                id,
                Some("root"),
                Some("turn"),
                json!({"type": "codex_turn_started", "codex_turn_id": "turn", "thread_id": "root"}),
            ));
        }
    }
    let file = dir.path().join("hostile.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let ingested = ok(&store, &["ingest", file.to_str().expect("utf-8")]);
    assert_no_raw_controls("ingest", &ingested);
    assert_eq!(
        ingested.lines().collect::<Vec<_>>(),
        [
            "evil\\nforged: store is sound",
            "red\\x1b[31mcolour\\x1b[0m",
            "invoice\\u{202e}fdp.exe"
        ]
    );
    let listing = ok(&store, &["rollouts"]);
    assert_no_raw_controls("rollouts", &listing);
    assert_eq!(listing.lines().count(), 1 + HOSTILE_IDS.len());
    assert!(listing.contains("invoice\\u{202e}fdp.exe"), "{listing}");
    // Machine output keeps the ids exact (JSON escapes them itself).
    let json: serde_json::Value =
        serde_json::from_str(&ok(&store, &["rollouts", "--json"])).expect("json");
    assert_eq!(json[0]["rollout_id"], HOSTILE_IDS[0]);
    // Errors name the id escaped.
    for id in HOSTILE_IDS {
        let missing = format!("{id}-missing");
        let err = fails(&store, &["reduce", &missing]);
        assert_no_raw_controls("reduce error", &err);
        assert_eq!(err.lines().count(), 1, "{err:?}");
    }
    // The diff report names thread paths escaped.
    let report = tracefold(&store, &["diff", HOSTILE_IDS[0], HOSTILE_IDS[1]]);
    assert_eq!(report.status.code(), Some(1));
    let report = String::from_utf8(report.stdout).expect("utf-8");
    assert_no_raw_controls("diff", &report);
    assert!(report.contains("/root\\n\\x1b[2Jforged"), "{report}");
    // Delete and gc name the rollout escaped.
    let deleted = ok(&store, &["delete", HOSTILE_IDS[2]]);
    assert_no_raw_controls("delete", &deleted);
    assert!(deleted.starts_with("deleted rollout invoice\\u{202e}fdp.exe"));
    // A store path with a newline, in verify's verdict.
    let odd_store = dir.path().join("odd\nstore");
    ok(&odd_store, &["ingest", file.to_str().expect("utf-8")]);
    let verdict = ok(&odd_store, &["verify"]);
    assert_no_raw_controls("verify", &verdict);
    assert_eq!(verdict.lines().count(), 1, "{verdict:?}");
}
