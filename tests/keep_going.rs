//! Integration tests: keep-going reductions (issue 14). A log with an event
//! the reducer cannot take still gives its state, without that event, with a
//! `reduce_error` diagnostic naming its seq and ids; strict stays the
//! default. Real inputs: the reference's own failing scenarios (the bundles
//! with a `reference-error.txt` under `../shared/conformance`, read in place)
//! and `examples/broken.jsonl`.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use tracefold::event::{Event, EventPayload};
use tracefold::model::RolloutTrace;
use tracefold::{
    IngestOptions, LoadedBundle, ReduceError, ReduceOptions, read_bundle, read_bundle_with, reduce,
    reduce_loaded, reduce_loaded_with, state_to_json,
};

use crate::support::{copy_dir, example, fails, ok, tracefold};

/// The reference's scenarios, read in place (never copied into the repo).
fn conformance_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/reference-tests");
    assert!(
        dir.is_dir(),
        "{} is missing: the conformance data sits beside the repository",
        dir.display()
    );
    dir
}

/// The bundles whose reference replay failed, with the reference's error.
fn reference_error_bundles() -> Vec<(PathBuf, String)> {
    let mut bundles: Vec<(PathBuf, String)> = std::fs::read_dir(conformance_dir())
        .expect("conformance dir")
        .map(|entry| entry.expect("entry").path())
        .filter_map(|dir| {
            let error = std::fs::read_to_string(dir.join("reference-error.txt")).ok()?;
            Some((dir, error.trim().to_string()))
        })
        .collect();
    bundles.sort();
    assert_eq!(bundles.len(), 5, "{bundles:?}");
    bundles
}

fn load(dir: &Path) -> LoadedBundle {
    read_bundle(dir, &IngestOptions::default()).expect("bundle reads")
}

/// `events` with the event at `seq` replaced by one that only cites its
/// payloads, which is all a skipped event still does.
fn with_only_citations_at(events: &[Event], seq: u64) -> Vec<Event> {
    let mut out = Vec::new();
    for event in events {
        if event.seq != seq {
            out.push(event.clone());
            continue;
        }
        for cited in event.payload.payload_refs() {
            out.push(Event {
                payload: EventPayload::ProtocolEventObserved {
                    event_type: "skipped".to_string(),
                    event_payload: cited.clone(),
                },
                ..event.clone()
            });
        }
    }
    out
}

fn reduce_errors(state: &RolloutTrace) -> Vec<&tracefold::model::Diagnostic> {
    state
        .diagnostics
        .iter()
        .filter(|d| d.is_reduce_error())
        .collect()
}

#[test]
fn every_reference_error_bundle_keeps_going_past_its_error_with_a_diagnostic() {
    for (dir, reference_error) in reference_error_bundles() {
        let name = dir.file_name().expect("name").to_string_lossy().to_string();
        let bundle = load(&dir);

        // Strict: the error at a seq, naming the ids the reference's does
        // (its payload ids are unpadded, so those are left out).
        let strict = reduce_loaded(&bundle).expect_err(&name).to_string();
        let (seq, message) = strict
            .strip_prefix("reduce bundle rollout rollout-1: seq ")
            .and_then(|rest| rest.split_once(": "))
            .unwrap_or_else(|| panic!("{name}: {strict}"));
        let seq: u64 = seq.parse().expect("seq");
        for id in reference_error
            .split(' ')
            .filter(|word| word.contains(['-', '_']) && !word.starts_with("raw_payload:"))
        {
            assert!(message.contains(id), "{name}: {message} lacks {id}");
        }

        // Keep-going: one diagnostic at that seq, with that message and the
        // event's ids; everything else as if the event only cited payloads.
        let kept = reduce_loaded_with(&bundle, ReduceOptions::keep_going()).expect(&name);
        let errors = reduce_errors(&kept);
        assert_eq!(errors.len(), 1, "{name}");
        assert_eq!(errors[0].seq, Some(seq), "{name}");
        assert_eq!(errors[0].message, message, "{name}");
        assert_eq!(errors[0].event_type.as_deref(), Some("inference_started"));
        assert_eq!(errors[0].ids["rollout_id"], "rollout-1", "{name}");
        assert_eq!(errors[0].ids["thread_id"], "thread-root", "{name}");
        assert!(errors[0].ids.contains_key("codex_turn_id"), "{name}");
        assert!(errors[0].ids.contains_key("inference_call_id"), "{name}");

        let rest = with_only_citations_at(&bundle.events, seq);
        let mut expected = reduce("rollout-1", &rest, &bundle.payloads).expect(&name);
        expected.trace_id = kept.trace_id.clone();
        expected.root_thread_id = kept.root_thread_id.clone();
        expected.started_at_unix_ms = kept.started_at_unix_ms;
        let mut without = kept.clone();
        without.diagnostics.retain(|d| !d.is_reduce_error());
        assert_eq!(state_to_json(&without), state_to_json(&expected), "{name}");
    }
}

