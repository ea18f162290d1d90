//! Turning stored events back into the wire format (`events`, `export`).
//!
//! Payload ids on output are `raw_payload:{n}` (six digits, zero-padded),
//! numbered by first citation of each distinct (hash, kind) in the log, so
//! the same log always prints the same ids.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::event::wire::{WireEvent, WirePayloadRef};
use crate::event::{Event, Hash, PayloadKind, PayloadRef, RAW_EVENT_SCHEMA_VERSION};
use crate::store::Store;

/// Assigns `raw_payload:{n}` ids in order of first citation.
#[derive(Debug, Default)]
pub struct PayloadIds {
    ids: BTreeMap<(Hash, PayloadKind), String>,
}

impl PayloadIds {
    /// The id of `r`, assigning the next one on first sight. Returns the id
    /// and whether it is new.
    pub fn id_of(&mut self, r: &PayloadRef) -> (String, bool) {
        let next = self.ids.len() + 1;
        let mut fresh = false;
        let id = self
            .ids
            .entry((r.hash, r.kind.clone()))
            .or_insert_with(|| {
                fresh = true;
                format!("raw_payload:{next:06}")
            })
            .clone();
        (id, fresh)
    }
}

/// How payload references are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefStyle {
    /// `{raw_payload_id, kind, blake3, size_bytes}`: needs this store to read back.
    Stored,
    /// The payload inline (`inline` when the bytes are compact JSON,
    /// `inline_text` otherwise), so the line is self-contained.
    Inline,
}

/// One stored event as a wire event.
pub fn to_wire(
    store: &Store,
    rollout_id: &str,
    event: &Event,
    ids: &mut PayloadIds,
    style: RefStyle,
) -> Result<WireEvent<WirePayloadRef>> {
    let payload = event.payload.clone().try_map_refs(|r| {
        let (id, _) = ids.id_of(&r);
        match style {
            RefStyle::Stored => Ok(WirePayloadRef::Stored {
                raw_payload_id: Some(id),
                kind: r.kind,
                blake3: r.hash,
                size_bytes: r.size_bytes,
            }),
            RefStyle::Inline => inline_ref(store, r),
        }
    })?;
    Ok(WireEvent {
        schema_version: RAW_EVENT_SCHEMA_VERSION,
        seq: event.seq,
        wall_time_unix_ms: event.wall_time_unix_ms,
        rollout_id: rollout_id.to_string(),
        thread_id: event.thread_id.clone(),
        codex_turn_id: event.codex_turn_id.clone(),
        payload,
    })
}

fn inline_ref(store: &Store, r: PayloadRef) -> Result<WirePayloadRef> {
    let bytes = store.read_payload(&r.hash)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Other(format!(
            "payload {} is not UTF-8 text and cannot be inlined",
            r.hash
        ))
    })?;
    // `inline` only when the value writes back to exactly these bytes, so
    // the line ingests back to the same payload hash.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
        && serde_json::to_string(&value).is_ok_and(|compact| compact == text)
    {
        return Ok(WirePayloadRef::Inline {
            kind: r.kind,
            value,
        });
    }
    Ok(WirePayloadRef::InlineText { kind: r.kind, text })
}
