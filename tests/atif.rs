//! ATIF trajectories out and in (`export --format atif`, `import` of
//! ATIF-v1.5 to v1.8). The demo rollout's export is validated by two
//! independent implementations of the schema (Harbor's reference models
//! and the `atif` package, in the tests' venv) and checked against the
//! reduced state; Harbor's golden trajectories (`../shared/corpus/atif`)
//! import with their calls, tool calls and tokens; an export imports back
//! and exports again to the same trajectories; malformed files are refused
//! naming the file and the JSON path, with the store unchanged; `diff`,
//! `show` and `view` read an ATIF file directly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{fails, ok, store_fingerprint, tracefold, venv_python};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/atif")
}

fn demo(store: &Path, dir: &Path) -> (String, Value) {
    let state_path = dir.join("demo-state.json");
    let out = ok(
        store,
        &[
            "demo",
            "--seed",
            "7",
            "--out",
            state_path.to_str().expect("utf-8"),
        ],
    );
    let rollout = out.split_whitespace().nth(1).expect("rollout").to_string();
    let state =
        serde_json::from_str(&std::fs::read_to_string(&state_path).expect("state")).expect("JSON");
    (rollout, state)
}

fn export_atif(store: &Path, rollout: &str, out: &Path) -> BTreeMap<String, Value> {
    ok(
        store,
        &[
            "export",
            rollout,
            "--format",
            "atif",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    read_dir(out)
}

/// Every file of `dir` by name, parsed.
fn read_dir(dir: &Path) -> BTreeMap<String, Value> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
            (name, value)
        })
        .collect()
}

/// Runs `tests/python/atif_check.py` on `files`: both validators must
/// accept every file. Returns its summary by path.
fn validate(files: &[PathBuf]) -> Value {
    let output = Command::new(venv_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/atif_check.py"))
        .args(files)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "the ATIF validators reject the export: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("summary")
}

fn reduce(store: &Path, rollout: &str) -> Value {
    serde_json::from_str(&ok(store, &["reduce", rollout])).expect("state")
}

fn tracefold_extra<'a>(value: &'a Value, key: &str) -> &'a Value {
    &value["extra"]["tracefold"][key]
}

