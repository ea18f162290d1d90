//! `export --format otlp-json`: a rollout as OpenTelemetry spans under the
//! GenAI semantic conventions. The span tree is checked against the state
//! (one span per thread, inference call, tool call, code cell, terminal
//! operation and compaction; every parent present; token counts as the
//! state has them), ids are the same on a second export and differ for
//! another rollout, and the file parses with the official
//! `opentelemetry-proto` Python package (in the venv `scripts/test` makes).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{demo, ok, venv_python};

fn export(store: &Path, rollout: &str, out: &Path) -> Value {
    ok(
        store,
        &[
            "export",
            rollout,
            "--format",
            "otlp-json",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    serde_json::from_str(&std::fs::read_to_string(out).expect("otlp")).expect("JSON")
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[test]
fn a_rollout_exports_as_a_genai_span_tree_that_the_official_protobuf_package_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, state) = demo(&store, dir.path(), "7");
    let path = dir.path().join("otlp.json");
    let document = export(&store, &rollout, &path);
    let spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .expect("spans");

    let count = |name: &str| state[name].as_object().expect(name).len();
    let named = |prefix: &str| {
        spans
            .iter()
            .filter(|s| s["name"].as_str().expect("name").starts_with(prefix))
            .count()
    };
    assert_eq!(named("invoke_agent "), count("threads"));
    // Compaction requests are chat spans too: the conventions have no
    // compaction operation.
    assert_eq!(
        named("chat "),
        count("inference_calls") + count("compaction_requests")
    );
    assert_eq!(
        named("execute_tool "),
        count("tool_calls") + count("code_cells") + count("terminal_operations")
    );
    assert_eq!(count("compactions"), 1);
    let compaction = spans
        .iter()
        .find(|s| attribute(s, "tracefold.compaction_id").is_some())
        .expect("the compaction's chat span");
    assert_eq!(
        attribute(compaction, "gen_ai.response.finish_reasons").expect("reasons")["arrayValue"]["values"]
            [0]["stringValue"],
        "compaction"
    );
    let answer: Value = serde_json::from_str(
        attribute(compaction, "gen_ai.output.messages").expect("output")["stringValue"]
            .as_str()
            .expect("text"),
    )
    .expect("JSON");
    assert_eq!(answer[0]["parts"][0]["type"], "compaction");
    // Every call after it says its conversation was compacted; none before.
    let compacted: Vec<&Value> = spans
        .iter()
        .filter(|s| attribute(s, "gen_ai.conversation.compacted").is_some())
        .collect();
    let installed = state["compactions"]
        .as_object()
        .expect("compactions")
        .values()
        .next()
        .expect("one");
    let after = state["inference_calls"]
        .as_object()
        .expect("calls")
        .values()
        .filter(|c| {
            c["thread_id"] == installed["thread_id"]
                && c["execution"]["started_seq"].as_u64() > installed["installed_seq"].as_u64()
        })
        .count();
    assert!(after > 0);
    assert_eq!(compacted.len(), after);
    assert!(compacted.iter().all(|s| {
        attribute(s, "gen_ai.conversation.compacted").expect("flag")["boolValue"] == true
    }));
    assert_eq!(
        spans.len(),
        named("invoke_agent ") + named("chat ") + named("execute_tool ")
    );

    // One trace; every parent is a span of it; only the root thread has none.
    let trace_id = spans[0]["traceId"].as_str().expect("trace id");
    assert_eq!(trace_id.len(), 32);
    let ids: std::collections::BTreeSet<&str> = spans
        .iter()
        .map(|s| s["spanId"].as_str().expect("span id"))
        .collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");
    let roots: Vec<&Value> = spans
        .iter()
        .filter(|s| s.get("parentSpanId").is_none())
        .collect();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0]["name"], "invoke_agent /root");
    for span in spans {
        assert_eq!(span["traceId"], trace_id);
        if let Some(parent) = span["parentSpanId"].as_str() {
            assert!(ids.contains(parent), "{}", span["name"]);
        }
    }
    // A child agent's span is under its parent's; its spawn is a link.
    let child = spans
        .iter()
        .find(|s| s["name"] == "invoke_agent /root/reviewer1")
        .expect("the child agent");
    assert_eq!(child["parentSpanId"], roots[0]["spanId"]);
    assert!(
        child["links"].as_array().expect("links").iter().any(|l| {
            l["attributes"]
                .as_array()
                .expect("attrs")
                .iter()
                .any(|a| a["value"]["stringValue"] == "spawn_agent")
        }),
        "{child}"
    );

    // Each chat span carries its call's model and tokens as the state has them.
    for (call_id, call) in state["inference_calls"].as_object().expect("calls") {
        let span = spans
            .iter()
            .find(|s| {
                attribute(s, "tracefold.inference_call_id").and_then(|v| v["stringValue"].as_str())
                    == Some(call_id)
            })
            .expect("the call's span");
        assert_eq!(
            span["name"],
            format!("chat {}", call["model"].as_str().expect("model"))
        );
        assert_eq!(
            attribute(span, "gen_ai.operation.name").expect("op")["stringValue"],
            "chat"
        );
        // A call that reported no usage (the interrupted one) has none.
        assert_eq!(
            attribute(span, "gen_ai.usage.input_tokens").map(|v| v["intValue"].clone()),
            call["usage"]
                .get("input_tokens")
                .map(|n| Value::String(n.to_string())),
            "{call_id}"
        );
        let input = attribute(span, "gen_ai.input.messages").expect("messages")["stringValue"]
            .as_str()
            .expect("text");
        let messages: Value = serde_json::from_str(input).expect("messages are JSON");
        assert!(messages.as_array().is_some_and(|m| !m.is_empty()));
    }

    // The same rollout exports the same bytes; another rollout other ids.
    let again = dir.path().join("again.json");
    export(&store, &rollout, &again);
    assert_eq!(
        std::fs::read(&path).expect("first"),
        std::fs::read(&again).expect("second")
    );
    let (other, _) = demo(&store, dir.path(), "8");
    let other = export(&store, &other, &dir.path().join("other.json"));
    assert_ne!(
        other["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"],
        trace_id
    );

    // The official protobuf package reads it: 16-byte trace ids, 8-byte span
    // ids, the same names, parents and token counts.
    let output = Command::new(venv_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/otlp_check.py"))
        .arg(&path)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).expect("summary");
    let parsed = parsed["spans"].as_array().expect("spans");
    assert_eq!(parsed.len(), spans.len());
    for (proto, json) in parsed.iter().zip(spans) {
        assert_eq!(proto["trace_id"], json["traceId"]);
        assert_eq!(proto["span_id"], json["spanId"]);
        assert_eq!(proto["span_id"].as_str().expect("id").len(), 16);
        assert_eq!(
            proto["parent_span_id"].as_str().expect("parent"),
            json["parentSpanId"].as_str().unwrap_or("")
        );
        assert_eq!(proto["name"], json["name"]);
        assert_eq!(proto["kind"], json["kind"]);
        if let Some(tokens) = attribute(json, "gen_ai.usage.input_tokens") {
            assert_eq!(
                proto["ints"]["gen_ai.usage.input_tokens"].to_string(),
                tokens["intValue"].as_str().expect("int")
            );
        }
    }
}

