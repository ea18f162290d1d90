//! Conversation items: creating them from normalised model items, and the
//! hooks that link each new item to tools, code cells and agent edges
//! through indexes.
//!
//! `normalize.rs` turns Responses-shaped JSON items (the other providers'
//! shapes are read into the same items by `providers.rs`) into normalised
//! items; `identity.rs` gives them their content identity and reconciles
//! requests, responses and compaction histories with the items a thread
//! already has, so the same content keeps its id. Nothing here scans all
//! items: every lookup is an index.

mod identity;
mod normalize;

pub(crate) use identity::{Normalized, Sighting, kind_name, kind_named};
pub(crate) use normalize::{
    SourcePayload, image_part, json_part, normalize_item, normalize_items, payload_ref_part,
    role_of, text_or_json_body, without_cache_control,
};

use serde_json::Value;

use identity::same_by_summary;

use super::keys::{CallOfKind, InThread};
use super::{Reducer, Res, invalid, push_unique, push_unique_item};
use crate::event::Event;
use crate::model::{
    ConversationItem, ConversationItemKind, ConversationPart, ConversationRole, ItemId, ProducerRef,
};

/// Inter-agent delivery fields of an item: (author, recipient, content).
///
/// Either an `agent_message` item, or the legacy shape: an assistant message
/// whose only text part is a serialised inter-agent communication.
pub(crate) fn inter_agent_fields(item: &ConversationItem) -> Option<(String, String, String)> {
    if item.role != ConversationRole::Assistant || item.kind != ConversationItemKind::Message {
        return None;
    }
    if let Some(meta) = &item.agent_message {
        let content = item
            .body
            .parts
            .iter()
            .find_map(|part| match part {
                ConversationPart::Encoded { value, .. } => Some(value.clone()),
                _ => None,
            })
            .or_else(|| {
                let texts: Vec<&str> = item
                    .body
                    .parts
                    .iter()
                    .filter_map(|part| match part {
                        ConversationPart::Text { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                (!texts.is_empty()).then(|| texts.concat())
            })?;
        return Some((meta.author.clone(), meta.recipient.clone(), content));
    }
    let [ConversationPart::Text { text }] = item.body.parts.as_slice() else {
        return None;
    };
    if !text.starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let author = value.get("author")?.as_str()?.to_string();
    let recipient = value.get("recipient")?.as_str()?.to_string();
    let content = value
        .get("encrypted_content")
        .and_then(Value::as_str)
        .or_else(|| value.get("content").and_then(Value::as_str))?
        .to_string();
    Some((author, recipient, content))
}

/// Where a new item comes from: the event that first shows it (its first
/// sighting's time and seq), its thread and turn, and what produced it.
pub(crate) struct ItemOrigin<'a> {
    pub event: &'a Event,
    pub thread_id: &'a str,
    pub codex_turn_id: Option<&'a str>,
    pub produced_by: Vec<ProducerRef>,
}

impl Reducer {
    /// The conversation item `id`.
    pub(crate) fn item(&self, id: &str) -> Option<&ConversationItem> {
        self.trace.conversation_items.get(id)
    }

    /// The conversation item `id`, to change.
    pub(crate) fn item_mut(&mut self, id: &str) -> Option<&mut ConversationItem> {
        self.trace.conversation_items.get_mut(id)
    }

    /// Creates a new item and runs every index hook for it.
    pub(crate) fn create_item(&mut self, origin: &ItemOrigin<'_>, item: Normalized) -> Res<ItemId> {
        let event = origin.event;
        let id: ItemId = self.trace.conversation_items.next_id().into();
        let thread_id = origin.thread_id;
        // Borrows the item's call id, which the new item gets a copy of.
        let call = item
            .call_id
            .as_deref()
            .map(|call_id| InThread::new(thread_id, call_id));
        if let Some(call) = &call {
            self.check_call_id_reuse(event.seq, call, &item, &id)?;
        }
        let identity = item.identity;
        let is_exec_call = item.kind == ConversationItemKind::CustomToolCall
            && matches!(item.body.parts.as_slice(), [ConversationPart::Code { .. }]);
        self.trace.conversation_items.push(ConversationItem {
            item_id: id.clone(),
            thread_id: thread_id.to_string(),
            codex_turn_id: origin.codex_turn_id.map(str::to_string),
            first_seen_at_unix_ms: event.wall_time_unix_ms,
            first_seen_seq: event.seq,
            role: item.role,
            channel: item.channel,
            kind: item.kind,
            agent_message: item.agent_message,
            body: item.body,
            call_id: item.call_id.clone(),
            produced_by: origin.produced_by.clone(),
        });
        self.conversation.item_identity.push(identity);
        // Identity alignment: entry n of `item_identity` is item n's.
        debug_assert_eq!(
            self.conversation.item_identity.len(),
            self.trace.conversation_items.len()
        );
        if let Some(thread) = self.trace.threads.get_mut(thread_id) {
            thread.conversation_item_ids.push(id.clone());
        }
        if let Some(call) = call {
            if is_exec_call {
                self.cells.exec_calls.insert(call.owned());
            }
            let items_by_call = &mut self.conversation.items_by_call;
            match items_by_call.get_mut(&call) {
                Some(items) => items.push(id.clone()),
                None => {
                    // Room for the call's other items, as a first push
                    // would have made.
                    let mut items = Vec::with_capacity(4);
                    items.push(id.clone());
                    items_by_call.insert(call.owned(), items);
                }
            }
            if let Some(tool_id) = self.tools.by_visible_call.get(&call).cloned() {
                self.link_item_to_tool(&tool_id, &id);
            }
            self.link_item_to_code_cell(&call, &id, is_exec_call)?;
        }
        self.index_message_item(&id)?;
        Ok(id)
    }

    /// The same call id and kind must carry the same content within a thread,
    /// except a code-mode `notify` output, which reuses the `exec` call id.
    fn check_call_id_reuse(
        &mut self,
        seq: u64,
        call: &InThread<&str>,
        item: &Normalized,
        new_id: &ItemId,
    ) -> Res<()> {
        // Nearly every new item is the first of its kind for its call id:
        // one probe with an owned key beats a lookup and then an insert.
        let kind_key = CallOfKind::new(call.clone(), item.kind).owned();
        let first = match self.conversation.first_item_by_call_kind.entry(kind_key) {
            indexmap::map::Entry::Vacant(slot) => {
                slot.insert(new_id.clone());
                return Ok(());
            }
            indexmap::map::Entry::Occupied(slot) => slot.get().clone(),
        };
        if self.identity_of(&first) == Some(item.identity) {
            return Ok(());
        }
        if item.kind == ConversationItemKind::CustomToolCallOutput
            && self.cells.exec_calls.contains(call)
        {
            return Ok(());
        }
        let InThread {
            thread_id,
            id: call_id,
        } = call;
        // The reference compares JSON bodies by their 240-byte summaries: a
        // difference past them is legal there (hosts rewrite old tool
        // outputs in later requests), so it is a diagnostic here, naming
        // what our full identity sees.
        if self
            .item(&first)
            .is_some_and(|first| same_by_summary(first, item))
        {
            self.diagnose(
                Some(seq),
                "call_id_reused_with_different_json",
                format!(
                    "model-visible call id {call_id} in thread {thread_id} was reused with JSON that differs past its 240-byte summary (first item {first}, now {new_id})"
                ),
            );
            return Ok(());
        }
        invalid(format!(
            "model-visible call id {call_id} was reused with different content in thread {thread_id} (first item {first})"
        ))
    }

    /// Item hook: an inter-agent item is delivered to the edges waiting for
    /// it; a plain assistant message becomes its turn's latest.
    fn index_message_item(&mut self, id: &ItemId) -> Res<()> {
        let Some(item) = self.trace.conversation_items.get(id) else {
            return Ok(());
        };
        if let Some((author, recipient, content)) = inter_agent_fields(item) {
            let thread_id = item.thread_id.clone();
            let is_for_thread = self
                .trace
                .threads
                .get(&thread_id)
                .is_some_and(|thread| thread.agent_path == recipient);
            if is_for_thread {
                return self.deliver_agent_item(&thread_id, &author, &content, id);
            }
            return Ok(());
        }
        if item.role == ConversationRole::Assistant
            && item.kind == ConversationItemKind::Message
            && let Some(turn) = &item.codex_turn_id
        {
            let turn_key = InThread::new(&item.thread_id, turn);
            let latest = &mut self.conversation.latest_assistant_message;
            match latest.get_mut(&turn_key) {
                Some(slot) => *slot = id.clone(),
                None => {
                    latest.insert(turn_key.owned(), id.clone());
                }
            }
        }
        Ok(())
    }

    /// Links a model-visible call or output item to its tool call.
    pub(crate) fn link_item_to_tool(&mut self, tool_id: &str, item_id: &ItemId) {
        let Some(item) = self.item_mut(item_id) else {
            return;
        };
        let is_call = matches!(
            item.kind,
            ConversationItemKind::FunctionCall | ConversationItemKind::CustomToolCall
        );
        let inference = item.produced_by.iter().find_map(|producer| match producer {
            ProducerRef::Inference { inference_call_id } => Some(inference_call_id.clone()),
            _ => None,
        });
        if !is_call {
            let producer = ProducerRef::Tool {
                tool_call_id: tool_id.to_string(),
            };
            if !item.produced_by.contains(&producer) {
                item.produced_by.push(producer);
            }
        }
        let Some(tool) = self.trace.tool_calls.get_mut(tool_id) else {
            return;
        };
        if is_call {
            push_unique_item(&mut tool.model_visible_call_item_ids, item_id);
            if let Some(inference) = inference
                && let Some(call) = self.trace.inference_calls.get_mut(&inference)
            {
                push_unique(&mut call.tool_call_ids_started_by_response, tool_id);
            }
        } else {
            push_unique_item(&mut tool.model_visible_output_item_ids, item_id);
        }
    }
}
