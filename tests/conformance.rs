//! Agreement with the real reference reducer: the 43 bundles of the
//! reference crate's own test scenarios (`../shared/conformance/
//! reference-tests/`, read in place, never copied), each reduced here and
//! compared with the state JSON, or the error, the reference's
//! `replay_bundle` produced for it.
//!
//! Allowed, and only these: the spelling of the ids the reducer mints
//! (`conversation_item:000001` for the reference's `conversation_item:1`; the
//! padding keeps ids in creation order when sorted), and the keys listed in
//! [`ADDITIONS`], each with its reason. Every key the reference writes must
//! be present with the same value; every list must have the same length and
//! order.
//!
//! Deliberate behaviours that differ from the reference, none of which these
//! bundles exercise (each has its own test elsewhere):
//! - seqs that go backwards, an event whose `rollout_id` disagrees with the
//!   manifest, an unknown `schema_version`, a payload path outside the
//!   bundle and a missing payload file are refused (the reference accepts
//!   some of them);
//! - a resent image message is reused (the reference compares
//!   observation-local payload ids and makes a new item);
//! - on a time tie the last-created assistant message is the one chosen;
//! - unknown event types are diagnostics, not fatal; summaries are cut at a
//!   UTF-8 boundary (the reference panics);
//! - a code cell whose call id a cell of another thread already has is
//!   `code_cell:{thread}:{call}` (the reference fails);
//! - a model-visible call id reused with content that differs only past the
//!   240-byte summary is the same item with a diagnostic (the reference
//!   compares only the summary and sees no difference at all).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tracefold::{IngestOptions, read_bundle, reduce_loaded};

/// Keys tracefold adds to the reference's objects: where (a path with `*` for
/// a collection entry's id and `[]` for a list index; `""` is the top level),
/// the key, and why.
const ADDITIONS: &[(&str, &str, &str)] = &[
    (
        "",
        "diagnostics",
        "what the reducer saw but could not place, kept instead of dropped",
    ),
    (
        ".raw_payloads.*",
        "blake3",
        "the payload's content hash, to find it in a store",
    ),
    (
        ".raw_payloads.*",
        "extension_kind",
        "the real kind of a payload of a kind the reference lacks",
    ),
    (
        ".raw_payloads.*",
        "size_bytes",
        "the payload's size, for statistics without reading it",
    ),
    (
        ".conversation_items.*",
        "first_seen_seq",
        "the seq beside the time, since times tie",
    ),
    (
        ".threads.*",
        "raw_metadata_payload_id",
        "the thread's metadata payload, for a viewer to open",
    ),
    (
        ".threads.*",
        "resumed_at_seqs",
        "when a stored thread was resumed",
    ),
    (
        ".code_cells.*",
        "raw_response_payload_ids",
        "the lifecycle payloads of the cell",
    ),
    (
        ".code_cells.*",
        "stored_values_raw_payload_ids",
        "the values a cell stored (an extension event)",
    ),
    (
        ".compactions.*",
        "inference_call_id",
        "the inference call that triggered the compaction",
    ),
    (
        ".compactions.*",
        "installed_seq",
        "the seq beside the install time",
    ),
    (".compactions.*", "mode", "remote or local compaction"),
    (
        ".compactions.*",
        "raw_checkpoint_payload_id",
        "the checkpoint payload installed",
    ),
    (
        ".conversation_items.*.body.parts[]",
        "blake3",
        "a JSON or payload_ref part's content hash, its identity across requests",
    ),
    (
        ".inference_calls.*.usage",
        "cache_write_input_tokens",
        "cache-written input tokens, which the reference's usage gained after June 2026",
    ),
    (
        ".inference_calls.*",
        "error",
        "why a failed or cancelled call ended",
    ),
    (
        ".terminal_sessions.*",
        "exit_code",
        "the exit code the end payload gives",
    ),
    (
        ".terminal_sessions.*",
        "raw_end_payload_id",
        "the payload the exit code comes from",
    ),
];

/// The reducer-minted id collections whose ordinals tracefold zero-pads.
const ORDINAL_PREFIXES: &[&str] = &["conversation_item:", "raw_payload:", "terminal_operation:"];

fn reference_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/reference-tests")
}

