//! `tracefold import` of session logs that span several files: a Claude
//! Code session with its sub-agents and a compaction (`../shared/corpus/
//! claude-code`, read in place), the real Codex and Claude Code files of
//! `tests/fixtures/sessions` (paginated Codex sessions, a fork and a revert
//! by `history_base`, sanitised Claude Code transcripts), and a Codex
//! sub-agent written here. Each session tree becomes one rollout whose
//! reduced state matches the files; `export --format source` gives every
//! file back (SHA-256 compared); a second import stores nothing; a line
//! appended to one file of a tree is picked up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{files_under, ok, tracefold};

/// Copies `from` into `to` (recursively), every file last written an
/// hour ago: a finished session, whose last response the import ends.
fn copy_finished(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_finished(&path, &target);
        } else if path.extension().is_some_and(|ext| ext == "jsonl") {
            std::fs::copy(&path, &target).unwrap();
            finished(&target);
        }
    }
}

/// Marks `path` as last written an hour ago.
fn finished(path: &Path) {
    let file = std::fs::File::options().append(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON record"))
        .collect()
}

fn reduced(store: &Path, rollout: &str) -> Value {
    let state: Value = serde_json::from_str(&ok(store, &["reduce", rollout])).expect("state");
    assert_eq!(state["diagnostics"], Value::Array(Vec::new()), "{rollout}");
    state
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// `export --format source` of `rollout` writes exactly `files` (path in
/// the export, path of the original), each with the original's SHA-256.
fn assert_source_export(store: &Path, rollout: &str, out: &Path, files: &[(String, PathBuf)]) {
    let target = out.to_str().unwrap();
    ok(
        store,
        &["export", rollout, "--format", "source", "--out", target],
    );
    let mut written = Vec::new();
    files_under(out, &mut written);
    assert_eq!(written.len(), files.len(), "{rollout}: {written:?}");
    for (name, original) in files {
        assert_eq!(
            sha256(&std::fs::read(out.join(name)).expect("exported file")),
            sha256(&std::fs::read(original).unwrap()),
            "{rollout}: {name}"
        );
    }
}

/// A second import of `dir` stores nothing.
fn assert_reimport_stores_nothing(store: &Path, dir: &Path, files: usize) {
    let events = |store: &Path| {
        serde_json::from_str::<Value>(&ok(store, &["stats", "--json"])).unwrap()["events"].clone()
    };
    let before = events(store);
    let again = tracefold(store, &["import", dir.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{said}");
    assert_eq!(said.matches("nothing imported").count(), files, "{said}");
    assert_eq!(events(store), before);
}

/// What a Claude Code transcript says of itself: prompts (user records
/// that are neither tool results, nor meta, nor a compaction summary),
/// model responses (distinct `message.id`s) and each response's usage as
/// its last record gives it.
#[derive(Debug, Default)]
struct ClaudeCounts {
    turns: usize,
    responses: usize,
    usage: BTreeMap<&'static str, u64>,
    compactions: usize,
    /// Sub-agents named by progress records: agent id to the tool call.
    spawns: BTreeMap<String, String>,
}

fn claude_counts(files: &[PathBuf]) -> ClaudeCounts {
    let mut counts = ClaudeCounts::default();
    for file in files {
        let mut last_usage: BTreeMap<String, Value> = BTreeMap::new();
        let mut boundary = false;
        for record in records(file) {
            let flag = |name: &str| record[name].as_bool() == Some(true);
            match record["type"].as_str() {
                Some("user") => {
                    let content = &record["message"]["content"];
                    let tool_result = content.as_array().is_some_and(|blocks| {
                        blocks.iter().any(|block| block["type"] == "tool_result")
                    });
                    if boundary && flag("isCompactSummary") {
                        counts.compactions += 1;
                    }
                    if !tool_result && !flag("isMeta") && !flag("isCompactSummary") {
                        counts.turns += 1;
                    }
                    boundary = false;
                }
                Some("assistant") => {
                    let id = record["message"]["id"].as_str().unwrap().to_string();
                    last_usage.insert(id, record["message"]["usage"].clone());
                }
                Some("system") => boundary = record["subtype"] == "compact_boundary",
                Some("progress") if record["data"]["type"] == "agent_progress" => {
                    counts.spawns.insert(
                        record["data"]["agentId"].as_str().unwrap().to_string(),
                        record["parentToolUseID"].as_str().unwrap().to_string(),
                    );
                }
                _ => {}
            }
        }
        counts.responses += last_usage.len();
        for usage in last_usage.values() {
            let field = |name: &str| usage[name].as_u64().unwrap_or(0);
            let read = field("cache_read_input_tokens");
            let written = field("cache_creation_input_tokens");
            for (key, value) in [
                ("input_tokens", field("input_tokens") + read + written),
                ("cached_input_tokens", read),
                ("cache_write_input_tokens", written),
                ("output_tokens", field("output_tokens")),
            ] {
                *counts.usage.entry(key).or_default() += value;
            }
        }
    }
    counts
}

fn usage_totals(state: &Value) -> BTreeMap<&'static str, u64> {
    let mut totals = BTreeMap::new();
    for call in state["inference_calls"].as_object().unwrap().values() {
        for key in [
            "input_tokens",
            "cached_input_tokens",
            "cache_write_input_tokens",
            "output_tokens",
        ] {
            *totals.entry(key).or_default() += call["usage"][key].as_u64().unwrap_or(0);
        }
    }
    totals
}

#[test]
fn a_claude_code_session_with_sub_agents_is_one_rollout_of_its_thread_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let input = dir.path().join("projects");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/claude-code");
    copy_finished(&corpus, &input);
    let session = "4d5611e5-241a-462a-8d15-5122611a9569";
    let mut files = Vec::new();
    files_under(&input, &mut files);
    files.sort();
    assert_eq!(
        files.len(),
        3,
        "the session and its two sub-agents: {files:?}"
    );
    ok(&store, &["import", input.to_str().unwrap()]);
    let listed = ok(&store, &["rollouts"]);
    assert_eq!(listed.lines().count(), 2, "one rollout: {listed}");

    let state = reduced(&store, session);
    let expected = claude_counts(&files);
    let threads = state["threads"].as_object().unwrap();
    assert_eq!(threads.len(), 3);
    assert_eq!(threads[session]["origin"]["type"], "root");
    for (id, thread) in threads.iter().filter(|(id, _)| *id != session) {
        assert_eq!(thread["origin"]["type"], "spawned", "{id}");
        assert_eq!(thread["origin"]["parent_thread_id"], session, "{id}");
        assert_eq!(thread["agent_path"], format!("/root/{id}"));
    }
    // The Task call that spawned the explorer links to its thread.
    assert_eq!(expected.spawns.len(), 1);
    let (agent, tool) = expected.spawns.iter().next().unwrap();
    let edges: Vec<&Value> = state["interaction_edges"]
        .as_object()
        .unwrap()
        .values()
        .collect();
    assert!(
        edges.iter().any(|edge| edge["kind"] == "spawn_agent"
            && edge["source"]["tool_call_id"] == tool.as_str()
            && edge["target"]["thread_id"] == agent.as_str()),
        "{edges:?}"
    );
    assert_eq!(
        state["codex_turns"].as_object().unwrap().len(),
        expected.turns
    );
    let calls = state["inference_calls"].as_object().unwrap();
    assert_eq!(calls.len(), expected.responses);
    assert!(
        calls
            .values()
            .all(|call| call["execution"]["status"] == "completed"),
        "every response of a finished session ends"
    );
    assert_eq!(usage_totals(&state), expected.usage);
    assert_eq!(expected.compactions, 1);
    assert_eq!(state["compactions"].as_object().unwrap().len(), 1);

    let named: Vec<(String, PathBuf)> = files
        .iter()
        .map(|file| {
            let name = file.strip_prefix(&input).unwrap();
            (name.to_string_lossy().into_owned(), file.clone())
        })
        .collect();
    assert_source_export(&store, session, &dir.path().join("out"), &named);
    assert_reimport_stores_nothing(&store, &input, 3);

    // The sub-agent is asked again: its file grows by a prompt and an
    // answer; only they are imported, into its thread.
    let agent_file = files
        .iter()
        .find(|file| file.to_string_lossy().contains(&format!("agent-{agent}")))
        .unwrap();
    let mut grown = std::fs::read(agent_file).unwrap();
    grown.extend_from_slice(
        concat!(
            r#"{"type":"user","isSidechain":true,"uuid":"u-more","timestamp":"2026-02-13T09:00:00.000Z","message":{"role":"user","content":"And the tests?"}}"#,
            "\n",
            r#"{"type":"assistant","isSidechain":true,"uuid":"a-more","timestamp":"2026-02-13T09:00:05.000Z","message":{"id":"msg_more","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Two test files."}],"usage":{"input_tokens":7,"output_tokens":4}}}"#,
            "\n"
        )
        .as_bytes(),
    );
    std::fs::write(agent_file, &grown).unwrap();
    finished(agent_file);
    let said =
        String::from_utf8_lossy(&tracefold(&store, &["import", input.to_str().unwrap()]).stderr)
            .into_owned();
    assert!(said.contains("appended"), "{said}");
    let after = reduced(&store, session);
    assert_eq!(
        after["codex_turns"].as_object().unwrap().len(),
        expected.turns + 1
    );
    let calls = after["inference_calls"].as_object().unwrap();
    assert_eq!(calls.len(), expected.responses + 1);
    let last = calls
        .values()
        .find(|call| call["response_id"] == "msg_more")
        .expect("the new response");
    assert_eq!(last["thread_id"], agent.as_str());
    assert_eq!(last["usage"]["output_tokens"], 4);
    assert_source_export(&store, session, &dir.path().join("out-grown"), &named);
}

/// The real files of `tests/fixtures/sessions`: each session a rollout; a
/// fork and a revert start from the history their `history_base` cuts.
#[test]
fn real_codex_and_claude_code_files_import_with_forks_and_reverts_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let input = dir.path().join("sessions");
    copy_finished(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions"),
        &input,
    );
    let mut files = Vec::new();
    files_under(&input, &mut files);
    files.sort();
    assert_eq!(files.len(), 11);
    ok(&store, &["import", input.to_str().unwrap()]);
    let rollouts: Vec<Value> = serde_json::from_str(&ok(&store, &["rollouts", "--json"])).unwrap();
    // Every file is a session of its own but the revert, which continues
    // its thread's rollout.
    assert_eq!(rollouts.len(), 10);
    for rollout in &rollouts {
        let id = rollout["rollout_id"].as_str().unwrap();
        let state = reduced(&store, id);
        assert_eq!(state["threads"].as_object().unwrap().len(), 1, "{id}");
    }

    let codex = input.join("agent-relay/codex");
    let path = |name: &str| {
        std::fs::read_dir(&codex)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| path.file_name().unwrap().to_string_lossy().contains(name))
            .unwrap()
    };
    // The fork: its first request holds the parent's items before the cut
    // (ordinal 36), then its own.
    let fork = path("01a118e9");
    let parent = path("09-22-14");
    let first_request = |state: &Value| {
        let calls = state["inference_calls"].as_object().unwrap();
        let first = calls
            .values()
            .min_by_key(|call| call["execution"]["started_seq"].as_u64())
            .unwrap();
        first["request_item_ids"].as_array().unwrap().len()
    };
    let own_before_first_answer = |file: &Path| {
        records(file)
            .iter()
            .skip(1)
            .filter(|record| record["type"] == "response_item")
            .take_while(|record| {
                let item = &record["payload"];
                !(item["type"] == "reasoning" || item["role"] == "assistant")
            })
            .count()
    };
    let inherited = |file: &Path, cut: u64| {
        records(file)
            .iter()
            .filter(|record| {
                record["type"] == "response_item" && record["ordinal"].as_u64() < Some(cut)
            })
            .count()
    };
    let forked = reduced(&store, "01a118e9-1aa8-7491-bc3d-f5bfadbddeb7");
    assert_eq!(
        first_request(&forked),
        inherited(&parent, 36) + own_before_first_answer(&fork)
    );
    // The revert: one thread, the turns of both files, and its first
    // request cut at ordinal 53 of the first file.
    let thread = "01a118e3-a882-7d10-9675-afffb81169d9";
    let base = path("09-22-15");
    let revert = path("_01a118e7");
    let reverted = reduced(&store, thread);
    let started = |file: &Path| {
        records(file)
            .iter()
            .filter(|record| record["payload"]["type"] == "task_started")
            .count()
    };
    assert_eq!(
        reverted["codex_turns"].as_object().unwrap().len(),
        started(&base) + started(&revert)
    );
    let revert_calls: Vec<&Value> = reverted["inference_calls"]
        .as_object()
        .unwrap()
        .values()
        .filter(|call| {
            call["inference_call_id"]
                .as_str()
                .unwrap()
                .contains("_01a118e7")
        })
        .collect();
    assert!(!revert_calls.is_empty());
    let first_revert = revert_calls
        .iter()
        .min_by_key(|call| call["execution"]["started_seq"].as_u64())
        .unwrap();
    assert_eq!(
        first_revert["request_item_ids"].as_array().unwrap().len(),
        inherited(&base, 53) + own_before_first_answer(&revert)
    );
    let name = |file: &Path| file.file_name().unwrap().to_string_lossy().into_owned();
    assert_source_export(
        &store,
        thread,
        &dir.path().join("out"),
        &[(name(&base), base.clone()), (name(&revert), revert.clone())],
    );
    assert_reimport_stores_nothing(&store, &input, files.len());
}