/// A reference bundle whose inference start names a turn that never
/// started (seq 2), copied into `dir` with a turn, an inference and the
/// turn's end appended after it.
fn bundle_with_events_after_the_error(dir: &Path) -> PathBuf {
    let source = conformance_dir()
        .join("reducer__conversation__tests__inference_start_rejects_unknown_codex_turn__11");
    let bundle = dir.join("bundle");
    copy_dir(&source, &bundle);
    let mut log = std::fs::read_to_string(bundle.join("trace.jsonl")).expect("log");
    let envelope = |seq: u64, payload: Value| {
        json!({"schema_version": 1, "seq": seq, "wall_time_unix_ms": 1795972698841_i64 + seq as i64,
               "rollout_id": "rollout-1", "thread_id": null, "codex_turn_id": null, "payload": payload})
    };
    for line in [
        envelope(
            3,
            json!({"type": "codex_turn_started", "codex_turn_id": "turn-1", "thread_id": "thread-root"}),
        ),
        envelope(
            4,
            json!({"type": "inference_started", "inference_call_id": "inference-2",
                   "thread_id": "thread-root", "codex_turn_id": "turn-1", "model": "gpt-test",
                   "provider_name": "test-provider",
                   "request_payload": {"raw_payload_id": "raw_payload:1",
                                       "kind": {"type": "inference_request"}, "path": "payloads/1.json"}}),
        ),
        envelope(
            5,
            json!({"type": "codex_turn_ended", "codex_turn_id": "turn-1", "status": "completed"}),
        ),
    ] {
        if !log.ends_with('\n') {
            log.push('\n');
        }
        log.push_str(&line.to_string());
        log.push('\n');
    }
    std::fs::write(bundle.join("trace.jsonl"), log).expect("write log");
    bundle
}

const UNKNOWN_TURN_LINE: &str = "skipped seq 2 inference_started (thread_id thread-root, codex_turn_id turn-missing, inference_call_id inference-1): inference start inference-1 referenced unknown codex turn turn-missing";

#[test]
fn reduce_bundle_keep_going_writes_the_state_before_and_after_the_bad_event_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_with_events_after_the_error(dir.path());
    let out_path = dir.path().join("state.json");
    let store = dir.path().join("no-store");
    let out = tracefold(
        &store,
        &[
            "reduce-bundle",
            bundle.to_str().expect("utf-8"),
            "--keep-going",
            "-o",
            out_path.to_str().expect("utf-8"),
        ],
    );
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            UNKNOWN_TURN_LINE,
            "rollout rollout-1: 1 event skipped; the state has a reduce_error diagnostic for each",
        ]
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(&out_path).expect("state written")).expect("json");
    // Before the bad event: the thread; after it: the turn, its inference
    // (whose request is the same payload file the bad event cited: a second
    // citation, so a second raw payload entry, as in a strict fold) and its
    // end.
    assert_eq!(state["threads"]["thread-root"]["agent_path"], "/root");
    assert_eq!(
        state["codex_turns"]["turn-1"]["execution"]["status"],
        "completed"
    );
    assert_eq!(
        state["inference_calls"]
            .as_object()
            .expect("calls")
            .keys()
            .collect::<Vec<_>>(),
        ["inference-2"]
    );
    assert_eq!(
        state["inference_calls"]["inference-2"]["raw_request_payload_id"],
        "raw_payload:000002"
    );
    assert_eq!(
        state["raw_payloads"]
            .as_object()
            .expect("raw payloads")
            .keys()
            .collect::<Vec<_>>(),
        ["raw_payload:000001", "raw_payload:000002"]
    );
    assert_eq!(
        state["diagnostics"],
        json!([{
            "seq": 2,
            "code": "reduce_error",
            "message": "inference start inference-1 referenced unknown codex turn turn-missing",
            "event_type": "inference_started",
            "ids": {"rollout_id": "rollout-1", "thread_id": "thread-root",
                    "codex_turn_id": "turn-missing", "inference_call_id": "inference-1"}
        }])
    );
    assert!(!store.exists(), "reduce-bundle created a store");
}

