//! Inference calls: start (request reconstruction, full or incremental),
//! completion (response items enter the thread conversation), failure and
//! cancellation.
//!
//! Incremental requests chain through an index by `(thread, response_id)`,
//! never a scan. This file never decides item identity (conversation.rs does).

use std::sync::Arc;

use serde_json::Value;

use super::conversation::{ItemOrigin, Normalized, Sighting, SourcePayload, normalize_item};
use super::keys::InThread;
use super::providers::{NO_RESPONSE_SHAPE, read_response, request_items};
use super::request_skim::skim_request;
use super::spelling::ParsedJson;
use super::{PayloadSource, Reducer, Res, invalid, unknown};
use crate::event::{Event, ExecutionStatus, Hash, InferenceRequestInputMode, PayloadRef};
use crate::model::{ConversationItemKind, ExecutionWindow, InferenceCall, ItemId, ProducerRef};

/// The fields of an `inference_started` event.
pub(crate) struct Start<'a> {
    pub inference_call_id: &'a str,
    pub thread_id: &'a str,
    pub codex_turn_id: &'a str,
    pub model: &'a str,
    pub provider_name: &'a str,
    pub request_input_mode: Option<&'a InferenceRequestInputMode<PayloadRef>>,
    pub request_payload: &'a PayloadRef,
}

/// The fields of an `inference_completed` event.
pub(crate) struct Completion<'a> {
    pub inference_call_id: &'a str,
    pub response_id: Option<&'a str>,
    pub upstream_request_id: Option<&'a str>,
    pub response_payload: &'a PayloadRef,
}

/// The fields of an `inference_failed` or `inference_cancelled` event, with
/// the status it ends the call with.
pub(crate) struct EarlyEnd<'a> {
    pub inference_call_id: &'a str,
    pub upstream_request_id: Option<&'a str>,
    /// The error, or the reason of a cancellation.
    pub error: &'a str,
    pub partial_response_payload: Option<&'a PayloadRef>,
    pub status: ExecutionStatus,
}

/// A request payload being read: the reference, its bytes and its
/// `raw_payload:{n}` id.
struct RequestPayload<'r> {
    payload: &'r PayloadRef,
    bytes: &'r [u8],
    id: &'r str,
}

/// A request's sightings, and the hash of each item's text (when
/// remembered).
type Sightings<'r> = (Vec<Sighting<'r>>, Vec<Hash>);

impl Reducer {
    pub(super) fn inference_started(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        start: Start<'_>,
    ) -> Res<()> {
        let id = start.inference_call_id;
        if let Some(existing) = self.trace.inference_calls.get(id) {
            return invalid(format!(
                "duplicate inference start {id} in thread {} (started at seq {})",
                start.thread_id, existing.execution.started_seq
            ));
        }
        let what = format!("inference start {id}");
        self.require_thread(start.thread_id, &what)?;
        self.require_turn_in_thread(start.codex_turn_id, start.thread_id, &what)?;
        let raw_request_payload_id = self.raw_payload_id(start.request_payload);
        let request_bytes = self.payload_bytes(src, start.request_payload)?;
        let request = RequestPayload {
            payload: start.request_payload,
            bytes: &request_bytes,
            id: &raw_request_payload_id,
        };
        let (mut items, request_previous) =
            self.request_items(src, start.request_input_mode, request)?;

        let previous_response_id = match start.request_input_mode {
            Some(InferenceRequestInputMode::FullSnapshot) => None,
            Some(InferenceRequestInputMode::Incremental {
                previous_response_id,
            }) => Some(previous_response_id.clone()),
            Some(InferenceRequestInputMode::IncrementalWithUntracedPrefix {
                previous_response_id,
                prefix_payload,
            }) => {
                let prefix_id = self.raw_payload_id(prefix_payload);
                let (prefix_items, _) =
                    self.parsed_request_items(src, prefix_payload, &prefix_id)?;
                items.splice(0..0, prefix_items.into_iter().map(Sighting::from));
                Some(previous_response_id.clone())
            }
            None => request_previous,
        };
        let origin = ItemOrigin {
            event,
            thread_id: start.thread_id,
            codex_turn_id: Some(start.codex_turn_id),
            produced_by: Vec::new(),
        };
        // The live history is taken out while this request reuses its items
        // (no hook reads it) and replaced by the request's items, or put back
        // unchanged when the request fails.
        let snapshot = self
            .conversation
            .snapshots
            .get_mut(start.thread_id)
            .map(std::mem::take)
            .unwrap_or_default();
        let reconciled = match previous_response_id {
            None => self.reconcile_full(&origin, items, &snapshot),
            Some(previous) => {
                let new_items = items.len();
                self.previous_call_items(&start, &previous, new_items)
                    .and_then(|prefix| self.continue_chain(&origin, prefix, items, &snapshot))
            }
        };
        let request_item_ids = match reconciled {
            Ok(ids) => ids,
            Err(fail) => {
                if let Some(live) = self.conversation.snapshots.get_mut(start.thread_id) {
                    *live = snapshot;
                }
                return Err(fail);
            }
        };
        let mut live = snapshot;
        live.clone_from(&request_item_ids);
        match self.conversation.snapshots.get_mut(start.thread_id) {
            Some(slot) => *slot = live,
            None => {
                self.conversation
                    .snapshots
                    .insert(start.thread_id.to_string(), live);
            }
        }
        self.trace.inference_calls.insert(
            id.to_string(),
            InferenceCall {
                inference_call_id: id.to_string(),
                thread_id: start.thread_id.to_string(),
                codex_turn_id: start.codex_turn_id.to_string(),
                execution: ExecutionWindow::running(event.wall_time_unix_ms, event.seq),
                model: start.model.to_string(),
                provider_name: start.provider_name.to_string(),
                response_id: None,
                upstream_request_id: None,
                request_item_ids,
                response_item_ids: Vec::new(),
                tool_call_ids_started_by_response: Vec::new(),
                usage: None,
                raw_request_payload_id,
                raw_response_payload_id: None,
                error: None,
            },
        );
        self.inference
            .by_turn
            .entry(start.codex_turn_id.to_string())
            .or_default()
            .push(id.to_string());
        Ok(())
    }

