//! Integration tests: secrets planted through the recorder, through JSONL
//! ingest and through a bundle import never reach disk. Every file under the
//! store directory is searched for the raw bytes, and since chunks are zstd
//! compressed, every payload is also read back (`events --inline-payloads`)
//! and searched. `--no-redact` keeps payloads untouched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use tracefold::event::ExecutionStatus;
use tracefold::recorder::{Recorder, RecorderConfig, RolloutStart, ThreadStart};
use tracefold::redact::Redactor;
use tracefold::store::{Store, StoreOptions};
use tracefold::writer::WriterConfig;

use crate::support::{copy_dir, example, files_under, line, ok};

const KNOWN: &str = "planted-known-secret-4f1c9a";
const API_KEY: &str = "sk-proj-PLANTEDsecretKEY0123456789abcdef";
const GITHUB: &str = "ghp_PLANTEDgithubTOKEN0123456789abcd";
const AWS: &str = "AKIAPLANTED0123ABCDE";
const PASSWORD: &str = "planted-password-value-77";
const BEARER: &str = "planted.bearer-token_value";

const SECRETS: &[&str] = &[KNOWN, API_KEY, GITHUB, AWS, PASSWORD, BEARER];

/// No file of the store holds any secret, and no payload read back does.
fn assert_no_secret_in_store(store: &Path, secrets: &[&str]) {
    let mut files = Vec::new();
    files_under(store, &mut files);
    assert!(!files.is_empty());
    for file in &files {
        let bytes = std::fs::read(file).expect("read store file");
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in {}",
                file.display()
            );
        }
    }
    let listing: serde_json::Value =
        serde_json::from_str(&ok(store, &["rollouts", "--json"])).expect("json");
    for rollout in listing.as_array().expect("array") {
        let id = rollout["rollout_id"].as_str().expect("id");
        let events = ok(store, &["events", id, "--inline-payloads"]);
        for secret in secrets {
            assert!(!events.contains(secret), "{secret} read back from {id}");
        }
        assert!(events.contains("[REDACTED]"), "{id}: nothing was redacted");
    }
}

#[test]
fn secrets_recorded_through_the_recorder_never_reach_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let config = RecorderConfig {
            writer: WriterConfig {
                redaction: Some(Arc::new(Redactor::new().with_known_secret(KNOWN))),
                ..WriterConfig::default()
            },
        };
        let recorder = Recorder::start(&store, config).expect("recorder");
        let rollout = recorder.start_rollout(RolloutStart {
            rollout_id: Some("secret-rollout".into()),
            trace_id: None,
            root: ThreadStart {
                thread_id: "root".into(),
                agent_path: "/root".into(),
                metadata: Some(json!({"env": {"OPENAI_API_KEY": API_KEY, "password": PASSWORD}})),
            },
        });
        let turn = rollout.root().start_turn("turn-1");
        let call = turn.start_inference("m", "p", || {
            json!({
                "headers": {"Authorization": format!("Bearer {BEARER}"), "x-api-key": KNOWN},
                "input": [{"role": "user", "content": format!("my key is {API_KEY} and {GITHUB}")}]
            })
        });
        call.completed(
            None,
            None,
            || json!({"output": format!("aws {AWS}, known {KNOWN}")}),
        );
        turn.code_cell_started(
            "cell-1",
            "call-1",
            &format!("fetch(url, {{key: '{API_KEY}'}})"),
        );
        turn.protocol_event("raw_text", || {
            format!("curl -H 'Authorization: Bearer {BEARER}' {KNOWN}")
        });
        turn.end(ExecutionStatus::Completed);
        recorder.shutdown().expect("shutdown");
        assert_eq!(recorder.stats().events_dropped, 0);
    }
    assert_no_secret_in_store(dir.path(), SECRETS);
}

fn secret_jsonl(dir: &Path) -> PathBuf {
    let rollout = "ingested";
    let lines = [
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
            json!({"type": "thread_started", "thread_id": "root", "agent_path": "/root",
            "metadata_payload": {"kind": {"type": "session_metadata"}, "inline": {"token": PASSWORD, "note": format!("{API_KEY} {GITHUB}")}}}),
        ),
        line(
            3,
            rollout,
            Some("root"),
            None,
            json!({"type": "protocol_event_observed", "event_type": "x",
            "event_payload": {"kind": {"type": "protocol_event"}, "inline_text": format!("Authorization: Bearer {BEARER} and {AWS}")}}),
        ),
    ];
    let path = dir.join("secrets.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path
}

#[test]
fn secrets_in_ingested_jsonl_never_reach_disk_unless_redaction_is_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = secret_jsonl(dir.path());
    let store = dir.path().join("store");
    ok(&store, &["ingest", file.to_str().expect("utf-8")]);
    assert_no_secret_in_store(&store, &[API_KEY, GITHUB, AWS, PASSWORD, BEARER]);
    let raw = dir.path().join("raw-store");
    ok(
        &raw,
        &["ingest", "--no-redact", file.to_str().expect("utf-8")],
    );
    let events = ok(&raw, &["events", "ingested", "--inline-payloads"]);
    assert!(
        events.contains(API_KEY) && events.contains(BEARER),
        "{events}"
    );
}

#[test]
fn secrets_in_imported_bundle_payload_files_never_reach_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    copy_dir(&example("bundle"), &bundle);
    std::fs::write(
        bundle.join("payloads/1.json"),
        serde_json::to_vec_pretty(&json!({
            "api_key": PASSWORD,
            "cookie": KNOWN,
            "text": format!("key {API_KEY}\n-----BEGIN PRIVATE KEY-----\n{GITHUB}\n-----END PRIVATE KEY-----\n")
        }))
        .expect("json"),
    )
    .expect("write payload");
    let store = dir.path().join("store");
    ok(&store, &["import-codex", bundle.to_str().expect("utf-8")]);
    assert_no_secret_in_store(&store, &[PASSWORD, KNOWN, API_KEY, GITHUB]);
    // Payload files without secrets keep their exact bytes.
    let exact = std::fs::read(bundle.join("payloads/2.json")).expect("read");
    let hash = blake3::hash(&exact).to_hex().to_string();
    let stored = crate::support::tracefold(&store, &["payload", &hash]);
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    assert_eq!(stored.stdout, exact);
}
