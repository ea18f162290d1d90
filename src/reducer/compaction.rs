//! Compaction: remote compaction requests, and the install checkpoint (remote
//! or local) that places a marker item and replaces the thread's live history.
//!
//! Replacement items always get new ids; the next full request is compared
//! against the replacement, so pre-boundary items never come back under their
//! old ids. Request completions never change the conversation.

use serde_json::Value;

use super::conversation::{ItemOrigin, Normalized, Sighting, SourcePayload};
use super::providers::history_items;
use super::spelling::ParsedJson;
use super::{PayloadSource, Reducer, Res, invalid, unknown};
use crate::event::{Event, ExecutionStatus, PayloadRef};
use crate::model::{Compaction, CompactionMode, CompactionRequest, ExecutionWindow, ProducerRef};

/// The fields of a `compaction_request_started` event.
pub(crate) struct RequestStart<'a> {
    pub compaction_id: &'a str,
    pub compaction_request_id: &'a str,
    pub thread_id: &'a str,
    pub codex_turn_id: &'a str,
    pub model: &'a str,
    pub provider_name: &'a str,
    pub request_payload: &'a PayloadRef,
}

/// The fields of a `compaction_installed` or `local_compaction_installed`
/// event.
pub(crate) struct Install<'a> {
    pub compaction_id: &'a str,
    /// `None` for a remote install, `Some(inference_call_id)` for a local
    /// one.
    pub local: Option<Option<&'a str>>,
    pub checkpoint_payload: &'a PayloadRef,
}

/// The normalised items of a checkpoint's history `name` (`input_history`
/// or `replacement_history`), read from the payload `payload_id`.
fn checkpoint_history(
    value: &ParsedJson<'_>,
    name: &str,
    payload_id: &str,
) -> Res<Vec<Sighting<'static>>> {
    match value.get(name) {
        Some(Value::Array(items)) => history_items(items, SourcePayload::new(payload_id, value))
            .map(|items| items.into_iter().map(Sighting::from).collect())
            .map_err(super::Fail::Invalid),
        Some(_) => invalid(format!(
            "checkpoint payload {payload_id} had non-array {name}"
        )),
        None => invalid(format!(
            "checkpoint payload {payload_id} did not contain {name}"
        )),
    }
}

impl Reducer {
    pub(super) fn compaction_request_started(
        &mut self,
        event: &Event,
        start: RequestStart<'_>,
    ) -> Res<()> {
        let id = start.compaction_request_id;
        if let Some(existing) = self.trace.compaction_requests.get(id) {
            return invalid(format!(
                "duplicate compaction request start {id} for compaction {} (started at seq {})",
                start.compaction_id, existing.execution.started_seq
            ));
        }
        let what = format!("compaction request {id}");
        self.require_thread(start.thread_id, &what)?;
        self.require_turn_in_thread(start.codex_turn_id, start.thread_id, &what)?;
        let raw_request_payload_id = self.raw_payload_id(start.request_payload);
        self.trace.compaction_requests.insert(
            id.to_string(),
            CompactionRequest {
                compaction_request_id: id.to_string(),
                compaction_id: start.compaction_id.to_string(),
                thread_id: start.thread_id.to_string(),
                codex_turn_id: start.codex_turn_id.to_string(),
                execution: ExecutionWindow::running(event.wall_time_unix_ms, event.seq),
                model: start.model.to_string(),
                provider_name: start.provider_name.to_string(),
                raw_request_payload_id,
                raw_response_payload_id: None,
                error: None,
            },
        );
        self.compaction
            .request_ids
            .entry(start.compaction_id.to_string())
            .or_default()
            .push(id.to_string());
        if let Some(compaction) = self.trace.compactions.get_mut(start.compaction_id) {
            compaction.request_ids.push(id.to_string());
        }
        Ok(())
    }