#[test]
fn reduce_bundle_without_keep_going_still_fails_at_the_bad_event_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_with_events_after_the_error(dir.path());
    let out_path = dir.path().join("state.json");
    let err = fails(
        &dir.path().join("no-store"),
        &[
            "reduce-bundle",
            bundle.to_str().expect("utf-8"),
            "-o",
            out_path.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(
        err.trim_end(),
        "error: reduce bundle rollout rollout-1: seq 2: inference start inference-1 referenced unknown codex turn turn-missing"
    );
    assert!(!out_path.exists());
}

#[test]
fn a_strict_reduce_error_keeps_the_reducers_error_as_its_typed_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = load(&bundle_with_events_after_the_error(dir.path()));
    let err = reduce_loaded(&bundle).expect_err("the fold stops at the bad event");
    let tracefold::Error::Reduce { context, source } = &err else {
        panic!("not a reduce error: {err:?}");
    };
    assert_eq!(context, "reduce bundle rollout rollout-1");
    assert_eq!(source.seq(), Some(2));
    let cause = std::error::Error::source(&err).expect("a source");
    assert!(cause.is::<ReduceError>(), "{cause:?}");
    assert_eq!(err.to_string(), format!("{context}: {source}"));
}

#[test]
fn reduce_keep_going_on_a_stored_rollout_writes_the_partial_state_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let broken = example("broken.jsonl");
    assert_eq!(
        ok(&store, &["ingest", broken.to_str().expect("utf-8")]).trim(),
        "rollout-broken"
    );
    let err = fails(&store, &["reduce", "rollout-broken"]);
    assert!(
        err.starts_with("error: reduce rollout rollout-broken: seq 8: model-visible call id call_1 was reused with different content"),
        "{err}"
    );

    let out = tracefold(&store, &["reduce", "rollout-broken", "--keep-going"]);
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("skipped seq 8 inference_started (thread_id thread-root, codex_turn_id turn-1, inference_call_id inf-retry): model-visible call id call_1"),
        "{stderr}"
    );
    let state: Value = serde_json::from_slice(&out.stdout).expect("state JSON on stdout");
    // The events before (inf-1, the tool call) and after (inf-2, the turn
    // and thread ends) are all there; the retried request left nothing.
    let calls: Vec<&String> = state["inference_calls"]
        .as_object()
        .expect("calls")
        .keys()
        .collect();
    assert_eq!(calls, ["inf-1", "inf-2"]);
    assert_eq!(
        state["tool_calls"]["call_1"]["execution"]["status"],
        "completed"
    );
    assert_eq!(
        state["codex_turns"]["turn-1"]["execution"]["status"],
        "completed"
    );
    assert_eq!(state["status"], "completed");
    assert!(
        state["conversation_items"]
            .as_object()
            .expect("items")
            .values()
            .all(|item| item["first_seen_seq"] != 8),
        "an item of the skipped event survived"
    );
    let diagnostics = state["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0]["seq"], 8);
    assert_eq!(diagnostics[0]["code"], "reduce_error");
    assert_eq!(diagnostics[0]["ids"]["inference_call_id"], "inf-retry");
    assert_eq!(diagnostics[0]["ids"]["rollout_id"], "rollout-broken");
}

#[test]
fn reduce_keep_going_on_a_rollout_without_errors_prints_the_strict_state_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let sample = example("sample.jsonl");
    ok(&store, &["ingest", sample.to_str().expect("utf-8")]);
    let strict = ok(&store, &["reduce", "rollout-example"]);
    let out = tracefold(&store, &["reduce", "rollout-example", "--keep-going"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).expect("utf-8"), strict);
}

#[test]
fn the_reduce_commands_help_documents_keep_going_and_the_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    for command in ["reduce", "reduce-bundle"] {
        let help = ok(&dir.path().join("no-store"), &[command, "--help"]);
        assert!(help.contains("--keep-going"), "{help}");
        assert!(help.contains("reduce_error diagnostic"), "{help}");
        assert!(
            help.contains("Exit codes: 0 the whole log was reduced; 1 the state was written but events were skipped"),
            "{help}"
        );
    }
}

