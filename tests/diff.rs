//! Replay-equivalence end to end: `tracefold diff` against exports and
//! re-imports, two recordings of the same scripted host, single changes
//! reported as the first divergence at the right place, the replay source,
//! and property tests for the export round trip and the diff's verdict.
//! `PROPTEST_CASES` raises the case count.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};
use tracefold::demo::{DemoConfig, run};
use tracefold::event::PayloadRef;
use tracefold::model::{ConversationPart, RolloutTrace};
use tracefold::{
    DiffPolicy, PayloadSource, Recorder, RecorderConfig, ReplaySource, Store, StoreOptions,
    assert_replay_equivalent, check_replay_equivalent, diff, diff_with_payloads, reduce_stored,
};

use crate::support::{line, ok, root_start_lines, tracefold};

fn small_demo() -> DemoConfig {
    DemoConfig {
        turns: 6,
        agents: 1,
        seed: 11,
        compaction_threshold_bytes: 8 * 1024,
    }
}

/// Opens the store at `dir`, waiting for a writer thread that is still
/// letting go of it.
fn open_store(dir: &Path) -> Store {
    let mut tries = 0;
    loop {
        match Store::open(dir, StoreOptions::default()) {
            Ok(store) => return store,
            Err(err) if tries < 100 => {
                tries += 1;
                let _ = err;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(err) => panic!("open store: {err}"),
        }
    }
}

/// Records one demo run into the store at `dir`, which is free again (for
/// the CLI) on return.
fn record_demo(dir: &Path, config: DemoConfig) -> String {
    let rollout = {
        let store = open_store(dir);
        let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
        let report = run(&recorder, config);
        recorder.shutdown().expect("shutdown");
        report.rollout_id
    };
    drop(open_store(dir));
    rollout
}

/// `diff A B --json`: exit code and report.
fn diff_cli(store: &Path, a: &str, b: &str) -> (i32, Value) {
    let out = tracefold(store, &["diff", a, b, "--json"]);
    let code = out.status.code().expect("exit code");
    assert!(
        code == 0 || code == 1,
        "diff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).expect("report json");
    (code, report)
}

/// Re-ingests rollout `rollout` as `new_id` after applying `edit` to every
/// event (as a wire-format JSON value with inline payloads).
fn reingest(store: &Path, rollout: &str, new_id: &str, mut edit: impl FnMut(&mut Value)) {
    let text = ok(store, &["events", rollout, "--inline-payloads"]);
    let mut lines = Vec::new();
    for raw in text.lines() {
        let mut event: Value = serde_json::from_str(raw).expect("event json");
        event["rollout_id"] = json!(new_id);
        edit(&mut event);
        lines.push(event.to_string());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("edited.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let printed = ok(
        store,
        &["ingest", file.to_str().expect("utf-8"), "--no-redact"],
    );
    assert_eq!(printed.trim(), new_id);
}

fn payload_type(event: &Value) -> &str {
    event["payload"]["type"].as_str().unwrap_or("")
}

/// Applies `f` to the first string under key `key` inside `value`.
fn edit_first_string(value: &mut Value, key: &str, f: &dyn Fn(&str) -> String) -> bool {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(s)) = map.get(key) {
                let new = f(s);
                map.insert(key.to_string(), Value::String(new));
                return true;
            }
            map.values_mut().any(|v| edit_first_string(v, key, f))
        }
        Value::Array(items) => items.iter_mut().any(|v| edit_first_string(v, key, f)),
        _ => false,
    }
}

#[test]
fn a_rollout_is_equivalent_to_its_own_bundle_export_and_reimport() {
    let store = tempfile::tempdir().expect("tempdir");
    let rollout = record_demo(store.path(), small_demo());
    let out = tempfile::tempdir().expect("tempdir");
    let bundle = out.path().join("bundle");
    let bundle = bundle.to_str().expect("utf-8");
    // With its extensions: by default a codex bundle leaves out what the
    // reference cannot read, such as the code cells' stored values
    // (tests/export.rs), and is then not the same rollout.
    ok(
        store.path(),
        &[
            "export",
            &rollout,
            "--format",
            "codex-bundle",
            "--out",
            bundle,
            "--with-extensions",
        ],
    );
    ok(
        store.path(),
        &["import-codex", bundle, "--rollout-id", "copy"],
    );
    let (code, report) = diff_cli(store.path(), &rollout, "copy");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["equivalent"], json!(true));
    // The bundle directory itself, and a state JSON export, in any mix.
    let (code, report) = diff_cli(store.path(), bundle, &rollout);
    assert_eq!(code, 0, "{report}");
    let state = out.path().join("state.json");
    let state = state.to_str().expect("utf-8");
    ok(
        store.path(),
        &["export", &rollout, "--format", "state", "--out", state],
    );
    let (code, report) = diff_cli(store.path(), state, "copy");
    assert_eq!(code, 0, "{report}");
    let human = ok(store.path(), &["diff", &rollout, "copy"]);
    assert_eq!(human.trim(), "equivalent");

    // reduce-bundle of the export equals reduce of the original.
    let reduced = out.path().join("reduced.json");
    ok(
        store.path(),
        &[
            "reduce-bundle",
            bundle,
            "-o",
            reduced.to_str().expect("utf-8"),
        ],
    );
    let from_bundle = std::fs::read_to_string(&reduced).expect("read");
    let from_store = ok(store.path(), &["reduce", &rollout]);
    pretty_assertions::assert_eq!(from_bundle.trim_end(), from_store.trim_end());
}

