//! `tracefold push SOURCE --otlp-endpoint URL`: a rollout's spans (the
//! library's [`crate::export::otlp`]) sent to an OpenTelemetry backend
//! over OTLP/HTTP: protobuf `ExportTraceServiceRequest`s, gzip, POSTed to
//! `{URL}/v1/traces` in batches as the spans are made. SOURCE is what
//! `show`, `view` and `diff` take. The ids are the export's, derived from
//! the rollout and object ids, so pushing twice sends the same spans.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use prost::Message;

use super::diff_cmd::{load, store_for};
use super::terminal::escape;
use super::{Cli, EXIT_NEGATIVE, EXIT_OK};
use crate::export::otlp::{BatchLimits, ExportTraceServiceRequest, OtlpOptions, for_each_request};

/// What `push` takes.
#[derive(Debug, clap::Args)]
pub(super) struct PushArgs {
    /// A stored rollout id, a bundle directory or a state JSON file
    source: String,
    /// The OTLP/HTTP endpoint, such as http://127.0.0.1:4318 (`/v1/traces`
    /// is added unless it ends so)
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: String,
    /// An HTTP header for every request, KEY=VALUE (repeatable), such as
    /// x-project-name=demo for Phoenix; added to those of
    /// OTEL_EXPORTER_OTLP_HEADERS (key=value pairs, comma-separated, values
    /// percent-encoded)
    #[arg(long = "header", value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// Cut each body attribute (messages, tool arguments and results) to
    /// this many bytes; the payload's BLAKE3 stays an attribute
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    max_body_bytes: usize,
    /// The most spans in one request
    #[arg(long, value_name = "N", default_value_t = 512)]
    batch_spans: usize,
    /// The resource's service.name
    #[arg(long, default_value = "tracefold")]
    service_name: String,
    /// Give up on a request after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

/// Attempts per request: the first and up to four retries.
const ATTEMPTS: u32 = 5;

pub(super) fn push(cli: &Cli, args: &PushArgs) -> anyhow::Result<i32> {
    let url = traces_url(&args.otlp_endpoint)?;
    let mut headers = match std::env::var("OTEL_EXPORTER_OTLP_HEADERS") {
        Ok(list) => env_headers(&list)?,
        Err(_) => Vec::new(),
    };
    for header in &args.headers {
        headers.push(header_arg(header)?);
    }
    if args.batch_spans == 0 {
        anyhow::bail!("--batch-spans must be at least 1");
    }
    let store = store_for(cli, &[&args.source])?;
    let loaded = load(&args.source, store.as_ref(), cli.max_payload_bytes, false)?;
    let trace = loaded.trace();
    let options = OtlpOptions {
        max_body_bytes: args.max_body_bytes,
        service_name: args.service_name.clone(),
    };
    let limits = BatchLimits {
        max_spans: args.batch_spans,
        ..BatchLimits::default()
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(args.timeout)))
        .http_status_as_error(false)
        .user_agent(concat!("tracefold/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut requests = 0;
    let mut rejected = 0;
    let mut sent_before = 0;
    let sent = for_each_request(trace, &options, limits, &mut |request| {
        let spans = span_count(&request);
        let outcome = send(&agent, &url, &headers, &request)
            .with_context(|| format!("push to {url} stopped after {sent_before} spans"))?;
        requests += 1;
        sent_before += spans;
        if let Some((count, message)) = outcome {
            rejected += count;
            eprintln!(
                "tracefold: {url} rejected {count} of {spans} spans: {}",
                escape(&message)
            );
        }
        anyhow::Ok(())
    })?;
    let trace_id: String = crate::export::otlp::trace_id(&trace.rollout_id)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = super::output::stdout();
    let plural = if requests == 1 { "" } else { "s" };
    writeln!(
        out,
        "pushed {sent} spans in {requests} request{plural} to {url}: trace {trace_id}"
    )?;
    out.flush()?;
    Ok(if rejected > 0 { EXIT_NEGATIVE } else { EXIT_OK })
}

fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// POSTs one request, retrying what OTLP calls retryable (429, 502, 503,
/// 504, and a failed connection) after the server's `Retry-After` or a
/// doubling wait. A partial success comes back as (rejected spans,
/// message).
fn send(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(String, String)],
    request: &ExportTraceServiceRequest,
) -> anyhow::Result<Option<(i64, String)>> {
    let body = gzip(&request.encode_to_vec())?;
    let mut wait = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        let mut post = agent
            .post(url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "gzip");
        for (name, value) in headers {
            post = post.header(name.as_str(), value.as_str());
        }
        let mut response = match post.send(&body[..]) {
            Ok(response) => response,
            Err(err @ (ureq::Error::Io(_) | ureq::Error::ConnectionFailed))
                if attempt < ATTEMPTS =>
            {
                eprintln!("tracefold: {url}: {err}; retrying in {wait:?}");
                std::thread::sleep(wait);
                wait *= 2;
                continue;
            }
            Err(err) => return Err(anyhow::Error::new(err).context(format!("POST {url}"))),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let reply = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => return Ok(partial_success(&reply)),
            429 | 502..=504 if attempt < ATTEMPTS => {
                let pause = retry_after.unwrap_or(wait).min(Duration::from_secs(30));
                eprintln!("tracefold: {url}: HTTP {status}; retrying in {pause:?}");
                std::thread::sleep(pause);
                wait *= 2;
            }
            _ => anyhow::bail!("POST {url}: HTTP {status}: {}", escape(&reply_text(&reply))),
        }
    }
    anyhow::bail!("POST {url}: no answer after {ATTEMPTS} attempts")
}

