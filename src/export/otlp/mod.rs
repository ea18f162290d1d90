//! A reduced rollout as OpenTelemetry spans under the GenAI semantic
//! conventions: written as OTLP/JSON (`export --format otlp-json`) or sent
//! as OTLP/HTTP protobuf requests (`push`).
//!
//! One trace per rollout. Each thread is an `invoke_agent` span, a child
//! thread's nested under its parent's; each inference call a `chat` span
//! under its thread's; each tool call, code cell and terminal operation an
//! `execute_tool` span under what started it (the inference call whose
//! response started the tool call, the code cell that ran a nested call,
//! the tool call that ran a terminal operation), else under its thread's.
//! The conventions have no compaction operation: each compaction request is
//! a `chat` span answering with a `compaction` part (finish reason
//! `compaction`), and every inference call whose request holds a
//! compaction's replacement items has `gen_ai.conversation.compacted` true.
//! A child agent's span is nested under its parent's (the conventions' way
//! to say who spawned whom); the other interaction edges are span links
//! (our extension) on the span they reach, pointing at the span they leave.
//! Ids are BLAKE3 of the rollout and object ids, so the same rollout always
//! exports the same trace and span ids (a backend that deduplicates by id
//! takes a second push as the same spans).
//!
//! Bodies (messages, tool arguments and results, a cell's source) are cut
//! to [`OtlpOptions::max_body_bytes`]; the payload each came from is named
//! by its BLAKE3 in a `tracefold.*.blake3` attribute, so the whole body is
//! one `tracefold payload HASH` away. Spans are made one at a time
//! ([`for_each_span`]) and written or sent as they come: memory holds the
//! reduced state and one batch, never every span.

mod chat;
mod tools;
mod wire;

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::{Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{Status, status::StatusCode};

pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use opentelemetry_proto::tonic::trace::v1::Span;
pub use wire::{BatchLimits, for_each_request, write_otlp_json};

use crate::model::{ExecutionStatus, ExecutionWindow, RolloutTrace, TraceAnchor};

/// The GenAI semantic conventions the spans follow: the development tag of
/// `open-telemetry/semantic-conventions-genai` (it has no stable release;
/// read at `model/gen-ai/spans.yaml` 11069855 and the message schemas at
/// 2b902ce1).
pub const GENAI_SEMCONV_VERSION: &str = "gen-ai-dev/1.42.0-dev";

/// What goes into the spans.
#[derive(Debug, Clone)]
pub struct OtlpOptions {
    /// The most bytes one body attribute holds: the JSON of a call's input
    /// or output messages, a tool call's arguments or result, a cell's
    /// source. Longer ones are cut (messages: the oldest left out first,
    /// then the newest one's text cut), and say so.
    pub max_body_bytes: usize,
    /// The `service.name` of the resource.
    pub service_name: String,
}

impl Default for OtlpOptions {
    fn default() -> OtlpOptions {
        OtlpOptions {
            max_body_bytes: 64 * 1024,
            service_name: "tracefold".to_string(),
        }
    }
}

/// The trace id of rollout `rollout_id`: 16 bytes.
pub fn trace_id(rollout_id: &str) -> Vec<u8> {
    hash_prefix(&format!("tracefold trace\0{rollout_id}"), 16)
}

/// The span id of object `kind`/`id` of rollout `rollout_id`: 8 bytes.
pub fn span_id(rollout_id: &str, kind: &str, id: &str) -> Vec<u8> {
    hash_prefix(&format!("tracefold span\0{rollout_id}\0{kind}\0{id}"), 8)
}

fn hash_prefix(text: &str, bytes: usize) -> Vec<u8> {
    blake3::hash(text.as_bytes()).as_bytes()[..bytes].to_vec()
}

/// Span ids of one rollout, and empty spans to fill in.
struct Ids<'a> {
    rollout: &'a str,
    trace: Vec<u8>,
}