/// The reference's spelling of an id tracefold pads: `raw_payload:000012`
/// is `raw_payload:12`.
fn reference_spelling(text: &str) -> String {
    for prefix in ORDINAL_PREFIXES {
        if let Some(digits) = text.strip_prefix(prefix)
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            let trimmed = digits.trim_start_matches('0');
            return format!("{prefix}{}", if trimmed.is_empty() { "0" } else { trimmed });
        }
    }
    text.to_string()
}

/// Every ordinal id in `value` (keys and strings) in the reference's spelling.
fn respell(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(reference_spelling(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(respell).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (reference_spelling(&key), respell(value)))
                .collect(),
        ),
        other => other,
    }
}

/// The differences between the reference's state and ours, as readable lines.
fn differences(reference: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    compare(reference, ours, path, "", out);
}

/// [`differences`], with `place`: the path with each collection entry's id
/// as `*` and each list index as `[]`, as [`ADDITIONS`] names places.
fn compare(reference: &Value, ours: &Value, path: &str, place: &str, out: &mut Vec<String>) {
    match (reference, ours) {
        (Value::Object(want), Value::Object(got)) => {
            // Entries of a top-level collection are keyed by id.
            let entries = place.matches('.').count() == 1;
            for (key, value) in want {
                let inner = if entries { "*" } else { key.as_str() };
                match got.get(key) {
                    Some(found) => compare(
                        value,
                        found,
                        &format!("{path}.{key}"),
                        &format!("{place}.{inner}"),
                        out,
                    ),
                    None => out.push(format!("{path}.{key}: missing (reference {value})")),
                }
            }
            // Our extra keys must be named additions.
            for key in got.keys().filter(|key| !want.contains_key(*key)) {
                let named = ADDITIONS
                    .iter()
                    .any(|(at, name, _)| *at == place && name == key);
                if !named {
                    out.push(format!(
                        "{path}.{key}: not in the reference and not a named addition"
                    ));
                }
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (index, (want, got)) in want.iter().zip(got).enumerate() {
                compare(
                    want,
                    got,
                    &format!("{path}[{index}]"),
                    &format!("{place}[]"),
                    out,
                );
            }
        }
        (want, got) if want != got => {
            out.push(format!("{path}: reference {want}, tracefold {got}"));
        }
        _ => {}
    }
}

/// Reduces a bundle as `tracefold reduce-bundle` does.
fn reduce(bundle: &Path) -> Result<Value, String> {
    let loaded = read_bundle(bundle, &IngestOptions::default()).map_err(|err| err.to_string())?;
    let state = reduce_loaded(&loaded).map_err(|err| err.to_string())?;
    Ok(respell(
        serde_json::to_value(&state).expect("state serialises"),
    ))
}

#[test]
fn every_reference_test_bundle_reduces_to_the_reference_state_or_error() {
    let root = reference_tests();
    let mut bundles: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|err| panic!("{}: {err} (CI has ../shared)", root.display()))
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    bundles.sort();
    assert_eq!(bundles.len(), 43, "the reference's 43 scenarios");
    let (mut states, mut errors) = (0, 0);
    let mut failures = Vec::new();
    for bundle in &bundles {
        let name = bundle.file_name().expect("name").to_string_lossy();
        let ours = reduce(bundle);
        let expected_error = bundle.join("reference-error.txt");
        if expected_error.exists() {
            errors += 1;
            let text = std::fs::read_to_string(&expected_error).expect("read error");
            let message = text.trim().trim_start_matches("Error: ");
            match ours {
                Ok(_) => failures.push(format!("{name}: reduced, the reference failed: {message}")),
                Err(err) if !reference_spelling_of_all(&err).contains(message) => {
                    failures.push(format!("{name}: error {err:?} does not say {message:?}"));
                }
                Err(_) => {}
            }
            continue;
        }
        states += 1;
        let text = std::fs::read_to_string(bundle.join("reference-state.json")).expect("read");
        let reference: Value = serde_json::from_str(&text).expect("reference state");
        match ours {
            Err(err) => failures.push(format!("{name}: failed: {err}")),
            Ok(ours) => {
                let mut found = Vec::new();
                differences(&reference, &ours, "", &mut found);
                failures.extend(found.into_iter().map(|line| format!("{name}: {line}")));
            }
        }
    }
    assert_eq!((states, errors), (38, 5));
    assert!(
        failures.is_empty(),
        "{} differences from the reference:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// An error message with every padded ordinal id in it respelled.
fn reference_spelling_of_all(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let core = word.trim_end_matches([',', ')', ':', ';']);
            format!("{}{}", reference_spelling(core), &word[core.len()..])
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_comparison_catches_a_changed_value_a_missing_key_and_an_unnamed_extra_key() {
    let reference = serde_json::json!({
        "threads": {"t": {"agent_path": "/root", "nickname": null}},
        "raw_payloads": {"raw_payload:1": {"path": "payloads/1.json"}}
    });
    let ours = respell(serde_json::json!({
        "threads": {"t": {"agent_path": "/other", "colour": "red"}},
        "raw_payloads": {"raw_payload:000001": {"path": "payloads/1.json", "blake3": "ab"}},
        "diagnostics": []
    }));
    let mut found = Vec::new();
    differences(&reference, &ours, "", &mut found);
    assert_eq!(
        found,
        vec![
            ".threads.t.agent_path: reference \"/root\", tracefold \"/other\"".to_string(),
            ".threads.t.nickname: missing (reference null)".to_string(),
            ".threads.t.colour: not in the reference and not a named addition".to_string(),
        ]
    );
}

/// Writes a bundle of `rollout-1`: the manifest, `lines` as the log, and
/// `payloads` as `payloads/{name}`.
fn write_bundle(dir: &Path, lines: &[Value], payloads: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("payloads")).expect("mkdir");
    let manifest = serde_json::json!({
        "schema_version": 1, "trace_id": "trace-1", "rollout_id": "rollout-1",
        "root_thread_id": "thread-root", "started_at_unix_ms": 1000,
        "raw_event_log": "trace.jsonl", "payloads_dir": "payloads"
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("manifest");
    let log: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(dir.join("trace.jsonl"), log).expect("log");
    for (name, text) in payloads {
        std::fs::write(dir.join("payloads").join(name), text).expect("payload");
    }
}

fn line(seq: u64, payload: Value) -> Value {
    serde_json::json!({
        "schema_version": 1, "seq": seq, "wall_time_unix_ms": 1000 + seq,
        "rollout_id": "rollout-1", "thread_id": null, "codex_turn_id": null,
        "payload": payload
    })
}

fn file_ref(n: u64, kind: &str, path: &str) -> Value {
    serde_json::json!({"raw_payload_id": format!("raw_payload:{n}"), "kind": {"type": kind}, "path": path})
}

/// A root thread and turn, one inference call (request `req`, response
/// `resp` as payload paths), at the seqs given.
fn one_inference(seqs: [u64; 4], req: &str, resp: &str) -> Vec<Value> {
    vec![
        line(
            seqs[0],
            serde_json::json!({"type": "thread_started", "thread_id": "thread-root", "agent_path": "/root", "metadata_payload": null}),
        ),
        line(
            seqs[1],
            serde_json::json!({"type": "codex_turn_started", "codex_turn_id": "turn-1", "thread_id": "thread-root"}),
        ),
        line(
            seqs[2],
            serde_json::json!({"type": "inference_started", "inference_call_id": "inference-1", "thread_id": "thread-root", "codex_turn_id": "turn-1", "model": "m", "provider_name": "p", "request_payload": file_ref(1, "inference_request", req)}),
        ),
        line(
            seqs[3],
            serde_json::json!({"type": "inference_completed", "inference_call_id": "inference-1", "response_id": "resp-1", "upstream_request_id": null, "response_payload": file_ref(2, "inference_response", resp)}),
        ),
    ]
}

const REQUEST: &str = r#"{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"run tests"}]}]}"#;
const RESPONSE: &str = r#"{"output_items":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"passed"}]}],"response_id":"resp-1"}"#;

fn tracefold(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .args(args)
        .output()
        .expect("tracefold runs")
}

/// Point 6: a bundle keeps every line's seq (the reference's writer consumes
/// a seq when an event fails to serialise), and its import keeps them too.
#[test]
fn seqs_a_bundle_skips_are_kept_and_the_import_reduces_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("gaps");
    write_bundle(
        &bundle,
        &one_inference([1, 2, 5, 9], "payloads/1.json", "payloads/2.json"),
        &[("1.json", REQUEST), ("2.json", RESPONSE)],
    );
    let state = reduce(&bundle).expect("reduces");
    let call = &state["inference_calls"]["inference-1"]["execution"];
    assert_eq!(
        (call["started_seq"].as_u64(), call["ended_seq"].as_u64()),
        (Some(5), Some(9))
    );
    let missing: Vec<u64> = state["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["code"] == "events_dropped")
        .filter_map(|d| d["seq"].as_u64())
        .collect();
    assert_eq!(missing, vec![3, 4, 6, 7, 8]);

    // Imported, the stored log carries the same seqs and reduces the same.
    let store = dir.path().join("store");
    let store = store.to_str().expect("utf-8");
    let bundle_arg = bundle.to_str().expect("utf-8");
    let out = tracefold(&["--store", store, "import-codex", bundle_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tracefold(&["--store", store, "reduce", "rollout-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let imported = respell(serde_json::from_slice(&out.stdout).expect("state"));
    assert_eq!(imported, state);

    // A gap too large to stand for is refused, naming the line.
    let huge = dir.path().join("huge");
    write_bundle(
        &huge,
        &one_inference(
            [1, 2, 3, 1_000_000_000_000],
            "payloads/1.json",
            "payloads/2.json",
        ),
        &[("1.json", REQUEST), ("2.json", RESPONSE)],
    );
    let err = reduce(&huge).expect_err("refused");
    assert!(
        err.contains("trace.jsonl:4") && err.contains("over the limit"),
        "{err}"
    );
}

/// Point 7: two payload files with the same bytes stay two raw payloads;
/// each event cites its own.
#[test]
fn identical_payload_files_stay_separate_raw_payloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("same");
    let mut lines = one_inference([1, 2, 3, 4], "payloads/1.json", "payloads/2.json");
    lines.push(line(5, serde_json::json!({"type": "inference_started", "inference_call_id": "inference-2", "thread_id": "thread-root", "codex_turn_id": "turn-1", "model": "m", "provider_name": "p", "request_payload": file_ref(3, "inference_request", "payloads/3.json")})));
    write_bundle(
        &bundle,
        &lines,
        &[
            ("1.json", REQUEST),
            ("2.json", RESPONSE),
            ("3.json", REQUEST),
        ],
    );
    let state = reduce(&bundle).expect("reduces");
    let raw = state["raw_payloads"].as_object().expect("raw payloads");
    assert_eq!(raw.len(), 3);
    assert_eq!(raw["raw_payload:3"]["path"], "payloads/3.json");
    assert_eq!(
        raw["raw_payload:1"]["blake3"],
        raw["raw_payload:3"]["blake3"]
    );
    let calls = &state["inference_calls"];
    assert_eq!(
        calls["inference-1"]["raw_request_payload_id"],
        "raw_payload:1"
    );
    assert_eq!(
        calls["inference-2"]["raw_request_payload_id"],
        "raw_payload:3"
    );
}

/// Point 3: the partial response of a failed call enters the conversation.
#[test]
fn a_failed_inference_keeps_its_partial_response_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("failed");
    let mut lines = one_inference([1, 2, 3, 4], "payloads/1.json", "payloads/2.json");
    lines.pop();
    lines.push(line(4, serde_json::json!({"type": "inference_failed", "inference_call_id": "inference-1", "upstream_request_id": null, "error": "stream closed", "partial_response_payload": file_ref(2, "inference_response", "payloads/2.json")})));
    write_bundle(
        &bundle,
        &lines,
        &[("1.json", REQUEST), ("2.json", RESPONSE)],
    );
    let state = reduce(&bundle).expect("reduces");
    let call = &state["inference_calls"]["inference-1"];
    assert_eq!(call["execution"]["status"], "failed");
    assert_eq!(
        call["response_item_ids"],
        serde_json::json!(["conversation_item:2"])
    );
    let item = &state["conversation_items"]["conversation_item:2"];
    assert_eq!(item["body"]["parts"][0]["text"], "passed");
    assert_eq!(
        state["threads"]["thread-root"]["conversation_item_ids"],
        serde_json::json!(["conversation_item:1", "conversation_item:2"])
    );
}

/// Point 5: a call id whose JSON arguments differ only past the 240-byte
/// summary (a host rewrote an old call in a later request) reduces, with a
/// diagnostic naming the better identity's finding, instead of failing whole.
#[test]
fn a_call_reused_with_json_that_differs_past_the_summary_is_a_diagnostic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("rewritten");
    let call = |tail: &str| {
        let arguments = serde_json::json!({"cmd": "x".repeat(300), "tail": tail}).to_string();
        serde_json::json!({"type": "function_call", "call_id": "call-1", "name": "shell", "arguments": arguments})
    };
    let user = serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]});
    let output =
        serde_json::json!({"type": "function_call_output", "call_id": "call-1", "output": "ok"});
    let first = serde_json::json!({"input": [user, call("a"), output]}).to_string();
    let second = serde_json::json!({"input": [user, call("b"), output]}).to_string();
    let mut lines = one_inference([1, 2, 3, 4], "payloads/1.json", "payloads/2.json");
    lines.push(line(5, serde_json::json!({"type": "inference_started", "inference_call_id": "inference-2", "thread_id": "thread-root", "codex_turn_id": "turn-1", "model": "m", "provider_name": "p", "request_payload": file_ref(3, "inference_request", "payloads/3.json")})));
    write_bundle(
        &bundle,
        &lines,
        &[
            ("1.json", &first),
            ("2.json", RESPONSE),
            ("3.json", &second),
        ],
    );
    let state = reduce(&bundle).expect("reduces despite the rewrite");
    let found: Vec<&Value> = state["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["code"] == "call_id_reused_with_different_json")
        .collect();
    assert_eq!(found.len(), 1, "{:?}", state["diagnostics"]);
    assert_eq!(found[0]["seq"], 5);
    assert!(
        found[0]["message"]
            .as_str()
            .expect("text")
            .contains("call-1")
    );

    // A difference inside the summary is still the reference's error.
    let early = serde_json::json!({"input": [user, {"type": "function_call", "call_id": "call-1", "name": "shell", "arguments": "{\"cmd\":\"other\"}"}, output]}).to_string();
    std::fs::write(bundle.join("payloads/3.json"), early).expect("rewrite");
    let err = reduce(&bundle).expect_err("differs within the summary");
    assert!(
        err.contains("call-1 was reused with different content"),
        "{err}"
    );
}

/// Point 8: a spawned thread's task name falls back to the last segment of
/// its agent path and its role to `""` (strings, as the reference has them),
/// and a root thread takes its agent path from its metadata.
#[test]
fn spawned_threads_name_their_task_and_role_as_the_reference_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("spawn");
    let lines = vec![
        line(
            1,
            serde_json::json!({"type": "thread_started", "thread_id": "thread-root", "agent_path": "/root", "metadata_payload": file_ref(1, "session_metadata", "payloads/1.json")}),
        ),
        line(
            2,
            serde_json::json!({"type": "thread_started", "thread_id": "thread-child", "agent_path": "/root/x", "metadata_payload": file_ref(2, "session_metadata", "payloads/2.json")}),
        ),
        line(
            3,
            serde_json::json!({"type": "thread_started", "thread_id": "thread-named", "agent_path": "/root/y", "metadata_payload": file_ref(3, "session_metadata", "payloads/3.json")}),
        ),
    ];
    let root = r#"{"agent_path": "/main"}"#;
    let child = r#"{"session_source": {"subagent": {"thread_spawn": {"parent_thread_id": "thread-root", "agent_path": "/main/reviewer"}}}}"#;
    let named = r#"{"task_name": "meta-task", "agent_role": "meta-role", "session_source": {"subagent": {"thread_spawn": {"parent_thread_id": "thread-root", "agent_path": "/main/w", "task_name": "spawn-task"}}}}"#;
    write_bundle(
        &bundle,
        &lines,
        &[("1.json", root), ("2.json", child), ("3.json", named)],
    );
    let state = reduce(&bundle).expect("reduces");
    let threads = &state["threads"];
    assert_eq!(threads["thread-root"]["agent_path"], "/main");
    let origin = &threads["thread-child"]["origin"];
    assert_eq!(origin["type"], "spawned");
    assert_eq!(origin["task_name"], "reviewer");
    assert_eq!(origin["agent_role"], "");
    let origin = &threads["thread-named"]["origin"];
    assert_eq!(origin["task_name"], "spawn-task");
    assert_eq!(origin["agent_role"], "meta-role");
}

/// Point 2: a raw payload of a kind the reference does not have is written
/// as a reference kind with the real one beside it, and reads back exactly.
#[test]
fn extension_payload_kinds_are_written_so_a_reference_reader_loads_them() {
    use tracefold::event::{Hash, PayloadKind};
    use tracefold::model::RawPayloadEntry;
    for (kind, name) in [
        (PayloadKind::CodeCellStoredValues, "code_cell_stored_values"),
        (PayloadKind::Other("future_kind".into()), "future_kind"),
    ] {
        let entry = RawPayloadEntry {
            raw_payload_id: "raw_payload:000001".into(),
            kind,
            path: "payloads/1.json".into(),
            blake3: Hash::of(b"x"),
            size_bytes: 1,
        };
        let json = serde_json::to_value(&entry).expect("serialises");
        assert_eq!(
            json["kind"],
            serde_json::json!({"type": "tool_runtime_event"})
        );
        assert_eq!(json["extension_kind"]["type"], name);
        let back: RawPayloadEntry = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, entry);
    }
    // A reference kind has no extension_kind.
    let entry = RawPayloadEntry {
        raw_payload_id: "raw_payload:000001".into(),
        kind: PayloadKind::ToolResult,
        path: "payloads/1.json".into(),
        blake3: Hash::of(b"x"),
        size_bytes: 1,
    };
    let json = serde_json::to_value(&entry).expect("serialises");
    assert!(json.get("extension_kind").is_none(), "{json}");
}

/// Copies a reference bundle into `dir` (a temporary directory: the data is
/// never copied into the repository), letting `edit` change each payload.
fn copy_bundle(name: &str, dir: &Path, edit: impl Fn(&str, Value) -> Value) -> PathBuf {
    let source = reference_tests().join(name);
    let target = dir.join(name);
    std::fs::create_dir_all(target.join("payloads")).expect("mkdir");
    for file in ["manifest.json", "trace.jsonl"] {
        std::fs::copy(source.join(file), target.join(file)).expect("copy");
    }
    for entry in std::fs::read_dir(source.join("payloads")).expect("payloads") {
        let path = entry.expect("entry").path();
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let value: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json payload");
        let edited = serde_json::to_vec(&edit(&file, value)).expect("json");
        std::fs::write(target.join("payloads").join(&file), edited).expect("write");
    }
    target
}

fn reference_state(name: &str) -> Value {
    let text = std::fs::read_to_string(reference_tests().join(name).join("reference-state.json"))
        .expect("read");
    serde_json::from_str(&text).expect("state")
}

/// The reference since June 2026: exec runtime payloads may carry
/// `plugin_id`, `script_path`, `process_id` and `interaction_input`; they
/// change nothing the state holds.
#[test]
fn exec_payloads_with_the_newer_optional_fields_reduce_the_same() {
    const NAME: &str =
        "reducer__tool__terminal__tests__exec_tool_reduces_to_terminal_operation_and_session__38";
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = copy_bundle(NAME, dir.path(), |_, mut value| {
        if let Some(object) = value.as_object_mut()
            && object.contains_key("command")
        {
            object.insert("plugin_id".into(), "plugin-1".into());
            object.insert("script_path".into(), "/repo/run.sh".into());
            object.entry("process_id").or_insert("pty-1".into());
            object.insert("interaction_input".into(), Value::Null);
        }
        value
    });
    let ours = reduce(&bundle).expect("reduces");
    let mut found = Vec::new();
    differences(&reference_state(NAME), &ours, "", &mut found);
    assert!(found.is_empty(), "{found:#?}");
}

/// The reference since June 2026: several compaction request attempts (on
/// different models) under one compaction id, the failed one and the one
/// that succeeded, all listed on the compaction.
#[test]
fn several_compaction_attempts_under_one_compaction_id_are_all_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("attempts");
    let mut lines = one_inference([1, 2, 3, 4], "payloads/1.json", "payloads/2.json");
    let start = |seq, request: &str, model: &str, n| {
        line(
            seq,
            serde_json::json!({"type": "compaction_request_started", "compaction_id": "compaction-1", "compaction_request_id": request, "thread_id": "thread-root", "codex_turn_id": "turn-1", "model": model, "provider_name": "p", "request_payload": file_ref(n, "compaction_request", &format!("payloads/{n}.json"))}),
        )
    };
    lines.push(start(5, "attempt-1", "model-a", 3));
    lines.push(line(6, serde_json::json!({"type": "compaction_request_failed", "compaction_id": "compaction-1", "compaction_request_id": "attempt-1", "error": "context too long"})));
    lines.push(start(7, "attempt-2", "model-b", 4));
    lines.push(line(8, serde_json::json!({"type": "compaction_request_completed", "compaction_id": "compaction-1", "compaction_request_id": "attempt-2", "response_payload": file_ref(5, "compaction_response", "payloads/5.json")})));
    let mut installed = line(
        9,
        serde_json::json!({"type": "compaction_installed", "compaction_id": "compaction-1", "checkpoint_payload": file_ref(6, "compaction_checkpoint", "payloads/6.json")}),
    );
    installed["thread_id"] = "thread-root".into();
    installed["codex_turn_id"] = "turn-1".into();
    lines.push(installed);
    let summary = r#"{"output_items":[{"type":"compaction","encrypted_content":"abc"}]}"#;
    let checkpoint = r#"{"input_history":[{"type":"message","role":"user","content":[{"type":"input_text","text":"run tests"}]}],"replacement_history":[{"type":"compaction","encrypted_content":"abc"}]}"#;
    write_bundle(
        &bundle,
        &lines,
        &[
            ("1.json", REQUEST),
            ("2.json", RESPONSE),
            ("3.json", REQUEST),
            ("4.json", REQUEST),
            ("5.json", summary),
            ("6.json", checkpoint),
        ],
    );
    let state = reduce(&bundle).expect("reduces");
    let requests = &state["compaction_requests"];
    assert_eq!(requests["attempt-1"]["execution"]["status"], "failed");
    assert_eq!(requests["attempt-1"]["model"], "model-a");
    assert_eq!(requests["attempt-2"]["execution"]["status"], "completed");
    assert_eq!(requests["attempt-2"]["model"], "model-b");
    assert_eq!(
        state["compactions"]["compaction-1"]["request_ids"],
        serde_json::json!(["attempt-1", "attempt-2"])
    );
}