    /// The items of a request payload, and its `previous_response_id`.
    ///
    /// A full-snapshot request repeats the whole history, so most of its
    /// items were seen, byte for byte, in the request before. Each item's
    /// JSON text is hashed, and one whose text was normalised before is
    /// passed on by its content identity without being parsed again (it is
    /// parsed only if it becomes a new item). Requests the skim cannot read
    /// take the full path, so errors are reported exactly as before.
    fn request_items<'r>(
        &mut self,
        src: &dyn PayloadSource,
        start_mode: Option<&InferenceRequestInputMode<PayloadRef>>,
        request: RequestPayload<'r>,
    ) -> Res<(Vec<Sighting<'r>>, Option<String>)> {
        let RequestPayload {
            payload,
            bytes,
            id: payload_id,
        } = request;
        let shared = src.shared_prefix(payload);
        if let Some(skimmed) = skim_request(bytes, shared, &mut self.conversation.request_layouts) {
            // Only a full request repeats what came before; the items of an
            // incremental one are new and not worth remembering.
            let full = skimmed.previous.is_none()
                && matches!(
                    start_mode,
                    None | Some(InferenceRequestInputMode::FullSnapshot)
                );
            if let Some((items, hashes)) =
                self.sightings(&skimmed.items, &skimmed.known_hashes, payload_id, full)?
            {
                if full && let Some(layout) = skimmed.layout(hashes) {
                    self.conversation
                        .request_layouts
                        .remember(payload.hash, layout);
                }
                return Ok((items, skimmed.previous));
            }
        }
        let (items, request) = self.parsed_request_items(src, payload, payload_id)?;
        let previous = request
            .get("previous_response_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok((items.into_iter().map(Sighting::from).collect(), previous))
    }

    /// The normalised items of a request payload through its whole parsed
    /// JSON (any provider's shape, see `providers.rs`), and that JSON.
    fn parsed_request_items(
        &mut self,
        src: &dyn PayloadSource,
        payload: &PayloadRef,
        payload_id: &str,
    ) -> Res<(Vec<Normalized>, Arc<ParsedJson<'static>>)> {
        let request = self.payload_json(src, payload)?;
        let items = request_items(&request, SourcePayload::new(payload_id, &request))
            .map_err(super::Fail::Invalid)?;
        Ok((items, request))
    }

    /// The sightings of a request's items (JSON texts), recognising a text
    /// seen before by its hash (`known_hashes` gives those already known)
    /// when `remember` (a full request), and the hash of every text then.
    /// `None` when an item does not parse: the caller takes the full path.
    fn sightings<'r>(
        &mut self,
        raw_items: &[&'r [u8]],
        known_hashes: &[Option<Hash>],
        payload_id: &'r str,
        remember: bool,
    ) -> Res<Option<Sightings<'r>>> {
        let mut items = Vec::with_capacity(raw_items.len());
        let mut hashes = Vec::with_capacity(if remember { raw_items.len() } else { 0 });
        for (position, &raw) in raw_items.iter().enumerate() {
            let text = remember.then(|| {
                known_hashes
                    .get(position)
                    .copied()
                    .flatten()
                    .unwrap_or_else(|| Hash::of(raw))
            });
            hashes.extend(text);
            if let Some(text) = &text {
                if let Some(&identity) = self.conversation.item_identity_by_text.get(text) {
                    items.push(Sighting::Known {
                        identity,
                        raw,
                        raw_payload_id: payload_id,
                    });
                    continue;
                }
                if let Some(item) = self.conversation.reasoning_by_text.get(text) {
                    items.push(Sighting::Parsed(item.clone()));
                    continue;
                }
            }
            let Ok(value) = ParsedJson::parse_utf8(raw) else {
                return Ok(None);
            };
            let Some(item) = normalize_item(&value, SourcePayload::new(payload_id, &value))
                .map_err(super::Fail::Invalid)?
            else {
                continue;
            };
            // Reasoning is always a parsed sighting: a later sighting may
            // add readable text to the item it matches. One whose parts name
            // no payload is what parsing its text gives in any request, so
            // that is kept instead of parsed again.
            if let Some(text) = text {
                if item.kind != ConversationItemKind::Reasoning {
                    self.conversation
                        .item_identity_by_text
                        .insert(text, item.identity);
                } else if item.names_no_payload() {
                    self.conversation.reasoning_by_text.insert(text, &item);
                }
            }
            items.push(Sighting::Parsed(item));
        }
        Ok(Some((items, hashes)))
    }

    /// The start of an incremental request's items: the request and response
    /// items of the call that got response `previous` in this thread, with
    /// room for the request's `new_items` after them.
    fn previous_call_items(
        &self,
        start: &Start<'_>,
        previous: &str,
        new_items: usize,
    ) -> Res<Vec<ItemId>> {
        let id = start.inference_call_id;
        let Some(previous_call_id) = self
            .inference
            .by_response
            .get(&InThread::new(start.thread_id, previous))
        else {
            return unknown(format!(
                "incremental inference request {id} referenced unknown previous_response_id {previous} in thread {}",
                start.thread_id
            ));
        };
        let mut prefix = Vec::new();
        if let Some(previous_call) = self.trace.inference_calls.get(previous_call_id) {
            prefix.reserve(
                previous_call.request_item_ids.len()
                    + previous_call.response_item_ids.len()
                    + new_items,
            );
            prefix.extend(previous_call.request_item_ids.iter().cloned());
            prefix.extend(previous_call.response_item_ids.iter().cloned());
        }
        Ok(prefix)
    }

    /// The items of an incremental request: `prefix` (the previous call's
    /// items) and then the new ones, reusing the live history's items
    /// position by position when it continues this chain.
    fn continue_chain(
        &mut self,
        origin: &ItemOrigin<'_>,
        mut prefix: Vec<ItemId>,
        items: Vec<Sighting<'_>>,
        snapshot: &[ItemId],
    ) -> Res<Vec<ItemId>> {
        // When the live history already continues this chain (a retry
        // of the same request), reuse its items position by position.
        let continues = prefix.is_empty()
            || (snapshot.len() >= prefix.len() && snapshot.get(prefix.len() - 1) == prefix.last());
        for (offset, item) in items.into_iter().enumerate() {
            let candidate = if continues {
                snapshot.get(prefix.len() + offset)
            } else {
                None
            };
            let item_id = self.reuse_at_or_create(origin, item, candidate)?;
            prefix.push(item_id);
        }
        Ok(prefix)
    }

    pub(super) fn inference_completed(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        completion: Completion<'_>,
    ) -> Res<()> {
        let Completion {
            inference_call_id: id,
            response_id,
            upstream_request_id,
            response_payload,
        } = completion;
        let Some(call) = self.trace.inference_calls.get(id) else {
            return unknown(format!("inference completion referenced unknown call {id}"));
        };
        let thread_id = call.thread_id.clone();
        let turn_id = call.codex_turn_id.clone();
        let already_has_response = !call.response_item_ids.is_empty();
        let raw_response_payload_id = self.raw_payload_id(response_payload);
        let response = self.payload_json(src, response_payload)?;
        // Any provider's response shape (see `providers.rs`).
        let Some(reply) = read_response(
            &response,
            SourcePayload::new(&raw_response_payload_id, &response),
        )
        .map_err(super::Fail::Invalid)?
        else {
            return invalid(format!(
                "response payload {raw_response_payload_id} of inference {id} did not contain {NO_RESPONSE_SHAPE}"
            ));
        };
        let items = reply.items;
        let response_id = response_id.map(str::to_string).or(reply.response_id);
        let upstream = upstream_request_id
            .map(str::to_string)
            .or_else(|| text_field(&response, "upstream_request_id"));
        let usage = reply.usage;

        let response_item_ids = if already_has_response {
            Vec::new()
        } else {
            self.add_response_items(&response_origin(event, id, &thread_id, &turn_id), items)?
        };
        if let Some(response_id) = &response_id {
            let response = InThread::new(&thread_id, response_id).owned();
            self.inference.by_response.insert(response, id.to_string());
        }
        let Some(call) = self.trace.inference_calls.get_mut(id) else {
            return Ok(());
        };
        if !already_has_response {
            call.response_item_ids = response_item_ids;
        }
        if call.execution.is_running() {
            call.execution.end(
                event.wall_time_unix_ms,
                event.seq,
                ExecutionStatus::Completed,
            );
        }
        call.response_id = response_id.or(call.response_id.take());
        call.upstream_request_id = upstream.or(call.upstream_request_id.take());
        call.usage = usage.or(call.usage.take());
        call.raw_response_payload_id = Some(raw_response_payload_id);
        Ok(())
    }

    /// A response's items: created in the thread's conversation as produced
    /// by its inference call (see [`response_origin`]), and appended to the
    /// thread's live history.
    fn add_response_items(
        &mut self,
        origin: &ItemOrigin<'_>,
        items: Vec<Normalized>,
    ) -> Res<Vec<ItemId>> {
        let thread_id = origin.thread_id;
        let mut response_item_ids = Vec::new();
        // Register the response ids before creating items, so tool links
        // made by the item hooks find this call's response list.
        for item in items {
            let item_id = self.create_item(origin, item)?;
            response_item_ids.push(item_id);
        }
        match self.conversation.snapshots.get_mut(thread_id) {
            Some(live) => live.extend(response_item_ids.iter().cloned()),
            None => {
                self.conversation
                    .snapshots
                    .insert(thread_id.to_string(), response_item_ids.clone());
            }
        }
        Ok(response_item_ids)
    }

    /// Failure or cancellation: only the first terminal status is kept, but
    /// late payloads and ids still attach. A partial response's output items
    /// enter the conversation as the call's response items, as a completed
    /// response's do (unless the call already has response items).
    pub(super) fn inference_ended_early(
        &mut self,
        event: &Event,
        src: &dyn PayloadSource,
        end: EarlyEnd<'_>,
    ) -> Res<()> {
        let EarlyEnd {
            inference_call_id: id,
            upstream_request_id,
            error,
            partial_response_payload,
            status,
        } = end;
        let partial = partial_response_payload.map(|payload| self.raw_payload_id(payload));
        let Some(call) = self.trace.inference_calls.get(id) else {
            let what = if status == ExecutionStatus::Failed {
                "failure"
            } else {
                "cancellation"
            };
            return unknown(format!("inference {what} referenced unknown call {id}"));
        };
        let (thread_id, turn_id) = (call.thread_id.clone(), call.codex_turn_id.clone());
        let mut partial_items = None;
        let mut partial_usage = None;
        if let (Some(payload), Some(raw_id), true) = (
            partial_response_payload,
            partial.as_deref(),
            call.response_item_ids.is_empty(),
        ) {
            let response = self.payload_json(src, payload)?;
            // Any provider's response shape (see `providers.rs`).
            match read_response(&response, SourcePayload::new(raw_id, &response)).map_err(super::Fail::Invalid)? {
                Some(reply) => {
                    let origin = response_origin(event, id, &thread_id, &turn_id);
                    partial_items = Some(self.add_response_items(&origin, reply.items)?);
                    partial_usage = reply.usage;
                }
                None => self.diagnose(
                    Some(event.seq),
                    "partial_response_without_items",
                    format!(
                        "partial response payload {raw_id} of inference {id} has no {NO_RESPONSE_SHAPE}"
                    ),
                ),
            }
        }
        let Some(call) = self.trace.inference_calls.get_mut(id) else {
            return Ok(());
        };
        if let Some(items) = partial_items {
            call.response_item_ids = items;
        }
        if partial_usage.is_some() {
            call.usage = partial_usage;
        }
        if call.execution.is_running() {
            call.execution
                .end(event.wall_time_unix_ms, event.seq, status);
        }
        if let Some(upstream) = upstream_request_id {
            call.upstream_request_id = Some(upstream.to_string());
        }
        if partial.is_some() {
            call.raw_response_payload_id = partial;
        }
        call.error = Some(error.to_string());
        Ok(())
    }
}

/// Where the items of inference call `id`'s response come from: produced
/// by that call, in its thread and turn.
fn response_origin<'a>(
    event: &'a Event,
    id: &str,
    thread_id: &'a str,
    turn_id: &'a str,
) -> ItemOrigin<'a> {
    ItemOrigin {
        event,
        thread_id,
        codex_turn_id: Some(turn_id),
        produced_by: vec![ProducerRef::Inference {
            inference_call_id: id.to_string(),
        }],
    }
}

fn text_field(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
#[path = "inference_tests.rs"]
mod tests;
