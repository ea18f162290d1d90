//! `tracefold import` of real Codex session rollouts (`../shared/corpus/
//! codex-sessions`, six sanitized sessions of Codex Desktop, read in
//! place): each becomes a rollout whose reduced state has the source's
//! turns, tool calls and token usage; `export --format source` gives every
//! file back byte for byte; a second import stores nothing; a file that
//! grew gets its new lines appended, a torn last line waits; a `.jsonl.zst`
//! session imports as its JSONL; a file of no known format is named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{ok, tracefold};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/codex-sessions")
}

fn session_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap_or_else(|err| panic!("{}: {err} (CI has ../shared)", corpus().display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 6, "the corpus's six sessions");
    files
}

/// What a session file says of itself, counted from its records.
#[derive(Debug, Default)]
struct Expected {
    id: String,
    turns: usize,
    tool_calls: usize,
    /// `compacted` records with their replacement history.
    compactions: usize,
    /// The last `token_count`'s `total_token_usage`.
    usage: BTreeMap<String, u64>,
}

fn expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).expect("read session");
    let mut expected = Expected::default();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).expect("record");
        let payload = &record["payload"];
        match (record["type"].as_str(), payload["type"].as_str()) {
            (Some("session_meta"), _) => expected.id = payload["id"].as_str().unwrap().into(),
            (Some("event_msg"), Some("task_started")) => expected.turns += 1,
            (Some("event_msg"), Some("token_count")) if payload["info"].is_object() => {
                let total = payload["info"]["total_token_usage"].as_object().unwrap();
                expected.usage = total
                    .iter()
                    .map(|(key, value)| (key.clone(), value.as_u64().unwrap()))
                    .collect();
            }
            (Some("compacted"), _) if payload["replacement_history"].is_array() => {
                expected.compactions += 1;
            }
            (Some("response_item"), Some("function_call" | "custom_tool_call")) => {
                expected.tool_calls += 1;
            }
            _ => {}
        }
    }
    expected
}

