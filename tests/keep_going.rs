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
use tracefold::export::bundle::{LoadedBundle, read_bundle};
use tracefold::export::{reduce_loaded, reduce_loaded_with};
use tracefold::ingest::IngestOptions;
use tracefold::model::RolloutTrace;
use tracefold::reducer::{ReduceOptions, reduce, state_to_json};

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
    // (whose request is the same payload the bad event cited) and its end.
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
        "raw_payload:000001"
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
