//! The reduced state's runtime collections as tables: `code_cells`,
//! `terminal_sessions`, `terminal_operations`, `compactions` and
//! `compaction_requests`, under the column rules of `state.rs`.

use crate::error::Result;
use crate::model::{RolloutTrace, TerminalRequest};

use super::state::{json_name, payload};
use super::table::{Column, Table, Type, Value, len, n, on, opt, os, ot, req, s, t};

/// `code_cells.parquet`.
pub(super) const CODE_CELLS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("code_cell_id", Type::Str),
    req("model_visible_call_id", Type::Str),
    req("thread_id", Type::Str),
    req("codex_turn_id", Type::Str),
    opt("runtime_cell_id", Type::Str),
    req("status", Type::Str),
    req("started_at", Type::Time),
    req("started_seq", Type::I64),
    opt("ended_at", Type::Time),
    opt("ended_seq", Type::I64),
    req("runtime_status", Type::Str),
    opt("initial_response_at", Type::Time),
    opt("initial_response_seq", Type::I64),
    opt("yielded_at", Type::Time),
    opt("yielded_seq", Type::I64),
    req("source_item_id", Type::Str),
    req("source_js", Type::Str),
    req("output_item_count", Type::I64),
    req("nested_tool_call_count", Type::I64),
    req("wait_tool_call_count", Type::I64),
    req("stored_values_count", Type::I64),
];

pub(super) fn code_cells(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for cell in state.code_cells.values() {
        let e = &cell.execution;
        table.row(&[
            s(&state.rollout_id),
            s(&cell.code_cell_id),
            s(&cell.model_visible_call_id),
            s(&cell.thread_id),
            s(&cell.codex_turn_id),
            os(cell.runtime_cell_id.as_deref()),
            s(e.status.as_str()),
            t(e.started_at_unix_ms),
            n(e.started_seq),
            ot(e.ended_at_unix_ms),
            on(e.ended_seq),
            s(&json_name(&cell.runtime_status)),
            ot(cell.initial_response_at_unix_ms),
            on(cell.initial_response_seq),
            ot(cell.yielded_at_unix_ms),
            on(cell.yielded_seq),
            s(&cell.source_item_id),
            s(&cell.source_js),
            len(&cell.output_item_ids),
            len(&cell.nested_tool_call_ids),
            len(&cell.wait_tool_call_ids),
            len(&cell.stored_values_raw_payload_ids),
        ])?;
    }
    Ok(())
}

/// `terminal_sessions.parquet`.
pub(super) const TERMINAL_SESSIONS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("terminal_id", Type::Str),
    req("thread_id", Type::Str),
    req("created_by_operation_id", Type::Str),
    req("operation_count", Type::I64),
    req("status", Type::Str),
    req("started_at", Type::Time),
    req("started_seq", Type::I64),
    opt("ended_at", Type::Time),
    opt("ended_seq", Type::I64),
    opt("exit_code", Type::I32),
    opt("raw_end_payload_id", Type::Str),
    opt("end_blake3", Type::Str),
    opt("end_size_bytes", Type::I64),
];

pub(super) fn terminal_sessions(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for session in state.terminal_sessions.values() {
        let e = &session.execution;
        let end = session.raw_end_payload_id.as_deref();
        let (end_blake3, end_size) = payload(state, end);
        table.row(&[
            s(&state.rollout_id),
            s(&session.terminal_id),
            s(&session.thread_id),
            s(&session.created_by_operation_id),
            len(&session.operation_ids),
            s(e.status.as_str()),
            t(e.started_at_unix_ms),
            n(e.started_seq),
            ot(e.ended_at_unix_ms),
            on(e.ended_seq),
            Value::I32(session.exit_code),
            os(end),
            os(end_blake3.as_deref()),
            on(end_size),
        ])?;
    }
    Ok(())
}

/// `terminal_operations.parquet`.
pub(super) const TERMINAL_OPERATIONS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("operation_id", Type::Str),
    opt("terminal_id", Type::Str),
    req("tool_call_id", Type::Str),
    req("kind", Type::Str),
    req("status", Type::Str),
    req("started_at", Type::Time),
    req("started_seq", Type::I64),
    opt("ended_at", Type::Time),
    opt("ended_seq", Type::I64),
    opt("command", Type::Str),
    opt("cwd", Type::Str),
    opt("stdin", Type::Str),
    opt("yield_time_ms", Type::I64),
    opt("max_output_tokens", Type::I64),
    opt("exit_code", Type::I32),
    opt("stdout", Type::Str),
    opt("stderr", Type::Str),
    opt("formatted_output", Type::Str),
    opt("original_token_count", Type::I64),
    opt("chunk_id", Type::Str),
    opt("observed_through", Type::Str),
    req("raw_payload_count", Type::I64),
];

