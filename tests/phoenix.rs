//! `push` into a real Arize Phoenix (PyPI `arize-phoenix`, in the venv
//! `scripts/test` makes), started on loopback in a temporary working
//! directory and stopped when the test ends, pass or fail. The demo
//! rollout is pushed, and Phoenix's own REST API must give back every
//! span with its name, parent, kind, model and token counts; a second push
//! of the same rollout must leave the same spans (the ids are derived), a
//! second rollout a second trace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::ok;
use crate::support::venv_python;

/// A Phoenix server of this test's own; stopped (its whole process group)
/// on drop.
struct Phoenix {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

impl Phoenix {
    fn start() -> Phoenix {
        let python = venv_python();
        let phoenix = python.with_file_name("phoenix");
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("phoenix.log");
        let port = free_port();
        let file = std::fs::File::create(&log).expect("log");
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(&phoenix)
                .arg("serve")
                .env("PHOENIX_WORKING_DIR", dir.path())
                .env("PHOENIX_HOST", "127.0.0.1")
                .env("PHOENIX_PORT", port.to_string())
                // Phoenix's gRPC receiver listens on every interface,
                // whatever PHOENIX_HOST says; a free port keeps it apart.
                .env("PHOENIX_GRPC_PORT", free_port().to_string())
                .env("PHOENIX_TELEMETRY_ENABLED", "false")
                .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("log"))
                .stderr(file)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|err| panic!("start {}: {err}", phoenix.display()))
        };
        let mut server = Phoenix {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        server.wait_ready();
        server
    }

    /// Waits for `/healthz` (Phoenix takes 20 to 30 s to start here).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(240);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Phoenix exited ({status}):\n{}", self.log_text());
            }
            if ureq::get(format!("{}/healthz", self.url))
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("Phoenix not ready in 240 s:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut start = text.len().saturating_sub(4000);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_string()
    }

    /// Every span of `project`, through `GET /v1/projects/{p}/spans`.
    fn spans(&self, project: &str) -> Vec<Value> {
        let mut spans = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/v1/projects/{project}/spans?limit=1000", self.url);
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page: Value = match ureq::get(&url).call() {
                Ok(mut response) => {
                    let text = response.body_mut().read_to_string().expect("body");
                    serde_json::from_str(&text).expect("JSON")
                }
                // No such project yet: nothing has arrived.
                Err(ureq::Error::StatusCode(404)) => return spans,
                Err(err) => panic!("GET {url}: {err}"),
            };
            spans.extend(page["data"].as_array().expect("data").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return spans,
            }
        }
    }

    /// The spans of `project` once there are `count` (ingestion runs in
    /// the background), or what there is after a minute.
    fn spans_when(&self, project: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let spans = self.spans(project);
            if spans.len() >= count || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Attribute `key` (dotted) of a Phoenix span, whether Phoenix gives the
/// attributes flat or nested.
fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    let attributes = &span["attributes"];
    if let Some(value) = attributes.get(key) {
        return Some(value);
    }
    key.split('.')
        .try_fold(attributes, |node, part| node.get(part))
}

fn push(store: &Path, source: &str, phoenix: &Phoenix, project: &str) -> String {
    ok(
        store,
        &[
            "push",
            source,
            "--otlp-endpoint",
            &phoenix.url,
            "--header",
            &format!("x-project-name={project}"),
        ],
    )
}

fn exported(store: &Path, rollout: &str, dir: &Path) -> Vec<Value> {
    let path = dir.join(format!("{rollout}.json"));
    ok(
        store,
        &[
            "export",
            rollout,
            "--format",
            "otlp-json",
            "--out",
            path.to_str().expect("utf-8"),
        ],
    );
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    document["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .expect("spans")
        .clone()
}

fn int_attribute(span: &Value, key: &str) -> Option<i64> {
    let value = span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?;
    value["value"]["intValue"].as_str()?.parse().ok()
}

fn text_attribute<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"]["stringValue"]
        .as_str()
}

