//! Integration tests: exports the reference reads (issue 14, point 1).
//!
//! `export --format codex-bundle` writes only the reference's event types
//! and payload kinds (rollout-trace-reference.md, section 2) unless
//! `--with-extensions`; what it left out or changed is counted on stderr,
//! and the bundle still reduces.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{line, ok, root_start_lines, tracefold};

/// The reference's raw event types (`RawTraceEventPayload`) a bundle may
/// hold: all but `other`, which its reducer fails on.
const REFERENCE_EVENT_TYPES: &[&str] = &[
    "rollout_started",
    "rollout_ended",
    "thread_started",
    "thread_ended",
    "codex_turn_started",
    "codex_turn_ended",
    "inference_started",
    "inference_completed",
    "inference_failed",
    "inference_cancelled",
    "compaction_request_started",
    "compaction_request_completed",
    "compaction_request_failed",
    "compaction_installed",
    "tool_call_started",
    "mcp_tool_call_correlation_assigned",
    "tool_call_ended",
    "tool_call_runtime_started",
    "tool_call_runtime_ended",
    "code_cell_started",
    "code_cell_initial_response",
    "code_cell_ended",
    "agent_result_observed",
    "protocol_event_observed",
];

/// The reference's payload kinds (`RawPayloadKind`).
const REFERENCE_PAYLOAD_KINDS: &[&str] = &[
    "inference_request",
    "inference_response",
    "compaction_request",
    "compaction_checkpoint",
    "compaction_response",
    "tool_invocation",
    "tool_result",
    "tool_runtime_event",
    "terminal_runtime_event",
    "protocol_event",
    "session_metadata",
    "agent_result",
];

