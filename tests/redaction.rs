//! Integration tests: secrets planted through the recorder, through JSONL
//! ingest and through a bundle import never reach disk (issue 13, point 6).
//!
//! Secrets of every format the issue lists are planted in every place a
//! string can hide: payload JSON (values, keys, arrays and objects under
//! secret keys), payload text and payload bytes that are not UTF-8, and every
//! event field and id (rollout, thread and turn ids, model and tool names,
//! event types, unknown-event bodies, `other` summaries and metadata, drop
//! reasons). Then every file under the store directory and every
//! decompressed chunk is searched for the raw bytes, and every event and
//! payload read back is searched too. Ids stay consistent: the rollouts
//! still reduce, and two secret-bearing thread ids stay two threads.
//! `--no-redact` keeps the bytes; the CLI prints what it redacted per rule.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tracefold::__internal::rule_marker;
use tracefold::event::{
    EventPayload, ExecutionStatus, JsonText, RawToolCallRequester, ToolCallKind, ToolCallSummary,
};
use tracefold::{
    Recorder, RecorderConfig, Redactor, RolloutStart, Store, StoreOptions, ThreadStart,
    ToolCallStart, WriterConfig,
};

use crate::support::{copy_dir, example, files_under, line, ok, read_events, tracefold};

// ---- Secrets planted through the recorder ----

const KNOWN: &str = "planted-known-secret-4f1c9a";
const R_OPENAI: &str = "sk-proj-RecorderOpenAiKey0123456789abcdef";
const R_GITHUB: &str = "ghp_RecorderGithubToken0123456789abcdef";
const R_AWS_ID: &str = "AKIARECORDER0123ABCD";
const R_PASSWORD: &str = "planted-password-value-77";
const R_BEARER: &str = "planted.bearer-token_value";
/// In the rollout id.
const R_ROLLOUT: &str = "sk-ant-api03-RecorderRolloutIdSecret0123456789";
/// In a child thread's id.
const R_THREAD: &str = "sk-proj-RecorderChildThreadSecret012345";
/// In a turn id.
const R_TURN: &str = "glpat-RecorderTurnIdSecret012";
/// In a model name.
const R_MODEL: &str = "xoxb-1111111111-RecorderModelName";
/// In a tool name.
const R_TOOL: &str = "rk_live_RecorderToolName0123456789";
/// In an unknown event's type name.
const R_EVENT_TYPE: &str = "AIzaRecorderUnknownEventType0123456789abc";
/// In an unknown event's body.
const R_UNKNOWN_BODY: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJyZWNvcmRlciI6InVua25vd24ifQ.UmVjb3JkZXJVbmtub3duQm9keVNpZw";
/// In an `other` event's summary.
const R_OTHER_SUMMARY: &str = "hf_RecorderOtherSummarySecretAbcdefgh";
/// In an `other` event's metadata.
const R_OTHER_METADATA: &str = "tvly-RecorderOtherMetadata0123456789";
/// Used as a JSON object key.
const R_JSON_KEY: &str = "sk_live_RecorderJsonKeySecret0123456789";
/// In a recorded drop reason.
const R_DROP_REASON: &str = "sk-ant-api03-RecorderDropReasonSecret0123456";
/// Basic credentials in a payload that is not UTF-8.
const R_BASIC: &str = "UmVjb3JkZXI6YmFzaWNwYXNzd29yZA==";
/// An AWS secret access key (40 base64 characters) in free text.
const R_AWS_SECRET: &str = "RecorderAwsSecretKey0123456789abcdef/+AB";
/// Plain text in an array under a secret key: only the key gives it away.
const R_ARRAY_VALUE: &str = "planted-cookie-array-value";
/// Plain text in an object under a secret key.
const R_OBJECT_VALUE: &str = "planted-credential-object-value";
/// The body of a PEM private key block.
const R_PEM_BODY: &str = "MIIRecorderPemPrivateKeyBodyPlanted";
/// The password of a URL.
const R_URL_PASSWORD: &str = "RecorderUrlPassw0rd";

// ---- Secrets planted through JSONL ingest ----