#[test]
fn two_recordings_of_the_same_scripted_host_are_equivalent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = record_demo(dir.path(), small_demo());
    let second = record_demo(dir.path(), small_demo());
    assert_ne!(first, second);
    {
        let store = open_store(dir.path());
        let a = reduce_stored(&store, &first).expect("reduce");
        let b = reduce_stored(&store, &second).expect("reduce");
        assert_ne!(a.root_thread_id, b.root_thread_id);
        let report = diff_with_payloads(&a, Some(&store), &b, Some(&store), &DiffPolicy::default());
        assert!(report.equivalent, "{report}");
        // By hashes alone a state is equivalent to itself...
        assert_replay_equivalent(&a, &a, &DiffPolicy::default());
        // ...but not to the rerun: its payloads carry the new thread ids.
        let hashes_only = check_replay_equivalent(&a, &b, &DiffPolicy::default())
            .expect_err("payload hashes differ");
        assert!(!hashes_only.equivalent);
    }
    let (code, report) = diff_cli(dir.path(), &first, &second);
    assert_eq!(code, 0, "{report}");
    // A different script is not.
    let other = record_demo(
        dir.path(),
        DemoConfig {
            seed: 12,
            ..small_demo()
        },
    );
    let (code, report) = diff_cli(dir.path(), &first, &other);
    assert_eq!(code, 1, "{report}");
}

#[test]
fn a_changed_tool_argument_is_the_first_divergence_at_its_tool_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rollout = record_demo(dir.path(), small_demo());
    let mut done = false;
    reingest(dir.path(), &rollout, "changed", |event| {
        if !done && payload_type(event) == "tool_call_started" {
            let kind = event["payload"]["kind"]["type"].as_str().unwrap_or("");
            if kind == "exec_command" {
                done = edit_first_string(
                    &mut event["payload"]["invocation_payload"],
                    "arguments",
                    &|args| args.replacen("\",", " --verbose\",", 1),
                );
            }
        }
    });
    assert!(done);
    let (code, report) = diff_cli(dir.path(), &rollout, "changed");
    assert_eq!(code, 1);
    let first = &report["first"];
    assert_eq!(first["thread_path"], json!("/root"), "{report}");
    assert_eq!(first["turn_index"], json!(1), "{report}");
    assert_eq!(
        first["subject"],
        json!("tool call exec_command"),
        "{report}"
    );
    assert_eq!(first["field"], json!("invocation payload"), "{report}");
    let what = first["what"].as_str().expect("what");
    assert!(what.contains("--verbose"), "{what}");
    let human = tracefold(dir.path(), &["diff", &rollout, "changed"]);
    assert_eq!(human.status.code(), Some(1));
    let text = String::from_utf8(human.stdout).expect("utf-8");
    assert!(
        text.starts_with("thread /root turn 1: tool call exec_command invocation payload differs"),
        "{text}"
    );
    assert!(text.contains("further difference"), "{text}");
}

#[test]
fn a_changed_model_response_is_the_first_divergence_at_its_inference_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rollout = record_demo(dir.path(), small_demo());
    let mut seen = 0;
    reingest(dir.path(), &rollout, "changed", |event| {
        if payload_type(event) == "inference_completed" {
            seen += 1;
            if seen == 2 {
                assert!(edit_first_string(
                    &mut event["payload"]["response_payload"],
                    "text",
                    &|text| format!("{text} (said differently)"),
                ));
            }
        }
    });
    let (code, report) = diff_cli(dir.path(), &rollout, "changed");
    assert_eq!(code, 1);
    let first = &report["first"];
    assert_eq!(first["thread_path"], json!("/root"), "{report}");
    assert_eq!(first["subject"], json!("inference call 2"), "{report}");
    assert_eq!(first["field"], json!("response payload"), "{report}");
    assert!(
        first["what"]
            .as_str()
            .expect("what")
            .contains("said differently"),
        "{report}"
    );
}

