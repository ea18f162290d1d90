//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tracefold::Store;
use tracefold::event::Event;

/// Runs the `tracefold` binary against `store` with `args`.
pub fn tracefold(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("tracefold runs")
}

/// The Python of the tests' virtual environment (`TRACEFOLD_TEST_VENV`,
/// else `target/test-venv`, which `scripts/test` makes).
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("TRACEFOLD_TEST_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "no {}: `scripts/test` (scripts/install-test-deps) makes the tests' Python environment",
        python.display()
    );
    python
}

/// Stdout of a run that must succeed.
pub fn ok(store: &Path, args: &[&str]) -> String {
    let out = tracefold(store, args);
    assert!(
        out.status.success(),
        "tracefold {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Stderr of a run that must fail with exit code 2.
pub fn fails(store: &Path, args: &[&str]) -> String {
    let out = tracefold(store, args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "tracefold {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("utf-8 stderr")
}

/// `stats --json` of a store.
pub fn stats(store: &Path) -> Value {
    serde_json::from_str(&ok(store, &["stats", "--json"])).expect("stats json")
}

/// `stats` without `disk_bytes`: what the store holds, not how much room
/// sled's files take at this instant, which any writable open (even one
/// that stores nothing) may change as sled flushes its own metadata.
pub fn content_stats(store: &Path) -> Value {
    let mut stats = stats(store);
    stats
        .as_object_mut()
        .expect("stats is an object")
        .remove("disk_bytes")
        .expect("stats has disk_bytes");
    stats
}

/// Every file under `dir` with its bytes, for "the store is unchanged" checks
/// that do not depend on sled's internals: logical content via `events`.
pub fn store_fingerprint(store: &Path) -> String {
    let listing = ok(store, &["rollouts", "--json"]);
    let stats = stats(store);
    let mut out = format!("{listing}\n{}", stats["payloads"]);
    out.push_str(&format!(" {}", stats["stored_chunk_bytes"]));
    for rollout in serde_json::from_str::<Value>(&listing)
        .expect("json")
        .as_array()
        .expect("array")
    {
        let id = rollout["rollout_id"].as_str().expect("id");
        out.push_str(&ok(store, &["events", id]));
    }
    out
}

/// Appends every file below `dir` (recursively) to `out`.
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_dir() {
            files_under(&entry.path(), out);
        } else {
            out.push(entry.path());
        }
    }
}

/// A file or directory under `examples/`.
pub fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
}

/// A store holding the example rollout, and its fingerprint.
pub fn seeded_store() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let sample = example("sample.jsonl");
    ok(&store, &["ingest", sample.to_str().expect("utf-8")]);
    let fingerprint = store_fingerprint(&store);
    (dir, store, fingerprint)
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of the example bundle under `dir` whose first payload reference
/// is `path`.
pub fn bundle_with_payload_path(dir: &Path, path: &str) -> PathBuf {
    let bundle = dir.join(format!("bundle-{}", path.replace(['/', '.'], "_")));
    copy_dir(&example("bundle"), &bundle);
    let log = std::fs::read_to_string(bundle.join("trace.jsonl")).expect("read");
    let log = log.replacen("\"payloads/1.json\"", &format!("\"{path}\""), 1);
    std::fs::write(bundle.join("trace.jsonl"), log).expect("write");
    bundle
}

/// `ingest` of `content`, written to a file `name` in `dir`, fails with
/// every `expected` fragment in its error, without a panic and without
/// changing the store.
pub fn ingest_rejected(
    store: &Path,
    dir: &Path,
    name: &str,
    content: impl AsRef<[u8]>,
    expected: &[&str],
) {
    let before = store_fingerprint(store);
    let file = dir.join(name);
    std::fs::write(&file, content).expect("write input");
    let err = fails(store, &["ingest", file.to_str().expect("utf-8")]);
    assert_rejected(store, &before, &err, expected, name);
}

/// `import-codex` of `bundle` fails with every `expected` fragment in its
/// error, without a panic and without changing the store.
pub fn import_rejected(store: &Path, bundle: &Path, expected: &[&str]) {
    let before = store_fingerprint(store);
    let bundle = bundle.to_str().expect("utf-8");
    let err = fails(store, &["import-codex", bundle, "--rollout-id", "hostile"]);
    assert_rejected(store, &before, &err, expected, bundle);
}

fn assert_rejected(store: &Path, before: &str, err: &str, expected: &[&str], input: &str) {
    for fragment in expected {
        assert!(
            err.contains(fragment),
            "{input}: {err:?} lacks {fragment:?}"
        );
    }
    assert!(!err.contains("panicked"), "{input}: {err}");
    assert_eq!(
        store_fingerprint(store),
        before,
        "{input} changed the store"
    );
}

/// Every event of `rollout` in `store`, decoded.
pub fn read_events(store: &Store, rollout: &str) -> Vec<Event> {
    store
        .events(rollout)
        .expect("rollout exists")
        .collect::<Result<_, _>>()
        .expect("events decode")
}

/// One wire event line.
pub fn line(
    seq: u64,
    rollout: &str,
    thread: Option<&str>,
    turn: Option<&str>,
    payload: Value,
) -> String {
    json!({
        "schema_version": 1,
        "seq": seq,
        "wall_time_unix_ms": 1_767_225_600_000u64 + seq,
        "rollout_id": rollout,
        "thread_id": thread,
        "codex_turn_id": turn,
        "payload": payload,
    })
    .to_string()
}