const J_ROLLOUT: &str = "sk-ant-api03-JsonlRolloutIdSecret0123456789";
const J_TRACE: &str = "xoxp-2222222222-JsonlTraceIdSecret";
const J_ROOT: &str = "sk-proj-JsonlRootThreadSecret0123456789ab";
const J_CHILD: &str = "sk-proj-JsonlChildThreadSecret0123456789a";
const J_TURN: &str = "glpat-JsonlTurnIdSecret012345";
const J_MODEL: &str = "xoxb-4444444444-JsonlModelNameSecret";
const J_TOOL: &str = "rk_live_JsonlToolNameSecret0123456789";
const J_EVENT_TYPE: &str = "AIzaJsonlProtocolEventType0123456789abcd";
const J_UNKNOWN_TYPE: &str = "ghp_JsonlUnknownTypeName0123456789abcd";
const J_UNKNOWN_BODY: &str = "tvly-JsonlUnknownEventBody0123456789";
const J_UNKNOWN_KEY: &str = "hf_JsonlUnknownEventKeySecretAbcdef";
const J_OTHER_SUMMARY: &str = "hf_JsonlOtherSummarySecretAbcdefghij";
const J_OTHER_METADATA: &str = "sk_live_JsonlOtherMetadataSecret0123";
const J_DROP_REASON: &str = "ya29.JsonlDropReasonToken0123456789";
const J_CELL_SOURCE: &str = "GOCSPX-JsonlCodeCellSecret0123456789";
const J_JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJqc29ubCI6InJlc3BvbnNlIn0.SnNvbmxSZXNwb25zZVNpZ25hdHVyZQ";
const J_JSON_KEY: &str = "sk-proj-JsonlSecretUsedAsAKey0123456789";
const J_ARRAY_VALUE: &str = "planted-jsonl-token-array-value";
const J_OBJECT_VALUE: &str = "planted-jsonl-client-secret-object";
const J_AWS_SECRET: &str = "JsonlAwsSecretAccessKey0123456789abcd/+X";
const J_STRIPE: &str = "sk_live_JsonlInlineTextStripe01234567";
const J_BASIC: &str = "SnNvbmw6YmFzaWMtcGFzc3dvcmQ=";
/// In the payload file that is not UTF-8.
const J_BYTES_ANTHROPIC: &str = "sk-ant-api03-JsonlBytesPayloadSecret012345";
const J_BYTES_BEARER: &str = "JsonlBytesBearerToken0123456789abc";

// ---- Secrets planted through a bundle import ----

const B_ROLLOUT: &str = "glpat-BundleRolloutIdSecret0123";
const B_ROOT: &str = "sk-proj-BundleRootThreadSecret01234567";
const B_API_KEY: &str = "planted-bundle-api-key-value";
const B_COOKIE: &str = "planted-bundle-cookie-value";
const B_OPENAI: &str = "sk-BundlePayloadOpenAiKey0123456789abcd";
const B_PEM_BODY: &str = "MIIBundlePemPrivateKeyBodyPlanted";
const B_BYTES_JWT: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJidW5kbGUiOiJieXRlcyJ9.QnVuZGxlQnl0ZXNTaWduYXR1cmVQbGFudGVk";
const B_BYTES_GOOGLE: &str = "AIzaBundleBytesPayloadKey0123456789abcdef";

