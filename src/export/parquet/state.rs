//! The reduced state's agent, conversation and call collections as tables:
//! `rollouts` (one row per rollout), `threads`, `codex_turns`,
//! `conversation_items`, `inference_calls`, `tool_calls`,
//! `interaction_edges` and `diagnostics`. `runtime.rs` has the rest.
//!
//! Columns keep the state JSON's field names; an execution window is
//! `status`, `started_at`, `started_seq`, `ended_at`, `ended_seq`; a payload
//! the state cites by `raw_*_payload_id` also gets that payload's BLAKE3
//! and size beside it; a list of ids becomes its count, except where a
//! column the other way round says the same (a tool call names the
//! inference call whose response started it). Each table is written row by
//! row from the state, which is the only thing held whole.

use indexmap::IndexMap;
use serde::Serialize;

use crate::error::Result;
use crate::model::{
    AgentOrigin, ConversationPart, ProducerRef, RolloutTrace, ToolCallKind, ToolCallRequester,
    TraceAnchor,
};
use crate::store::RolloutManifest;

use super::table::{Column, Table, Type, Value, len, n, on, opt, os, ot, req, s, t};

/// The snake_case name a model enum has in the state JSON (a tagged
/// enum's `type`).
pub(super) fn json_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(fields)) => fields
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

/// The BLAKE3 (hex) and size of the payload `id` names in `state`; nulls
/// when there is no id, or the state has no such payload.
pub(super) fn payload(state: &RolloutTrace, id: Option<&str>) -> (Option<String>, Option<u64>) {
    match id.and_then(|id| state.raw_payloads.get(id)) {
        Some(entry) => (Some(entry.blake3.to_hex()), Some(entry.size_bytes)),
        None => (None, None),
    }
}

/// `rollouts.parquet`.
pub(super) const ROLLOUTS: &[Column] = &[
    req("rollout_id", Type::Str),
    opt("trace_id", Type::Str),
    req("status", Type::Str),
    opt("root_thread_id", Type::Str),
    opt("started_at", Type::Time),
    opt("ended_at", Type::Time),
    req("event_count", Type::I64),
    req("payload_count", Type::I64),
    req("payload_size_bytes", Type::I64),
    req("thread_count", Type::I64),
    req("inference_call_count", Type::I64),
    req("tool_call_count", Type::I64),
    req("diagnostic_count", Type::I64),
];

pub(super) fn rollouts(
    table: &mut Table,
    state: &RolloutTrace,
    manifest: &RolloutManifest,
) -> Result<()> {
    table.row(&[
        s(&state.rollout_id),
        os(state.trace_id.as_deref()),
        s(state.status.as_str()),
        os(state.root_thread_id.as_deref()),
        ot(state.started_at_unix_ms),
        ot(state.ended_at_unix_ms),
        n(manifest.event_count),
        n(manifest.payload_refs),
        n(manifest.logical_payload_bytes),
        n(state.threads.len() as u64),
        n(state.inference_calls.len() as u64),
        n(state.tool_calls.len() as u64),
        n(state.diagnostics.len() as u64),
    ])
}

/// `threads.parquet`.
pub(super) const THREADS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("thread_id", Type::Str),
    req("agent_path", Type::Str),
    opt("nickname", Type::Str),
    req("is_root", Type::Bool),
    req("origin", Type::Str),
    opt("parent_thread_id", Type::Str),
    opt("spawn_edge_id", Type::Str),
    opt("task_name", Type::Str),
    opt("agent_role", Type::Str),
    opt("default_model", Type::Str),
    req("status", Type::Str),
    req("started_at", Type::Time),
    req("started_seq", Type::I64),
    opt("ended_at", Type::Time),
    opt("ended_seq", Type::I64),
    req("conversation_item_count", Type::I64),
    req("resume_count", Type::I64),
    opt("raw_metadata_payload_id", Type::Str),
    opt("metadata_blake3", Type::Str),
    opt("metadata_size_bytes", Type::I64),
];