#[test]
fn phoenix_shows_the_pushed_rollout_span_for_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let demo = |seed: &str| {
        let state = dir.path().join(format!("state-{seed}.json"));
        let out = ok(
            &store,
            &[
                "demo",
                "--seed",
                seed,
                "--out",
                state.to_str().expect("utf-8"),
            ],
        );
        out.split_whitespace().nth(1).expect("rollout").to_string()
    };
    let first = demo("1");
    let second = demo("2");
    let expected = exported(&store, &first, dir.path());

    let phoenix = Phoenix::start();
    let out = push(&store, &first, &phoenix, "tracefold-test");
    assert!(
        out.contains(&format!("pushed {} spans", expected.len())),
        "{out}"
    );
    let spans = phoenix.spans_when("tracefold-test", expected.len());
    assert_eq!(spans.len(), expected.len(), "{}", phoenix.log_text());

    let by_id: indexmap::IndexMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["context"]["span_id"].as_str().expect("span id"), s))
        .collect();
    let (mut chats, mut tools, mut agents) = (0, 0, 0);
    for want in &expected {
        let id = want["spanId"].as_str().expect("id");
        let got = by_id.get(id).unwrap_or_else(|| panic!("span {id} missing"));
        assert_eq!(got["name"], want["name"]);
        assert_eq!(got["context"]["trace_id"], want["traceId"]);
        let parent = want["parentSpanId"].as_str().filter(|p| !p.is_empty());
        assert_eq!(got["parent_id"].as_str(), parent, "{}", want["name"]);
        let name = want["name"].as_str().expect("name");
        let kind = got["span_kind"].as_str().expect("kind");
        if name.starts_with("chat ") {
            chats += 1;
            assert_eq!(kind, "LLM", "{name}");
            assert_eq!(
                attribute(got, "llm.model_name").and_then(Value::as_str),
                text_attribute(want, "gen_ai.request.model")
            );
            for (ours, theirs) in [
                ("gen_ai.usage.input_tokens", "llm.token_count.prompt"),
                ("gen_ai.usage.output_tokens", "llm.token_count.completion"),
                (
                    "gen_ai.usage.cache_read.input_tokens",
                    "llm.token_count.prompt_details.cache_read",
                ),
                (
                    "gen_ai.usage.cache_write.input_tokens",
                    "llm.token_count.prompt_details.cache_write",
                ),
                (
                    "gen_ai.usage.reasoning.output_tokens",
                    "llm.token_count.completion_details.reasoning",
                ),
            ] {
                assert_eq!(
                    attribute(got, theirs).and_then(Value::as_i64),
                    int_attribute(want, ours),
                    "{name}: {theirs}"
                );
            }
        } else if name.starts_with("execute_tool ") {
            tools += 1;
            assert_eq!(kind, "TOOL", "{name}");
        } else if name.starts_with("invoke_agent ") {
            agents += 1;
            assert_eq!(kind, "AGENT", "{name}");
        }
    }
    assert!(
        chats > 5 && tools > 5 && agents >= 2,
        "{chats} {tools} {agents}"
    );
    // Some call really used tokens, so the counts above compared numbers.
    assert!(spans.iter().any(|s| {
        attribute(s, "llm.token_count.prompt")
            .and_then(Value::as_i64)
            .is_some_and(|n| n > 0)
    }));

    // Again: the same ids, so the same spans, not twice as many.
    push(&store, &first, &phoenix, "tracefold-test");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(phoenix.spans("tracefold-test").len(), expected.len());

    // Another rollout is another trace beside it.
    let more = exported(&store, &second, dir.path()).len();
    push(&store, &second, &phoenix, "tracefold-test");
    let all = phoenix.spans_when("tracefold-test", expected.len() + more);
    assert_eq!(all.len(), expected.len() + more);
    let traces: std::collections::BTreeSet<&str> = all
        .iter()
        .filter_map(|s| s["context"]["trace_id"].as_str())
        .collect();
    assert_eq!(traces.len(), 2);
}