/// Searches every file under `store` and every decompressed chunk for each
/// secret, and every event and payload read back (also as `events
/// --inline-payloads`, where a payload that is not UTF-8 travels as
/// base64), then checks that something was redacted.
fn assert_no_secret_in_store(store: &Path, secrets: &[&str]) {
    let contains = |bytes: &[u8], secret: &str| {
        bytes
            .windows(secret.len())
            .any(|window| window == secret.as_bytes())
    };
    let mut files = Vec::new();
    files_under(store, &mut files);
    assert!(!files.is_empty());
    for file in &files {
        let bytes = std::fs::read(file).expect("read store file");
        for secret in secrets {
            assert!(
                !contains(&bytes, secret),
                "{secret} found in {}",
                file.display()
            );
        }
    }
    let opened = Store::open(store, StoreOptions::default()).expect("open");
    let mut chunks = 0;
    opened
        .for_each_chunk(|hash, bytes| {
            chunks += 1;
            for secret in secrets {
                assert!(!contains(bytes, secret), "{secret} found in chunk {hash}");
            }
        })
        .expect("chunks decode");
    assert!(chunks > 0);
    let mut redacted = 0;
    for manifest in opened.rollouts().expect("rollouts") {
        for event in read_events(&opened, &manifest.rollout_id) {
            for r in event.payload.payload_refs() {
                let bytes = opened.read_payload(&r.hash).expect("payload reads");
                for secret in secrets {
                    assert!(
                        !contains(&bytes, secret),
                        "{secret} read back from payload {}",
                        r.hash
                    );
                }
                redacted += usize::from(contains(&bytes, "[REDACTED"));
            }
        }
    }
    drop(opened);
    let listing: Value = serde_json::from_str(&ok(store, &["rollouts", "--json"])).expect("json");
    for rollout in listing.as_array().expect("array") {
        let id = rollout["rollout_id"].as_str().expect("id");
        let mut output = ok(store, &["events", id]);
        output.push_str(&ok(store, &["events", id, "--inline-payloads"]));
        for secret in secrets {
            assert!(!output.contains(secret), "{secret} read back from {id}");
        }
        redacted += output.matches("[REDACTED").count();
    }
    assert!(redacted > 0, "nothing was redacted");
}

/// `id` as the store keeps it: the secret in it replaced by its marker.
fn redacted_id(prefix: &str, secret: &str) -> String {
    format!("{prefix}{}", rule_marker(secret.as_bytes()))
}

/// The reduced state of a stored rollout (`tracefold reduce`).
fn reduce(store: &Path, rollout_id: &str) -> Value {
    serde_json::from_str(&ok(store, &["reduce", rollout_id])).expect("state json")
}

