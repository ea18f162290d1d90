//! Item identity and alignment: the content identity of a normalised item,
//! and the reconciliation that lines up the items of a request or history
//! with the items a thread already has (by position, then by content), so
//! that the same content keeps its id.
//!
//! Identity is a BLAKE3 over role, channel, kind, agent metadata, call id and
//! body, where JSON bodies count by the hash of their canonical JSON (never by
//! their 240-byte summary) and reasoning counts by its encrypted content.
//! Entry n of the reducer's item identities is item n's (same length, same
//! order). Never scans all items: candidates are looked up by identity.

use std::collections::VecDeque;

use super::normalize::{SourcePayload, normalize_item};
use super::{ItemOrigin, Reducer, Res};
use crate::event::Hash;
use crate::model::{
    AgentMessageMetadata, ConversationBody, ConversationChannel, ConversationItem,
    ConversationItemKind, ConversationPart, ConversationRole, ItemId,
};
use crate::reducer::FxIndexMap;
use crate::reducer::spelling::ParsedJson;

/// A model item parsed from JSON, before it gets an id.
#[derive(Debug, Clone)]
pub(crate) struct Normalized {
    pub role: ConversationRole,
    pub channel: Option<ConversationChannel>,
    pub kind: ConversationItemKind,
    pub agent_message: Option<AgentMessageMetadata>,
    pub body: ConversationBody,
    pub call_id: Option<String>,
    pub identity: Hash,
}

impl Normalized {
    /// Whether no part names the payload the item was read from (only
    /// `Json` and `PayloadRef` parts do).
    pub(crate) fn names_no_payload(&self) -> bool {
        self.body.parts.iter().all(|part| {
            !matches!(
                part,
                ConversationPart::Json { .. } | ConversationPart::PayloadRef { .. }
            )
        })
    }

    pub(crate) fn new(
        role: ConversationRole,
        channel: Option<ConversationChannel>,
        kind: ConversationItemKind,
        agent_message: Option<AgentMessageMetadata>,
        body: ConversationBody,
        call_id: Option<String>,
    ) -> Normalized {
        let mut item = Normalized {
            role,
            channel,
            kind,
            agent_message,
            body,
            call_id,
            identity: Hash([0; 32]),
        };
        item.identity = identity_of(&item);
        item
    }

    /// The compaction marker item (empty body, unique per compaction, no
    /// channel, as the reference makes it).
    pub(crate) fn compaction_marker(compaction_id: &str) -> Normalized {
        let mut hasher = blake3::Hasher::new();
        field(&mut hasher, "compaction_marker");
        field(&mut hasher, compaction_id);
        Normalized {
            role: ConversationRole::Assistant,
            channel: None,
            kind: ConversationItemKind::CompactionMarker,
            agent_message: None,
            body: ConversationBody::default(),
            call_id: None,
            identity: Hash(*hasher.finalize().as_bytes()),
        }
    }
}

/// One item of a request or history as the reconciler sees it: normalised,
/// or only known by identity (its exact JSON text was normalised before, see
/// [`Reducer::sightings`]) and normalised only if it becomes a new
/// item.
pub(crate) enum Sighting<'r> {
    Parsed(Normalized),
    Known {
        identity: Hash,
        /// The item's JSON text, inside the payload `raw_payload_id` (a
        /// text that parsed before, when it was first seen).
        raw: &'r [u8],
        raw_payload_id: &'r str,
    },
}

impl Sighting<'_> {
    pub(crate) fn identity(&self) -> Hash {
        match self {
            Sighting::Parsed(item) => item.identity,
            Sighting::Known { identity, .. } => *identity,
        }
    }

    /// The normalised item, parsing a known one again (with this payload's
    /// id, as a first sighting here would have had).
    fn into_normalized(self) -> Res<Normalized> {
        match self {
            Sighting::Parsed(item) => Ok(item),
            Sighting::Known {
                raw,
                raw_payload_id,
                ..
            } => {
                let value = ParsedJson::parse_utf8(raw).map_err(|err| {
                    crate::reducer::Fail::Invalid(format!(
                        "model item in payload {raw_payload_id} is not valid JSON: {err}"
                    ))
                })?;
                match normalize_item(&value, SourcePayload::new(raw_payload_id, &value)) {
                    Ok(Some(item)) => Ok(item),
                    // A known text was normalised to an item before, so it
                    // is never a skipped one.
                    Ok(None) => Err(crate::reducer::Fail::Invalid(format!(
                        "model item in payload {raw_payload_id} is not a conversation item"
                    ))),
                    Err(message) => Err(crate::reducer::Fail::Invalid(message)),
                }
            }
        }
    }
}

impl From<Normalized> for Sighting<'_> {
    fn from(item: Normalized) -> Self {
        Sighting::Parsed(item)
    }
}

fn field(hasher: &mut blake3::Hasher, text: &str) {
    hasher.update(&(text.len() as u64).to_le_bytes());
    hasher.update(text.as_bytes());
}

