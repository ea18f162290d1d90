//! The spans on the wire: one OTLP/JSON `TracesData` document written as
//! the spans come, or OTLP/HTTP `ExportTraceServiceRequest`s of bounded
//! size. The messages and their JSON mapping (ids in hex, 64-bit integers
//! as strings, enums as numbers, camelCase keys) are `opentelemetry-proto`'s.

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::{GENAI_SEMCONV_VERSION, OtlpOptions, for_each_span, text};
use crate::model::RolloutTrace;

fn resource(options: &OtlpOptions) -> Resource {
    Resource {
        attributes: vec![text("service.name", options.service_name.clone())],
        ..Resource::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "tracefold".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..InstrumentationScope::default()
    }
}

/// The schema of the spans' attributes: the GenAI conventions' tag.
fn schema_url() -> String {
    format!("https://opentelemetry.io/schemas/{GENAI_SEMCONV_VERSION}")
}

/// Writes the spans of `trace` as one OTLP/JSON `TracesData` document
/// (one line), each span as it is made.
pub fn write_otlp_json(
    trace: &RolloutTrace,
    options: &OtlpOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut resource = serde_json::to_value(resource(options))?;
    prune(&mut resource);
    let mut scope = serde_json::to_value(scope())?;
    prune(&mut scope);
    out.write_all(b"{\"resourceSpans\":[{\"resource\":")?;
    serde_json::to_writer(&mut *out, &resource)?;
    out.write_all(b",\"scopeSpans\":[{\"scope\":")?;
    serde_json::to_writer(&mut *out, &scope)?;
    out.write_all(b",\"schemaUrl\":")?;
    serde_json::to_writer(&mut *out, &schema_url())?;
    out.write_all(b",\"spans\":[")?;
    let mut first = true;
    let mut failed = None;
    for_each_span(trace, options, &mut |span| {
        if failed.is_some() {
            return;
        }
        let separator = if first { &b""[..] } else { b"," };
        first = false;
        let written = out.write_all(separator).and_then(|()| {
            let mut json = serde_json::to_value(&span)?;
            prune(&mut json);
            serde_json::to_writer(&mut *out, &json).map_err(Into::into)
        });
        if let Err(err) = written {
            failed = Some(err);
        }
    });
    if let Some(err) = failed {
        return Err(err);
    }
    out.write_all(b"]}]}]}\n")
}

/// Leaves out the fields of OTLP/JSON objects that hold their default
/// (an empty parent id or trace state, zero flags and dropped counts, no
/// events, links or entity refs, an empty status message), as the protobuf
/// JSON mapping does by default: `opentelemetry-proto`'s serde writes them
/// all. Attribute values are not touched, so an empty string stays one.
fn prune(node: &mut serde_json::Value) {
    use serde_json::Value;
    const DEFAULTABLE: [&str; 11] = [
        "traceState",
        "parentSpanId",
        "flags",
        "droppedAttributesCount",
        "droppedEventsCount",
        "droppedLinksCount",
        "events",
        "links",
        "entityRefs",
        "message",
        "attributes",
    ];
    match node {
        Value::Object(map) => {
            map.retain(|key, value| {
                let default = match value {
                    Value::String(s) => s.is_empty(),
                    Value::Number(n) => n.as_u64() == Some(0),
                    Value::Array(a) => a.is_empty(),
                    Value::Null => true,
                    _ => false,
                };
                !(default && DEFAULTABLE.contains(&key.as_str()))
            });
            for (key, value) in map.iter_mut() {
                if key != "value" {
                    prune(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

/// How big one request may grow.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// The most spans in a request.
    pub max_spans: usize,
    /// The most encoded bytes of spans in a request (one span larger than
    /// this goes alone).
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    /// 512 spans (the OpenTelemetry SDKs' export batch size) or 3 MiB of
    /// spans, under the 4 MiB a gRPC receiver takes by default.
    fn default() -> BatchLimits {
        BatchLimits {
            max_spans: 512,
            max_bytes: 3 * 1024 * 1024,
        }
    }
}

fn request(options: &OtlpOptions, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(options)),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans,
                schema_url: schema_url(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Hands the spans of `trace` to `send` as requests within `limits`, in
/// order (a parent's span in the same or an earlier request than its
/// children's). Stops at the first error `send` returns and returns it;
/// else how many spans were sent.
pub fn for_each_request<E>(
    trace: &RolloutTrace,
    options: &OtlpOptions,
    limits: BatchLimits,
    send: &mut dyn FnMut(ExportTraceServiceRequest) -> Result<(), E>,
) -> Result<usize, E> {
    let mut batch: Vec<Span> = Vec::new();
    let mut bytes = 0;
    let mut sent = 0;
    let mut failed = None;
    for_each_span(trace, options, &mut |span| {
        if failed.is_some() {
            return;
        }
        let len = span.encoded_len();
        if !batch.is_empty() && (batch.len() >= limits.max_spans || bytes + len > limits.max_bytes)
        {
            let spans = std::mem::take(&mut batch);
            let count = spans.len();
            bytes = 0;
            match send(request(options, spans)) {
                Ok(()) => sent += count,
                Err(err) => {
                    failed = Some(err);
                    return;
                }
            }
        }
        bytes += len;
        batch.push(span);
    });
    if let Some(err) = failed {
        return Err(err);
    }
    if !batch.is_empty() {
        let count = batch.len();
        send(request(options, batch))?;
        sent += count;
    }
    Ok(sent)
}