fn thread_ids(state: &Value) -> Vec<String> {
    state["threads"]
        .as_object()
        .expect("threads")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn secrets_recorded_through_the_recorder_never_reach_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redactor = Arc::new(Redactor::new().with_known_secret(KNOWN));
    let rollout_id = format!("rollout-{R_ROLLOUT}");
    let child_id = format!("worker-{R_THREAD}");
    let turn_id = format!("turn-{R_TURN}");
    {
        let options = StoreOptions {
            max_payload_bytes: 64 * 1024,
            ..StoreOptions::default()
        };
        let store = Store::open(dir.path(), options).expect("open");
        let config = RecorderConfig {
            writer: WriterConfig {
                redaction: Some(Arc::clone(&redactor)),
                ..WriterConfig::default()
            },
            ..RecorderConfig::default()
        };
        let recorder = Recorder::start(&store, config).expect("recorder");
        let rollout = recorder.start_rollout(RolloutStart {
            rollout_id: Some(rollout_id.clone()),
            trace_id: None,
            root: ThreadStart {
                thread_id: "root".into(),
                agent_path: "/root".into(),
                metadata: Some(json!({
                    "env": {"OPENAI_API_KEY": R_OPENAI, "password": R_PASSWORD},
                    "cookie": [R_ARRAY_VALUE, "second"],
                    "client_secret": {"value": R_OBJECT_VALUE},
                    R_JSON_KEY: "a secret used as a key",
                })),
            },
        });
        let child = rollout.root().spawn_child(ThreadStart {
            thread_id: child_id.clone(),
            agent_path: "/root/worker".into(),
            metadata: Some(json!({"session_source": {"subagent": {"thread_spawn": {
                "parent_thread_id": "root", "agent_path": "/root/worker"}}}})),
        });
        let turn = rollout.root().start_turn(turn_id.clone());
        let call = turn.start_inference(&format!("model-{R_MODEL}"), "p", || {
            json!({
                "headers": {"Authorization": format!("Bearer {R_BEARER}"), "x-api-key": KNOWN},
                "input": [{"role": "user", "content": format!(
                    "my key is {R_OPENAI} and {R_GITHUB}, the worker is {child_id}")}]
            })
        });
        call.completed(None, None, || {
            json!({"output_items": [{"type": "message", "role": "assistant", "content": [
                {"type": "output_text",
                 "text": format!("aws {R_AWS_ID} secret_access_key = {R_AWS_SECRET}, known {KNOWN}")}
            ]}]})
        });
        let tool = turn.start_tool_call(
            ToolCallStart {
                tool_call_id: None,
                model_visible_call_id: Some("call-1".into()),
                code_mode_runtime_tool_id: None,
                requester: RawToolCallRequester::Model,
                kind: ToolCallKind::Other {
                    name: format!("tool-{R_TOOL}"),
                },
                summary: ToolCallSummary::generic(format!("run tool-{R_TOOL}")),
            },
            || Some(json!({"url": format!("postgres://app:{R_URL_PASSWORD}@db:5432/app")})),
        );
        tool.ended(ExecutionStatus::Completed, || {
            Some(format!(
                "-----BEGIN PRIVATE KEY-----\n{R_PEM_BODY}\n-----END PRIVATE KEY-----\n"
            ))
        });
        turn.code_cell_started(
            "cell-1",
            "call-2",
            &format!("fetch(url, {{key: '{R_OPENAI}'}})"),
        );
        // Terminal output with one byte that is not UTF-8.
        turn.protocol_event("raw_bytes", || {
            let mut bytes = b"\xff curl -H 'Authorization: Basic ".to_vec();
            bytes.extend_from_slice(R_BASIC.as_bytes());
            bytes.extend_from_slice(format!("' {KNOWN} Bearer {R_BEARER}").as_bytes());
            bytes
        });
        turn.record(|| EventPayload::Unknown {
            type_name: format!("future_{R_EVENT_TYPE}"),
            json: JsonText(
                json!({"type": format!("future_{R_EVENT_TYPE}"), "detail": R_UNKNOWN_BODY})
                    .to_string(),
            ),
        });
        turn.record(|| EventPayload::Other {
            kind: "note".into(),
            summary: format!("summary {R_OTHER_SUMMARY}"),
            payloads: vec![],
            metadata: JsonText(json!({"m": R_OTHER_METADATA, R_JSON_KEY: 1}).to_string()),
        });
        rollout.record(None, None, || EventPayload::EventsDropped {
            count: 2,
            reason: format!("lost while {R_DROP_REASON} rotated"),
        });
        // Over the store's payload limit: the writer drops it and records
        // the drop under the (redacted) rollout id.
        turn.protocol_event("huge", || "x".repeat(70 * 1024));
        turn.end(ExecutionStatus::Completed);
        child.end(tracefold::event::RolloutStatus::Completed);
        recorder.shutdown().expect("shutdown");
        assert_eq!(recorder.stats().events_dropped, 1);
        // The handle names the rollout as the store keeps it.
        assert_eq!(
            rollout.rollout_id(),
            redacted_id("rollout-", R_ROLLOUT),
            "the handle's id is the stored one"
        );
    }
    let secrets = [
        KNOWN,
        R_OPENAI,
        R_GITHUB,
        R_AWS_ID,
        R_PASSWORD,
        R_BEARER,
        R_ROLLOUT,
        R_THREAD,
        R_TURN,
        R_MODEL,
        R_TOOL,
        R_EVENT_TYPE,
        R_UNKNOWN_BODY,
        R_OTHER_SUMMARY,
        R_OTHER_METADATA,
        R_JSON_KEY,
        R_DROP_REASON,
        R_BASIC,
        R_AWS_SECRET,
        R_ARRAY_VALUE,
        R_OBJECT_VALUE,
        R_PEM_BODY,
        R_URL_PASSWORD,
    ];
    let stored_id = redacted_id("rollout-", R_ROLLOUT);
    assert_no_secret_in_store(dir.path(), &secrets);
    // One rollout, under the redacted id, still reducing; the child keeps
    // its (redacted) id everywhere, so it is the spawn edge's child.
    let store = dir.path();
    let listing: Value = serde_json::from_str(&ok(store, &["rollouts", "--json"])).expect("json");
    assert_eq!(listing.as_array().map(Vec::len), Some(1));
    assert_eq!(listing[0]["rollout_id"], json!(stored_id));
    let state = reduce(store, &stored_id);
    let child = redacted_id("worker-", R_THREAD);
    assert_eq!(thread_ids(&state), vec!["root".to_string(), child.clone()]);
    assert_eq!(
        state["codex_turns"][redacted_id("turn-", R_TURN)]["thread_id"],
        json!("root")
    );
    let counts = redactor.counts();
    for id in [
        "known-value",
        "secret-key",
        "openai-api-key",
        "anthropic-api-key",
        "basic-auth",
        "jwt",
        "private-key",
        "url-credentials",
        "aws-secret-access-key",
        "google-api-key",
    ] {
        assert!(
            counts.iter().any(|(rule, n)| rule == id && *n > 0),
            "{id} not in {counts:?}"
        );
    }
}