#[test]
fn a_differently_spawned_agent_is_the_first_divergence_at_the_spawn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rollout = record_demo(dir.path(), small_demo());
    // The rerun spawns its helper under another name: every later mention
    // of the agent path changes with it.
    reingest(dir.path(), &rollout, "changed", |event| {
        let text = event.to_string().replace("/root/reviewer1", "/root/fixer1");
        *event = serde_json::from_str(&text).expect("json");
    });
    let (code, report) = diff_cli(dir.path(), &rollout, "changed");
    assert_eq!(code, 1);
    let first = &report["first"];
    assert_eq!(first["thread_path"], json!("/root"), "{report}");
    assert_eq!(first["subject"], json!("tool call spawn_agent"), "{report}");
    assert!(
        first["what"].as_str().expect("what").contains("fixer1"),
        "{report}"
    );
    assert!(report["further_differences"].as_u64().expect("count") > 0);
}

#[test]
fn a_changed_compaction_is_the_first_divergence_at_the_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rollout = record_demo(dir.path(), small_demo());
    let mut done = false;
    reingest(dir.path(), &rollout, "changed", |event| {
        if !done && payload_type(event) == "compaction_installed" {
            done = edit_first_string(&mut event["payload"], "encrypted_content", &|text| {
                format!("{text}X")
            });
        }
    });
    assert!(done, "the demo compacts");
    let (code, report) = diff_cli(dir.path(), &rollout, "changed");
    assert_eq!(code, 1);
    let first = &report["first"];
    assert_eq!(first["thread_path"], json!("/root"), "{report}");
    assert_eq!(first["subject"], json!("compaction 1"), "{report}");
    assert_eq!(first["field"], json!("checkpoint payload"), "{report}");
}

/// Every recorded inference request of `trace` as (agent path, request).
fn recorded_requests(trace: &RolloutTrace, payloads: &dyn PayloadSource) -> Vec<(String, Value)> {
    let mut calls: Vec<_> = trace.inference_calls.values().collect();
    calls.sort_by_key(|call| call.execution.started_seq);
    calls
        .into_iter()
        .map(|call| {
            let entry = &trace.raw_payloads[call.raw_request_payload_id.as_str()];
            let bytes = payloads
                .read_payload(&PayloadRef {
                    kind: entry.kind.clone(),
                    hash: entry.blake3,
                    size_bytes: entry.size_bytes,
                })
                .expect("request payload");
            let path = trace.threads[call.thread_id.as_str()].agent_path.clone();
            (path, serde_json::from_slice(&bytes).expect("request json"))
        })
        .collect()
}

fn recorded_response(trace: &RolloutTrace, store: &Store, index: usize) -> Option<Value> {
    let mut calls: Vec<_> = trace.inference_calls.values().collect();
    calls.sort_by_key(|call| call.execution.started_seq);
    let id = calls[index].raw_response_payload_id.as_ref()?;
    let entry = &trace.raw_payloads[id.as_str()];
    Some(
        serde_json::from_slice(&store.read_payload(&entry.blake3).expect("payload")).expect("json"),
    )
}

#[test]
fn the_replay_source_serves_every_recorded_request_its_recorded_response() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rollout = record_demo(dir.path(), small_demo());
    let store = open_store(dir.path());
    let trace = reduce_stored(&store, &rollout).expect("reduce");
    let mut replay = ReplaySource::from_stored(&store, &rollout).expect("replay");
    let requests = recorded_requests(&trace, &store);
    assert!(requests.len() >= 5);
    for (index, (path, request)) in requests.iter().enumerate() {
        let answer = replay.answer(path, request);
        assert_eq!(
            answer,
            recorded_response(&trace, &store, index),
            "call {index}"
        );
    }
    // The one cancelled call has no response: that is reported, not hidden.
    assert!(
        replay
            .misses()
            .iter()
            .all(|miss| miss.reason.contains("no response")),
        "{:?}",
        replay.misses()
    );
    assert!(replay.unused().is_empty());

    // A changed request is a miss, answered by its position in the thread.
    let mut replay = ReplaySource::from_stored(&store, &rollout).expect("replay");
    let (path, mut request) = requests[0].clone();
    request["instructions"] = json!("Be terse.");
    let answer = replay.answer(&path, &request);
    let misses = replay.misses();
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert_eq!(misses[0].thread_path, "/root");
    assert_eq!(misses[0].index, 0);
    assert!(misses[0].reason.contains("answered by order"), "{misses:?}");
    assert_eq!(answer, recorded_response(&trace, &store, 0));
    // A thread the recording never had is a miss without an answer.
    assert_eq!(replay.answer("/root/nobody", &request), None);
    assert_eq!(replay.misses().len(), 2);
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