/// The rejected spans and message of an `ExportTraceServiceResponse`, when
/// it says some were.
fn partial_success(reply: &[u8]) -> Option<(i64, String)> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    let response = ExportTraceServiceResponse::decode(reply).ok()?;
    let partial = response.partial_success?;
    (partial.rejected_spans > 0).then_some((partial.rejected_spans, partial.error_message))
}

/// A server's error body, as text: a `google.rpc.Status` protobuf's
/// message when it is one, else the body's first 300 characters.
fn reply_text(reply: &[u8]) -> String {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    if let Ok(status) = RpcStatus::decode(reply)
        && !status.message.is_empty()
    {
        return status.message;
    }
    String::from_utf8_lossy(reply).chars().take(300).collect()
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The traces URL of an OTLP/HTTP endpoint: `URL/v1/traces`, unless URL
/// ends so already (the signal-specific form).
fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let trimmed = endpoint.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => {}
        _ => anyhow::bail!(
            "--otlp-endpoint {}: give an http:// or https:// URL, such as http://127.0.0.1:4318",
            escape(endpoint)
        ),
    }
    if trimmed.ends_with("/v1/traces") {
        Ok(trimmed.to_string())
    } else {
        Ok(format!("{trimmed}/v1/traces"))
    }
}

/// A `--header KEY=VALUE`.
fn header_arg(arg: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = arg.split_once('=').with_context(|| {
        format!(
            "--header {}: give KEY=VALUE, such as x-project-name=demo",
            escape(arg)
        )
    })?;
    checked_header(name.trim(), value.trim(), "--header")
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs separated by commas,
/// values percent-encoded (the OpenTelemetry SDKs' format).
fn env_headers(list: &str) -> anyhow::Result<Vec<(String, String)>> {
    list.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').with_context(
                || "OTEL_EXPORTER_OTLP_HEADERS: each entry is key=value, separated by commas",
            )?;
            checked_header(
                name.trim(),
                &percent_decode(value.trim()),
                "OTEL_EXPORTER_OTLP_HEADERS",
            )
        })
        .collect()
}

fn checked_header(name: &str, value: &str, origin: &str) -> anyhow::Result<(String, String)> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        anyhow::bail!("{origin}: {} is no HTTP header name", escape(name));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        // The value may be a secret: name the header, not the value.
        anyhow::bail!("{origin}: the value of {name} holds a control character");
    }
    Ok((name.to_string(), value.to_string()))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let (h, l) = (hex(h).unwrap_or(0), hex(l).unwrap_or(0));
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_gets_the_traces_path_once() {
        let url = |e: &str| traces_url(e).expect("url");
        assert_eq!(
            url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(url("http://h:4318/"), "http://h:4318/v1/traces");
        assert_eq!(
            url("https://cloud.langfuse.com/api/public/otel"),
            "https://cloud.langfuse.com/api/public/otel/v1/traces"
        );
        assert_eq!(url("http://h/v1/traces"), "http://h/v1/traces");
        for bad in ["127.0.0.1:4318", "ftp://h", "http://", "http:///x", ""] {
            assert!(traces_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_come_from_arguments_and_the_sdk_variable() {
        assert_eq!(
            header_arg("x-project-name=demo").expect("header"),
            ("x-project-name".to_string(), "demo".to_string())
        );
        assert!(header_arg("no-equals").is_err());
        assert!(header_arg("bad name=x").is_err());
        assert!(header_arg("x=a\r\nInjected: 1").is_err());
        assert_eq!(
            env_headers("Authorization=Basic%20abc%3D,x-a=b").expect("headers"),
            vec![
                ("Authorization".to_string(), "Basic abc=".to_string()),
                ("x-a".to_string(), "b".to_string())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
    }
}
