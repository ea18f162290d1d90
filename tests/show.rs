//! `tracefold show`: a rollout's agent tree, edges, timelines and
//! diagnostics in the terminal, and the same view as JSON, from a bundle
//! directory, a state JSON file or a stored rollout; on the reference's own
//! test bundles and the real Claude Code session of `../shared/corpus`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{fails, ok};

fn reference_test(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/reference-tests")
        .join(name)
}

const SPAWN: &str =
    "reducer__tool__agents__tests__spawn_runtime_payload_targets_delivered_child_message__33";

#[test]
fn a_spawned_child_shows_under_its_parent_with_the_edge_and_both_timelines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let bundle = reference_test(SPAWN);
    let text = ok(&store, &["show", bundle.to_str().expect("utf-8")]);
    // Piped: no colour.
    assert!(!text.contains('\x1b'), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let root = lines
        .iter()
        .position(|l| l.trim_start().starts_with("/root running"))
        .expect("the root thread");
    let child = lines
        .iter()
        .position(|l| l.contains("└ /root/repo_file_counter"))
        .expect("the child, indented under the root");
    assert!(child > root, "{text}");
    assert!(
        text.contains("spawn_agent /root -> /root/repo_file_counter"),
        "{text}"
    );
    assert!(text.contains("timeline /root/repo_file_counter"), "{text}");
    assert!(text.contains("inference  running gpt-test"), "{text}");
    assert!(text.contains("tool       completed spawn_agent"), "{text}");

    let json: Value = serde_json::from_str(&ok(
        &store,
        &["show", bundle.to_str().expect("utf-8"), "--json"],
    ))
    .expect("JSON");
    let threads = json["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 2);
    assert_eq!(threads[1]["parent_thread_id"], threads[0]["thread_id"]);
    assert_eq!(threads[1]["depth"], 1);
    for thread in threads {
        let seqs: Vec<u64> = thread["lane"]
            .as_array()
            .expect("lane")
            .iter()
            .map(|entry| entry["started_seq"].as_u64().expect("seq"))
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    }

    // One thread, by agent path; an unknown one names the known ones.
    let only: Value = serde_json::from_str(&ok(
        &store,
        &[
            "show",
            bundle.to_str().expect("utf-8"),
            "--thread",
            "/root/repo_file_counter",
            "--json",
        ],
    ))
    .expect("JSON");
    assert_eq!(only["agent_path"], "/root/repo_file_counter");
    let err = fails(
        &store,
        &[
            "show",
            bundle.to_str().expect("utf-8"),
            "--thread",
            "/root/nobody",
        ],
    );
    assert!(err.contains("/root, /root/repo_file_counter"), "{err}");

    // A mistyped path, with no store to look an id up in, says both.
    let missing = dir.path().join("no-such-state.json");
    let err = fails(&store, &["show", missing.to_str().expect("utf-8")]);
    assert!(
        err.contains("no-such-state.json is no file or directory") && err.contains("no store at"),
        "{err}"
    );
    assert!(!store.exists(), "show creates no store");
}

#[test]
fn a_rollout_the_reducer_refuses_still_shows_with_its_diagnostics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let bundle = reference_test(
        "reducer__conversation__tests__inference_start_rejects_unknown_codex_turn__11",
    );
    let path = bundle.to_str().expect("utf-8");
    // A strict reduction refuses it ...
    fails(&store, &["reduce-bundle", path]);
    // ... the view goes on past the event and lists why.
    let text = ok(&store, &["show", path]);
    assert!(text.contains("diagnostics (1)"), "{text}");
    let json: Value = serde_json::from_str(&ok(&store, &["show", path, "--json"])).expect("JSON");
    let diagnostics = json["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(
        diagnostics[0].as_str().expect("line").contains("turn"),
        "{diagnostics:?}"
    );
}

/// The Claude Code session with its sub-agents, imported: the view's tree
/// and token totals agree with the reduced state it came from.
#[test]
fn a_stored_session_shows_its_sub_agents_and_the_state_s_token_totals() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/claude-code");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    ok(&store, &["import", corpus.to_str().expect("utf-8")]);
    let rollout = "4d5611e5-241a-462a-8d15-5122611a9569";
    let state: Value = serde_json::from_str(&ok(&store, &["reduce", rollout])).expect("state");
    let view: Value =
        serde_json::from_str(&ok(&store, &["show", rollout, "--json"])).expect("view");
    let threads = view["threads"].as_array().expect("threads");
    assert_eq!(
        threads.len(),
        state["threads"].as_object().expect("threads").len()
    );
    assert_eq!(threads[0]["thread_id"], rollout);
    assert!(
        threads[1..]
            .iter()
            .all(|t| t["depth"] == 1 && t["parent_thread_id"] == rollout)
    );
    for thread in threads {
        let id = thread["thread_id"].as_str().expect("id");
        let calls: Vec<&Value> = state["inference_calls"]
            .as_object()
            .expect("calls")
            .values()
            .filter(|call| call["thread_id"] == id)
            .collect();
        assert_eq!(thread["inference_calls"], calls.len());
        for field in ["input_tokens", "cached_input_tokens", "output_tokens"] {
            let sum: u64 = calls
                .iter()
                .filter_map(|call| call["usage"][field].as_u64())
                .sum();
            assert_eq!(thread["usage"][field], sum, "{id} {field}");
        }
    }
    let text = ok(&store, &["show", rollout]);
    assert!(text.contains("compaction (local)"), "{text}");
}