/// The content identity of `item` (its `identity` field aside).
fn identity_of(item: &Normalized) -> Hash {
    let (role, channel, kind) = (item.role, item.channel, item.kind);
    let (agent_message, call_id) = (item.agent_message.as_ref(), item.call_id.as_deref());
    let body = &item.body;
    let mut hasher = blake3::Hasher::new();
    field(&mut hasher, kind_name(kind));
    let encrypted: Vec<&str> = body
        .parts
        .iter()
        .filter_map(|part| match part {
            ConversationPart::Encoded { value, .. } => Some(value.as_str()),
            _ => None,
        })
        .collect();
    if kind == ConversationItemKind::Reasoning && !encrypted.is_empty() {
        // Reasoning is matched by its encrypted blob: the readable text may
        // come and go between sightings of the same reasoning.
        for value in encrypted {
            field(&mut hasher, value);
        }
        return Hash(*hasher.finalize().as_bytes());
    }
    // The field `{role:?}/{channel:?}`, fed in pieces (same bytes, no
    // allocation).
    let (role, channel) = (role_name(role), channel_name(channel));
    hasher.update(&((role.len() + 1 + channel.len()) as u64).to_le_bytes());
    hasher.update(role.as_bytes());
    hasher.update(b"/");
    hasher.update(channel.as_bytes());
    if let Some(meta) = agent_message {
        field(&mut hasher, &meta.author);
        field(&mut hasher, &meta.recipient);
    }
    field(&mut hasher, call_id.unwrap_or("\u{0}"));
    for part in &body.parts {
        match part {
            ConversationPart::Text { text } => {
                field(&mut hasher, "text");
                field(&mut hasher, text);
            }
            ConversationPart::Summary { text } => {
                field(&mut hasher, "summary");
                field(&mut hasher, text);
            }
            ConversationPart::Encoded { label, value } => {
                field(&mut hasher, "encoded");
                field(&mut hasher, label);
                field(&mut hasher, value);
            }
            ConversationPart::Json { blake3, .. } => {
                field(&mut hasher, "json");
                field(&mut hasher, blake3);
            }
            ConversationPart::Code { language, source } => {
                field(&mut hasher, "code");
                field(&mut hasher, language);
                field(&mut hasher, source);
            }
            // By what the part stands for, not by the payload it was read
            // from: every full request is a different payload.
            ConversationPart::PayloadRef { label, blake3, .. } => {
                field(&mut hasher, "payload_ref");
                field(&mut hasher, label);
                field(&mut hasher, blake3);
            }
        }
    }
    Hash(*hasher.finalize().as_bytes())
}

/// Every item kind, in the order of [`kind_name`]'s arms: a kind added there
/// belongs here too, or saved index keys naming it cannot be read back.
const ITEM_KINDS: [ConversationItemKind; 7] = [
    ConversationItemKind::Message,
    ConversationItemKind::Reasoning,
    ConversationItemKind::FunctionCall,
    ConversationItemKind::FunctionCallOutput,
    ConversationItemKind::CustomToolCall,
    ConversationItemKind::CustomToolCallOutput,
    ConversationItemKind::CompactionMarker,
];

/// `format!("{kind:?}")` without allocating.
pub(crate) fn kind_name(kind: ConversationItemKind) -> &'static str {
    match kind {
        ConversationItemKind::Message => "Message",
        ConversationItemKind::Reasoning => "Reasoning",
        ConversationItemKind::FunctionCall => "FunctionCall",
        ConversationItemKind::FunctionCallOutput => "FunctionCallOutput",
        ConversationItemKind::CustomToolCall => "CustomToolCall",
        ConversationItemKind::CustomToolCallOutput => "CustomToolCallOutput",
        ConversationItemKind::CompactionMarker => "CompactionMarker",
    }
}

/// The kind [`kind_name`] spells `name`, if any.
pub(crate) fn kind_named(name: &str) -> Option<ConversationItemKind> {
    ITEM_KINDS.into_iter().find(|kind| kind_name(*kind) == name)
}

/// `format!("{role:?}")` without allocating.
fn role_name(role: ConversationRole) -> &'static str {
    match role {
        ConversationRole::System => "System",
        ConversationRole::Developer => "Developer",
        ConversationRole::User => "User",
        ConversationRole::Assistant => "Assistant",
        ConversationRole::Tool => "Tool",
    }
}

/// `format!("{channel:?}")` without allocating.
fn channel_name(channel: Option<ConversationChannel>) -> &'static str {
    match channel {
        None => "None",
        Some(ConversationChannel::Analysis) => "Some(Analysis)",
        Some(ConversationChannel::Commentary) => "Some(Commentary)",
        Some(ConversationChannel::Final) => "Some(Final)",
        Some(ConversationChannel::Summary) => "Some(Summary)",
    }
}

/// Whether the reference would see `item` as the same content as `first`:
/// every field equal, JSON parts compared by their summaries only.
pub(super) fn same_by_summary(first: &ConversationItem, item: &Normalized) -> bool {
    let parts_match = first.body.parts.len() == item.body.parts.len()
        && first
            .body
            .parts
            .iter()
            .zip(&item.body.parts)
            .all(|(a, b)| match (a, b) {
                (
                    ConversationPart::Json { summary: a, .. },
                    ConversationPart::Json { summary: b, .. },
                ) => a == b,
                (
                    ConversationPart::PayloadRef { label: a, .. },
                    ConversationPart::PayloadRef { label: b, .. },
                ) => a == b,
                (a, b) => a == b,
            });
    parts_match
        && first.kind == item.kind
        && first.role == item.role
        && first.channel == item.channel
        && first.agent_message == item.agent_message
        && first.call_id == item.call_id
}

