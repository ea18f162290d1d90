//! A reduced rollout as OpenTelemetry spans under the GenAI semantic
//! conventions, written as OTLP/JSON (`export --format otlp-json`).
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
//! compaction's replacement items has `gen_ai.conversation.compacted` true. A child agent's span is
//! nested under its parent's (the conventions' way to say who spawned whom);
//! the other interaction edges are span links (our extension) on the span
//! they reach, pointing at the span they leave. Ids are BLAKE3 of the
//! rollout and object ids, so the same rollout always exports the same
//! trace and span ids (a backend that deduplicates by id takes a second
//! push as the same spans).
//!
//! Message bodies go into `gen_ai.input.messages` and
//! `gen_ai.output.messages` as the conventions' JSON; a request's messages
//! are kept from the newest back while they fit `max_messages_bytes`, and
//! how many were left out, with the raw request's BLAKE3, is said in
//! `tracefold.*` attributes.

use std::io::Write;

use serde_json::{Value, json};

use crate::model::{
    ConversationItem, ConversationItemKind, ConversationPart, ConversationRole, ExecutionWindow,
    RolloutTrace, TerminalRequest, TraceAnchor,
};

/// The GenAI semantic conventions the spans follow: the development tag of
/// `open-telemetry/semantic-conventions-genai` (it has no stable release;
/// read at `model/gen-ai/spans.yaml` 11069855 and the message schemas at
/// 2b902ce1).
pub const GENAI_SEMCONV_VERSION: &str = "gen-ai-dev/1.42.0-dev";

/// What goes into the spans.
#[derive(Debug, Clone)]
pub struct OtlpOptions {
    /// The most bytes of message JSON one attribute holds.
    pub max_messages_bytes: usize,
    /// The `service.name` of the resource.
    pub service_name: String,
}

impl Default for OtlpOptions {
    fn default() -> OtlpOptions {
        OtlpOptions {
            max_messages_bytes: 64 * 1024,
            service_name: "tracefold".to_string(),
        }
    }
}

/// One span, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// 16 bytes, hex.
    pub trace_id: String,
    /// 8 bytes, hex.
    pub span_id: String,
    /// The parent's span id, if any.
    pub parent_span_id: Option<String>,
    /// The span's name (`chat gpt-5`, `execute_tool exec_command`).
    pub name: String,
    /// OTLP span kind: 1 internal, 3 client.
    pub kind: u8,
    /// Start, ns since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, ns since the Unix epoch (the start for work still running).
    pub end_unix_nanos: u64,
    /// Attributes in order.
    pub attributes: Vec<(String, Value)>,
    /// Links: (span id in this trace, attributes).
    pub links: Vec<(String, Vec<(String, Value)>)>,
    /// OTLP status code: 0 unset, 1 ok, 2 error; and its message.
    pub status: (u8, Option<String>),
}

/// The trace id of rollout `rollout_id` (hex).
pub fn trace_id(rollout_id: &str) -> String {
    hex_prefix(&format!("tracefold trace\0{rollout_id}"), 16)
}

/// The span id of object `kind`/`id` of rollout `rollout_id` (hex).
pub fn span_id(rollout_id: &str, kind: &str, id: &str) -> String {
    hex_prefix(&format!("tracefold span\0{rollout_id}\0{kind}\0{id}"), 8)
}