/// The events of a bundle's `trace.jsonl`.
fn bundle_events(bundle: &Path) -> Vec<Value> {
    std::fs::read_to_string(bundle.join("trace.jsonl"))
        .expect("trace.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect()
}

/// Every payload reference of an event: `(kind, path)`.
fn payload_refs(event: &Value) -> Vec<(String, Option<String>)> {
    let mut refs = Vec::new();
    let mut visit = |value: &Value| {
        if let Some(kind) = value.pointer("/kind/type").and_then(Value::as_str) {
            let path = value
                .get("path")
                .and_then(Value::as_str)
                .map(str::to_string);
            refs.push((kind.to_string(), path));
        }
    };
    for field in event["payload"].as_object().expect("payload").values() {
        match field {
            Value::Array(items) => items.iter().for_each(&mut visit),
            other => visit(other),
        }
    }
    refs
}

fn count_types(events: &[Value]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for event in events {
        let name = event["payload"]["type"].as_str().expect("type").to_string();
        *counts.entry(name).or_default() += 1;
    }
    counts
}

/// Exports `rollout` as a codex bundle at `out`; returns stderr.
fn export_bundle(store: &Path, rollout: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "export",
        rollout,
        "--format",
        "codex-bundle",
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let run = tracefold(store, &args);
    let stderr = String::from_utf8(run.stderr).expect("utf-8");
    assert!(run.status.success(), "export failed: {stderr}");
    stderr
}

/// `reduce-bundle BUNDLE -o SCRATCH/reduced.json`, read back.
fn reduce_bundle(store: &Path, bundle: &Path, scratch: &Path) -> Value {
    let out = scratch.join("reduced.json");
    ok(
        store,
        &[
            "reduce-bundle",
            bundle.to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ],
    );
    serde_json::from_slice(&std::fs::read(&out).expect("state")).expect("json")
}

#[test]
fn a_demo_exported_as_a_codex_bundle_holds_only_reference_event_types_and_payload_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let state = dir.path().join("demo-state.json");
    ok(
        &store,
        &[
            "demo",
            "--turns",
            "6",
            "--agents",
            "1",
            "--seed",
            "11",
            "--out",
            state.to_str().expect("utf-8"),
        ],
    );
    let rollouts: Value = serde_json::from_str(&ok(&store, &["rollouts", "--json"])).expect("json");
    let rollout = rollouts[0]["rollout_id"].as_str().expect("id").to_string();
    let stored: Vec<Value> = ok(&store, &["events", &rollout])
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let stored_values = count_types(&stored)["code_cell_stored_values"];
    assert!(stored_values > 0, "the demo's code cells store values");

    // By default: only the reference's vocabulary, and a count on stderr.
    let bundle = dir.path().join("bundle");
    let stderr = export_bundle(&store, &rollout, &bundle, &[]);
    assert_eq!(
        stderr.trim(),
        format!(
            "left out {stored_values} events the reference cannot read: code_cell_stored_values {stored_values}; --with-extensions keeps them"
        )
    );
    let events = bundle_events(&bundle);
    assert_eq!(events.len() as u64, stored.len() as u64 - stored_values);
    let mut last_seq = 0;
    for event in &events {
        let kind = event["payload"]["type"].as_str().expect("type");
        assert!(REFERENCE_EVENT_TYPES.contains(&kind), "event type {kind}");
        for (kind, path) in payload_refs(event) {
            assert!(
                REFERENCE_PAYLOAD_KINDS.contains(&kind.as_str()),
                "payload kind {kind}"
            );
            let path = path.expect("a file reference");
            assert!(bundle.join(&path).is_file(), "{path} missing");
        }
        // Left-out events leave gaps; the order stays.
        let seq = event["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "seq {seq} after {last_seq}");
        last_seq = seq;
    }
    assert!(
        events.len() as u64 != last_seq,
        "the left-out events' seqs are gaps"
    );
    // The bundle reduces and imports (tracefold's reader accepts the gaps).
    let reduced = reduce_bundle(&store, &bundle, dir.path());
    let original: Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("json");
    for collection in [
        "threads",
        "conversation_items",
        "code_cells",
        "interaction_edges",
    ] {
        assert_eq!(
            reduced[collection].as_object().map(|map| map.len()),
            original[collection].as_object().map(|map| map.len()),
            "{collection}"
        );
    }
    assert_only_gap_diagnostics(&reduced);

    // `path` on every raw payload: the stored rollout's state names where
    // the export writes each citation's file, and the bundle's state names
    // the bundle's own files; both agree on each path the bundle has.
    let paths = |state: &Value| -> BTreeMap<String, String> {
        state["raw_payloads"]
            .as_object()
            .expect("raw payloads")
            .iter()
            .map(|(id, entry)| {
                let path = entry["path"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{id} has no path: {entry}"));
                (
                    path.to_string(),
                    entry["blake3"].as_str().expect("blake3").to_string(),
                )
            })
            .collect()
    };
    let stored_paths = paths(&original);
    let bundle_paths = paths(&reduced);
    assert_eq!(
        stored_paths.len(),
        original["raw_payloads"].as_object().expect("map").len(),
        "one path per raw payload"
    );
    assert!(
        bundle_paths.len() < stored_paths.len(),
        "the left-out events cite payloads"
    );
    for (path, blake3) in &bundle_paths {
        assert!(
            bundle.join(path).is_file(),
            "{path} is not a file of the bundle"
        );
        assert_eq!(stored_paths.get(path), Some(blake3), "{path}");
    }
    ok(
        &store,
        &[
            "import-codex",
            bundle.to_str().expect("utf-8"),
            "--rollout-id",
            "copy",
        ],
    );

    // With --with-extensions: everything, as stored, and nothing on stderr.
    let full = dir.path().join("full");
    let stderr = export_bundle(&store, &rollout, &full, &["--with-extensions"]);
    assert_eq!(stderr, "");
    let events = bundle_events(&full);
    assert_eq!(count_types(&events), count_types(&stored));
    assert!(
        events
            .iter()
            .flat_map(payload_refs)
            .any(|(kind, _)| kind == "code_cell_stored_values")
    );
    let report = ok(&store, &["diff", full.to_str().expect("utf-8"), &rollout]);
    assert_eq!(report.trim(), "equivalent");

    // The flag belongs to codex bundles only.
    let run = tracefold(
        &store,
        &[
            "export",
            &rollout,
            "--format",
            "jsonl",
            "--out",
            "-",
            "--with-extensions",
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--with-extensions applies to"));
}

#[test]
fn every_kind_of_extension_is_left_out_or_made_readable_and_the_bundle_still_reduces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let r = "ext";
    let mut lines = root_start_lines(r);
    let mut push = |thread: Option<&str>, turn: Option<&str>, payload: Value| {
        let seq = lines.len() as u64 + 1;
        lines.push(line(seq, r, thread, turn, payload));
    };
    // A child resumed from an earlier session: its start is not in this log.
    push(
        None,
        None,
        json!({"type": "thread_resumed", "thread_id": "child", "agent_path": "/root/child", "metadata_payload": null}),
    );
    push(
        Some("root"),
        Some("turn-1"),
        json!({"type": "codex_turn_started", "codex_turn_id": "turn-1", "thread_id": "root"}),
    );
    // A reference event citing a payload kind the reference does not know.
    push(
        Some("root"),
        Some("turn-1"),
        json!({"type": "tool_call_started", "tool_call_id": "tool-1", "model_visible_call_id": null,
               "code_mode_runtime_tool_id": null, "requester": {"type": "model"},
               "kind": {"type": "other", "name": "lookup"},
               "summary": {"type": "generic", "label": "lookup", "input_preview": null, "output_preview": null},
               "invocation_payload": {"kind": {"type": "custom_blob"}, "inline": {"q": 1}}}),
    );
    push(
        Some("root"),
        Some("turn-1"),
        json!({"type": "tool_call_ended", "tool_call_id": "tool-1", "status": "completed", "result_payload": null}),
    );
    push(
        Some("root"),
        Some("turn-1"),
        json!({"type": "terminal_session_ended", "terminal_id": "7", "thread_id": "root",
               "status": "completed", "exit_code": 0, "runtime_payload": null}),
    );
    push(
        None,
        None,
        json!({"type": "events_dropped", "count": 2, "reason": "queue full"}),
    );
    push(None, None, json!({"type": "future_event", "detail": 1}));
    push(
        None,
        None,
        json!({"type": "other", "kind": "note", "summary": "s", "payloads": [], "metadata": {}}),
    );
    push(
        Some("child"),
        Some("turn-2"),
        json!({"type": "codex_turn_started", "codex_turn_id": "turn-2", "thread_id": "child"}),
    );
    push(
        Some("child"),
        Some("turn-2"),
        json!({"type": "codex_turn_ended", "codex_turn_id": "turn-2", "status": "completed"}),
    );
    // The root resumed too, but its start is in the log: left out.
    push(
        None,
        None,
        json!({"type": "thread_resumed", "thread_id": "root", "agent_path": "/root", "metadata_payload": null}),
    );
    push(
        Some("root"),
        Some("turn-1"),
        json!({"type": "codex_turn_ended", "codex_turn_id": "turn-1", "status": "completed"}),
    );
    push(
        None,
        None,
        json!({"type": "rollout_ended", "status": "completed"}),
    );
    let file = dir.path().join("ext.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    ok(&store, &["ingest", file.to_str().expect("utf-8")]);

    let bundle = dir.path().join("bundle");
    let stderr = export_bundle(&store, r, &bundle, &[]);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "left out 5 events the reference cannot read: events_dropped 1, future_event 1, other 1, terminal_session_ended 1, thread_resumed 1; --with-extensions keeps them",
            "wrote 1 thread_resumed event as thread_started: the thread's start is not in this rollout's log",
            "wrote 1 payload reference of kinds the reference does not know under their event's usual kind: custom_blob 1; --with-extensions keeps them",
        ]
    );
    let events = bundle_events(&bundle);
    for event in &events {
        let kind = event["payload"]["type"].as_str().expect("type");
        assert!(REFERENCE_EVENT_TYPES.contains(&kind), "event type {kind}");
        for (kind, _) in payload_refs(event) {
            assert!(
                REFERENCE_PAYLOAD_KINDS.contains(&kind.as_str()),
                "payload kind {kind}"
            );
        }
    }
    let child_start = events
        .iter()
        .find(|event| event["payload"]["thread_id"] == "child")
        .expect("the child's first event");
    assert_eq!(child_start["payload"]["type"], "thread_started");
    assert_eq!(child_start["seq"], 3);
    let tool = events
        .iter()
        .find(|event| event["payload"]["type"] == "tool_call_started")
        .expect("tool call");
    assert_eq!(
        tool["payload"]["invocation_payload"]["kind"]["type"],
        "tool_invocation"
    );
    // It reduces, with both threads, and imports.
    let reduced = reduce_bundle(&store, &bundle, dir.path());
    assert_eq!(reduced["threads"].as_object().expect("threads").len(), 2);
    assert_only_gap_diagnostics(&reduced);
    assert_eq!(reduced["status"], "completed");

    // --with-extensions keeps every event and kind as stored.
    let full = dir.path().join("full");
    assert_eq!(export_bundle(&store, r, &full, &["--with-extensions"]), "");
    let events = bundle_events(&full);
    assert_eq!(events.len(), lines.len());
    assert!(
        events
            .iter()
            .flat_map(payload_refs)
            .any(|(kind, _)| kind == "custom_blob")
    );
}

/// The only diagnostics of a reference-only export: one per seq it left out
/// (reading a bundle keeps each line's seq and says which are missing).
fn assert_only_gap_diagnostics(state: &Value) {
    for diagnostic in state["diagnostics"].as_array().expect("diagnostics") {
        assert_eq!(diagnostic["code"], "events_dropped", "{diagnostic}");
        let message = diagnostic["message"].as_str().expect("message");
        assert!(message.contains("is missing from the input"), "{message}");
    }
}
