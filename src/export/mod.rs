//! Turning stored events back into the wire format (`events`, `export`),
//! reference bundles (`bundle`), output files written where a user pointed
//! (`output`), and reducing stored rollouts and bundles to
//! their state (the glue between the store and the pure reducer).
//!
//! Payload ids on output are `raw_payload:{n}` (six digits, zero-padded),
//! one per payload citation in log order, as the reducer numbers them, so
//! the same log always prints the same ids.

pub mod atif;
pub mod bundle;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod output;
#[cfg(feature = "parquet")]
pub mod parquet;
#[cfg(feature = "cli")]
pub mod source;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::event::wire::{WireEvent, WirePayloadRef};
use crate::event::{Event, PayloadRef, RAW_EVENT_SCHEMA_VERSION};
use crate::model::RolloutTrace;
use crate::reducer::{PayloadSource, ReduceOptions, Reducer, reduce_with};
use crate::store::{RolloutManifest, Store};

/// Assigns `raw_payload:{n}` ids, one per citation in log order, as the
/// reducer does (and the reference's writer, which mints an id per payload
/// it writes).
#[derive(Debug, Default)]
pub struct PayloadIds {
    cited: usize,
}

impl PayloadIds {
    /// The id of the next citation.
    pub fn next_id(&mut self) -> String {
        self.cited += 1;
        format!("raw_payload:{:06}", self.cited)
    }
}

/// How payload references are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefStyle {
    /// `{raw_payload_id, kind, blake3, size_bytes}`: needs this store to read back.
    Stored,
    /// The payload inline (`inline` when the bytes are compact JSON,
    /// `inline_text` when they are other UTF-8 text, `inline_base64` when
    /// they are not text), so the line is self-contained.
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
        let id = ids.next_id();
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
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        // Any bytes travel as base64 and ingest back to the same hash.
        Err(not_text) => {
            return Ok(WirePayloadRef::InlineBase64 {
                kind: r.kind,
                bytes: not_text.into_bytes(),
            });
        }
    };
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

impl PayloadSource for Store {
    fn read_payload(&self, payload: &PayloadRef) -> std::result::Result<Arc<[u8]>, String> {
        Store::read_payload_shared(self, &payload.hash).map_err(|err| err.to_string())
    }

    fn shared_prefix(&self, payload: &PayloadRef) -> Option<(crate::event::Hash, u64)> {
        let (base, prefix_bytes, _) = self.payload_base(&payload.hash).ok()??;
        Some((base, prefix_bytes))
    }
}

/// Reduces stored rollout `rollout_id` to its state.
///
/// # Examples
///
/// ```
/// use tracefold::event::{ExecutionStatus, RolloutStatus};
/// use tracefold::reduce_stored;
/// use tracefold::{Recorder, RecorderConfig, RolloutStart, ThreadStart};
/// use tracefold::{Store, StoreOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreOptions::default())?;
/// let recorder = Recorder::start(&store, RecorderConfig::default())?;
/// let rollout = recorder.start_rollout(RolloutStart {
///     rollout_id: Some("r-1".into()),
///     trace_id: None,
///     root: ThreadStart { thread_id: "root".into(), agent_path: "/root".into(), metadata: None },
/// });
/// rollout.root().start_turn("turn-1").end(ExecutionStatus::Completed);
/// rollout.end(RolloutStatus::Completed);
/// recorder.shutdown()?;
///
/// let state = reduce_stored(&store, "r-1")?;
/// assert_eq!(state.root_thread_id.as_deref(), Some("root"));
/// assert_eq!(state.threads["root"].agent_path, "/root");
/// assert_eq!(state.codex_turns.len(), 1);
/// # Ok(())
/// # }
/// ```
pub fn reduce_stored(store: &Store, rollout_id: &str) -> Result<RolloutTrace> {
    let manifest = store.manifest(rollout_id)?;
    reduce_stored_observed(store, &manifest, |_| Ok(()))
}