/// A small random rollout as wire-format lines with inline payloads.
fn random_rollout(rollout: &str, turns: &[(u8, String)]) -> String {
    let mut lines = root_start_lines(rollout);
    let mut seq = 2;
    for (index, (kind, text)) in turns.iter().enumerate() {
        let turn = format!("turn-{index}");
        let mut push = |payload: Value| {
            seq += 1;
            lines.push(line(seq, rollout, Some("root"), Some(&turn), payload));
        };
        push(json!({"type": "codex_turn_started", "codex_turn_id": turn, "thread_id": "root"}));
        push(
            json!({"type": "inference_started", "inference_call_id": format!("inf-{index}"),
            "thread_id": "root", "codex_turn_id": turn, "model": "m", "provider_name": "p",
            "request_payload": {"kind": {"type": "inference_request"}, "inline": {"input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]}}}),
        );
        match kind % 3 {
            0 => push(
                json!({"type": "inference_completed", "inference_call_id": format!("inf-{index}"),
                "response_id": null, "upstream_request_id": null,
                "response_payload": {"kind": {"type": "inference_response"}, "inline": {"output_items": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text.to_uppercase()}]}]}}}),
            ),
            1 => push(
                json!({"type": "inference_completed", "inference_call_id": format!("inf-{index}"),
                "response_id": null, "upstream_request_id": null,
                "response_payload": {"kind": {"type": "inference_response"}, "inline": {"output_items": [{"type": "reasoning", "summary": [{"type": "summary_text", "text": format!("thinking about {text}")}]}]}}}),
            ),
            _ => push(
                json!({"type": "inference_failed", "inference_call_id": format!("inf-{index}"),
                "upstream_request_id": null, "error": format!("boom {text}"), "partial_response_payload": null}),
            ),
        }
        push(json!({"type": "codex_turn_ended", "codex_turn_id": turn, "status": "completed"}));
    }
    lines.join("\n") + "\n"
}

fn strip_rollout_id(events: &str) -> Vec<Value> {
    events
        .lines()
        .map(|raw| {
            let mut event: Value = serde_json::from_str(raw).expect("json");
            event["rollout_id"] = json!("R");
            event
        })
        .collect()
}

/// A demo state reduced once, with its store kept open for payloads.
fn demo_state() -> &'static RolloutTrace {
    static STATE: OnceLock<RolloutTrace> = OnceLock::new();
    STATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let rollout = record_demo(dir.path(), small_demo());
        let store = open_store(dir.path());
        reduce_stored(&store, &rollout).expect("reduce")
    })
}