#[test]
fn the_demo_rollout_exports_as_atif_that_harbor_and_the_atif_package_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, state) = demo(&store, dir.path());
    let out = dir.path().join("atif");
    let files = export_atif(&store, &rollout, &out);

    let paths: Vec<PathBuf> = files.keys().map(|name| out.join(name)).collect();
    let summary = validate(&paths);
    assert_eq!(summary.as_object().expect("summary").len(), files.len());

    // One file per thread; the root's is trajectory.json.
    let threads = state["threads"].as_object().expect("threads");
    assert_eq!(files.len(), threads.len());
    assert_eq!(
        tracefold_extra(&files["trajectory.json"], "thread_id"),
        &state["root_thread_id"]
    );
    let calls = state["inference_calls"].as_object().expect("calls");
    let mut refs = 0;
    for (name, trajectory) in &files {
        assert_eq!(trajectory["schema_version"], "ATIF-v1.8", "{name}");
        assert_eq!(trajectory["session_id"], rollout);
        let thread = trajectory["trajectory_id"].as_str().expect("trajectory id");
        assert!(threads.contains_key(thread), "{name}");
        let steps = trajectory["steps"].as_array().expect("steps");
        for (position, step) in steps.iter().enumerate() {
            assert_eq!(step["step_id"], json!(position + 1), "{name}");
        }
        assert_eq!(
            trajectory["final_metrics"]["total_steps"],
            json!(steps.len())
        );
        // An agent step per inference call of the thread, with its tokens.
        let thread_calls: Vec<(&String, &Value)> = calls
            .iter()
            .filter(|(_, c)| c["thread_id"] == thread)
            .collect();
        let call_steps: Vec<&Value> = steps
            .iter()
            .filter(|s| tracefold_extra(s, "inference_call_id").is_string())
            .collect();
        assert_eq!(call_steps.len(), thread_calls.len(), "{name}");
        for step in &call_steps {
            assert_eq!(step["source"], "agent");
            let call = &calls[tracefold_extra(step, "inference_call_id")
                .as_str()
                .expect("id")];
            assert_eq!(step["model_name"], call["model"]);
            assert_eq!(
                step["metrics"]["prompt_tokens"],
                call["usage"]["input_tokens"]
            );
            assert_eq!(
                step["metrics"]["completion_tokens"],
                call["usage"]["output_tokens"]
            );
            assert_eq!(
                step["metrics"]["cached_tokens"],
                call["usage"]["cached_input_tokens"]
            );
        }
        let total = |key: &str| -> u64 {
            thread_calls
                .iter()
                .filter_map(|(_, c)| c["usage"][key].as_u64())
                .sum()
        };
        assert_eq!(
            trajectory["final_metrics"]["total_prompt_tokens"],
            json!(total("input_tokens"))
        );
        assert_eq!(
            trajectory["final_metrics"]["total_completion_tokens"],
            json!(total("output_tokens"))
        );
        let checked = &summary[out.join(name).to_str().expect("utf-8")];
        assert_eq!(
            checked["tokens"]["prompt"],
            json!(total("input_tokens")),
            "{name}"
        );
        // Each sub-agent reference names a file of the export holding
        // that thread, whose parent is this thread.
        for reference in checked["refs"].as_array().expect("refs") {
            refs += 1;
            let file = reference["trajectory_path"].as_str().expect("path");
            let child = files
                .get(file)
                .unwrap_or_else(|| panic!("{name}: {file} is missing"));
            assert_eq!(child["trajectory_id"], reference["trajectory_id"]);
            assert_eq!(tracefold_extra(child, "parent_thread_id"), thread);
        }
    }
    assert_eq!(
        refs,
        threads.len() - 1,
        "every sub-agent is referenced once"
    );

    // The compaction is a system step, the history that replaced it copied.
    let root = files["trajectory.json"]["steps"].as_array().expect("steps");
    let marker = root
        .iter()
        .position(|s| tracefold_extra(s, "compaction_id").is_string() && s["source"] == "system")
        .expect("the compaction's step");
    assert!(
        root[marker + 1..]
            .iter()
            .any(|s| s["is_copied_context"] == true
                && tracefold_extra(s, "compaction_id")
                    == tracefold_extra(&root[marker], "compaction_id"))
    );

    // The same rollout exports the same bytes; a non-empty directory or
    // standard output is refused.
    let again = dir.path().join("again");
    export_atif(&store, &rollout, &again);
    for name in files.keys() {
        assert_eq!(
            std::fs::read(out.join(name)).expect("first"),
            std::fs::read(again.join(name)).expect("second"),
            "{name}"
        );
    }
    let refused = fails(
        &store,
        &[
            "export",
            &rollout,
            "--format",
            "atif",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert!(refused.contains("not empty"), "{refused}");
    let refused = fails(
        &store,
        &["export", &rollout, "--format", "atif", "--out", "-"],
    );
    assert!(refused.contains("directory"), "{refused}");
}

/// What an ATIF file says, to compare with the state an import made.
struct Expected {
    calls: usize,
    tool_calls: usize,
    prompt_tokens: u64,
    completion_tokens: u64,
}

fn expected(trajectory: &Value) -> Expected {
    let mut expected = Expected {
        calls: 0,
        tool_calls: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
    };
    for step in trajectory["steps"].as_array().expect("steps") {
        let copied = step["is_copied_context"] == true;
        let calls = step["tool_calls"].as_array().map_or(0, Vec::len);
        if step["source"] == "agent" && !copied && step["llm_call_count"] != 0 {
            expected.calls += 1;
            expected.tool_calls += calls;
            expected.prompt_tokens += step["metrics"]["prompt_tokens"].as_u64().unwrap_or(0);
            expected.completion_tokens +=
                step["metrics"]["completion_tokens"].as_u64().unwrap_or(0);
        }
        // Sub-agent references of no tool call are a spawn call of their own.
        let spawns = step["observation"]["results"]
            .as_array()
            .is_some_and(|results| {
                results.iter().any(|r| {
                    r["subagent_trajectory_ref"].is_array() && r["source_call_id"].is_null()
                })
            });
        if spawns && calls == 0 {
            expected.tool_calls += 1;
        }
    }
    expected
}

fn check_thread(state: &Value, thread: &str, file: &Path) {
    let trajectory: Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("read")).expect("JSON");
    let want = expected(&trajectory);
    let calls: Vec<&Value> = state["inference_calls"]
        .as_object()
        .expect("calls")
        .values()
        .filter(|c| c["thread_id"] == thread)
        .collect();
    let name = file.display();
    assert_eq!(calls.len(), want.calls, "{name}");
    let sum = |key: &str| {
        calls
            .iter()
            .filter_map(|c| c["usage"][key].as_u64())
            .sum::<u64>()
    };
    assert_eq!(sum("input_tokens"), want.prompt_tokens, "{name}");
    assert_eq!(sum("output_tokens"), want.completion_tokens, "{name}");
    let tools: Vec<&Value> = state["tool_calls"]
        .as_object()
        .expect("tools")
        .values()
        .filter(|t| t["thread_id"] == thread)
        .collect();
    assert_eq!(tools.len(), want.tool_calls, "{name}");
    assert!(
        tools
            .iter()
            .all(|t| t["execution"]["status"] == "completed"),
        "{name}"
    );
    assert!(
        state["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .is_empty(),
        "{}",
        state["diagnostics"]
    );
}

#[test]
fn each_corpus_trajectory_imports_with_its_calls_tool_calls_and_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus();
    let paths: Vec<PathBuf> = [
        "hello-world.trajectory.json",
        "hello-world-context-summarization.trajectory.json",
    ]
    .iter()
    .map(|name| corpus.join(name))
    .collect();
    // The goldens are valid ATIF-v1.5, as both validators say.
    validate(&paths);

    // A single trajectory: one thread, its calls and tool calls with results.
    let store = dir.path().join("one");
    let out = ok(&store, &["import", paths[0].to_str().expect("utf-8")]);
    let rollout = out.trim();
    assert_eq!(rollout, "NORMALIZED_SESSION_ID");
    let state = reduce(&store, rollout);
    assert_eq!(state["threads"].as_object().expect("threads").len(), 1);
    let root = state["root_thread_id"].as_str().expect("root");
    check_thread(&state, root, &paths[0]);
    // The result naming its call by source_call_id is that call's output.
    let tool = &state["tool_calls"]["call_fake_1"];
    assert_eq!(
        tool["model_visible_output_item_ids"]
            .as_array()
            .expect("outputs")
            .len(),
        1
    );
    // Importing it again stores nothing.
    let before = store_fingerprint(&store);
    ok(&store, &["import", paths[0].to_str().expect("utf-8")]);
    assert_eq!(store_fingerprint(&store), before);

    // The summarization trajectory references three sub-agents; the corpus
    // holds one of them, found by its session id (its trajectory_path names
    // another file). The two missing ones are an error naming the place...
    let store = dir.path().join("two");
    let refused = fails(&store, &["import", paths[1].to_str().expect("utf-8")]);
    assert!(
        refused.contains("hello-world-context-summarization.trajectory.json: steps[4] (step_id 5).observation.results[0].subagent_trajectory_ref[1]"),
        "{refused}"
    );
    assert!(
        refused.contains("trajectory.summarization-1-questions.json"),
        "{refused}"
    );
    // ... unless they are kept as observations only, with a warning.
    let out = tracefold(
        &store,
        &[
            "import",
            "--allow-missing-subagents",
            paths[1].to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        warnings
            .matches("kept in the step's observation only")
            .count(),
        2,
        "{warnings}"
    );
    let state = reduce(&store, "NORMALIZED_SESSION_ID");
    let threads = state["threads"].as_object().expect("threads");
    assert_eq!(threads.len(), 2);
    let root = state["root_thread_id"].as_str().expect("root");
    check_thread(&state, root, &paths[1]);
    let child = "test-session-context-summarization-summarization-1-summary";
    check_thread(
        &state,
        child,
        &corpus.join("hello-world-context-summarization.trajectory.summarization-1-summary.json"),
    );
    assert_eq!(threads[child]["origin"]["parent_thread_id"], root);
    let spawn = state["interaction_edges"]
        .as_object()
        .expect("edges")
        .values()
        .find(|e| e["kind"] == "spawn_agent")
        .expect("a spawn edge");
    assert_eq!(spawn["target"]["thread_id"], child);
}

#[test]
fn a_directory_of_trajectories_imports_each_root_with_its_sub_agents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let out = tracefold(
        &store,
        &[
            "import",
            "--allow-missing-subagents",
            corpus().to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two roots (the summary file is a sub-agent of one), sharing a session
    // id: the second gets a suffix.
    let ids: Vec<&str> = std::str::from_utf8(&out.stdout)
        .expect("utf-8")
        .lines()
        .collect();
    assert_eq!(ids, ["NORMALIZED_SESSION_ID", "NORMALIZED_SESSION_ID#2"]);
    let threads: usize = ids
        .iter()
        .map(|id| {
            reduce(&store, id)["threads"]
                .as_object()
                .expect("threads")
                .len()
        })
        .sum();
    assert_eq!(threads, 3);
}

/// A small trajectory in the versions before the export's: a v1.6 one
/// referencing a sibling file by session id only, and a v1.7 one with an
/// embedded sub-agent.
fn older_versions(dir: &Path) -> (PathBuf, PathBuf) {
    let step = |id: u64, source: &str, message: &str| json!({"step_id": id, "source": source, "message": message});
    let child = json!({
        "schema_version": "ATIF-v1.6", "session_id": "child-session",
        "agent": {"name": "helper", "version": "1"},
        "steps": [step(1, "user", "look it up"),
                  {"step_id": 2, "source": "agent", "message": "found it",
                   "metrics": {"prompt_tokens": 10, "completion_tokens": 2}}],
    });
    let parent = json!({
        "schema_version": "ATIF-v1.6", "session_id": "parent-session",
        "agent": {"name": "main", "version": "1", "model_name": "m"},
        "steps": [step(1, "user", "do it"),
                  {"step_id": 2, "source": "agent", "message": "",
                   "tool_calls": [{"tool_call_id": "c1", "function_name": "delegate",
                                   "arguments": {"task": "look it up"}}],
                   "observation": {"results": [{"source_call_id": "c1", "content": "done",
                       "subagent_trajectory_ref": [{"session_id": "child-session"}]}]},
                   "metrics": {"prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 40}}],
    });
    let v16 = dir.join("v16");
    std::fs::create_dir_all(&v16).expect("mkdir");
    std::fs::write(v16.join("parent.json"), parent.to_string()).expect("write");
    std::fs::write(v16.join("child.json"), child.to_string()).expect("write");
    let mut embedded = child.clone();
    embedded["schema_version"] = json!("ATIF-v1.7");
    embedded["trajectory_id"] = json!("sub-1");
    let mut v17 = parent.clone();
    v17["schema_version"] = json!("ATIF-v1.7");
    v17["session_id"] = json!("run-17");
    v17["steps"][1]["observation"]["results"][0]["subagent_trajectory_ref"] =
        json!([{"trajectory_id": "sub-1"}]);
    v17["subagent_trajectories"] = json!([embedded]);
    let v17_path = dir.join("v17.json");
    std::fs::write(&v17_path, v17.to_string()).expect("write");
    (v16, v17_path)
}

#[test]
fn session_id_references_and_embedded_sub_agents_become_spawned_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (v16, v17) = older_versions(dir.path());
    for (source, rollout, child) in [
        (&v16, "parent-session", "child-session"),
        (&v17, "run-17", "sub-1"),
    ] {
        let store = dir.path().join(format!("store-{rollout}"));
        let out = ok(&store, &["import", source.to_str().expect("utf-8")]);
        assert_eq!(out.trim(), rollout);
        let state = reduce(&store, rollout);
        let threads = state["threads"].as_object().expect("threads");
        assert_eq!(threads.len(), 2, "{source:?}");
        assert_eq!(
            threads[child]["origin"]["parent_thread_id"],
            state["root_thread_id"]
        );
        let tool = &state["tool_calls"]["c1"];
        assert_eq!(tool["kind"]["type"], "spawn_agent");
        let edge = state["interaction_edges"]
            .as_object()
            .expect("edges")
            .values()
            .find(|e| e["kind"] == "spawn_agent")
            .expect("spawn edge");
        assert_eq!(edge["source"]["tool_call_id"], "c1");
        assert_eq!(edge["target"]["thread_id"], child);
        let call = state["inference_calls"]
            .as_object()
            .expect("calls")
            .values()
            .find(|c| c["thread_id"] == state["root_thread_id"])
            .expect("root call");
        assert_eq!(call["usage"]["input_tokens"], 100);
        assert_eq!(call["usage"]["cached_input_tokens"], 40);
    }
}

/// The parts of a trajectory a round trip must keep: per step its source,
/// message, reasoning, copied flag, tool calls, observation contents and
/// sub-agent references, and token counts.
fn essence(trajectory: &Value) -> Value {
    let steps: Vec<Value> = trajectory["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| {
            let calls: Vec<Value> = step["tool_calls"]
                .as_array()
                .map(|calls| {
                    calls
                        .iter()
                        .map(|c| json!([c["tool_call_id"], c["function_name"], c["arguments"]]))
                        .collect()
                })
                .unwrap_or_default();
            let results: Vec<Value> = step["observation"]["results"]
                .as_array()
                .map(|results| {
                    results
                        .iter()
                        .map(|r| {
                            json!([
                                r["source_call_id"],
                                r["content"],
                                r["subagent_trajectory_ref"]
                            ])
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "source": step["source"], "message": step["message"],
                "reasoning": step["reasoning_content"], "copied": step["is_copied_context"],
                "model": step["model_name"], "calls": calls, "results": results,
                "tokens": [step["metrics"]["prompt_tokens"], step["metrics"]["completion_tokens"],
                           step["metrics"]["cached_tokens"]],
                "call": tracefold_extra(step, "inference_call_id"),
                "turn": tracefold_extra(step, "codex_turn_id"),
            })
        })
        .collect();
    json!({"id": trajectory["trajectory_id"], "agent": trajectory["agent"]["name"],
           "final": trajectory["final_metrics"]["total_prompt_tokens"], "steps": steps})
}

#[test]
fn an_exported_rollout_imports_back_and_exports_the_same_trajectories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, _) = demo(&store, dir.path());
    let first_dir = dir.path().join("first");
    let first = export_atif(&store, &rollout, &first_dir);

    let other = dir.path().join("other");
    let out = ok(&other, &["import", first_dir.to_str().expect("utf-8")]);
    assert_eq!(out.trim(), rollout, "the export's rollout id is kept");
    let state = reduce(&other, &rollout);
    assert!(
        state["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .is_empty(),
        "{}",
        state["diagnostics"]
    );
    let second_dir = dir.path().join("second");
    let second = export_atif(&other, &rollout, &second_dir);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (name, trajectory) in &first {
        pretty_assertions::assert_eq!(essence(trajectory), essence(&second[name]), "{name}");
    }
    let paths: Vec<PathBuf> = second.keys().map(|name| second_dir.join(name)).collect();
    validate(&paths);
}

#[test]
fn malformed_trajectories_are_refused_naming_the_file_and_the_place_with_the_store_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let good = corpus().join("hello-world.trajectory.json");
    ok(&store, &["import", good.to_str().expect("utf-8")]);
    let before = store_fingerprint(&store);
    let text = std::fs::read_to_string(&good).expect("read");
    let value: Value = serde_json::from_str(&text).expect("JSON");

    let mut wrong_type = value.clone();
    wrong_type["steps"][4]["tool_calls"] = json!("str_replace_editor");
    wrong_type["session_id"] = json!("other");
    let mut v20 = value.clone();
    v20["schema_version"] = json!("ATIF-v2.0");
    let mut v19 = value.clone();
    v19["schema_version"] = json!("ATIF-v1.9");
    let mut bad_id = value.clone();
    bad_id["steps"][2]["step_id"] = json!(7);
    let mut missing = value.clone();
    missing["session_id"] = json!("with-a-missing-sub-agent");
    missing["steps"][4]["observation"]["results"][0]["subagent_trajectory_ref"] =
        json!([{"trajectory_path": "missing.json"}]);
    let mut escape = value.clone();
    escape["steps"][4]["observation"]["results"][0]["subagent_trajectory_ref"] =
        json!([{"trajectory_path": "../../etc/passwd"}]);
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "truncated.json",
            text[..text.len() / 2].to_string(),
            vec!["truncated.json", "not a JSON document"],
        ),
        (
            "wrong-type.json",
            wrong_type.to_string(),
            vec![
                "wrong-type.json: steps[4] (step_id 5).tool_calls",
                "expected an array, found a string",
            ],
        ),
        (
            "v20.json",
            v20.to_string(),
            vec![
                "v20.json: schema_version",
                "unsupported ATIF version \"ATIF-v2.0\"",
            ],
        ),
        (
            "v19.json",
            v19.to_string(),
            vec!["v19.json: schema_version", "ATIF-v1.9"],
        ),
        (
            "bad-id.json",
            bad_id.to_string(),
            vec![
                "bad-id.json: steps[2] (step_id 7).step_id",
                "7 where 3 is due",
            ],
        ),
        (
            "missing.json.ref.json",
            missing.to_string(),
            vec![
                "steps[4] (step_id 5).observation.results[0].subagent_trajectory_ref[0]",
                "\"missing.json\"",
            ],
        ),
        (
            "escape.json",
            escape.to_string(),
            vec!["subagent_trajectory_ref[0]", "not a plain relative path"],
        ),
    ];
    for (name, body, wanted) in cases {
        let case_dir = dir.path().join(name.replace('.', "-"));
        std::fs::create_dir_all(&case_dir).expect("mkdir");
        let path = case_dir.join(name);
        std::fs::write(&path, body).expect("write");
        let refused = fails(&store, &["import", path.to_str().expect("utf-8")]);
        for want in wanted {
            assert!(
                refused.contains(want),
                "{name}: wanted {want:?} in: {refused}"
            );
        }
        assert!(!refused.contains("panicked"), "{refused}");
        assert_eq!(
            store_fingerprint(&store),
            before,
            "{name} changed the store"
        );
        // diff reads the same way and says the same.
        let refused = fails(
            &store,
            &[
                "diff",
                path.to_str().expect("utf-8"),
                good.to_str().expect("utf-8"),
            ],
        );
        assert!(refused.contains(name), "{refused}");
    }
}

#[test]
fn an_atif_file_or_directory_diffs_shows_and_views_without_an_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("no-store");
    let file = corpus().join("hello-world.trajectory.json");
    let file = file.to_str().expect("utf-8");
    assert_eq!(ok(&store, &["diff", file, file]).trim(), "equivalent");
    let shown = ok(&store, &["show", file]);
    assert!(shown.contains("/root"), "{shown}");
    let page = dir.path().join("page.html");
    ok(&store, &["view", file, "-o", page.to_str().expect("utf-8")]);
    assert!(std::fs::metadata(&page).expect("page").len() > 0);
    assert!(!store.exists(), "reading files opens no store");

    // An export's directory, against itself and against the stored rollout
    // imported from it.
    let demo_store = dir.path().join("store");
    let (rollout, _) = demo(&demo_store, dir.path());
    let out = dir.path().join("atif");
    export_atif(&demo_store, &rollout, &out);
    let out = out.to_str().expect("utf-8");
    assert_eq!(ok(&store, &["diff", out, out]).trim(), "equivalent");
    let other = dir.path().join("other");
    ok(&other, &["import", out]);
    assert_eq!(ok(&other, &["diff", out, &rollout]).trim(), "equivalent");
}