/// [`reduce_stored`] of the rollout of `manifest`, showing each event to
/// `observe` before the reducer takes it, so an export that writes the raw
/// log as well reads it once. An error from `observe` stops the reduction.
pub(crate) fn reduce_stored_observed(
    store: &Store,
    manifest: &RolloutManifest,
    mut observe: impl FnMut(&Event) -> Result<()>,
) -> Result<RolloutTrace> {
    let rollout_id = &manifest.rollout_id;
    let mut reducer = Reducer::new(rollout_id);
    for event in store.events_of(manifest) {
        let event = event?;
        observe(&event)?;
        reducer
            .apply(&event, store)
            .map_err(|err| Error::reduce(format!("reduce rollout {rollout_id}"), err))?;
    }
    let mut state = reducer.finish();
    fill_identity(&mut state, manifest);
    Ok(state)
}

/// [`reduce_stored`] under `options`: with [`ReduceOptions::keep_going`],
/// events the reducer cannot take are skipped and become `reduce_error`
/// diagnostics of the state (the rollout's events are read into memory
/// first, to rebuild the state before such an event). An event the store
/// cannot read is still an error.
pub fn reduce_stored_with(
    store: &Store,
    rollout_id: &str,
    options: ReduceOptions,
) -> Result<RolloutTrace> {
    if !options.keep_going {
        return reduce_stored(store, rollout_id);
    }
    let manifest = store.manifest(rollout_id)?;
    let events = store.events_of(&manifest).collect::<Result<Vec<Event>>>()?;
    let mut state = reduce_with(rollout_id, &events, store, options)
        .map_err(|err| Error::reduce(format!("reduce rollout {rollout_id}"), err))?;
    fill_identity(&mut state, &manifest);
    Ok(state)
}

/// Reduces a bundle read into memory to its state.
pub fn reduce_loaded(bundle: &bundle::LoadedBundle) -> Result<RolloutTrace> {
    let rollout_id = &bundle.manifest.rollout_id;
    let mut reducer = Reducer::new(rollout_id);
    for event in &bundle.events {
        reducer
            .apply(event, &bundle.payloads)
            .map_err(|err| Error::reduce(format!("reduce bundle rollout {rollout_id}"), err))?;
    }
    let mut state = reducer.finish();
    fill_bundle_identity(&mut state, bundle);
    Ok(state)
}

/// [`reduce_loaded`] under `options` (see [`reduce_stored_with`]). With
/// `keep_going`, the lines a keep-going read left out
/// ([`bundle::read_bundle_with`]) are the first diagnostics.
pub fn reduce_loaded_with(
    bundle: &bundle::LoadedBundle,
    options: ReduceOptions,
) -> Result<RolloutTrace> {
    if !options.keep_going {
        return reduce_loaded(bundle);
    }
    let rollout_id = &bundle.manifest.rollout_id;
    let mut state = reduce_with(rollout_id, &bundle.events, &bundle.payloads, options)
        .map_err(|err| Error::reduce(format!("reduce bundle rollout {rollout_id}"), err))?;
    fill_bundle_identity(&mut state, bundle);
    // What the read left out comes first: it was found before the fold.
    state
        .diagnostics
        .splice(0..0, bundle.read_diagnostics.iter().cloned());
    Ok(state)
}

/// A bundle's manifest gives the trace id and root thread a log without
/// `rollout_started` lacks, and the start time; each raw payload takes the
/// bundle's own path (the reducer writes where an export would put it). Every
/// citation has its entry, in log order, skipped events' too.
fn fill_bundle_identity(state: &mut RolloutTrace, bundle: &bundle::LoadedBundle) {
    for (entry, path) in state.raw_payloads.values_mut().zip(&bundle.payload_paths) {
        entry.path.clone_from(path);
    }
    let manifest = &bundle.manifest;
    state
        .trace_id
        .get_or_insert_with(|| manifest.trace_id.clone());
    state
        .root_thread_id
        .get_or_insert_with(|| manifest.root_thread_id.clone());
    state.started_at_unix_ms = Some(manifest.started_at_unix_ms);
}

/// A log without `rollout_started` (a bundle written by a test harness) gets
/// its identity from the manifest, as the reference reducer does.
fn fill_identity(state: &mut RolloutTrace, manifest: &RolloutManifest) {
    if state.trace_id.is_none() {
        state.trace_id.clone_from(&manifest.trace_id);
    }
    if state.root_thread_id.is_none() {
        state.root_thread_id.clone_from(&manifest.root_thread_id);
    }
    if manifest.started_at_unix_ms.is_some() {
        state.started_at_unix_ms = manifest.started_at_unix_ms;
    }
}