impl Ids<'_> {
    fn id(&self, kind: &str, object: &str) -> Vec<u8> {
        span_id(self.rollout, kind, object)
    }

    /// A span named `name`, with its parent (none: a root) and its own id.
    fn span(&self, name: String, kind: SpanKind, parent: Option<Vec<u8>>, own: Vec<u8>) -> Span {
        Span {
            trace_id: self.trace.clone(),
            span_id: own,
            parent_span_id: parent.unwrap_or_default(),
            name,
            kind: kind as i32,
            ..Span::default()
        }
    }
}

fn nanos(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// Sets `span`'s start, end and status from `window`: an error (`error`,
/// or a status other than completed and running) is status ERROR with the
/// message, and `error.type` the status's name.
fn finish(span: &mut Span, window: &ExecutionWindow, error: Option<&str>) {
    span.start_time_unix_nano = nanos(window.started_at_unix_ms);
    span.end_time_unix_nano = window
        .ended_at_unix_ms
        .map_or(span.start_time_unix_nano, nanos)
        .max(span.start_time_unix_nano);
    let (code, message) = match (window.status, error) {
        (ExecutionStatus::Completed, None) => (StatusCode::Ok, None),
        (ExecutionStatus::Running, None) => (StatusCode::Unset, None),
        (status, Some(error)) => (StatusCode::Error, Some((status, error.to_string()))),
        (status, None) => (
            StatusCode::Error,
            Some((status, status.as_str().to_string())),
        ),
    };
    if let Some((status, _)) = &message {
        // `_OTHER` is the conventions' fallback when nothing names the error.
        let kind = match status {
            ExecutionStatus::Completed | ExecutionStatus::Running => "_OTHER",
            other => other.as_str(),
        };
        span.attributes.push(text("error.type", kind));
    }
    span.status = Some(Status {
        code: code as i32,
        message: message.map(|(_, m)| m).unwrap_or_default(),
    });
}

/// Attribute `key` with `value`.
fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn text(key: &str, text: impl Into<String>) -> KeyValue {
    attribute(key, any_value::Value::StringValue(text.into()))
}

fn int(key: &str, n: u64) -> KeyValue {
    signed(key, i64::try_from(n).unwrap_or(i64::MAX))
}

fn signed(key: &str, n: i64) -> KeyValue {
    attribute(key, any_value::Value::IntValue(n))
}

fn flag(key: &str, on: bool) -> KeyValue {
    attribute(key, any_value::Value::BoolValue(on))
}

fn texts(key: &str, items: &[&str]) -> KeyValue {
    let values = items
        .iter()
        .map(|item| AnyValue {
            value: Some(any_value::Value::StringValue((*item).to_string())),
        })
        .collect();
    attribute(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

/// `tracefold.{what}.blake3` and `.size_bytes` of raw payload `payload_id`,
/// when the state has it.
fn payload_attributes(trace: &RolloutTrace, what: &str, payload_id: Option<&str>) -> Vec<KeyValue> {
    let Some(raw) = payload_id.and_then(|id| trace.raw_payloads.get(id)) else {
        return Vec::new();
    };
    if raw.is_placeholder() {
        return Vec::new();
    }
    vec![
        text(&format!("tracefold.{what}.blake3"), raw.blake3.to_hex()),
        int(&format!("tracefold.{what}.size_bytes"), raw.size_bytes),
    ]
}

/// `body` cut to at most `max` bytes (at a character boundary, ending with
/// a note of how much was cut; the note alone when `max` is smaller than
/// it), and whether it was.
fn cut(body: &str, max: usize) -> (std::borrow::Cow<'_, str>, bool) {
    if body.len() <= max {
        return (body.into(), false);
    }
    let note = format!(" …[cut: {max} of {} bytes]", body.len());
    let mut end = max.saturating_sub(note.len());
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}{note}", &body[..end]).into(), true)
}

/// A body attribute `key`, cut to `max` bytes; with `{key}.truncated` true
/// when it was.
fn body(key: &str, body: &str, max: usize) -> Vec<KeyValue> {
    let (kept, was_cut) = cut(body, max);
    let mut attributes = vec![text(key, kept)];
    if was_cut {
        attributes.push(flag(&format!("tracefold.{key}.truncated"), true));
    }
    attributes
}

/// Each model-visible call id's tool name, for the `tool_call` parts of
/// messages.
type ToolNames<'a> = indexmap::IndexMap<&'a str, String>;

fn tool_names(trace: &RolloutTrace) -> ToolNames<'_> {
    trace
        .tool_calls
        .values()
        .filter_map(|call| {
            let id = call.model_visible_call_id.as_deref()?;
            Some((id, call.kind.name().to_string()))
        })
        .collect()
}

/// Each span of `trace`, parents before children, handed to `sink` as it
/// is made.
pub fn for_each_span(trace: &RolloutTrace, options: &OtlpOptions, sink: &mut dyn FnMut(Span)) {
    let ids = Ids {
        rollout: &trace.rollout_id,
        trace: trace_id(&trace.rollout_id),
    };
    thread_spans(trace, &ids, sink);
    let names = tool_names(trace);
    chat::chat_spans(trace, options, &names, &ids, sink);
    tools::tool_spans(trace, options, &ids, sink);
    chat::compaction_spans(trace, options, &names, &ids, sink);
}

/// An `invoke_agent` span per thread, a child's under its parent's.
fn thread_spans(trace: &RolloutTrace, ids: &Ids<'_>, sink: &mut dyn FnMut(Span)) {
    let view = crate::view::RolloutView::of(trace);
    for node in &view.threads {
        let thread = &trace.threads[&node.thread_id];
        let mut s = ids.span(
            format!("invoke_agent {}", node.agent_path),
            SpanKind::Internal,
            node.parent_thread_id.as_ref().map(|p| ids.id("thread", p)),
            ids.id("thread", &node.thread_id),
        );
        s.attributes = vec![
            text("gen_ai.operation.name", "invoke_agent"),
            text("gen_ai.agent.id", node.thread_id.clone()),
            text(
                "gen_ai.agent.name",
                node.nickname
                    .clone()
                    .unwrap_or_else(|| node.agent_path.clone()),
            ),
            text("gen_ai.conversation.id", node.thread_id.clone()),
            text("tracefold.agent_path", node.agent_path.clone()),
            int("gen_ai.usage.input_tokens", node.usage.input_tokens),
            int("gen_ai.usage.output_tokens", node.usage.output_tokens),
        ];
        if let Some(model) = &thread.default_model {
            s.attributes
                .push(text("gen_ai.request.model", model.clone()));
        }
        finish(&mut s, &thread.execution, None);
        s.links = edge_links(trace, &node.thread_id, ids);
        sink(s);
    }
}

/// Links on thread `thread_id`'s span: each interaction edge that reaches
/// it, pointing at the span it leaves.
fn edge_links(trace: &RolloutTrace, thread_id: &str, ids: &Ids<'_>) -> Vec<Link> {
    let span_of = |anchor: &TraceAnchor| -> Option<Vec<u8>> {
        match anchor {
            TraceAnchor::ToolCall { tool_call_id }
                if trace.tool_calls.contains_key(tool_call_id) =>
            {
                Some(ids.id("tool", tool_call_id))
            }
            other => trace.anchor_thread(other).map(|t| ids.id("thread", t)),
        }
    };
    trace
        .interaction_edges
        .values()
        .filter(|edge| trace.anchor_thread(&edge.target) == Some(thread_id))
        .filter_map(|edge| {
            Some(Link {
                trace_id: ids.trace.clone(),
                span_id: span_of(&edge.source)?,
                attributes: vec![
                    text("tracefold.edge.kind", edge.kind.as_str()),
                    text("tracefold.edge_id", edge.edge_id.clone()),
                ],
                ..Link::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn a_cut_body_fits_keeps_whole_characters_and_says_how_much_it_had() {
        let body = "é".repeat(100); // 200 bytes
        let (kept, was_cut) = cut(&body, 64);
        assert!(was_cut);
        assert!(kept.len() <= 64, "{}", kept.len());
        assert!(kept.ends_with("…[cut: 64 of 200 bytes]"), "{kept}");
        assert!(kept.starts_with('é'));
        assert_eq!(cut("short", 64), ("short".into(), false));
        // Too small for the note: still no more than asked, no panic.
        let (tiny, _) = cut(&body, 3);
        assert!(tiny.len() <= 3 + " …[cut: 3 of 200 bytes]".len());
    }
}