const PARENT: &str = "019a0000-0000-7000-8000-00000000000a";
const CHILD: &str = "019a0000-0000-7000-8000-00000000000b";

/// A Codex parent session that spawns a sub-agent, and the sub-agent's
/// session, in the legacy shape.
fn write_codex_family(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let usage = |input: u64, output: u64| {
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:0{input}.000Z","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":null,"last_token_usage":{{"input_tokens":{input},"cached_input_tokens":0,"output_tokens":{output},"reasoning_output_tokens":0,"total_tokens":{}}}}}}}}}"#,
            input + output
        )
    };
    let parent = [
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:00.000Z","type":"session_meta","payload":{{"id":"{PARENT}","timestamp":"2026-01-01T00:00:00.000Z","cwd":"/w","originator":"codex_cli_rs","cli_version":"0.150.0","source":"cli","model_provider":"openai"}}}}"#
        ),
        r#"{"timestamp":"2026-01-01T00:00:01.000Z","type":"event_msg","payload":{"type":"task_started","turn_id":"turn-p1"}}"#.to_string(),
        r#"{"timestamp":"2026-01-01T00:00:01.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"count the files"}]}}"#.to_string(),
        r#"{"timestamp":"2026-01-01T00:00:02.000Z","type":"response_item","payload":{"type":"function_call","name":"spawn_agent","arguments":"{\"message\":\"count\"}","call_id":"call-spawn"}}"#.to_string(),
        usage(2, 3),
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:03.000Z","type":"event_msg","payload":{{"type":"collab_agent_spawn_end","call_id":"call-spawn","sender_thread_id":"{PARENT}","new_thread_id":"{CHILD}","prompt":"count","status":"running"}}}}"#
        ),
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:03.000Z","type":"response_item","payload":{{"type":"function_call_output","call_id":"call-spawn","output":"{{\"agent_id\":\"{CHILD}\"}}"}}}}"#
        ),
        r#"{"timestamp":"2026-01-01T00:00:04.000Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"spawned"}]}}"#.to_string(),
        usage(4, 1),
        r#"{"timestamp":"2026-01-01T00:00:05.000Z","type":"event_msg","payload":{"type":"task_complete","turn_id":"turn-p1","last_agent_message":"spawned"}}"#.to_string(),
    ];
    let child = [
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:03.000Z","type":"session_meta","payload":{{"id":"{CHILD}","session_id":"{PARENT}","parent_thread_id":"{PARENT}","timestamp":"2026-01-01T00:00:03.000Z","cwd":"/w","originator":"codex_cli_rs","cli_version":"0.150.0","source":{{"subagent":{{"thread_spawn":{{"parent_thread_id":"{PARENT}","depth":1,"agent_path":"/root/counter","agent_nickname":"Kepler","agent_role":"worker"}}}}}},"thread_source":"subagent","model_provider":"openai"}}}}"#
        ),
        r#"{"timestamp":"2026-01-01T00:00:03.000Z","type":"event_msg","payload":{"type":"task_started","turn_id":"turn-c1"}}"#.to_string(),
        r#"{"timestamp":"2026-01-01T00:00:03.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"count"}]}}"#.to_string(),
        r#"{"timestamp":"2026-01-01T00:00:04.000Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"12 files"}]}}"#.to_string(),
        usage(6, 2),
        r#"{"timestamp":"2026-01-01T00:00:05.000Z","type":"event_msg","payload":{"type":"task_complete","turn_id":"turn-c1","last_agent_message":"12 files"}}"#.to_string(),
    ];
    // The child's file sorts first: the import still takes the parent first.
    let parent_path = dir.join(format!("rollout-2026-01-01T00-00-09-{PARENT}.jsonl"));
    let child_path = dir.join(format!("rollout-2026-01-01T00-00-03-{CHILD}.jsonl"));
    std::fs::write(&parent_path, parent.join("\n") + "\n").unwrap();
    std::fs::write(&child_path, child.join("\n") + "\n").unwrap();
    finished(&parent_path);
    finished(&child_path);
    (parent_path, child_path)
}