/// A JSONL file planting every `J_` secret: rollout `ingest-<J_ROLLOUT>`
/// (text payloads only) and rollout `ingest-bytes` (a payload file that is
/// not UTF-8).
fn secret_jsonl(dir: &Path) -> PathBuf {
    let rollout = format!("ingest-{J_ROLLOUT}");
    let root = format!("root-{J_ROOT}");
    let child = format!("child-{J_CHILD}");
    let turn = format!("turn-{J_TURN}");
    let (r, t, u) = (rollout.as_str(), Some(root.as_str()), Some(turn.as_str()));
    let lines = [
        line(
            1,
            r,
            None,
            None,
            json!({"type": "rollout_started",
            "trace_id": format!("trace-{J_TRACE}"), "root_thread_id": root}),
        ),
        line(
            2,
            r,
            None,
            None,
            json!({"type": "thread_started", "thread_id": root, "agent_path": "/root",
            "metadata_payload": {"kind": {"type": "session_metadata"}, "inline": {
                "token": [J_ARRAY_VALUE, "b"],
                "client_secret": {"value": J_OBJECT_VALUE},
                J_JSON_KEY: "a secret used as a key",
                "note": format!("Authorization: Basic {J_BASIC}")}}}),
        ),
        line(
            3,
            r,
            None,
            None,
            json!({"type": "thread_started", "thread_id": child, "agent_path": "/root/child",
            "metadata_payload": {"kind": {"type": "session_metadata"}, "inline": {"session_source": {"subagent":
                {"thread_spawn": {"parent_thread_id": root, "agent_path": "/root/child"}}}}}}),
        ),
        line(
            4,
            r,
            t,
            u,
            json!({"type": "codex_turn_started", "codex_turn_id": turn, "thread_id": root}),
        ),
        line(
            5,
            r,
            t,
            u,
            json!({"type": "inference_started", "inference_call_id": "inf-1",
            "thread_id": root, "codex_turn_id": turn, "model": format!("model-{J_MODEL}"), "provider_name": "p",
            "request_payload": {"kind": {"type": "inference_request"}, "inline": {"input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text",
                 "text": format!("run: aws_secret_access_key={J_AWS_SECRET} for {child}")}]}]}}}),
        ),
        line(
            6,
            r,
            t,
            u,
            json!({"type": "inference_completed", "inference_call_id": "inf-1",
            "response_id": null, "upstream_request_id": null,
            "response_payload": {"kind": {"type": "inference_response"}, "inline": {"output_items": [
                {"type": "message", "role": "assistant",
                 "content": [{"type": "output_text", "text": J_JWT}]}]}}}),
        ),
        line(
            7,
            r,
            t,
            u,
            json!({"type": "tool_call_started", "tool_call_id": "tool-1",
            "model_visible_call_id": null, "code_mode_runtime_tool_id": null,
            "requester": {"type": "model"}, "kind": {"type": "other", "name": format!("tool-{J_TOOL}")},
            "summary": {"type": "generic", "label": format!("tool-{J_TOOL}"), "input_preview": null, "output_preview": null},
            "invocation_payload": null}),
        ),
        line(
            8,
            r,
            t,
            u,
            json!({"type": "protocol_event_observed", "event_type": format!("evt-{J_EVENT_TYPE}"),
            "event_payload": {"kind": {"type": "protocol_event"}, "inline_text": format!("charge with {J_STRIPE}")}}),
        ),
        line(
            9,
            r,
            t,
            u,
            json!({"type": format!("future_{J_UNKNOWN_TYPE}"), "detail": J_UNKNOWN_BODY,
            "nested": {J_UNKNOWN_KEY: 1}}),
        ),
        line(
            10,
            r,
            t,
            u,
            json!({"type": "other", "kind": "note", "summary": format!("summary {J_OTHER_SUMMARY}"),
            "payloads": [], "metadata": {"m": J_OTHER_METADATA}}),
        ),
        line(
            11,
            r,
            t,
            u,
            json!({"type": "events_dropped", "count": 1, "reason": format!("lost {J_DROP_REASON}")}),
        ),
        line(
            12,
            r,
            t,
            u,
            json!({"type": "code_cell_started", "runtime_cell_id": "cell-1",
            "model_visible_call_id": "call-1", "source_js": format!("const key = '{J_CELL_SOURCE}';")}),
        ),
        line(
            13,
            r,
            t,
            u,
            json!({"type": "codex_turn_ended", "codex_turn_id": turn, "status": "completed"}),
        ),
        line(
            1,
            "ingest-bytes",
            None,
            None,
            json!({"type": "rollout_started", "trace_id": "t", "root_thread_id": "root"}),
        ),
        line(
            2,
            "ingest-bytes",
            None,
            None,
            json!({"type": "thread_started", "thread_id": "root",
            "agent_path": "/root", "metadata_payload": null}),
        ),
        line(
            3,
            "ingest-bytes",
            Some("root"),
            None,
            json!({"type": "protocol_event_observed", "event_type": "terminal",
            "event_payload": {"raw_payload_id": "raw_payload:1", "kind": {"type": "protocol_event"}, "path": "payloads/terminal.bin"}}),
        ),
    ];
    std::fs::create_dir_all(dir.join("payloads")).expect("mkdir");
    std::fs::write(dir.join("payloads/terminal.bin"), terminal_bytes()).expect("write payload");
    let path = dir.join("secrets.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path
}