pub(super) fn terminal_operations(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for op in state.terminal_operations.values() {
        let e = &op.execution;
        let (command, cwd, stdin, yield_ms, max_tokens) = match &op.request {
            TerminalRequest::ExecCommand {
                display_command,
                cwd,
                yield_time_ms,
                max_output_tokens,
                ..
            } => (
                Some(display_command.as_str()),
                Some(cwd.as_str()),
                None,
                *yield_time_ms,
                *max_output_tokens,
            ),
            TerminalRequest::WriteStdin {
                stdin,
                yield_time_ms,
                max_output_tokens,
            } => (
                None,
                None,
                Some(stdin.as_str()),
                *yield_time_ms,
                *max_output_tokens,
            ),
        };
        let result = op.result.as_ref();
        let observed = op
            .model_observations
            .first()
            .map(|observation| json_name(&observation.source));
        table.row(&[
            s(&state.rollout_id),
            s(&op.operation_id),
            os(op.terminal_id.as_deref()),
            s(&op.tool_call_id),
            s(&json_name(&op.kind)),
            s(e.status.as_str()),
            t(e.started_at_unix_ms),
            n(e.started_seq),
            ot(e.ended_at_unix_ms),
            on(e.ended_seq),
            os(command),
            os(cwd),
            os(stdin),
            on(yield_ms),
            on(max_tokens),
            Value::I32(result.and_then(|r| r.exit_code)),
            os(result.map(|r| r.stdout.as_str())),
            os(result.map(|r| r.stderr.as_str())),
            os(result.and_then(|r| r.formatted_output.as_deref())),
            on(result.and_then(|r| r.original_token_count)),
            os(result.and_then(|r| r.chunk_id.as_deref())),
            os(observed.as_deref()),
            len(&op.raw_payload_ids),
        ])?;
    }
    Ok(())
}

/// `compactions.parquet`.
pub(super) const COMPACTIONS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("compaction_id", Type::Str),
    req("thread_id", Type::Str),
    req("codex_turn_id", Type::Str),
    req("mode", Type::Str),
    req("installed_at", Type::Time),
    req("installed_seq", Type::I64),
    req("marker_item_id", Type::Str),
    req("request_count", Type::I64),
    req("input_item_count", Type::I64),
    req("replacement_item_count", Type::I64),
    opt("inference_call_id", Type::Str),
    opt("raw_checkpoint_payload_id", Type::Str),
    opt("checkpoint_blake3", Type::Str),
    opt("checkpoint_size_bytes", Type::I64),
];

pub(super) fn compactions(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for compaction in state.compactions.values() {
        // A state read from the reference's JSON has no checkpoint id.
        let checkpoint =
            Some(compaction.raw_checkpoint_payload_id.as_str()).filter(|id| !id.is_empty());
        let (checkpoint_blake3, checkpoint_size) = payload(state, checkpoint);
        table.row(&[
            s(&state.rollout_id),
            s(&compaction.compaction_id),
            s(&compaction.thread_id),
            s(&compaction.codex_turn_id),
            s(&json_name(&compaction.mode)),
            t(compaction.installed_at_unix_ms),
            n(compaction.installed_seq),
            s(&compaction.marker_item_id),
            len(&compaction.request_ids),
            len(&compaction.input_item_ids),
            len(&compaction.replacement_item_ids),
            os(compaction.inference_call_id.as_deref()),
            os(checkpoint),
            os(checkpoint_blake3.as_deref()),
            on(checkpoint_size),
        ])?;
    }
    Ok(())
}

/// `compaction_requests.parquet`.
pub(super) const COMPACTION_REQUESTS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("compaction_request_id", Type::Str),
    req("compaction_id", Type::Str),
    req("thread_id", Type::Str),
    req("codex_turn_id", Type::Str),
    req("status", Type::Str),
    req("started_at", Type::Time),
    req("started_seq", Type::I64),
    opt("ended_at", Type::Time),
    opt("ended_seq", Type::I64),
    req("model", Type::Str),
    req("provider_name", Type::Str),
    req("raw_request_payload_id", Type::Str),
    opt("request_blake3", Type::Str),
    opt("request_size_bytes", Type::I64),
    opt("raw_response_payload_id", Type::Str),
    opt("response_blake3", Type::Str),
    opt("response_size_bytes", Type::I64),
    opt("error", Type::Str),
];

pub(super) fn compaction_requests(table: &mut Table, state: &RolloutTrace) -> Result<()> {
    for request in state.compaction_requests.values() {
        let e = &request.execution;
        let (request_blake3, request_size) =
            payload(state, Some(request.raw_request_payload_id.as_str()));
        let response = request.raw_response_payload_id.as_deref();
        let (response_blake3, response_size) = payload(state, response);
        table.row(&[
            s(&state.rollout_id),
            s(&request.compaction_request_id),
            s(&request.compaction_id),
            s(&request.thread_id),
            s(&request.codex_turn_id),
            s(e.status.as_str()),
            t(e.started_at_unix_ms),
            n(e.started_seq),
            ot(e.ended_at_unix_ms),
            on(e.ended_seq),
            s(&request.model),
            s(&request.provider_name),
            s(&request.raw_request_payload_id),
            os(request_blake3.as_deref()),
            on(request_size),
            os(response),
            os(response_blake3.as_deref()),
            on(response_size),
            os(request.error.as_deref()),
        ])?;
    }
    Ok(())
}
