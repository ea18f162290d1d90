//! `execute_tool` spans: tool calls, code cells and terminal operations,
//! each under what started it.

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::{Ids, OtlpOptions, body, finish, payload_attributes, signed, text};
use crate::model::{ItemId, RolloutTrace, TerminalRequest};

/// The text of `items` (a call's arguments, or its outputs), one per line.
fn items_text(trace: &RolloutTrace, items: &[ItemId]) -> Option<String> {
    let texts: Vec<String> = items
        .iter()
        .filter_map(|id| trace.conversation_items.get(id))
        .map(crate::view::item_text)
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

/// Tool calls, code cells and terminal operations.
pub(super) fn tool_spans(
    trace: &RolloutTrace,
    options: &OtlpOptions,
    ids: &Ids<'_>,
    sink: &mut dyn FnMut(Span),
) {
    let max = options.max_body_bytes;
    // What started each tool call: the inference call whose response did,
    // else the code cell that ran it.
    let mut started_by = indexmap::IndexMap::new();
    // The inference call that answered with each item (a cell's source).
    let mut answered_by = indexmap::IndexMap::new();
    for (call_id, call) in &trace.inference_calls {
        for tool in &call.tool_call_ids_started_by_response {
            started_by.insert(tool.as_str(), ids.id("inference", call_id));
        }
        for item in &call.response_item_ids {
            answered_by
                .entry(&**item)
                .or_insert_with(|| ids.id("inference", call_id));
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
                .or_insert_with(|| ids.id("cell", cell_id));
        }
        // A cell runs the source an inference call's response gave.
        let parent = answered_by
            .get(&*cell.source_item_id)
            .cloned()
            .unwrap_or_else(|| ids.id("thread", &cell.thread_id));
        let mut s = ids.span(
            "execute_tool exec".to_string(),
            SpanKind::Internal,
            Some(parent),
            ids.id("cell", cell_id),
        );
        s.attributes = vec![
            text("gen_ai.operation.name", "execute_tool"),
            text("gen_ai.tool.name", "exec"),
            text("gen_ai.tool.call.id", cell.model_visible_call_id.clone()),
            text("gen_ai.tool.type", "extension"),
            text("tracefold.code_cell_id", cell_id.clone()),
        ];
        s.attributes
            .extend(body("gen_ai.tool.call.arguments", &cell.source_js, max));
        if let Some(output) = items_text(trace, &cell.output_item_ids) {
            s.attributes
                .extend(body("gen_ai.tool.call.result", &output, max));
        }
        finish(&mut s, &cell.execution, None);
        sink(s);
    }
    for (tool_id, call) in &trace.tool_calls {
        let name = call.kind.name().to_string();
        let parent = started_by
            .get(tool_id.as_str())
            .cloned()
            .unwrap_or_else(|| ids.id("thread", &call.thread_id));
        let mut s = ids.span(
            format!("execute_tool {name}"),
            SpanKind::Internal,
            Some(parent),
            ids.id("tool", tool_id),
        );
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
        if let Some(arguments) = items_text(trace, &call.model_visible_call_item_ids) {
            s.attributes
                .extend(body("gen_ai.tool.call.arguments", &arguments, max));
        }
        if let Some(result) = items_text(trace, &call.model_visible_output_item_ids) {
            s.attributes
                .extend(body("gen_ai.tool.call.result", &result, max));
        }
        s.attributes.extend(payload_attributes(
            trace,
            "tool.invocation",
            call.raw_invocation_payload_id.as_deref(),
        ));
        s.attributes.extend(payload_attributes(
            trace,
            "tool.result",
            call.raw_result_payload_id.as_deref(),
        ));
        finish(&mut s, &call.execution, None);
        sink(s);
    }
    terminal_spans(trace, ids, sink);
}

/// A span per terminal operation, under the tool call that ran it.
fn terminal_spans(trace: &RolloutTrace, ids: &Ids<'_>, sink: &mut dyn FnMut(Span)) {
    for op in trace.terminal_operations.values() {
        let Some(call) = trace.tool_calls.get(&op.tool_call_id) else {
            continue;
        };
        // The conventions' command refinement: the tool's name, then the
        // executable's.
        let tool = call.kind.name().to_string();
        let executable = match &op.request {
            TerminalRequest::ExecCommand { command, .. } => command.first().cloned(),
            TerminalRequest::WriteStdin { .. } => None,
        };
        let name = match &executable {
            Some(exe) => format!("execute_tool {tool} {exe}"),
            None => format!("execute_tool {tool}"),
        };
        let mut s = ids.span(
            name,
            SpanKind::Internal,
            Some(ids.id("tool", &op.tool_call_id)),
            ids.id("terminal", &op.operation_id),
        );
        s.attributes = vec![
            text("gen_ai.operation.name", "execute_tool"),
            text("gen_ai.tool.name", tool),
            text("tracefold.terminal_operation_id", op.operation_id.clone()),
        ];
        if let Some(exe) = executable {
            s.attributes.push(text("process.executable.name", exe));
        }
        if let Some(code) = op.result.as_ref().and_then(|r| r.exit_code) {
            s.attributes.push(signed("process.exit.code", code.into()));
        }
        finish(&mut s, &op.execution, None);
        sink(s);
    }
}