/// Terminal output that is not UTF-8 (one 0xFF byte is enough).
fn terminal_bytes() -> Vec<u8> {
    let mut bytes = b"$ env\n\xffANTHROPIC_API_KEY=".to_vec();
    bytes.extend_from_slice(J_BYTES_ANTHROPIC.as_bytes());
    bytes.extend_from_slice(b"\n\xfe\xfdAuthorization: Bearer ");
    bytes.extend_from_slice(J_BYTES_BEARER.as_bytes());
    bytes.push(b'\n');
    bytes
}

const J_SECRETS: &[&str] = &[
    J_ROLLOUT,
    J_TRACE,
    J_ROOT,
    J_CHILD,
    J_TURN,
    J_MODEL,
    J_TOOL,
    J_EVENT_TYPE,
    J_UNKNOWN_TYPE,
    J_UNKNOWN_BODY,
    J_UNKNOWN_KEY,
    J_OTHER_SUMMARY,
    J_OTHER_METADATA,
    J_DROP_REASON,
    J_CELL_SOURCE,
    J_JWT,
    J_JSON_KEY,
    J_ARRAY_VALUE,
    J_OBJECT_VALUE,
    J_AWS_SECRET,
    J_STRIPE,
    J_BASIC,
    J_BYTES_ANTHROPIC,
    J_BYTES_BEARER,
];

