//! `push SOURCE --otlp-endpoint URL` against a small OTLP/HTTP receiver of
//! our own on loopback (Phoenix, a real one, is `tests/phoenix.rs`): the
//! requests are gzip protobuf `ExportTraceServiceRequest`s to `/v1/traces`
//! with the given headers, batches stay within `--batch-spans`, together
//! they hold exactly the spans of `export --format otlp-json`, a 503 is
//! retried, a partial success is reported, and a refusal, a bad URL or no
//! server at all is an error naming the endpoint.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::Value;

use crate::support::{fails, ok, tracefold};

/// One request the receiver took.
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn request(&self) -> ExportTraceServiceRequest {
        assert_eq!(self.header("content-encoding"), Some("gzip"));
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(&self.body[..])
            .read_to_end(&mut bytes)
            .expect("gzip");
        ExportTraceServiceRequest::decode(&bytes[..]).expect("protobuf")
    }
}

/// An OTLP/HTTP receiver answering each request with the next of
/// `replies` (status, extra headers, body), the last one repeated.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(replies: Vec<(u16, &'static str, Vec<u8>)>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut served = 0;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                while let Some(request) = read_request(&stream) {
                    let (status, extra, body) = &replies[served.min(replies.len() - 1)];
                    served += 1;
                    log.lock().expect("lock").push(request);
                    let mut out = &stream;
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/x-protobuf\r\n{extra}Content-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if out.write_all(head.as_bytes()).is_err() || out.write_all(body).is_err() {
                        break;
                    }
                }
            }
        });
        Receiver { url, received }
    }

    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().expect("lock"))
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        headers,
        body,
    })
}

fn demo(store: &Path, dir: &Path) -> (String, Value) {
    let state = dir.join("state.json");
    let out = ok(
        store,
        &[
            "demo",
            "--seed",
            "3",
            "--out",
            state.to_str().expect("utf-8"),
        ],
    );
    let rollout = out.split_whitespace().nth(1).expect("rollout").to_string();
    let export = dir.join("spans.json");
    ok(
        store,
        &[
            "export",
            &rollout,
            "--format",
            "otlp-json",
            "--out",
            export.to_str().expect("utf-8"),
        ],
    );
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(&export).expect("export")).expect("JSON");
    (rollout, document)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn push_sends_the_exports_spans_in_bounded_gzip_protobuf_batches_with_the_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, document) = demo(&store, dir.path());
    let exported = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .expect("spans")
        .clone();
    // A 503 first (retried at once, as Retry-After says), then success.
    let receiver = Receiver::start(vec![
        (503, "Retry-After: 0\r\n", Vec::new()),
        (200, "", Vec::new()),
    ]);
    let out = tracefold(
        &store,
        &[
            "push",
            &rollout,
            "--otlp-endpoint",
            &receiver.url,
            "--header",
            "x-project-name=demo",
            "--batch-spans",
            "10",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("HTTP 503; retrying"), "{stderr}");
    let received = receiver.take();
    // The refused first request came again.
    assert_eq!(received[0].body, received[1].body);
    let mut spans = Vec::new();
    for request in &received[1..] {
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
        assert_eq!(request.header("x-project-name"), Some("demo"));
        assert!(
            request
                .header("user-agent")
                .is_some_and(|a| a.starts_with("tracefold/"))
        );
        let decoded = request.request();
        let batch = &decoded.resource_spans[0].scope_spans[0].spans;
        assert!(!batch.is_empty() && batch.len() <= 10, "{}", batch.len());
        spans.extend(batch.iter().cloned());
    }
    assert_eq!(spans.len(), exported.len());
    let requests = received.len() - 1;
    assert_eq!(requests, exported.len().div_ceil(10));
    assert!(
        stdout.contains(&format!(
            "pushed {} spans in {requests} requests to {}/v1/traces",
            exported.len(),
            receiver.url
        )),
        "{stdout}"
    );
    // The same spans as the export, in the same order, parents first.
    for (sent, json) in spans.iter().zip(&exported) {
        assert_eq!(hex(&sent.span_id), json["spanId"].as_str().expect("id"));
        assert_eq!(hex(&sent.trace_id), json["traceId"].as_str().expect("id"));
        assert_eq!(
            hex(&sent.parent_span_id),
            json["parentSpanId"].as_str().unwrap_or("")
        );
        assert_eq!(sent.name, json["name"].as_str().expect("name"));
        assert_eq!(
            sent.attributes.len(),
            json["attributes"].as_array().expect("a").len()
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for span in &spans {
        assert!(
            span.parent_span_id.is_empty() || seen.contains(&span.parent_span_id),
            "{} came before its parent",
            span.name
        );
        seen.insert(span.span_id.clone());
    }
    // Pushing again sends the very same requests: the ids are derived.
    ok(
        &store,
        &[
            "push",
            &rollout,
            "--otlp-endpoint",
            &format!("{}/v1/traces", receiver.url),
            "--header",
            "x-project-name=demo",
            "--batch-spans",
            "10",
        ],
    );
    let again = receiver.take();
    assert_eq!(again.len(), requests);
    for (a, b) in again.iter().zip(&received[1..]) {
        assert_eq!(a.request(), b.request());
    }
}

#[test]
fn a_partial_success_a_refusal_and_a_wrong_endpoint_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, _) = demo(&store, dir.path());

    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 3,
            error_message: "span too old".to_string(),
        }),
    };
    let receiver = Receiver::start(vec![(200, "", partial.encode_to_vec())]);
    let out = tracefold(
        &store,
        &["push", &rollout, "--otlp-endpoint", &receiver.url],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}/v1/traces rejected 3 of", receiver.url))
            && stderr.contains("span too old"),
        "{stderr}"
    );

    let refusing = Receiver::start(vec![(400, "", b"bad span\n".to_vec())]);
    let err = fails(
        &store,
        &["push", &rollout, "--otlp-endpoint", &refusing.url],
    );
    assert!(
        err.contains(&format!(
            "POST {}/v1/traces: HTTP 400: bad span",
            refusing.url
        )) && err.contains("stopped after 0 spans"),
        "{err}"
    );
    assert_eq!(refusing.take().len(), 1, "a 400 is not retried");

    let err = fails(
        &store,
        &["push", &rollout, "--otlp-endpoint", "127.0.0.1:4318"],
    );
    assert!(err.contains("give an http:// or https:// URL"), "{err}");
    let err = fails(
        &store,
        &[
            "push",
            &rollout,
            "--otlp-endpoint",
            &refusing.url,
            "--header",
            "novalue",
        ],
    );
    assert!(err.contains("give KEY=VALUE"), "{err}");
    let err = fails(
        &store,
        &["push", "no-such-rollout", "--otlp-endpoint", &refusing.url],
    );
    assert!(err.contains("no-such-rollout"), "{err}");
    assert!(
        refusing.take().is_empty(),
        "nothing sent for a bad argument"
    );

    // No server: a closed port, retried, then an error naming it.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let err = fails(&store, &["push", &rollout, "--otlp-endpoint", &closed]);
    assert!(err.contains(&format!("POST {closed}/v1/traces")), "{err}");
}
