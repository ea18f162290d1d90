//! What one inference call's model saw and said: its request items in
//! order, each marked new when the thread's previous call did not send it,
//! and its response items. `tracefold show --call` prints it; the HTML page
//! rebuilds the same from its request deltas.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::{ConversationItem, ConversationPart, InferenceCall, RolloutTrace};

/// An inference call's conversation.
#[derive(Debug, Clone, Serialize)]
pub struct CallConversation<'a> {
    /// The call's id.
    pub inference_call_id: &'a str,
    /// The call.
    pub call: &'a InferenceCall,
    /// The thread's call before it (by start seq), whose request `new` is
    /// measured against.
    pub previous_call_id: Option<&'a str>,
    /// The request, as the model saw it.
    pub request: Vec<SeenItem<'a>>,
    /// What the model answered.
    pub response: Vec<SeenItem<'a>>,
}

/// One item of a request or response.
#[derive(Debug, Clone, Serialize)]
pub struct SeenItem<'a> {
    /// The item's id.
    pub item_id: &'a str,
    /// Whether the thread's previous call did not send it (always true in
    /// a response and in a thread's first request).
    pub new: bool,
    /// The item; `None` when the state does not hold it.
    pub item: Option<&'a ConversationItem>,
}

impl CallConversation<'_> {
    /// How many request items are new.
    pub fn new_items(&self) -> usize {
        self.request.iter().filter(|seen| seen.new).count()
    }
}

/// The conversation of inference call `call_id`, if the state holds it.
pub fn conversation<'a>(trace: &'a RolloutTrace, call_id: &str) -> Option<CallConversation<'a>> {
    let (id, call) = trace.inference_calls.get_key_value(call_id)?;
    let previous = trace
        .inference_calls
        .iter()
        .filter(|(_, other)| {
            other.thread_id == call.thread_id
                && other.execution.started_seq < call.execution.started_seq
        })
        .max_by_key(|(_, other)| other.execution.started_seq);
    let before: BTreeSet<&str> = previous
        .map(|(_, p)| p.request_item_ids.iter().map(|id| &**id).collect())
        .unwrap_or_default();
    let seen = |item_id: &'a str, new: bool| SeenItem {
        item_id,
        new,
        item: trace.conversation_items.get(item_id),
    };
    Some(CallConversation {
        inference_call_id: id,
        call,
        previous_call_id: previous.map(|(id, _)| id.as_str()),
        request: call
            .request_item_ids
            .iter()
            .map(|item_id| seen(item_id, !before.contains(&**item_id)))
            .collect(),
        response: call
            .response_item_ids
            .iter()
            .map(|item_id| seen(item_id, true))
            .collect(),
    })
}

/// An item's body as plain text: each part on its own, reasoning summaries,
/// encrypted parts and payload references labelled as such (an encrypted
/// part is never shown, only its size).
pub fn item_text(item: &ConversationItem) -> String {
    item.body
        .parts
        .iter()
        .map(|part| match part {
            ConversationPart::Text { text } => text.clone(),
            ConversationPart::Summary { text } => format!("[reasoning summary] {text}"),
            ConversationPart::Encoded { label, value } => {
                format!("[encrypted {label}, {} characters]", value.chars().count())
            }
            ConversationPart::Json { summary, .. } => summary.clone(),
            ConversationPart::Code { language, source } => format!("[{language}]\n{source}"),
            ConversationPart::PayloadRef {
                label,
                raw_payload_id,
                ..
            } => format!("[payload {label}: {raw_payload_id}]"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