#[test]
fn secrets_in_ingested_jsonl_never_reach_disk_unless_redaction_is_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = secret_jsonl(dir.path());
    let file = file.to_str().expect("utf-8");
    let store = dir.path().join("store");
    let out = tracefold(&store, &["ingest", file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rollout = redacted_id("ingest-", J_ROLLOUT);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{rollout}\ningest-bytes\n")
    );
    assert_no_secret_in_store(&store, J_SECRETS);

    // The CLI says what it redacted, per rule, in one line.
    let summary = stderr
        .lines()
        .find(|line| line.starts_with("redacted "))
        .unwrap_or_else(|| panic!("no redaction summary in {stderr:?}"));
    let (head, per_rule) = summary.split_once(": ").expect("a colon");
    let mut total = 0;
    let mut rules = Vec::new();
    for entry in per_rule.split(", ") {
        let (rule, count) = entry.rsplit_once(' ').expect("rule and count");
        total += count.parse::<u64>().expect("a count");
        rules.push(rule.to_string());
    }
    assert_eq!(head, format!("redacted {total} values"));
    let mut sorted = rules.clone();
    sorted.sort();
    assert_eq!(rules, sorted, "{summary}");
    for rule in [
        "anthropic-api-key",
        "aws-secret-access-key",
        "basic-auth",
        "bearer-token",
        "github-token",
        "gitlab-token",
        "google-api-key",
        "google-oauth-access-token",
        "google-oauth-client-secret",
        "huggingface-access-token",
        "jwt",
        "openai-api-key",
        "secret-key",
        "slack-token",
        "stripe-secret-key",
        "tavily-api-key",
    ] {
        assert!(rules.iter().any(|r| r == rule), "{rule} not in {summary}");
    }

    // Ids stay consistent: both threads keep distinct redacted ids, the
    // child's spawn edge names the redacted root, and the turn is found.
    let state = reduce(&store, &rollout);
    let root = redacted_id("root-", J_ROOT);
    let child = redacted_id("child-", J_CHILD);
    assert_eq!(thread_ids(&state), vec![root.clone(), child.clone()]);
    assert_eq!(state["root_thread_id"], json!(root));
    assert_eq!(state["trace_id"], json!(redacted_id("trace-", J_TRACE)));
    assert_eq!(
        state["threads"][&child]["origin"]["parent_thread_id"],
        json!(root)
    );
    assert_eq!(
        state["codex_turns"][redacted_id("turn-", J_TURN)]["thread_id"],
        json!(root)
    );

    // Ingesting the same file again gives the same events (deterministic).
    let again = dir.path().join("again");
    ok(&again, &["ingest", file]);
    for id in [rollout.as_str(), "ingest-bytes"] {
        assert_eq!(ok(&again, &["events", id]), ok(&store, &["events", id]));
    }

    // `--no-redact` keeps every byte.
    let raw = dir.path().join("raw-store");
    let out = tracefold(&raw, &["ingest", "--no-redact", file]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("redacted"));
    let raw_rollout = format!("ingest-{J_ROLLOUT}");
    let events = ok(&raw, &["events", &raw_rollout, "--inline-payloads"]);
    for secret in &J_SECRETS[..J_SECRETS.len() - 2] {
        assert!(events.contains(secret), "{secret} lost without redaction");
    }
    let stored = Store::open(&raw, StoreOptions::default()).expect("open");
    let event = &read_events(&stored, "ingest-bytes")[2];
    let payload = event.payload.payload_refs()[0].hash;
    assert_eq!(
        stored.read_payload(&payload).expect("reads"),
        terminal_bytes()
    );
}

#[test]
fn secrets_in_an_imported_bundle_never_reach_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    copy_dir(&example("bundle"), &bundle);
    // Secret-bearing rollout and root thread ids, in the manifest and in
    // every line that names them.
    let rollout = format!("rollout-{B_ROLLOUT}");
    let root = format!("thread-root-{B_ROOT}");
    for name in ["manifest.json", "trace.jsonl"] {
        let text = std::fs::read_to_string(bundle.join(name)).expect("read");
        let text = text
            .replace("rollout-example", &rollout)
            .replace("\"thread-root\"", &format!("\"{root}\""));
        std::fs::write(bundle.join(name), text).expect("write");
    }
    std::fs::write(
        bundle.join("payloads/1.json"),
        serde_json::to_vec_pretty(&json!({
            "api_key": B_API_KEY,
            "cookie": [B_COOKIE],
            "text": format!("key {B_OPENAI}\n-----BEGIN PRIVATE KEY-----\n{B_PEM_BODY}\n-----END PRIVATE KEY-----\n")
        }))
        .expect("json"),
    )
    .expect("write payload");
    // A tool's terminal output that is not UTF-8.
    let log = std::fs::read_to_string(bundle.join("trace.jsonl")).expect("read");
    let runtime = log
        .lines()
        .find_map(|line| {
            let value: Value = serde_json::from_str(line).ok()?;
            let path = value["payload"]["result_payload"]["path"].as_str()?;
            Some(path.to_string())
        })
        .expect("the example bundle has a tool result payload");
    let mut bytes = b"\xff\xfe".to_vec();
    bytes.extend_from_slice(format!("token {B_BYTES_JWT} key={B_BYTES_GOOGLE}\n").as_bytes());
    std::fs::write(bundle.join(&runtime), &bytes).expect("write bytes");

    let store = dir.path().join("store");
    let out = tracefold(&store, &["import-codex", bundle.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stored_id = redacted_id("rollout-", B_ROLLOUT);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{stored_id}\n")
    );
    assert!(stderr.contains("redacted "), "{stderr}");
    let secrets = [
        B_ROLLOUT,
        B_ROOT,
        B_API_KEY,
        B_COOKIE,
        B_OPENAI,
        B_PEM_BODY,
        B_BYTES_JWT,
        B_BYTES_GOOGLE,
    ];
    assert_no_secret_in_store(&store, &secrets);
    let state = reduce(&store, &stored_id);
    assert_eq!(
        state["root_thread_id"],
        json!(redacted_id("thread-root-", B_ROOT))
    );
    // Payload files without secrets keep their exact bytes.
    let exact = std::fs::read(bundle.join("payloads/2.json")).expect("read");
    let hash = blake3::hash(&exact).to_hex().to_string();
    let stored = tracefold(&store, &["payload", &hash]);
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    assert_eq!(stored.stdout, exact);
}