pub(super) fn threads(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for thread in state.threads.values() {
        let (origin, parent, edge, task, role) = match &thread.origin {
            AgentOrigin::Root => ("root", None, None, None, None),
            AgentOrigin::Spawned {
                parent_thread_id,
                spawn_edge_id,
                task_name,
                agent_role,
            } => (
                "spawned",
                Some(parent_thread_id.as_str()),
                Some(spawn_edge_id.as_str()),
                Some(task_name.as_str()),
                Some(agent_role.as_str()),
            ),
        };
        let e = &thread.execution;
        let metadata = thread.raw_metadata_payload_id.as_deref();
        let (blake3, size) = payload(state, metadata);
        table.row(&[
            s(&state.rollout_id),
            s(&thread.thread_id),
            s(&thread.agent_path),
            os(thread.nickname.as_deref()),
            Value::Bool(Some(
                state.root_thread_id.as_deref() == Some(thread.thread_id.as_str()),
            )),
            s(origin),
            os(parent),
            os(edge),
            os(task),
            os(role),
            os(thread.default_model.as_deref()),
            s(e.status.as_str()),
            t(e.started_at_unix_ms),
            n(e.started_seq),
            ot(e.ended_at_unix_ms),
            on(e.ended_seq),
            len(&thread.conversation_item_ids),
            len(&thread.resumed_at_seqs),
            os(metadata),
            os(blake3.as_deref()),
            on(size),
        ])?;
    }
    Ok(())
}

/// `codex_turns.parquet`.
pub(super) const CODEX_TURNS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("codex_turn_id", Type::Str),
    req("thread_id", Type::Str),
    req("status", Type::Str),
    req("started_at", Type::Time),
    req("started_seq", Type::I64),
    opt("ended_at", Type::Time),
    opt("ended_seq", Type::I64),
];

pub(super) fn codex_turns(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for turn in state.codex_turns.values() {
        let e = &turn.execution;
        table.row(&[
            s(&state.rollout_id),
            s(&turn.codex_turn_id),
            s(&turn.thread_id),
            s(e.status.as_str()),
            t(e.started_at_unix_ms),
            n(e.started_seq),
            ot(e.ended_at_unix_ms),
            on(e.ended_seq),
        ])?;
    }
    Ok(())
}

/// `conversation_items.parquet`.
pub(super) const CONVERSATION_ITEMS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("item_id", Type::Str),
    req("thread_id", Type::Str),
    opt("codex_turn_id", Type::Str),
    req("first_seen_at", Type::Time),
    req("first_seen_seq", Type::I64),
    req("role", Type::Str),
    opt("channel", Type::Str),
    req("kind", Type::Str),
    opt("call_id", Type::Str),
    opt("agent_message_author", Type::Str),
    opt("agent_message_recipient", Type::Str),
    req("part_count", Type::I64),
    opt("text", Type::Str),
    opt("produced_by_inference_call_id", Type::Str),
    opt("produced_by_tool_call_id", Type::Str),
    opt("produced_by_code_cell_id", Type::Str),
    opt("produced_by_compaction_id", Type::Str),
];

pub(super) fn conversation_items(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for item in state.conversation_items.values() {
        let texts: Vec<&str> = item
            .body
            .parts
            .iter()
            .filter_map(|part| match part {
                ConversationPart::Text { text } | ConversationPart::Summary { text } => {
                    Some(text.as_str())
                }
                ConversationPart::Code { source, .. } => Some(source.as_str()),
                _ => None,
            })
            .collect();
        let text = (!texts.is_empty()).then(|| texts.join("\n"));
        let mut by = [None; 4];
        for producer in &item.produced_by {
            let (slot, id) = match producer {
                ProducerRef::Inference { inference_call_id } => (0, inference_call_id),
                ProducerRef::Tool { tool_call_id } => (1, tool_call_id),
                ProducerRef::CodeCell { code_cell_id } => (2, code_cell_id),
                ProducerRef::Compaction { compaction_id } => (3, compaction_id),
                _ => continue,
            };
            by[slot].get_or_insert(id.as_str());
        }
        let channel = item.channel.as_ref().map(json_name);
        let message = item.agent_message.as_ref();
        table.row(&[
            s(&state.rollout_id),
            s(&item.item_id),
            s(&item.thread_id),
            os(item.codex_turn_id.as_deref()),
            t(item.first_seen_at_unix_ms),
            n(item.first_seen_seq),
            s(&json_name(&item.role)),
            os(channel.as_deref()),
            s(&json_name(&item.kind)),
            os(item.call_id.as_deref()),
            os(message.map(|m| m.author.as_str())),
            os(message.map(|m| m.recipient.as_str())),
            len(&item.body.parts),
            os(text.as_deref()),
            os(by[0]),
            os(by[1]),
            os(by[2]),
            os(by[3]),
        ])?;
    }
    Ok(())
}

