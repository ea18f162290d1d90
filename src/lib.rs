//! tracefold records what an AI agent does into an embedded, append-only
//! event log and reduces it back into an explainable rollout graph.
//!
//! An agent host (a coding agent, an RL rollout worker, an eval harness)
//! records through a [`Recorder`]: model calls, tool calls, code cells,
//! terminals, compactions and sub-agents, as raw events with their payloads.
//! Recording is best effort and never fails or blocks the host: a call
//! queues the event for a writer thread, which stores it in a [`Store`] (an
//! embedded sled database: one contiguous log per rollout, every payload
//! stored once by its BLAKE3 hash, chunked and compressed). [`reduce`] folds a
//! rollout's events into a [`model::RolloutTrace`]: threads, turns, what the
//! model saw, inference and tool calls, code cells, terminals, compactions
//! and the edges between agents, with the semantics of the reference reducer
//! (Codex's `rollout-trace`). [`diff`] compares two reduced rollouts for
//! replay equivalence.
//!
//! ```
//! use serde_json::json;
//! use tracefold::event::{ExecutionStatus, RolloutStatus};
//! use tracefold::{Recorder, RecorderConfig, RolloutStart, Store, StoreOptions, ThreadStart};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), StoreOptions::default())?;
//! let recorder = Recorder::start(&store, RecorderConfig::default())?;
//!
//! // One rollout, its root thread, one turn with one model call.
//! let rollout = recorder.start_rollout(RolloutStart {
//!     rollout_id: Some("rollout-1".into()),
//!     trace_id: None,
//!     root: ThreadStart { thread_id: "t-root".into(), agent_path: "/root".into(), metadata: None },
//! });
//! let turn = rollout.root().start_turn("turn-1");
//! let call = turn.start_inference("gpt-5", "openai", || {
//!     json!({"input": [{"type": "message", "role": "user",
//!                       "content": [{"type": "input_text", "text": "hello"}]}]})
//! });
//! call.completed(Some("resp-1"), None, || json!({"output_items": []}));
//! turn.end(ExecutionStatus::Completed);
//! rollout.end(RolloutStatus::Completed);
//! recorder.shutdown()?; // everything above is durable from here on
//!
//! // Fold the log back into the graph.
//! let trace = tracefold::reduce_stored(&store, "rollout-1")?;
//! assert_eq!(trace.inference_calls.len(), 1);
//! assert_eq!(trace.conversation_items.len(), 1); // the user's "hello"
//! # Ok(())
//! # }
//! ```
//!
//! # The surface
//!
//! Everything a host uses is listed below, at the crate root, except three
//! families of data types that keep their own namespace: [`event`] (the raw
//! events and their payloads), [`model`] (the reduced graph) and, with the
//! `codemode` feature, [`codemode`] (JavaScript cells). The modules behind
//! this list are private; DESIGN.md maps them.
//!
//! # Features
//!
//! - `cli` (default): the `tracefold` binary's dependencies (clap, anyhow,
//!   indicatif, mimalloc). A host embedding the library turns default
//!   features off.
//! - `codemode` (default): code mode's JavaScript cells on QuickJS.
//! - `demo` (default): the simulated coding-agent host behind `tracefold
//!   demo` ([`demo`]).
//! - `fleet` (with `cli`): [`fleet`], shipping rollouts to NATS JetStream
//!   and object storage and collecting them into a central store.
//! - `v8`: code mode on V8 (downloads a prebuilt library at build time).

#![deny(missing_docs)]

#[cfg(feature = "cli")]
mod cli;
mod codec;
#[cfg(feature = "codemode")]
pub mod codemode;
#[cfg(feature = "demo")]
pub mod demo;
mod diff;
mod error;
pub mod event;
mod export;
#[cfg(feature = "fleet")]
pub mod fleet;
mod ingest;
pub mod model;
mod recorder;
mod redact;
mod reducer;
mod replay;
mod store;
pub mod view;
mod writer;

#[cfg(test)]
mod format_v1_tests;
#[cfg(test)]
mod test_files;

pub use error::{Error, Result};

// Recording.
pub use recorder::{
    ChildSpawn, CompactionRecorder, CompactionRequestRecorder, InferenceRecorder, Recorder,
    RecorderConfig, RolloutRecorder, RolloutStart, ThreadRecorder, ThreadStart, ToolCallRecorder,
    ToolCallStart, TurnRecorder,
};
pub use redact::Redactor;
pub use writer::{Durability, Overflow, PayloadBody, WriterConfig, WriterStats};

// The store.
pub use store::{
    CompactReport, DeleteReport, EventIter, FaultInjector, FaultPoint, Finding, GcReport,
    RolloutManifest, ScriptedFaults, Store, StoreOptions, StoreStats,
};

// Reducing.
pub use reducer::{
    MemoryPayloads, PayloadSource, ReduceError, ReduceOptions, Reducer, SAVED_STATE_VERSION,
    reduce, reduce_with, state_to_json, write_state_json,
};

// Replay equivalence.
pub use diff::{
    AlignedObject, DiffAlignment, DiffPolicy, DiffReport, Divergence, align, align_with_payloads,
    assert_replay_equivalent, check_replay_equivalent, diff, diff_with_payloads,
};
pub use replay::{ReplayMiss, ReplaySource};

// Logs in and out.
pub use export::atif::{AtifFile, read_atif, trajectories as atif_trajectories, write_atif};
pub use export::bundle::{
    BundleOptions, BundleReport, LoadedBundle, read_bundle, read_bundle_with, write_bundle,
};
pub use export::output::write_output;
#[cfg(feature = "parquet")]
pub use export::parquet::{
    PARQUET_SCHEMA_VERSION, ParquetReport, TABLES as PARQUET_TABLES, write_parquet,
    write_parquet_all,
};
pub use export::{
    PayloadIds, RefStyle, reduce_loaded, reduce_loaded_with, reduce_stored, reduce_stored_with,
    to_wire,
};
pub use ingest::{
    BundleManifest, IMPORT_CACHE_CAPACITY_BYTES, Importer, IngestOptions, IngestReport,
    JsonlSource, RolloutOutcome, SourceFormat, discover, import_atif, import_bundle, import_source,
    ingest_jsonl, read_bundle_manifest,
};

/// The `tracefold` binary's entry point: parses the process's arguments,
/// runs the command, prints, and returns the exit code. Not API: it exists so
/// the binary (`src/main.rs`) can stay a thin wrapper over crate internals.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub fn __cli_main() -> i32 {
    cli::main()
}

/// Internals for this crate's own tests, benches and fuzz targets: the
/// record codec, the wire parser, store records and fault constants. Not
/// API: no semver promise, and a host never enables the feature.
#[cfg(feature = "__internal_whitebox")]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod __internal {
    pub use crate::codec::{decode_record, encode_record};
    pub use crate::event::wire::{WireEvent, WirePayloadRef, parse_line, to_line};
    pub use crate::redact::rule_marker;
    pub use crate::store::Recipe;
    pub use crate::store::faults::{EIO, ENOSPC};
    pub use crate::store::sled_segment_size;
}

/// The README's Rust examples, compiled and run as doc-tests, so the
/// README works as written (`cargo test` runs them).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