/// A demo rollout in a fresh store, with its `show --json` view.
fn demo_view(store: &Path, dir: &Path) -> (String, Value) {
    let out = dir.join("state.json");
    let demo = ok(store, &["demo", "--out", out.to_str().expect("utf-8")]);
    let rollout = demo.split_whitespace().nth(1).expect("rollout").to_string();
    let view = serde_json::from_str(&ok(store, &["show", &rollout, "--json"])).expect("JSON");
    (rollout, view)
}

/// The ids of `kind` entries in the lane of thread `path`, in seq order.
fn lane_ids(view: &Value, path: &str, kind: &str) -> Vec<String> {
    view["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .find(|t| t["agent_path"] == path)
        .expect("thread")["lane"]
        .as_array()
        .expect("lane")
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn show_call_prints_the_conversation_the_model_saw_with_new_items_marked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, view) = demo_view(&store, dir.path());

    // A child's first call: every item new, shown in full, and its answer.
    let child_call = &lane_ids(&view, "/root/reviewer1", "inference")[0];
    let text = ok(&store, &["show", &rollout, "--call", child_call]);
    assert!(
        text.contains("request: 2 items, 2 new since the thread's previous call"),
        "{text}"
    );
    assert!(text.contains("+ developer message:"), "{text}");
    assert!(
        text.contains(
            "    You are a sub-agent. Do the task you are given and report back briefly."
        ),
        "{text}"
    );
    assert!(text.contains("response: 2 items"), "{text}");
    assert!(text.contains("[encrypted encrypted_content, "), "{text}");
    assert!(text.contains("[reasoning summary] "), "{text}");

    // The root's third call: what it saw before is one line each, unmarked;
    // what is new is marked and whole.
    let root_calls = lane_ids(&view, "/root", "inference");
    let text = ok(&store, &["show", &rollout, "--call", &root_calls[2]]);
    let (old, new): (Vec<&str>, Vec<&str>) = text
        .lines()
        .skip_while(|l| !l.starts_with("request: "))
        .skip(1)
        .take_while(|l| !l.starts_with("response: "))
        .filter(|l| !l.starts_with("    "))
        .partition(|l| l.starts_with("  "));
    assert!(!old.is_empty() && !new.is_empty(), "{text}");
    assert!(new.iter().all(|l| l.starts_with("+ ")), "{text}");
    let json: Value = serde_json::from_str(&ok(
        &store,
        &["show", &rollout, "--call", &root_calls[2], "--json"],
    ))
    .expect("JSON");
    let request = json["request"].as_array().expect("request");
    let fresh = request.iter().filter(|i| i["new"] == true).count();
    assert_eq!(fresh, new.len());
    assert_eq!(request.len() - fresh, old.len());
    assert_eq!(json["previous_call_id"], root_calls[1].as_str());
}

#[test]
fn show_call_and_turn_print_tool_io_and_a_turns_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, view) = demo_view(&store, dir.path());
    let spawn = lane_ids(&view, "/root", "tool_call")
        .into_iter()
        .find(|id| id.starts_with("call_spawn"))
        .expect("the spawn call");
    let text = ok(&store, &["show", &rollout, "--call", &spawn]);
    assert!(
        text.starts_with(&format!("tool call {spawn} spawn_agent completed in /root")),
        "{text}"
    );
    assert!(text.contains("invocation (raw_payload:"), "{text}");
    assert!(text.contains("result (raw_payload:"), "{text}");
    assert!(text.contains("\"nickname\":\"/root/reviewer1\""), "{text}");

    // Turn 2 of the root: its calls and the spawn.
    let text = ok(&store, &["show", &rollout, "--turn", "2"]);
    assert!(
        text.starts_with("turn turn-002 completed in /root"),
        "{text}"
    );
    assert!(text.contains("inference call "), "{text}");
    assert!(
        text.contains(&format!("tool {spawn} completed: spawn_agent")),
        "{text}"
    );
    // A child's turn, by number within --thread.
    let text = ok(
        &store,
        &[
            "show",
            &rollout,
            "--thread",
            "/root/reviewer1",
            "--turn",
            "1",
        ],
    );
    assert!(text.contains("in /root/reviewer1"), "{text}");
    // Out of range and unknown: errors that say what would do.
    let err = fails(&store, &["show", &rollout, "--turn", "999"]);
    assert!(
        err.contains("no turn \"999\" in /root") && err.contains("from 1 to 13"),
        "{err}"
    );
    let err = fails(&store, &["show", &rollout, "--call", "no-such-call"]);
    assert!(err.contains("no call \"no-such-call\""), "{err}");
}