fn hex_prefix(text: &str, bytes: usize) -> String {
    let hash = blake3::hash(text.as_bytes());
    hash.as_bytes()[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn nanos(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// Start and end of `window` in ns.
fn times(window: &ExecutionWindow) -> (u64, u64) {
    let start = nanos(window.started_at_unix_ms);
    let end = window.ended_at_unix_ms.map_or(start, nanos).max(start);
    (start, end)
}

fn status(window: &ExecutionWindow, error: Option<&str>) -> (u8, Option<String>) {
    use crate::model::ExecutionStatus;
    match (window.status, error) {
        (_, Some(error)) => (2, Some(error.to_string())),
        (ExecutionStatus::Completed, None) => (1, None),
        (ExecutionStatus::Running, None) => (0, None),
        (other, None) => (2, Some(other.as_str().to_string())),
    }
}

fn text(key: &str, value: impl Into<String>) -> (String, Value) {
    (key.to_string(), Value::String(value.into()))
}

fn int(key: &str, value: u64) -> (String, Value) {
    (key.to_string(), json!(value))
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

/// The spans of `trace`, parents before children.
pub fn spans(trace: &RolloutTrace, options: &OtlpOptions) -> Vec<Span> {
    let rollout = trace.rollout_id.as_str();
    let trace_id = trace_id(rollout);
    let id = |kind: &str, object: &str| span_id(rollout, kind, object);
    let view = crate::view::RolloutView::of(trace);
    let mut out = Vec::new();
    let span = |name: String, kind: u8, parent: Option<String>, own: String| Span {
        trace_id: trace_id.clone(),
        span_id: own,
        parent_span_id: parent,
        name,
        kind,
        start_unix_nanos: 0,
        end_unix_nanos: 0,
        attributes: Vec::new(),
        links: Vec::new(),
        status: (0, None),
    };
    for node in &view.threads {
        let thread = &trace.threads[&node.thread_id];
        let mut s = span(
            format!("invoke_agent {}", node.agent_path),
            1,
            node.parent_thread_id.as_ref().map(|p| id("thread", p)),
            id("thread", &node.thread_id),
        );
        (s.start_unix_nanos, s.end_unix_nanos) = times(&thread.execution);
        s.status = status(&thread.execution, None);
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
        s.links = edge_links(trace, &node.thread_id, &id);
        out.push(s);
    }
    let names = tool_names(trace);
    chat_spans(trace, options, &names, &id, &span, &mut out);
    tool_spans(trace, &id, &span, &mut out);
    compaction_spans(trace, options, &names, &id, &span, &mut out);
    out
}

/// A `chat` span per inference call, under its thread's.
fn chat_spans(
    trace: &RolloutTrace,
    options: &OtlpOptions,
    names: &ToolNames<'_>,
    id: &dyn Fn(&str, &str) -> String,
    span: &dyn Fn(String, u8, Option<String>, String) -> Span,
    out: &mut Vec<Span>,
) {
    let replacements: std::collections::BTreeSet<&str> = trace
        .compactions
        .values()
        .flat_map(|c| c.replacement_item_ids.iter().map(|item| &**item))
        .collect();
    for (call_id, call) in &trace.inference_calls {
        let mut s = span(
            format!("chat {}", call.model),
            3,
            Some(id("thread", &call.thread_id)),
            id("inference", call_id),
        );
        (s.start_unix_nanos, s.end_unix_nanos) = times(&call.execution);
        s.status = status(&call.execution, call.error.as_deref());
        s.attributes = vec![
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.provider.name", call.provider_name.clone()),
            text("gen_ai.request.model", call.model.clone()),
            text("gen_ai.conversation.id", call.thread_id.clone()),
            text("tracefold.inference_call_id", call_id.clone()),
            text("tracefold.codex_turn_id", call.codex_turn_id.clone()),
        ];
        if let Some(response) = &call.response_id {
            s.attributes
                .push(text("gen_ai.response.id", response.clone()));
        }
        if let Some(usage) = &call.usage {
            s.attributes.extend([
                int("gen_ai.usage.input_tokens", usage.input_tokens),
                int("gen_ai.usage.output_tokens", usage.output_tokens),
                int(
                    "gen_ai.usage.cache_read.input_tokens",
                    usage.cached_input_tokens,
                ),
                int(
                    "gen_ai.usage.cache_write.input_tokens",
                    usage.cache_write_input_tokens,
                ),
                int(
                    "gen_ai.usage.reasoning.output_tokens",
                    usage.reasoning_output_tokens,
                ),
            ]);
        }
        // A request built on a compaction's replacement is a compacted view.
        let compacted = call
            .request_item_ids
            .iter()
            .any(|item| replacements.contains(&**item));
        if compacted {
            s.attributes.push((
                "gen_ai.conversation.compacted".to_string(),
                Value::Bool(true),
            ));
        }
        let (input, omitted) = messages(
            trace,
            names,
            &call.request_item_ids,
            options.max_messages_bytes,
        );
        s.attributes.push(text("gen_ai.input.messages", input));
        s.attributes
            .push(int("tracefold.input.messages.omitted", omitted as u64));
        let (output, _) = messages(
            trace,
            names,
            &call.response_item_ids,
            options.max_messages_bytes,
        );
        s.attributes.push(text("gen_ai.output.messages", output));
        if let Some(raw) = trace.raw_payloads.get(&call.raw_request_payload_id) {
            s.attributes
                .push(text("tracefold.request.blake3", raw.blake3.to_hex()));
        }
        out.push(s);
    }
}

/// A `chat` span per compaction request: the conventions have no
/// compaction operation, so the summariser's call is a chat answering with
/// a `compaction` part.
fn compaction_spans(
    trace: &RolloutTrace,
    options: &OtlpOptions,
    names: &ToolNames<'_>,
    id: &dyn Fn(&str, &str) -> String,
    span: &dyn Fn(String, u8, Option<String>, String) -> Span,
    out: &mut Vec<Span>,
) {
    for (request_id, request) in &trace.compaction_requests {
        let mut s = span(
            format!("chat {}", request.model),
            3,
            Some(id("thread", &request.thread_id)),
            id("compaction_request", request_id),
        );
        (s.start_unix_nanos, s.end_unix_nanos) = times(&request.execution);
        s.status = status(&request.execution, request.error.as_deref());
        s.attributes = vec![
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.provider.name", request.provider_name.clone()),
            text("gen_ai.request.model", request.model.clone()),
            text("gen_ai.conversation.id", request.thread_id.clone()),
            (
                "gen_ai.response.finish_reasons".to_string(),
                json!(["compaction"]),
            ),
            text("tracefold.compaction_id", request.compaction_id.clone()),
        ];
        if let Some(compaction) = trace.compactions.get(&request.compaction_id) {
            // The marker (a compaction part), then what replaced the history.
            let answer: Vec<crate::model::ItemId> = std::iter::once(&compaction.marker_item_id)
                .chain(&compaction.replacement_item_ids)
                .cloned()
                .collect();
            let (output, _) = messages(trace, names, &answer, options.max_messages_bytes);
            s.attributes.extend([
                text("gen_ai.output.messages", output),
                int(
                    "tracefold.compaction.replaced_items",
                    compaction.input_item_ids.len() as u64,
                ),
            ]);
        }
        out.push(s);
    }
}

/// Tool calls, code cells and terminal operations.
fn tool_spans(
    trace: &RolloutTrace,
    id: &dyn Fn(&str, &str) -> String,
    span: &dyn Fn(String, u8, Option<String>, String) -> Span,
    out: &mut Vec<Span>,
) {
    // What started each tool call: the inference call whose response did,
    // else the code cell that ran it.
    let mut started_by = indexmap::IndexMap::new();
    // The inference call that answered with each item (a cell's source).
    let mut answered_by = indexmap::IndexMap::new();
    for (call_id, call) in &trace.inference_calls {
        for tool in &call.tool_call_ids_started_by_response {
            started_by.insert(tool.as_str(), id("inference", call_id));
        }
        for item in &call.response_item_ids {
            answered_by
                .entry(&**item)
                .or_insert_with(|| id("inference", call_id));
        }
    }
    for (cell_id, cell) in &trace.code_cells {
        for tool in cell
            .nested_tool_call_ids
            .iter()
            .chain(&cell.wait_tool_call_ids)
        {
            started_by
                .entry(tool.as_str())
                .or_insert_with(|| id("cell", cell_id));
        }
        // A cell runs the source an inference call's response gave.
        let parent = answered_by
            .get(&*cell.source_item_id)
            .cloned()
            .unwrap_or_else(|| id("thread", &cell.thread_id));
        let mut s = span(
            "execute_tool exec".to_string(),
            1,
            Some(parent),
            id("cell", cell_id),
        );
        (s.start_unix_nanos, s.end_unix_nanos) = times(&cell.execution);
        s.status = status(&cell.execution, None);
        s.attributes = vec![
            text("gen_ai.operation.name", "execute_tool"),
            text("gen_ai.tool.name", "exec"),
            text("gen_ai.tool.call.id", cell.model_visible_call_id.clone()),
            text("gen_ai.tool.type", "extension"),
            text("gen_ai.tool.call.arguments", cell.source_js.clone()),
            text("tracefold.code_cell_id", cell_id.clone()),
        ];
        out.push(s);
    }
    for (tool_id, call) in &trace.tool_calls {
        let name = call.kind.name().to_string();
        let parent = started_by
            .get(tool_id.as_str())
            .cloned()
            .unwrap_or_else(|| id("thread", &call.thread_id));
        let mut s = span(
            format!("execute_tool {name}"),
            1,
            Some(parent),
            id("tool", tool_id),
        );
        (s.start_unix_nanos, s.end_unix_nanos) = times(&call.execution);
        s.status = status(&call.execution, None);
        s.attributes = vec![
            text("gen_ai.operation.name", "execute_tool"),
            text("gen_ai.tool.name", name),
            text(
                "gen_ai.tool.call.id",
                call.model_visible_call_id
                    .clone()
                    .unwrap_or_else(|| tool_id.clone()),
            ),
            text("gen_ai.tool.type", "function"),
            text("tracefold.tool_call_id", tool_id.clone()),
        ];
        out.push(s);
    }
    for op in trace.terminal_operations.values() {
        if !trace.tool_calls.contains_key(&op.tool_call_id) {
            continue;
        }
        // The conventions' command refinement: the tool's name, then the
        // executable's.
        let tool = trace.tool_calls[&op.tool_call_id].kind.name().to_string();
        let executable = match &op.request {
            TerminalRequest::ExecCommand { command, .. } => command.first().cloned(),
            TerminalRequest::WriteStdin { .. } => None,
        };
        let name = match &executable {
            Some(exe) => format!("execute_tool {tool} {exe}"),
            None => format!("execute_tool {tool}"),
        };
        let mut s = span(
            name,
            1,
            Some(id("tool", &op.tool_call_id)),
            id("terminal", &op.operation_id),
        );
        (s.start_unix_nanos, s.end_unix_nanos) = times(&op.execution);
        s.status = status(&op.execution, None);
        s.attributes = vec![
            text("gen_ai.operation.name", "execute_tool"),
            text("gen_ai.tool.name", tool),
            text("tracefold.terminal_operation_id", op.operation_id.clone()),
        ];
        if let Some(exe) = executable {
            s.attributes.push(text("process.executable.name", exe));
        }
        if let Some(code) = op.result.as_ref().and_then(|r| r.exit_code) {
            s.attributes
                .push(("process.exit.code".to_string(), json!(code)));
        }
        out.push(s);
    }
}

/// Links on thread `thread_id`'s span: each interaction edge that reaches
/// it, pointing at the span it leaves.
fn edge_links(
    trace: &RolloutTrace,
    thread_id: &str,
    id: &dyn Fn(&str, &str) -> String,
) -> Vec<(String, Vec<(String, Value)>)> {
    let span_of = |anchor: &TraceAnchor| -> Option<String> {
        match anchor {
            TraceAnchor::ToolCall { tool_call_id }
                if trace.tool_calls.contains_key(tool_call_id) =>
            {
                Some(id("tool", tool_call_id))
            }
            other => trace.anchor_thread(other).map(|t| id("thread", t)),
        }
    };
    trace
        .interaction_edges
        .values()
        .filter(|edge| trace.anchor_thread(&edge.target) == Some(thread_id))
        .filter_map(|edge| {
            Some((
                span_of(&edge.source)?,
                vec![
                    text("tracefold.edge.kind", edge.kind.as_str()),
                    text("tracefold.edge_id", edge.edge_id.clone()),
                ],
            ))
        })
        .collect()
}

/// The items as the conventions' messages JSON, kept from the newest back
/// while the JSON fits `max_bytes`; and how many were left out.
fn messages(
    trace: &RolloutTrace,
    names: &ToolNames<'_>,
    item_ids: &[crate::model::ItemId],
    max_bytes: usize,
) -> (String, usize) {
    let mut kept: Vec<Value> = Vec::new();
    let mut size = 2;
    for item_id in item_ids.iter().rev() {
        let Some(item) = trace.conversation_items.get(item_id) else {
            continue;
        };
        let message = message(names, item);
        let len = message.to_string().len() + 1;
        if size + len > max_bytes {
            break;
        }
        size += len;
        kept.push(message);
    }
    let omitted = item_ids.len() - kept.len();
    kept.reverse();
    (Value::Array(kept).to_string(), omitted)
}

/// One conversation item as a GenAI message: a role and its parts.
fn message(names: &ToolNames<'_>, item: &ConversationItem) -> Value {
    let role = match item.role {
        ConversationRole::System | ConversationRole::Developer => "system",
        ConversationRole::User => "user",
        ConversationRole::Assistant => "assistant",
        ConversationRole::Tool => "tool",
    };
    let body = crate::view::item_text(item);
    let call_id = item.call_id.clone().unwrap_or_default();
    let part = match item.kind {
        ConversationItemKind::FunctionCall | ConversationItemKind::CustomToolCall => {
            let name = names.get(call_id.as_str()).cloned().unwrap_or_default();
            json!({"type": "tool_call", "id": call_id, "name": name, "arguments": body})
        }
        ConversationItemKind::FunctionCallOutput | ConversationItemKind::CustomToolCallOutput => {
            json!({"type": "tool_call_response", "id": call_id, "response": body})
        }
        ConversationItemKind::Reasoning => {
            let summary: Vec<&str> = item
                .body
                .parts
                .iter()
                .filter_map(|p| match p {
                    ConversationPart::Summary { text } | ConversationPart::Text { text } => {
                        Some(text.as_str())
                    }
                    _ => None,
                })
                .collect();
            json!({"type": "reasoning", "content": summary.join("\n")})
        }
        ConversationItemKind::CompactionMarker => {
            let compaction = item.produced_by.iter().find_map(|p| match p {
                crate::model::ProducerRef::Compaction { compaction_id } => Some(compaction_id),
                _ => None,
            });
            json!({"type": "compaction", "id": compaction, "content": body})
        }
        ConversationItemKind::Message => json!({"type": "text", "content": body}),
    };
    json!({"role": role, "parts": [part]})
}

/// Writes `spans` as one OTLP/JSON `TracesData` document (the protobuf
/// JSON mapping: ids in hex, 64-bit integers as strings, enums as
/// numbers).
pub fn write_otlp_json(
    spans: &[Span],
    options: &OtlpOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let any = |value: &Value| -> Value {
        match value {
            Value::String(s) => json!({"stringValue": s}),
            Value::Number(n) if n.is_u64() || n.is_i64() => json!({"intValue": n.to_string()}),
            Value::Number(n) => json!({"doubleValue": n.as_f64()}),
            Value::Bool(b) => json!({"boolValue": b}),
            Value::Array(values) => json!({"arrayValue": {"values": values
                .iter()
                .map(|v| match v {
                    Value::String(s) => json!({"stringValue": s}),
                    other => json!({"stringValue": other.to_string()}),
                })
                .collect::<Vec<_>>()}}),
            other => json!({"stringValue": other.to_string()}),
        }
    };
    let attributes = |list: &[(String, Value)]| -> Value {
        Value::Array(
            list.iter()
                .map(|(key, value)| json!({"key": key, "value": any(value)}))
                .collect(),
        )
    };
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut span = json!({
                "traceId": s.trace_id,
                "spanId": s.span_id,
                "name": s.name,
                "kind": s.kind,
                "startTimeUnixNano": s.start_unix_nanos.to_string(),
                "endTimeUnixNano": s.end_unix_nanos.to_string(),
                "attributes": attributes(&s.attributes),
                "status": match &s.status.1 {
                    Some(message) => json!({"code": s.status.0, "message": message}),
                    None => json!({"code": s.status.0}),
                },
            });
            if let Some(parent) = &s.parent_span_id {
                span["parentSpanId"] = json!(parent);
            }
            if !s.links.is_empty() {
                span["links"] = Value::Array(
                    s.links
                        .iter()
                        .map(|(link, attrs)| {
                            json!({"traceId": s.trace_id, "spanId": link, "attributes": attributes(attrs)})
                        })
                        .collect(),
                );
            }
            span
        })
        .collect();
    let document = json!({
        "resourceSpans": [{
            "resource": {"attributes": attributes(&[text("service.name", options.service_name.clone())])},
            "scopeSpans": [{
                "scope": {"name": "tracefold", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
            "schemaUrl": format!("https://opentelemetry.io/schemas/{GENAI_SEMCONV_VERSION}"),
        }],
    });
    serde_json::to_writer(&mut *out, &document)?;
    out.write_all(b"\n")
}