/// Point 8: numbers in JSON summaries keep the payload's spelling, as the
/// reference's serde_json with `arbitrary_precision` writes them (exponent
/// marker `e`, an unsigned exponent with `+`): in arguments given as a JSON
/// string, and in a JSON output inside the payload.
#[test]
fn numbers_in_json_summaries_keep_their_spelling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("numbers");
    let request = r#"{"input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
        {"type": "function_call", "call_id": "call-1", "name": "calc",
         "arguments": "{\"ratio\": 1.50, \"big\": 123456789012345678901234567890, \"e\": 1E2, \"n\": -0, \"i\": 7}"},
        {"type": "function_call_output", "call_id": "call-1", "output": {"result": 2.50, "exp": 3e-7, "list": [1.0, 10]}}
    ]}"#;
    write_bundle(
        &bundle,
        &one_inference([1, 2, 3, 4], "payloads/1.json", "payloads/2.json"),
        &[("1.json", request), ("2.json", RESPONSE)],
    );
    let state = reduce(&bundle).expect("reduces");
    let summary = |id: &str| {
        state["conversation_items"][id]["body"]["parts"][0]["summary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: {}", state["conversation_items"]))
            .to_string()
    };
    assert_eq!(
        summary("conversation_item:2"),
        r#"{"ratio":1.50,"big":123456789012345678901234567890,"e":1e+2,"n":-0,"i":7}"#
    );
    assert_eq!(
        summary("conversation_item:3"),
        r#"{"result":2.50,"exp":3e-7,"list":[1.0,10]}"#
    );
}