#[test]
fn bodies_are_cut_to_max_body_bytes_and_name_the_payload_they_came_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, _) = demo(&store, dir.path(), "5");
    let whole = export(&store, &rollout, &dir.path().join("whole.json"));
    let out = dir.path().join("cut.json");
    ok(
        &store,
        &[
            "export",
            &rollout,
            "--format",
            "otlp-json",
            "--max-body-bytes",
            "300",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    let cut: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("JSON");
    let spans = |doc: &Value| doc["resourceSpans"][0]["scopeSpans"][0]["spans"].clone();
    let (whole, cut) = (spans(&whole), spans(&cut));
    assert_eq!(
        whole.as_array().expect("spans").len(),
        cut.as_array().expect("spans").len()
    );
    let bodies = [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    ];
    let (mut truncated, mut omitted, mut checked) = (0, 0, 0);
    for (w, c) in whole
        .as_array()
        .expect("spans")
        .iter()
        .zip(cut.as_array().expect("spans"))
    {
        assert_eq!(w["spanId"], c["spanId"]);
        for key in bodies {
            let Some(body) = attribute(c, key) else {
                continue;
            };
            let body = body["stringValue"].as_str().expect("string");
            assert!(body.len() <= 300, "{key}: {} bytes", body.len());
            checked += 1;
            if key.ends_with("messages") {
                // Still the conventions' JSON, however it was cut.
                let messages: Value = serde_json::from_str(body).expect("messages JSON");
                assert!(messages.is_array());
            }
            let whole_body = attribute(w, key).expect("whole")["stringValue"]
                .as_str()
                .expect("s");
            if whole_body.len() > 300 {
                let flag = attribute(c, &format!("tracefold.{key}.truncated"));
                let dropped = attribute(c, &format!("tracefold.{key}.omitted"))
                    .and_then(|v| v["intValue"].as_str())
                    .is_some_and(|n| n != "0");
                assert!(flag.is_some() || dropped, "{key} was cut without saying so");
                truncated += usize::from(flag.is_some());
                omitted += usize::from(dropped);
            }
        }
    }
    assert!(
        checked > 20 && truncated > 0 && omitted > 0,
        "{checked} {truncated} {omitted}"
    );
    // The request's payload is one `payload HASH` away, whole.
    let chat = cut
        .as_array()
        .expect("spans")
        .iter()
        .find(|s| attribute(s, "tracefold.request.blake3").is_some())
        .expect("a chat span names its request");
    let hash = attribute(chat, "tracefold.request.blake3").expect("hash")["stringValue"]
        .as_str()
        .expect("hex");
    let size: usize = attribute(chat, "tracefold.request.size_bytes").expect("size")["intValue"]
        .as_str()
        .expect("int")
        .parse()
        .expect("number");
    let payload = crate::support::tracefold(&store, &["payload", hash]);
    assert!(payload.status.success());
    assert_eq!(payload.stdout.len(), size);
    assert_eq!(blake3::hash(&payload.stdout).to_hex().as_str(), hash);

    let err = crate::support::fails(
        &store,
        &[
            "export",
            &rollout,
            "--format",
            "state",
            "--max-body-bytes",
            "10",
            "--out",
            "-",
        ],
    );
    assert!(
        err.contains("--max-body-bytes applies to --format otlp-json only"),
        "{err}"
    );
}