#[test]
fn a_codex_sub_agent_session_is_a_thread_of_its_parents_rollout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let input = dir.path().join("sessions");
    let (parent, child) = write_codex_family(&input);
    ok(&store, &["import", input.to_str().unwrap()]);
    let rollouts: Vec<Value> = serde_json::from_str(&ok(&store, &["rollouts", "--json"])).unwrap();
    assert_eq!(rollouts.len(), 1, "{rollouts:?}");
    let state = reduced(&store, PARENT);
    let threads = state["threads"].as_object().unwrap();
    assert_eq!(threads.len(), 2);
    let sub = &threads[CHILD];
    assert_eq!(sub["agent_path"], "/root/counter");
    assert_eq!(sub["origin"]["type"], "spawned");
    assert_eq!(sub["origin"]["parent_thread_id"], PARENT);
    assert_eq!(sub["origin"]["agent_role"], "worker");
    let edge = &state["interaction_edges"][format!("edge:spawn:{PARENT}:{CHILD}")];
    assert_eq!(edge["source"]["tool_call_id"], "call-spawn", "{edge}");
    assert_eq!(edge["target"]["thread_id"], CHILD, "{edge}");
    assert_eq!(state["codex_turns"].as_object().unwrap().len(), 2);
    let totals = usage_totals(&state);
    assert_eq!(totals["input_tokens"], 2 + 4 + 6);
    assert_eq!(totals["output_tokens"], 3 + 1 + 2);
    let name = |file: &Path| file.file_name().unwrap().to_string_lossy().into_owned();
    assert_source_export(
        &store,
        PARENT,
        &dir.path().join("out"),
        &[
            (name(&parent), parent.clone()),
            (name(&child), child.clone()),
        ],
    );
    assert_reimport_stores_nothing(&store, &input, 2);

    // On its own (its parent never imported), a sub-agent's session is a
    // rollout of its own.
    let alone = dir.path().join("alone");
    ok(&alone, &["import", child.to_str().unwrap()]);
    let state = reduced(&alone, CHILD);
    assert_eq!(state["threads"][CHILD]["origin"]["type"], "root");
}

