//! The raw log as two tables, written while the log is read: `events` (one
//! row per event, with its wire JSON as `tracefold events` prints it) and
//! `raw_payloads` (one row per payload citation, numbered as the reducer
//! and `events` number them, with the seq of the event that cites it).
//!
//! Nothing here holds more than the event at hand: rows go straight into
//! their tables' batches.

use crate::error::Result;
use crate::event::Event;
use crate::event::wire::{WirePayloadRef, to_line};
use crate::export::{PayloadIds, RefStyle, to_wire};
use crate::store::Store;

use super::table::{Column, Table, Type, len, n, opt, os, req, s, t};

/// `events.parquet`.
pub(super) const EVENTS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("seq", Type::I64),
    req("wall_time", Type::Time),
    req("event_type", Type::Str),
    opt("thread_id", Type::Str),
    opt("codex_turn_id", Type::Str),
    req("payload_count", Type::I64),
    req("payload_size_bytes", Type::I64),
    req("event_json", Type::Str),
];

/// `raw_payloads.parquet`.
pub(super) const RAW_PAYLOADS: &[Column] = &[
    req("rollout_id", Type::Str),
    req("raw_payload_id", Type::Str),
    req("seq", Type::I64),
    req("event_type", Type::Str),
    req("kind", Type::Str),
    req("blake3", Type::Str),
    req("size_bytes", Type::I64),
];

/// Writes one rollout's events as they are read.
pub(super) struct LogRows<'a> {
    store: &'a Store,
    rollout_id: &'a str,
    ids: PayloadIds,
}

impl<'a> LogRows<'a> {
    pub(super) fn new(store: &'a Store, rollout_id: &'a str) -> LogRows<'a> {
        LogRows {
            store,
            rollout_id,
            ids: PayloadIds::default(),
        }
    }

    /// Appends `event` to `events` and each payload it cites to
    /// `raw_payloads`.
    pub(super) fn write(
        &mut self,
        event: &Event,
        events: &mut Table,
        raw_payloads: &mut Table,
    ) -> Result<()> {
        let wire = to_wire(
            self.store,
            self.rollout_id,
            event,
            &mut self.ids,
            RefStyle::Stored,
        )?;
        let event_type = wire.payload.type_name();
        let mut cited = Vec::new();
        wire.payload.for_each_ref(|r| {
            if let WirePayloadRef::Stored {
                raw_payload_id,
                kind,
                blake3,
                size_bytes,
            } = r
            {
                cited.push((
                    raw_payload_id.as_deref().unwrap_or(""),
                    kind,
                    blake3,
                    *size_bytes,
                ));
            }
        });
        let size_bytes = cited
            .iter()
            .fold(0u64, |sum, (_, _, _, size)| sum.saturating_add(*size));
        for (raw_payload_id, kind, blake3, size) in &cited {
            raw_payloads.row(&[
                s(self.rollout_id),
                s(raw_payload_id),
                n(event.seq),
                s(event_type),
                s(kind.name()),
                s(&blake3.to_hex()),
                n(*size),
            ])?;
        }
        events.row(&[
            s(self.rollout_id),
            n(event.seq),
            t(event.wall_time_unix_ms),
            s(event_type),
            os(event.thread_id.as_deref()),
            os(event.codex_turn_id.as_deref()),
            len(&cited),
            n(size_bytes),
            s(&to_line(&wire)),
        ])
    }
}