/// `inference_calls.parquet`.
pub(super) const INFERENCE_CALLS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("inference_call_id", Type::Str),
    req("thread_id", Type::Str),
    req("codex_turn_id", Type::Str),
    req("status", Type::Str),
    req("started_at", Type::Time),
    req("started_seq", Type::I64),
    opt("ended_at", Type::Time),
    opt("ended_seq", Type::I64),
    req("model", Type::Str),
    req("provider_name", Type::Str),
    opt("response_id", Type::Str),
    opt("upstream_request_id", Type::Str),
    req("request_item_count", Type::I64),
    req("response_item_count", Type::I64),
    req("tool_call_count", Type::I64),
    opt("input_tokens", Type::I64),
    opt("cached_input_tokens", Type::I64),
    opt("output_tokens", Type::I64),
    opt("reasoning_output_tokens", Type::I64),
    opt("cache_write_input_tokens", Type::I64),
    opt("total_tokens", Type::I64),
    req("raw_request_payload_id", Type::Str),
    opt("request_blake3", Type::Str),
    opt("request_size_bytes", Type::I64),
    opt("raw_response_payload_id", Type::Str),
    opt("response_blake3", Type::Str),
    opt("response_size_bytes", Type::I64),
    opt("error", Type::Str),
];

pub(super) fn inference_calls(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for call in state.inference_calls.values() {
        let e = &call.execution;
        let usage = call.usage.as_ref();
        let tokens = |get: fn(&crate::model::TokenUsage) -> u64| on(usage.map(get));
        let (request_blake3, request_size) =
            payload(state, Some(call.raw_request_payload_id.as_str()));
        let response = call.raw_response_payload_id.as_deref();
        let (response_blake3, response_size) = payload(state, response);
        table.row(&[
            s(&state.rollout_id),
            s(&call.inference_call_id),
            s(&call.thread_id),
            s(&call.codex_turn_id),
            s(e.status.as_str()),
            t(e.started_at_unix_ms),
            n(e.started_seq),
            ot(e.ended_at_unix_ms),
            on(e.ended_seq),
            s(&call.model),
            s(&call.provider_name),
            os(call.response_id.as_deref()),
            os(call.upstream_request_id.as_deref()),
            len(&call.request_item_ids),
            len(&call.response_item_ids),
            len(&call.tool_call_ids_started_by_response),
            tokens(|u| u.input_tokens),
            tokens(|u| u.cached_input_tokens),
            tokens(|u| u.output_tokens),
            tokens(|u| u.reasoning_output_tokens),
            tokens(|u| u.cache_write_input_tokens),
            tokens(|u| u.input_tokens.saturating_add(u.output_tokens)),
            s(&call.raw_request_payload_id),
            os(request_blake3.as_deref()),
            on(request_size),
            os(response),
            os(response_blake3.as_deref()),
            on(response_size),
            os(call.error.as_deref()),
        ])?;
    }
    Ok(())
}

/// `tool_calls.parquet`.
pub(super) const TOOL_CALLS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("tool_call_id", Type::Str),
    req("thread_id", Type::Str),
    opt("started_by_codex_turn_id", Type::Str),
    opt("started_by_inference_call_id", Type::Str),
    req("requester", Type::Str),
    opt("requester_code_cell_id", Type::Str),
    req("kind", Type::Str),
    req("tool_name", Type::Str),
    opt("mcp_server", Type::Str),
    opt("mcp_tool", Type::Str),
    req("status", Type::Str),
    req("started_at", Type::Time),
    req("started_seq", Type::I64),
    opt("ended_at", Type::Time),
    opt("ended_seq", Type::I64),
    opt("model_visible_call_id", Type::Str),
    opt("mcp_call_id", Type::Str),
    opt("code_mode_runtime_tool_id", Type::Str),
    opt("terminal_operation_id", Type::Str),
    opt("raw_invocation_payload_id", Type::Str),
    opt("invocation_blake3", Type::Str),
    opt("invocation_size_bytes", Type::I64),
    opt("raw_result_payload_id", Type::Str),
    opt("result_blake3", Type::Str),
    opt("result_size_bytes", Type::I64),
    req("runtime_payload_count", Type::I64),
];