#[test]
fn at_least_39_distinct_secrets_are_planted() {
    let mut all: Vec<&str> = vec![
        KNOWN,
        R_OPENAI,
        R_GITHUB,
        R_AWS_ID,
        R_PASSWORD,
        R_BEARER,
        R_ROLLOUT,
        R_THREAD,
        R_TURN,
        R_MODEL,
        R_TOOL,
        R_EVENT_TYPE,
        R_UNKNOWN_BODY,
        R_OTHER_SUMMARY,
        R_OTHER_METADATA,
        R_JSON_KEY,
        R_DROP_REASON,
        R_BASIC,
        R_AWS_SECRET,
        R_ARRAY_VALUE,
        R_OBJECT_VALUE,
        R_PEM_BODY,
        R_URL_PASSWORD,
        B_ROLLOUT,
        B_ROOT,
        B_API_KEY,
        B_COOKIE,
        B_OPENAI,
        B_PEM_BODY,
        B_BYTES_JWT,
        B_BYTES_GOOGLE,
    ];
    all.extend_from_slice(J_SECRETS);
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "a secret is planted twice");
    assert!(count >= 39, "{count}");
}

/// A payload given as text that is a JSON document is redacted by its
/// parsed strings, as a payload file is: a match must not cut the escape
/// of a string inside it. (Text-level redaction once read the escape
/// `\n` after `token:` as a quote before a value, and turned the JSON text
/// `token:\n9 files` into `token:\[REDACTED:…] files`, an invalid escape
/// the reducer refused; the import of a generated Codex session met it in
/// a compaction checkpoint.)
#[test]
fn an_inline_text_json_payload_stays_valid_json_when_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let document = serde_json::json!({
        "items": [{"text": "the key token:\n9 files changed"},
                  {"text": "and the key sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEFGH here"}]
    })
    .to_string();
    let mut lines = crate::support::root_start_lines("rollout-inline-text");
    lines.push(line(
        3,
        "rollout-inline-text",
        None,
        None,
        serde_json::json!({"type": "source_line", "file": "f.jsonl", "line": 1,
                           "line_payload": {"kind": {"type": "source_line"},
                                            "inline_text": format!("{document}\n")}}),
    ));
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    ok(&store, &["ingest", input.to_str().unwrap()]);
    let out = dir.path().join("out");
    ok(
        &store,
        &[
            "export",
            "rollout-inline-text",
            "--format",
            "source",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let written = std::fs::read_to_string(out.join("f.jsonl")).unwrap();
    assert!(
        written.ends_with("}\n"),
        "the line keeps its ending: {written:?}"
    );
    let parsed: Value = serde_json::from_str(&written).expect("still JSON");
    let text = parsed.to_string();
    assert!(!text.contains("sk-proj-AbCdEf"), "{text}");
    assert!(text.contains("REDACTED"), "{text}");
}