/// One small change to a reduced state, chosen by `choice` and `at`.
fn mutate(state: &mut RolloutTrace, choice: u8, at: usize) {
    match choice % 6 {
        0 => {
            let n = state.conversation_items.len();
            if let Some(item) = state.conversation_items.get_index_mut(at % n.max(1)) {
                item.body.parts.push(ConversationPart::Text {
                    text: "extra".to_string(),
                });
            }
        }
        1 => {
            let n = state.tool_calls.len();
            state.tool_calls.shift_remove_index(at % n.max(1));
        }
        2 => {
            let n = state.raw_payloads.len();
            if let Some(entry) = state.raw_payloads.get_index_mut(at % n.max(1)) {
                entry.blake3 = tracefold::event::Hash::of(b"something else");
            }
        }
        3 => {
            let n = state.inference_calls.len();
            if let Some((_, call)) = state.inference_calls.get_index_mut(at % n.max(1)) {
                call.provider_name.push('!');
            }
        }
        4 => {
            // Times and seqs only: never a divergence.
            for thread in state.threads.values_mut() {
                thread.execution.started_at_unix_ms += at as i64;
            }
        }
        _ => {
            let n = state.code_cells.len();
            if let Some((_, cell)) = state.code_cells.get_index_mut(at % n.max(1)) {
                cell.source_js.push_str("\n// edited");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/diff.txt"),
        )),
        ..ProptestConfig::default()
    })]

    /// Bundle export then import, and JSONL export then ingest, give back
    /// the same events (modulo the rollout id) and byte-identical payloads.
    #[test]
    fn export_then_import_is_the_identity_on_events_and_payload_bytes(
        turns in proptest::collection::vec((any::<u8>(), "[a-z é🦀]{0,40}"), 0..6)
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("store");
        let file = dir.path().join("in.jsonl");
        std::fs::write(&file, random_rollout("orig", &turns)).expect("write");
        ok(&store, &["ingest", file.to_str().expect("utf-8"), "--no-redact"]);
        let original = ok(&store, &["events", "orig", "--inline-payloads"]);

        let bundle = dir.path().join("bundle");
        let bundle = bundle.to_str().expect("utf-8");
        ok(&store, &["export", "orig", "--format", "codex-bundle", "--out", bundle]);
        ok(&store, &["import-codex", bundle, "--rollout-id", "copy", "--no-redact"]);
        let copied = ok(&store, &["events", "copy", "--inline-payloads"]);
        prop_assert_eq!(strip_rollout_id(&original), strip_rollout_id(&copied));

        let jsonl = dir.path().join("export.jsonl");
        ok(&store, &["export", "orig", "--format", "jsonl", "--out", jsonl.to_str().expect("utf-8")]);
        let other = dir.path().join("other-store");
        ok(&other, &["ingest", jsonl.to_str().expect("utf-8"), "--no-redact"]);
        let again = ok(&other, &["events", "orig", "--inline-payloads"]);
        prop_assert_eq!(&original, &again);
        let (code, _) = diff_cli(&store, "orig", "copy");
        prop_assert_eq!(code, 0);
    }

    /// diff(a, a) is equivalent, and diff(a, b) and diff(b, a) agree on the
    /// verdict, over random small changes.
    #[test]
    fn diff_is_reflexive_and_symmetric_in_its_verdict(
        changes in proptest::collection::vec((any::<u8>(), any::<usize>()), 0..3),
        other_changes in proptest::collection::vec((any::<u8>(), any::<usize>()), 0..2),
    ) {
        let base = demo_state();
        let mut a = base.clone();
        for (choice, at) in &changes {
            mutate(&mut a, *choice, *at);
        }
        let mut b = base.clone();
        for (choice, at) in &other_changes {
            mutate(&mut b, *choice, *at);
        }
        let policy = DiffPolicy::default();
        prop_assert!(diff(&a, &a, &policy).equivalent);
        prop_assert!(diff(&b, &b, &policy).equivalent);
        let ab = diff(&a, &b, &policy);
        let ba = diff(&b, &a, &policy);
        prop_assert_eq!(ab.equivalent, ba.equivalent, "{} / {}", ab, ba);
        if ab.equivalent {
            prop_assert_eq!(ab.further_differences, 0);
        }
    }
}

#[test]
fn diff_of_an_unknown_rollout_or_a_broken_state_file_exits_with_2() {
    // A store that exists, so the unknown rollout is what the error names.
    let (dir, store, _) = crate::support::seeded_store();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{not json").expect("write");
    let stderr = crate::support::fails(&store, &["diff", "nope", "nope-either"]);
    assert!(stderr.contains("nope"), "{stderr}");
    let broken = broken.to_str().expect("utf-8");
    let stderr = crate::support::fails(&store, &["diff", broken, broken]);
    assert!(stderr.contains("broken.json"), "{stderr}");
}

#[test]
fn a_scripted_host_rerun_on_replayed_model_outputs_is_equivalent_to_the_recording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = record_demo(dir.path(), small_demo());
    let store = open_store(dir.path());
    let mut replay = ReplaySource::from_stored(&store, &original).expect("replay");
    // The rerun's model outputs come from the recording, not the script.
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rerun = tracefold::demo::run_replayed(&recorder, small_demo(), &mut replay).rollout_id;
    recorder.shutdown().expect("shutdown");
    // Requests that embed the rerun's new thread ids miss by hash and are
    // answered by their position in the thread; the only unanswered one is
    // the interrupted call, which had no response in the recording either.
    let misses = replay.misses();
    let unanswered: Vec<_> = misses
        .iter()
        .filter(|miss| !miss.reason.contains("answered by order"))
        .collect();
    assert_eq!(unanswered.len(), 1, "{misses:?}");
    assert!(unanswered[0].reason.contains("no response"), "{misses:?}");
    assert!(replay.unused().is_empty(), "{:?}", replay.unused());
    let a = reduce_stored(&store, &original).expect("reduce original");
    let b = reduce_stored(&store, &rerun).expect("reduce rerun");
    let report = diff_with_payloads(&a, Some(&store), &b, Some(&store), &DiffPolicy::default());
    assert!(report.equivalent, "{report}");
}