pub(super) fn tool_calls(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    // Each tool call's starting inference call: the first whose response
    // lists it.
    let mut started_by: IndexMap<&str, &str> = IndexMap::new();
    for call in state.inference_calls.values() {
        for tool_call_id in &call.tool_call_ids_started_by_response {
            started_by
                .entry(tool_call_id.as_str())
                .or_insert(call.inference_call_id.as_str());
        }
    }
    for call in state.tool_calls.values() {
        let e = &call.execution;
        let (requester, cell) = match &call.requester {
            ToolCallRequester::Model => ("model", None),
            ToolCallRequester::CodeCell { code_cell_id } => {
                ("code_cell", Some(code_cell_id.as_str()))
            }
        };
        let (server, tool) = match &call.kind {
            ToolCallKind::Mcp { server, tool } => (Some(server.as_str()), Some(tool.as_str())),
            _ => (None, None),
        };
        let invocation = call.raw_invocation_payload_id.as_deref();
        let (invocation_blake3, invocation_size) = payload(state, invocation);
        let result = call.raw_result_payload_id.as_deref();
        let (result_blake3, result_size) = payload(state, result);
        table.row(&[
            s(&state.rollout_id),
            s(&call.tool_call_id),
            s(&call.thread_id),
            os(call.started_by_codex_turn_id.as_deref()),
            os(started_by.get(call.tool_call_id.as_str()).copied()),
            s(requester),
            os(cell),
            s(&json_name(&call.kind)),
            s(&call.kind.name()),
            os(server),
            os(tool),
            s(e.status.as_str()),
            t(e.started_at_unix_ms),
            n(e.started_seq),
            ot(e.ended_at_unix_ms),
            on(e.ended_seq),
            os(call.model_visible_call_id.as_deref()),
            os(call.mcp_call_id.as_deref()),
            os(call.code_mode_runtime_tool_id.as_deref()),
            os(call.terminal_operation_id.as_deref()),
            os(invocation),
            os(invocation_blake3.as_deref()),
            on(invocation_size),
            os(result),
            os(result_blake3.as_deref()),
            on(result_size),
            len(&call.raw_runtime_payload_ids),
        ])?;
    }
    Ok(())
}

/// `interaction_edges.parquet`.
pub(super) const INTERACTION_EDGES: &[Column] = &[
    req("rollout_id", Type::Str),
    req("edge_id", Type::Str),
    req("kind", Type::Str),
    req("source_type", Type::Str),
    req("source_id", Type::Str),
    opt("source_thread_id", Type::Str),
    req("target_type", Type::Str),
    req("target_id", Type::Str),
    opt("target_thread_id", Type::Str),
    req("started_at", Type::Time),
    opt("ended_at", Type::Time),
    req("carried_item_count", Type::I64),
    req("carried_payload_count", Type::I64),
];

/// An anchor's type (as in the state JSON) and the id it names.
fn anchor(anchor: &TraceAnchor) -> (&'static str, &str) {
    match anchor {
        TraceAnchor::ConversationItem { item_id } => ("conversation_item", item_id),
        TraceAnchor::ToolCall { tool_call_id } => ("tool_call", tool_call_id),
        TraceAnchor::Thread { thread_id } => ("thread", thread_id),
    }
}

pub(super) fn interaction_edges(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for edge in state.interaction_edges.values() {
        let (source_type, source_id) = anchor(&edge.source);
        let (target_type, target_id) = anchor(&edge.target);
        table.row(&[
            s(&state.rollout_id),
            s(&edge.edge_id),
            s(edge.kind.as_str()),
            s(source_type),
            s(source_id),
            os(state.anchor_thread(&edge.source)),
            s(target_type),
            s(target_id),
            os(state.anchor_thread(&edge.target)),
            t(edge.started_at_unix_ms),
            ot(edge.ended_at_unix_ms),
            len(&edge.carried_item_ids),
            len(&edge.carried_raw_payload_ids),
        ])?;
    }
    Ok(())
}

/// `diagnostics.parquet`.
pub(super) const DIAGNOSTICS: &[Column] = &[
    req("rollout_id", Type::Str),
    opt("seq", Type::I64),
    req("code", Type::Str),
    req("message", Type::Str),
    opt("event_type", Type::Str),
];

pub(super) fn diagnostics(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for diagnostic in &state.diagnostics {
        table.row(&[
            s(&state.rollout_id),
            on(diagnostic.seq),
            s(&diagnostic.code),
            s(&diagnostic.message),
            os(diagnostic.event_type.as_deref()),
        ])?;
    }
    Ok(())
}