/// The acceptance in one run: a directory holding Codex sessions of both
/// shapes (one compressed), a fork by `history_base`, a sub-agent, and a
/// Claude Code session with its sub-agents and a compaction imports with
/// exit 0, each session tree one rollout that reduces without a
/// diagnostic, and gives every file back.
#[test]
fn one_directory_of_every_shape_imports_and_exports_every_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let input = dir.path().join("home");
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    copy_finished(
        &shared.join("claude-code"),
        &input.join("claude/projects/p"),
    );
    copy_finished(&shared.join("codex-sessions"), &input.join("codex/legacy"));
    copy_finished(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/agent-relay/codex"),
        &input.join("codex/paginated"),
    );
    write_codex_family(&input.join("codex/family"));
    // One legacy session as Codex compresses a cold one.
    let legacy = input.join("codex/legacy");
    let plain = std::fs::read_dir(&legacy)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .min()
        .unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    let compressed = PathBuf::from(format!("{}.zst", plain.display()));
    std::fs::write(&compressed, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
    std::fs::remove_file(&plain).unwrap();
    finished(&compressed);

    let out = tracefold(&store, &["import", input.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let rollouts: Vec<Value> = serde_json::from_str(&ok(&store, &["rollouts", "--json"])).unwrap();
    // Six legacy sessions, three paginated ones (the revert continues its
    // thread), the family and the Claude Code session.
    assert_eq!(rollouts.len(), 6 + 3 + 1 + 1, "{rollouts:?}");
    let mut exported = 0;
    for (at, rollout) in rollouts.iter().enumerate() {
        let id = rollout["rollout_id"].as_str().unwrap();
        let state = reduced(&store, id);
        assert!(
            !state["inference_calls"].as_object().unwrap().is_empty(),
            "{id}"
        );
        let out = dir.path().join(format!("out-{at}"));
        ok(
            &store,
            &[
                "export",
                id,
                "--format",
                "source",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let mut written = Vec::new();
        files_under(&out, &mut written);
        for file in written {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let mut originals = Vec::new();
            files_under(&input, &mut originals);
            let original = originals
                .iter()
                .find(|path| {
                    path.file_name().unwrap().to_string_lossy() == name
                        || path.file_name().unwrap().to_string_lossy() == format!("{name}.zst")
                })
                .unwrap_or_else(|| panic!("{name}: no such input"));
            let expected = if original.extension().is_some_and(|ext| ext == "zst") {
                zstd::decode_all(&std::fs::read(original).unwrap()[..]).unwrap()
            } else {
                std::fs::read(original).unwrap()
            };
            assert_eq!(
                sha256(&std::fs::read(&file).unwrap()),
                sha256(&expected),
                "{name}"
            );
            exported += 1;
        }
    }
    let mut inputs = Vec::new();
    files_under(&input, &mut inputs);
    assert_eq!(exported, inputs.len(), "every file back");
}

/// The headline benchmark's generated sessions, small: legacy forks that
/// copy their parent's history, sub-agents spawned by `spawn_agent`,
/// compactions re-persisting screenshots. Every session tree imports and
/// reduces without a diagnostic, with its sub-agents under their parent,
/// and every file comes back.
#[test]
fn generated_codex_sessions_with_forks_and_sub_agents_import_and_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let generated = dir.path().join("gen");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-codex-sessions");
    let run = std::process::Command::new("python3")
        .arg(&script)
        .arg(&generated)
        .args(["--bytes", "3e7", "--seed", "7"])
        .output()
        .expect("python3 runs the generator (CI has Python 3.11)");
    assert!(run.status.success(), "{run:?}");
    let sessions = generated.join("sessions");
    let mut files = Vec::new();
    files_under(&sessions, &mut files);
    let mut sub_agents = 0;
    for file in &files {
        finished(file);
        let first = &records(file)[0];
        sub_agents += usize::from(first["payload"]["source"]["subagent"].is_object());
    }
    assert!(sub_agents > 0, "the sample has sub-agents: {run:?}");
    ok(&store, &["import", sessions.to_str().unwrap()]);
    let rollouts: Vec<Value> = serde_json::from_str(&ok(&store, &["rollouts", "--json"])).unwrap();
    assert_eq!(rollouts.len(), files.len() - sub_agents);
    let mut threads = 0;
    for (at, rollout) in rollouts.iter().enumerate() {
        let id = rollout["rollout_id"].as_str().unwrap();
        let state = reduced(&store, id);
        for thread in state["threads"].as_object().unwrap().values() {
            threads += 1;
            if thread["thread_id"] != id {
                assert_eq!(thread["origin"]["parent_thread_id"], id);
            }
        }
        let out = dir.path().join(format!("out-{at}"));
        let target = out.to_str().unwrap();
        ok(
            &store,
            &["export", id, "--format", "source", "--out", target],
        );
        let mut written = Vec::new();
        files_under(&out, &mut written);
        for file in written {
            let name = file.file_name().unwrap();
            let original = files
                .iter()
                .find(|path| path.file_name() == Some(name))
                .unwrap();
            assert_eq!(
                sha256(&std::fs::read(&file).unwrap()),
                sha256(&std::fs::read(original).unwrap())
            );
        }
    }
    assert_eq!(threads, files.len());
    assert_reimport_stores_nothing(&store, &sessions, files.len());
}

/// A damaged line in the middle of a session (cut JSON, bytes that are not
/// UTF-8) does not cost the session: it is kept as its source line, named
/// in a warning, and the lines around it convert; the file comes back byte
/// for byte.
#[test]
fn a_damaged_line_is_kept_and_named_and_the_session_still_imports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let input = dir.path().join("sessions");
    let (parent, child) = write_codex_family(&input);
    let text = std::fs::read(&parent).unwrap();
    let lines: Vec<&[u8]> = text.split_inclusive(|byte| *byte == b'\n').collect();
    let mut damaged = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        damaged.extend_from_slice(line);
        if at == 2 {
            damaged.extend_from_slice(
                b"{\"timestamp\":\"2026-01-01T00:00:01.500Z\",\"type\":\"resp\n",
            );
            damaged.extend_from_slice(b"\xff\xfe not text\n");
        }
    }
    std::fs::write(&parent, &damaged).unwrap();
    finished(&parent);
    let out = tracefold(&store, &["import", input.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let name = parent.file_name().unwrap().to_string_lossy().into_owned();
    for (line, why) in [(4, "not a JSON record"), (5, "not UTF-8")] {
        assert!(
            said.lines().any(|said| said.starts_with("warning: ")
                && said.contains(&format!("{name} line {line}: {why}"))
                && said.contains("kept as its source line only")),
            "{said}"
        );
    }
    let state = reduced(&store, PARENT);
    assert_eq!(state["threads"].as_object().unwrap().len(), 2);
    assert_eq!(state["tool_calls"].as_object().unwrap().len(), 1);
    assert_source_export(
        &store,
        PARENT,
        &dir.path().join("out"),
        &[
            (name.clone(), parent.clone()),
            (
                child.file_name().unwrap().to_string_lossy().into_owned(),
                child.clone(),
            ),
        ],
    );
    assert_reimport_stores_nothing(&store, &input, 2);
}