/// The reference's code-cell scenario copied into `dir`, with a line of each
/// kind a strict read refuses: a malformed line (line 3), an event for
/// another rollout (seq 7, line 8), an unknown event `schema_version` (seq 9,
/// line 10), a missing payload file (seq 10, line 11) and a seq that goes
/// backwards (a repeat of seq 8, line 14).
fn bundle_with_lines_a_strict_read_refuses(dir: &Path) -> PathBuf {
    let source = conformance_dir().join(
        "reducer__code_cell__tests__code_cell_lifecycle_links_nested_tools_waits_and_outputs__2",
    );
    let bundle = dir.join("bundle");
    copy_dir(&source, &bundle);
    std::fs::remove_file(bundle.join("reference-state.json")).expect("remove state");
    let log = std::fs::read_to_string(bundle.join("trace.jsonl")).expect("log");
    let mut events: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    assert_eq!(events.len(), 12);
    assert_eq!(
        events[9]["payload"]["request_payload"]["path"],
        "payloads/3.json"
    );
    std::fs::remove_file(bundle.join("payloads/3.json")).expect("remove payload");
    events[6]["rollout_id"] = json!("rollout-other");
    events[8]["schema_version"] = json!(7);
    let mut lines: Vec<String> = events.iter().map(Value::to_string).collect();
    lines.insert(2, r#"{"seq": 99, not json"#.to_string());
    lines.push(events[7].to_string());
    std::fs::write(bundle.join("trace.jsonl"), lines.join("\n") + "\n").expect("write log");
    bundle
}

#[test]
fn a_strict_read_refuses_the_first_bad_line_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_with_lines_a_strict_read_refuses(dir.path());
    let err = read_bundle(&bundle, &IngestOptions::default())
        .err()
        .expect("a strict read fails")
        .to_string();
    assert!(
        err.ends_with("trace.jsonl:3: malformed event: key must be a string at line 1 column 13"),
        "{err}"
    );
}

#[test]
fn a_keep_going_read_leaves_out_each_bad_line_with_a_diagnostic_and_reduces_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_with_lines_a_strict_read_refuses(dir.path());
    let loaded = read_bundle_with(
        &bundle,
        &IngestOptions::default(),
        ReduceOptions::keep_going(),
    )
    .expect("a keep-going read reads");
    let log = bundle.join("trace.jsonl").display().to_string();
    let skipped: Vec<(Option<u64>, String)> = loaded
        .read_diagnostics
        .iter()
        .map(|d| {
            assert!(d.is_line_skipped(), "{d:?}");
            (
                d.seq,
                d.message
                    .strip_prefix(&log)
                    .expect("names the log")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (
                None,
                ":3: malformed event: key must be a string at line 1 column 13".to_string()
            ),
            (
                Some(7),
                ":8: event is for rollout rollout-other but the bundle manifest says rollout-1"
                    .to_string()
            ),
            (
                Some(9),
                ":10: unsupported schema_version 7 (this build reads 1)".to_string()
            ),
            (
                Some(10),
                format!(
                    ":11: seq 10: payload raw_payload:3 (payloads/3.json): open payload file {}: No such file or directory (os error 2)",
                    bundle.join("payloads/3.json").display()
                )
            ),
            (
                Some(8),
                ":14: seq 8 does not increase (previous seq 12 of rollout rollout-1)".to_string()
            ),
        ]
    );
    let other = &loaded.read_diagnostics[1];
    assert_eq!(other.event_type.as_deref(), Some("tool_call_started"));
    assert_eq!(other.ids["rollout_id"], "rollout-other");
    assert_eq!(other.ids["thread_id"], "thread-root");
    assert_eq!(
        loaded.read_diagnostics[2].event_type.as_deref(),
        Some("codex_turn_started")
    );

    // Every seq stays the bundle's; each left out one is a dropped record.
    let seqs: Vec<u64> = loaded.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<u64>>());
    for seq in [7, 9, 10] {
        assert!(
            matches!(
                loaded.events[seq as usize - 1].payload,
                EventPayload::EventsDropped { .. }
            ),
            "seq {seq}"
        );
    }
    // One path per citation that was read: the missing payload's is gone.
    assert_eq!(
        loaded.payload_paths,
        ["payloads/1.json", "payloads/2.json", "payloads/4.json"]
    );

    // Strict reduction of what was read is possible only because the
    // dropped records make unknown references diagnostics; keep-going puts
    // the read's diagnostics first.
    let state = reduce_loaded_with(&loaded, ReduceOptions::keep_going()).expect("reduces");
    assert_eq!(state.diagnostics[..5], loaded.read_diagnostics[..]);
    let json: Value = serde_json::from_str(&state_to_json(&state)).expect("json");
    assert_eq!(
        json["code_cells"]["code_cell:call-code"]["execution"]["status"],
        "completed"
    );
    assert_eq!(
        json["raw_payloads"]["raw_payload:000003"]["path"],
        "payloads/4.json"
    );
}