    pub(super) fn compaction_request_ended(
        &mut self,
        event: &Event,
        compaction_id: &str,
        request_id: &str,
        outcome: Result<&PayloadRef, &String>,
    ) -> Res<()> {
        let response = match outcome {
            Ok(payload) => Some(self.raw_payload_id(payload)),
            Err(_) => None,
        };
        let Some(request) = self.trace.compaction_requests.get_mut(request_id) else {
            return unknown(format!(
                "compaction request completion referenced unknown request {request_id} (compaction {compaction_id})"
            ));
        };
        if request.compaction_id != compaction_id {
            return invalid(format!(
                "compaction request {request_id} completion used compaction {compaction_id}, but start used {}",
                request.compaction_id
            ));
        }
        match outcome {
            Ok(_) => {
                request.execution.end(
                    event.wall_time_unix_ms,
                    event.seq,
                    ExecutionStatus::Completed,
                );
                request.raw_response_payload_id = response;
            }
            Err(error) => {
                request
                    .execution
                    .end(event.wall_time_unix_ms, event.seq, ExecutionStatus::Failed);
                request.error = Some(error.clone());
            }
        }
        Ok(())
    }

    pub(super) fn compaction_installed(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        install: Install<'_>,
    ) -> Res<()> {
        let Install {
            compaction_id,
            local,
            checkpoint_payload: checkpoint,
        } = install;
        if let Some(existing) = self.trace.compactions.get(compaction_id) {
            return invalid(format!(
                "duplicate compaction install {compaction_id} in thread {} (installed at seq {})",
                existing.thread_id, existing.installed_seq
            ));
        }
        let what = format!("compaction installed event {compaction_id}");
        let local_call = local
            .flatten()
            .and_then(|id| self.trace.inference_calls.get(id));
        let (thread_id, turn_id) = match (
            event.thread_id.as_deref(),
            event.codex_turn_id.as_deref(),
            local_call,
        ) {
            (Some(thread), Some(turn), _) => (thread.to_string(), turn.to_string()),
            (None, None, Some(call)) => (call.thread_id.clone(), call.codex_turn_id.clone()),
            (None, _, _) => return invalid(format!("{what} did not include a thread id")),
            (Some(_), None, _) => {
                return invalid(format!("{what} did not include a codex turn id"));
            }
        };
        if let Some(Some(call_id)) = local
            && !self.trace.inference_calls.contains_key(call_id)
        {
            return unknown(format!(
                "{what} referenced unknown inference call {call_id}"
            ));
        }
        self.require_thread(&thread_id, &what)?;
        self.require_turn_in_thread(&turn_id, &thread_id, &what)?;
        let raw_checkpoint_payload_id = self.raw_payload_id(checkpoint);
        let value = self.payload_json(src, checkpoint)?;
        let input = checkpoint_history(&value, "input_history", &raw_checkpoint_payload_id)?;
        let replacement =
            checkpoint_history(&value, "replacement_history", &raw_checkpoint_payload_id)?;
        let producer = ProducerRef::Compaction {
            compaction_id: compaction_id.to_string(),
        };
        let candidates = self
            .conversation
            .snapshots
            .get(&thread_id)
            .cloned()
            .unwrap_or_default();
        let plain = ItemOrigin {
            event,
            thread_id: &thread_id,
            codex_turn_id: Some(&turn_id),
            produced_by: Vec::new(),
        };
        let input_item_ids = self.reconcile_full(&plain, input, &candidates)?;
        let produced = ItemOrigin {
            event,
            thread_id: &thread_id,
            codex_turn_id: Some(&turn_id),
            produced_by: vec![producer],
        };
        let marker_item_id =
            self.create_item(&produced, Normalized::compaction_marker(compaction_id))?;
        let replacement_item_ids = self.reconcile_full(&produced, replacement, &[])?;
        self.conversation
            .snapshots
            .insert(thread_id.clone(), replacement_item_ids.clone());
        let request_ids = self
            .compaction
            .request_ids
            .get(compaction_id)
            .cloned()
            .unwrap_or_default();
        self.trace.compactions.insert(
            compaction_id.to_string(),
            Compaction {
                compaction_id: compaction_id.to_string(),
                thread_id,
                codex_turn_id: turn_id,
                installed_at_unix_ms: event.wall_time_unix_ms,
                installed_seq: event.seq,
                marker_item_id,
                request_ids,
                input_item_ids,
                replacement_item_ids,
                mode: if local.is_some() {
                    CompactionMode::Local
                } else {
                    CompactionMode::Remote
                },
                inference_call_id: local.flatten().map(str::to_string),
                raw_checkpoint_payload_id,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
#[path = "compaction_tests.rs"]
mod tests;