/// `export --format source` of `session`'s rollout into `out` gives back
/// `bytes`, under the session's file name.
fn assert_exports(store: &Path, out: &Path, session: &Path, bytes: &[u8]) {
    let id = expected(session).id;
    let name = session.file_name().unwrap().to_string_lossy().into_owned();
    let name = name.strip_suffix(".zst").unwrap_or(&name).to_string();
    ok(
        store,
        &[
            "export",
            &id,
            "--format",
            "source",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let written = std::fs::read(out.join(&name)).expect("exported file");
    assert!(written == bytes, "{name}: exported bytes differ");
}

fn state(store: &Path, rollout: &str) -> Value {
    serde_json::from_str(&ok(store, &["reduce", rollout])).expect("state JSON")
}

#[test]
fn codex_sessions_import_reduce_to_their_turns_tools_and_usage_and_export_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let corpus = corpus();
    ok(&store, &["import", corpus.to_str().unwrap()]);
    let listed = ok(&store, &["rollouts"]);
    let mut compactions = 0;
    for file in session_files() {
        let expected = expected(&file);
        assert!(listed.contains(&expected.id), "{listed}");
        let state = state(&store, &expected.id);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(state["threads"].as_object().unwrap().len(), 1, "{name}");
        assert_eq!(
            state["codex_turns"].as_object().unwrap().len(),
            expected.turns,
            "{name}: turns"
        );
        assert_eq!(
            state["tool_calls"].as_object().unwrap().len(),
            expected.tool_calls,
            "{name}: tool calls"
        );
        assert_eq!(
            state["compactions"].as_object().unwrap().len(),
            expected.compactions,
            "{name}: compactions"
        );
        assert_eq!(state["diagnostics"], Value::Array(Vec::new()), "{name}");
        compactions += expected.compactions;
        let calls = state["inference_calls"].as_object().unwrap();
        assert!(!calls.is_empty(), "{name}: inference calls");
        for key in ["input_tokens", "cached_input_tokens", "output_tokens"] {
            let reduced: u64 = calls
                .values()
                .map(|call| call["usage"][key].as_u64().unwrap_or(0))
                .sum();
            assert_eq!(reduced, expected.usage[key], "{name}: {key}");
        }
        // Every call's request is the conversation reconstructed, and says so.
        let first = calls.values().next().unwrap();
        let request = ok(
            &store,
            &[
                "payload",
                &state["raw_payloads"]
                    .as_object()
                    .and_then(|payloads| {
                        payloads.get(first["raw_request_payload_id"].as_str().unwrap())
                    })
                    .map(|payload| payload["blake3"].as_str().unwrap().to_string())
                    .expect("the request's raw payload"),
            ],
        );
        assert!(
            request.contains("\"tracefold_reconstructed\":true"),
            "{name}"
        );

        let out = dir.path().join(format!("source-{}", expected.id));
        ok(
            &store,
            &[
                "export",
                &expected.id,
                "--format",
                "source",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let written = std::fs::read(out.join(&name)).expect("exported file");
        assert!(
            written == std::fs::read(&file).unwrap(),
            "{name}: exported bytes differ"
        );
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    }
    assert_eq!(compactions, 1, "the corpus's one compaction");
    // Again: nothing stored.
    let stats = ok(&store, &["stats", "--json"]);
    let again = tracefold(&store, &["import", corpus.to_str().unwrap()]);
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert_eq!(said.matches("nothing imported").count(), 6, "{said}");
    let after = ok(&store, &["stats", "--json"]);
    let events = |stats: &str| serde_json::from_str::<Value>(stats).unwrap()["events"].clone();
    assert_eq!(events(&after), events(&stats));
}

/// A store, and a directory where a copy of a corpus session is written
/// as a live session would be.
struct Live {
    store: PathBuf,
    /// The corpus session and its bytes.
    original: PathBuf,
    bytes: Vec<u8>,
    /// The directory, and the copy's path in it (not written yet).
    live: PathBuf,
    path: PathBuf,
}

impl Live {
    fn new(dir: &Path) -> Live {
        let original = session_files().pop().unwrap();
        let live = dir.join("sessions");
        std::fs::create_dir(&live).unwrap();
        Live {
            store: dir.join("store"),
            bytes: std::fs::read(&original).unwrap(),
            path: live.join(original.file_name().unwrap()),
            original,
            live,
        }
    }
}

#[test]
fn a_session_that_grows_gets_its_new_lines_and_a_torn_last_line_waits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Live {
        store,
        original,
        bytes,
        live,
        path,
    } = Live::new(dir.path());
    let line_end = |n: usize| {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'\n')
            .nth(n - 1)
            .map(|(at, _)| at + 1)
            .unwrap()
    };
    let import = || {
        let out = tracefold(&store, &["import", live.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    std::fs::write(&path, &bytes[..line_end(40)]).unwrap();
    assert!(import().contains("new rollout"));
    // Half a line: a write in progress.
    std::fs::write(&path, &bytes[..line_end(40) + 50]).unwrap();
    assert!(import().contains("nothing imported"));
    std::fs::write(&path, &bytes).unwrap();
    let said = import();
    assert!(said.contains("appended"), "{said}");
    assert_exports(&store, &dir.path().join("out"), &original, &bytes);
}

#[test]
fn a_compressed_session_imports_as_its_lines_and_unknown_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let original = session_files().remove(4);
    let bytes = std::fs::read(&original).unwrap();
    let name = original.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::write(
        input.join(format!("{name}.zst")),
        zstd::encode_all(&bytes[..], 3).unwrap(),
    )
    .unwrap();
    // A session Codex compressed while its plain file is still there: the
    // plain file is the session, the `.zst` is not imported as well.
    let other = session_files().remove(5);
    let other_name = other.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::copy(&other, input.join(&other_name)).unwrap();
    std::fs::write(
        input.join(format!("{other_name}.zst")),
        zstd::encode_all(&b"not what the plain file holds\n"[..], 3).unwrap(),
    )
    .unwrap();
    std::fs::write(input.join("notes.jsonl"), "{\"foo\": 1}\n").unwrap();
    std::fs::write(input.join("text.jsonl"), "hello\n").unwrap();
    let out = tracefold(&store, &["import", input.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for (file, looked) in [
        ("notes.jsonl", "JSON lines of no known shape"),
        ("text.jsonl", "not JSON lines"),
    ] {
        assert!(
            said.lines().any(|line| line.contains(file)
                && line.contains(looked)
                && line.contains("tried: wire JSONL, Codex session rollout")),
            "{file}: {said}"
        );
    }
    assert!(said.contains("2 of 4 files were not imported"), "{said}");
    // The session imported anyway, as the JSONL inside.
    assert_exports(&store, &dir.path().join("out"), &original, &bytes);
}

/// `import --follow`: a session written while it runs is imported round by
/// round (its torn last line waiting), the store free between rounds; an
/// interrupt stops it with everything it reported stored.
#[test]
fn import_follow_keeps_importing_a_growing_session_until_interrupted() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("tempdir");
    let Live {
        store,
        original,
        bytes,
        live,
        path,
    } = Live::new(dir.path());
    // How many events the whole session makes, from a plain import of a
    // copy written now (a live file: a session written minutes ago is
    // finished, and its open response would be ended at its end).
    let reference = dir.path().join("reference");
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::write(copy.join(original.file_name().unwrap()), &bytes).unwrap();
    ok(&reference, &["import", copy.to_str().unwrap()]);
    let listed: Value =
        serde_json::from_str(&ok(&reference, &["rollouts", "--json"])).expect("json");
    let events = listed[0]["event_count"].as_u64().unwrap();
    // Half the file: it ends mid-line, and that line waits.
    let cut = bytes.len() / 2;
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .arg("--store")
        .arg(&store)
        .args(["import", "--follow", "1"])
        .arg(&live)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut next_round = || loop {
        let line = lines.next().expect("a line").expect("text");
        assert!(!line.contains("error"), "{line}");
        if line.starts_with("follow: ") {
            return line;
        }
    };
    let first = next_round();
    assert!(
        !first.contains(&format!(", {events} since start (")),
        "{first}"
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, &bytes[cut..]).unwrap();
    drop(file);
    // Rounds until the whole session is in (a round may read the file
    // while the write is under way).
    while !next_round().contains(&format!(", {events} since start (")) {}
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_exports(&store, &dir.path().join("out"), &original, &bytes);
}