#[test]
fn a_keep_going_read_leaves_out_overlong_and_non_utf8_lines_and_reads_an_unknown_manifest_version()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let source = conformance_dir().join(
        "reducer__code_cell__tests__code_cell_lifecycle_links_nested_tools_waits_and_outputs__2",
    );
    let bundle = dir.path().join("bundle");
    copy_dir(&source, &bundle);
    let manifest_path = bundle.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest")).expect("json");
    manifest["schema_version"] = json!(2);
    std::fs::write(&manifest_path, manifest.to_string()).expect("write manifest");
    let log = std::fs::read(bundle.join("trace.jsonl")).expect("log");
    let mut mangled = Vec::new();
    for (n, line) in log.split_inclusive(|&b| b == b'\n').enumerate() {
        mangled.extend_from_slice(line);
        if n == 1 {
            mangled.extend(std::iter::repeat_n(b'x', 1_100_000));
            mangled.push(b'\n');
            mangled.extend_from_slice(b"{\"seq\": \xff}\n");
        }
    }
    std::fs::write(bundle.join("trace.jsonl"), mangled).expect("write log");
    // Payloads of at most 1 byte allow lines of 1 MiB and 2 bytes.
    let options = IngestOptions {
        max_payload_bytes: 1,
        ..IngestOptions::default()
    };
    let strict = read_bundle(&bundle, &options)
        .err()
        .expect("strict fails")
        .to_string();
    assert!(
        strict.ends_with("unsupported manifest schema_version 2"),
        "{strict}"
    );

    let options = IngestOptions {
        max_payload_bytes: 1 << 20,
        ..IngestOptions::default()
    };
    let loaded = read_bundle_with(&bundle, &options, ReduceOptions::keep_going()).expect("reads");
    let messages: Vec<&str> = loaded
        .read_diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].ends_with("unsupported manifest schema_version 2; read as version 1"));
    assert!(
        messages[1].ends_with("trace.jsonl:3: malformed event: expected value at line 1 column 1"),
        "{messages:?}"
    );
    assert!(
        messages[2].ends_with("trace.jsonl:4: invalid UTF-8 at byte 8"),
        "{messages:?}"
    );
    // Both junk lines left out, the rest read: all 12 events.
    assert_eq!(loaded.events.len(), 12);

    let options = IngestOptions {
        max_payload_bytes: 1,
        ..IngestOptions::default()
    };
    let loaded = read_bundle_with(&bundle, &options, ReduceOptions::keep_going()).expect("reads");
    let messages: Vec<&str> = loaded
        .read_diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        messages[1].ends_with(&format!(
            "trace.jsonl:3: line longer than {} bytes",
            (1 << 20) + 2
        )),
        "{messages:?}"
    );
    assert!(
        messages[2].ends_with("trace.jsonl:4: invalid UTF-8 at byte 8"),
        "{messages:?}"
    );
    // The lines after the overlong one are read from their own starts (the
    // payloads are over the 1-byte limit, so those lines are left out too).
    assert!(
        messages[3..]
            .iter()
            .all(|m| m.contains("over the limit") || m.contains("larger")),
        "{messages:?}"
    );
    assert_eq!(loaded.events.first().map(|e| e.seq), Some(1));
}

#[test]
fn reduce_bundle_keep_going_prints_each_line_left_out_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_with_lines_a_strict_read_refuses(dir.path());
    let out_path = dir.path().join("state.json");
    let store = dir.path().join("no-store");
    let bundle_arg = bundle.to_str().expect("utf-8");
    let out_arg = out_path.to_str().expect("utf-8");
    let err = fails(&store, &["reduce-bundle", bundle_arg, "-o", out_arg]);
    assert!(err.contains("trace.jsonl:3: malformed event"), "{err}");
    assert!(!out_path.exists());

    let out = tracefold(
        &store,
        &["reduce-bundle", bundle_arg, "--keep-going", "-o", out_arg],
    );
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 6, "{stderr}");
    assert!(
        lines[..5].iter().all(|line| line.starts_with("left out ")),
        "{stderr}"
    );
    assert!(
        lines[3].contains("trace.jsonl:11: seq 10: payload raw_payload:3"),
        "{stderr}"
    );
    assert_eq!(
        lines[5],
        "rollout rollout-1: 5 lines left out of the reading; the state has a line_skipped diagnostic for each"
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(&out_path).expect("state written")).expect("json");
    let codes: Vec<&str> = state["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == "line_skipped").count(), 5);
    assert!(!store.exists(), "reduce-bundle created a store");
}
