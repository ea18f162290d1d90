//! `chat` spans: one per inference call and one per compaction request,
//! with the conversations' messages as the conventions' JSON.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};

use super::{Ids, ToolNames, cut, finish, flag, int, payload_attributes, text, texts};
use crate::model::{
    ConversationItem, ConversationItemKind, ConversationPart, ConversationRole, ItemId,
    RolloutTrace,
};

/// A `chat` span per inference call, under its thread's.
pub(super) fn chat_spans(
    trace: &RolloutTrace,
    options: &super::OtlpOptions,
    names: &ToolNames<'_>,
    ids: &Ids<'_>,
    sink: &mut dyn FnMut(Span),
) {
    let replacements: std::collections::BTreeSet<&str> = trace
        .compactions
        .values()
        .flat_map(|c| c.replacement_item_ids.iter().map(|item| &**item))
        .collect();
    for (call_id, call) in &trace.inference_calls {
        let mut s = ids.span(
            format!("chat {}", call.model),
            SpanKind::Client,
            Some(ids.id("thread", &call.thread_id)),
            ids.id("inference", call_id),
        );
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
                // OpenInference's names for the two the GenAI conventions
                // renamed or added after Phoenix's converter was written,
                // which it would otherwise not show.
                int(
                    "llm.token_count.prompt_details.cache_write",
                    usage.cache_write_input_tokens,
                ),
                int(
                    "llm.token_count.completion_details.reasoning",
                    usage.reasoning_output_tokens,
                ),
            ]);
        }
        // A request built on a compaction's replacement is a compacted
        // view. The conventions say to leave the attribute unset otherwise.
        let compacted = call
            .request_item_ids
            .iter()
            .any(|item| replacements.contains(&**item));
        if compacted {
            s.attributes
                .push(flag("gen_ai.conversation.compacted", true));
        }
        let max = options.max_body_bytes;
        s.attributes.extend(messages(
            trace,
            names,
            "gen_ai.input.messages",
            &call.request_item_ids,
            max,
        ));
        s.attributes.extend(messages(
            trace,
            names,
            "gen_ai.output.messages",
            &call.response_item_ids,
            max,
        ));
        s.attributes.extend(payload_attributes(
            trace,
            "request",
            Some(&call.raw_request_payload_id),
        ));
        s.attributes.extend(payload_attributes(
            trace,
            "response",
            call.raw_response_payload_id.as_deref(),
        ));
        finish(&mut s, &call.execution, call.error.as_deref());
        sink(s);
    }
}

/// A `chat` span per compaction request: the conventions have no
/// compaction operation, so the summariser's call is a chat answering with
/// a `compaction` part.
pub(super) fn compaction_spans(
    trace: &RolloutTrace,
    options: &super::OtlpOptions,
    names: &ToolNames<'_>,
    ids: &Ids<'_>,
    sink: &mut dyn FnMut(Span),
) {
    for (request_id, request) in &trace.compaction_requests {
        let mut s = ids.span(
            format!("chat {}", request.model),
            SpanKind::Client,
            Some(ids.id("thread", &request.thread_id)),
            ids.id("compaction_request", request_id),
        );
        s.attributes = vec![
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.provider.name", request.provider_name.clone()),
            text("gen_ai.request.model", request.model.clone()),
            text("gen_ai.conversation.id", request.thread_id.clone()),
            texts("gen_ai.response.finish_reasons", &["compaction"]),
            text("tracefold.compaction_id", request.compaction_id.clone()),
        ];
        if let Some(compaction) = trace.compactions.get(&request.compaction_id) {
            // The marker (a compaction part), then what replaced the history.
            let answer: Vec<ItemId> = std::iter::once(&compaction.marker_item_id)
                .chain(&compaction.replacement_item_ids)
                .cloned()
                .collect();
            s.attributes.extend(messages(
                trace,
                names,
                "gen_ai.output.messages",
                &answer,
                options.max_body_bytes,
            ));
            s.attributes.push(int(
                "tracefold.compaction.replaced_items",
                compaction.input_item_ids.len() as u64,
            ));
        }
        finish(&mut s, &request.execution, request.error.as_deref());
        sink(s);
    }
}

/// Attribute `key`: the items as the conventions' messages JSON, the newest
/// kept while the JSON fits `max_bytes` and, when even the newest alone
/// does not, its text cut to fit. Says how many older items were left out
/// (`tracefold.{key}.omitted`) and whether a text was cut
/// (`tracefold.{key}.truncated`).
fn messages(
    trace: &RolloutTrace,
    names: &ToolNames<'_>,
    key: &str,
    item_ids: &[ItemId],
    max_bytes: usize,
) -> Vec<KeyValue> {
    let mut kept: Vec<String> = Vec::new();
    let mut size = 2; // the brackets
    let mut was_cut = false;
    let items = item_ids
        .iter()
        .rev()
        .filter_map(|id| trace.conversation_items.get(id));
    for item in items {
        let room = max_bytes.saturating_sub(size + usize::from(!kept.is_empty()));
        let whole = message(names, item, usize::MAX).to_string();
        if whole.len() <= room {
            size += whole.len() + usize::from(!kept.is_empty());
            kept.push(whole);
            continue;
        }
        if kept.is_empty() {
            // The newest alone is too long: cut its text until it fits
            // (JSON escapes make the text's share of the message uneven).
            let mut limit = room;
            for _ in 0..8 {
                let json = message(names, item, limit).to_string();
                if json.len() <= room {
                    kept.push(json);
                    was_cut = true;
                    break;
                }
                limit = limit.saturating_sub(json.len() - room + 16);
            }
        }
        break;
    }
    let omitted = item_ids.len() - kept.len();
    kept.reverse();
    let mut attributes = vec![
        text(key, format!("[{}]", kept.join(","))),
        int(&format!("tracefold.{key}.omitted"), omitted as u64),
    ];
    if was_cut {
        attributes.push(flag(&format!("tracefold.{key}.truncated"), true));
    }
    attributes
}

/// One conversation item as a GenAI message: a role and its parts, the
/// text cut to `max_text` bytes.
fn message(names: &ToolNames<'_>, item: &ConversationItem, max_text: usize) -> Value {
    let role = match item.role {
        ConversationRole::System | ConversationRole::Developer => "system",
        ConversationRole::User => "user",
        ConversationRole::Assistant => "assistant",
        ConversationRole::Tool => "tool",
    };
    let whole = crate::view::item_text(item);
    let (body, _) = cut(&whole, max_text);
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
            let summary = summary.join("\n");
            json!({"type": "reasoning", "content": cut(&summary, max_text).0})
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