/// The first two lines of a wire rollout: `rollout_started` and the root
/// thread's `thread_started`.
pub fn root_start_lines(rollout: &str) -> Vec<String> {
    vec![
        line(
            1,
            rollout,
            None,
            None,
            json!({"type": "rollout_started", "trace_id": "t", "root_thread_id": "root"}),
        ),
        line(
            2,
            rollout,
            None,
            None,
            json!({"type": "thread_started", "thread_id": "root", "agent_path": "/root", "metadata_payload": null}),
        ),
    ]
}

/// A deterministic pseudo-random word stream.
pub struct Words(u64);

impl Words {
    pub fn new(seed: u64) -> Words {
        Words(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn sentence(&mut self, words: usize) -> String {
        const VOCAB: &[&str] = &[
            "the",
            "agent",
            "reads",
            "file",
            "src",
            "main",
            "rust",
            "test",
            "fails",
            "because",
            "cargo",
            "build",
            "returns",
            "error",
            "function",
            "struct",
            "impl",
            "trait",
            "value",
            "option",
            "result",
            "store",
            "event",
            "payload",
            "chunk",
            "hash",
            "writer",
            "thread",
            "turn",
            "tool",
            "call",
            "output",
            "model",
            "request",
            "response",
            "conversation",
        ];
        let mut out = String::new();
        for index in 0..words {
            if index > 0 {
                out.push(' ');
            }
            let word = VOCAB[(self.next() % VOCAB.len() as u64) as usize];
            out.push_str(word);
            if self.next().is_multiple_of(11) {
                out.push_str(&format!("{}", self.next() % 1000));
            }
        }
        out
    }
}

/// Writes a JSONL rollout whose inference requests resend the growing
/// conversation, as real hosts do. Returns the file path.
pub fn growing_conversation_jsonl(dir: &Path, rollout: &str, turns: u64, seed: u64) -> PathBuf {
    let mut words = Words::new(seed);
    let mut lines = vec![line(
        1,
        rollout,
        None,
        None,
        json!({"type": "rollout_started", "trace_id": format!("trace-{rollout}"), "root_thread_id": "root"}),
    )];
    lines.push(line(
        2,
        rollout,
        None,
        None,
        json!({"type": "thread_started", "thread_id": "root", "agent_path": "/root", "metadata_payload": null}),
    ));
    let mut seq = 2;
    let mut conversation = vec![json!({
        "type": "message", "role": "developer",
        "content": [{"type": "input_text", "text": words.sentence(400)}]
    })];
    for turn in 0..turns {
        let turn_id = format!("turn-{turn}");
        conversation.push(json!({
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": words.sentence(60)}]
        }));
        seq += 1;
        lines.push(line(
            seq,
            rollout,
            Some("root"),
            Some(&turn_id),
            json!({"type": "codex_turn_started", "codex_turn_id": turn_id, "thread_id": "root"}),
        ));
        seq += 1;
        lines.push(line(seq, rollout, Some("root"), Some(&turn_id), json!({
            "type": "inference_started", "inference_call_id": format!("inf-{turn}"),
            "thread_id": "root", "codex_turn_id": turn_id, "model": "m", "provider_name": "p",
            "request_payload": {"kind": {"type": "inference_request"}, "inline": {"model": "m", "input": conversation}}
        })));
        let reply = json!({
            "type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": words.sentence(150)}]
        });
        seq += 1;
        lines.push(line(seq, rollout, Some("root"), Some(&turn_id), json!({
            "type": "inference_completed", "inference_call_id": format!("inf-{turn}"),
            "response_id": format!("resp-{turn}"), "upstream_request_id": null,
            "response_payload": {"kind": {"type": "inference_response"}, "inline": {"output_items": [reply]}}
        })));
        conversation.push(reply);
        seq += 1;
        lines.push(line(
            seq,
            rollout,
            Some("root"),
            Some(&turn_id),
            json!({"type": "codex_turn_ended", "codex_turn_id": turn_id, "status": "completed"}),
        ));
    }
    let path = dir.join(format!("{rollout}.jsonl"));
    std::fs::write(&path, lines.join("\n") + "\n").expect("write jsonl");
    path
}

/// The names of the entries of `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Opens a store's sled database directly (to damage records as a bad disk
/// would), with the segment size its `conf` records: sled refuses any other.
pub fn open_raw_sled(db_dir: &Path) -> sled::Db {
    let segment_size = tracefold::__internal::sled_segment_size(db_dir);
    sled::Config::new()
        .path(db_dir)
        .segment_size(segment_size)
        .open()
        .expect("sled opens")
}

/// Runs `tracefold demo --seed SEED` into `store`, its state JSON written in
/// `dir`; returns the rollout id and the state.
pub fn demo(store: &Path, dir: &Path, seed: &str) -> (String, Value) {
    let state_path = dir.join(format!("state-{seed}.json"));
    let out = ok(
        store,
        &[
            "demo",
            "--seed",
            seed,
            "--out",
            state_path.to_str().expect("utf-8"),
        ],
    );
    let rollout = out.split_whitespace().nth(1).expect("rollout").to_string();
    let state =
        serde_json::from_str(&std::fs::read_to_string(&state_path).expect("state")).expect("JSON");
    (rollout, state)
}