/// Positions of the candidates by content identity, in order.
fn identity_queues(identities: &[Option<Hash>]) -> FxIndexMap<Hash, VecDeque<usize>> {
    let mut queues: FxIndexMap<Hash, VecDeque<usize>> = FxIndexMap::default();
    for (position, identity) in identities.iter().enumerate() {
        if let Some(identity) = identity {
            queues.entry(*identity).or_default().push_back(position);
        }
    }
    queues
}

impl Reducer {
    /// The content identity of item `id` (found by the id's ordinal, see
    /// [`crate::model::OrdinalMap`]).
    pub(crate) fn identity_of(&self, id: &str) -> Option<Hash> {
        self.trace
            .conversation_items
            .position_of(id)
            .and_then(|index| self.conversation.item_identity.get(index).copied())
    }

    /// Full-snapshot reconciliation: reuse the candidate at the same position
    /// when its content matches, else the first unused matching candidate
    /// anywhere, else create a new item. New identical items are never merged
    /// with each other.
    pub(crate) fn reconcile_full(
        &mut self,
        origin: &ItemOrigin<'_>,
        items: Vec<Sighting<'_>>,
        candidates: &[ItemId],
    ) -> Res<Vec<ItemId>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut used = vec![false; candidates.len()];
        let candidate_identity: Vec<Option<Hash>> =
            candidates.iter().map(|id| self.identity_of(id)).collect();
        // Candidates by content, built on the first item that does not match
        // its position (a request that only extends the history never needs
        // it).
        let mut by_identity: Option<FxIndexMap<Hash, VecDeque<usize>>> = None;
        let mut out = Vec::with_capacity(items.len());
        for (position, item) in items.into_iter().enumerate() {
            let identity = item.identity();
            let mut reused = None;
            if position < candidates.len()
                && !used[position]
                && candidate_identity[position] == Some(identity)
            {
                reused = Some(position);
            } else if let Some(queue) = by_identity
                .get_or_insert_with(|| identity_queues(&candidate_identity))
                .get_mut(&identity)
            {
                while let Some(found) = queue.pop_front() {
                    if !used[found] {
                        reused = Some(found);
                        break;
                    }
                }
            }
            match reused {
                Some(found) => {
                    used[found] = true;
                    let id = candidates[found].clone();
                    self.merge_reasoning(&id, &item);
                    out.push(id);
                }
                None => out.push(self.create_item(origin, item.into_normalized()?)?),
            }
        }
        Ok(out)
    }

    /// Reuses the candidate at `position` when it matches, else creates.
    pub(crate) fn reuse_at_or_create(
        &mut self,
        origin: &ItemOrigin<'_>,
        item: Sighting<'_>,
        candidate: Option<&ItemId>,
    ) -> Res<ItemId> {
        if let Some(id) = candidate
            && self.identity_of(id) == Some(item.identity())
        {
            let id = id.clone();
            self.merge_reasoning(&id, &item);
            return Ok(id);
        }
        self.create_item(origin, item.into_normalized()?)
    }

    /// A later sighting of reasoning may fill in missing readable text or
    /// summary, but never replaces what was seen first.
    fn merge_reasoning(&mut self, id: &str, item: &Sighting<'_>) {
        // A known sighting is never reasoning: reasoning is always parsed.
        let Sighting::Parsed(item) = item else {
            return;
        };
        if item.kind != ConversationItemKind::Reasoning {
            return;
        }
        let Some(existing) = self.item_mut(id) else {
            return;
        };
        let has_text = |parts: &[ConversationPart]| {
            parts
                .iter()
                .any(|part| matches!(part, ConversationPart::Text { .. }))
        };
        let has_summary = |parts: &[ConversationPart]| {
            parts
                .iter()
                .any(|part| matches!(part, ConversationPart::Summary { .. }))
        };
        let fill_text = !has_text(&existing.body.parts) && has_text(&item.body.parts);
        let fill_summary = !has_summary(&existing.body.parts) && has_summary(&item.body.parts);
        if !fill_text && !fill_summary {
            return;
        }
        let mut texts = Vec::new();
        let mut summaries = Vec::new();
        let mut rest = Vec::new();
        for part in existing.body.parts.drain(..) {
            match part {
                ConversationPart::Text { .. } => texts.push(part),
                ConversationPart::Summary { .. } => summaries.push(part),
                other => rest.push(other),
            }
        }
        for part in &item.body.parts {
            match part {
                ConversationPart::Text { .. } if fill_text => texts.push(part.clone()),
                ConversationPart::Summary { .. } if fill_summary => summaries.push(part.clone()),
                _ => {}
            }
        }
        existing.body.parts = texts.into_iter().chain(summaries).chain(rest).collect();
    }
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
