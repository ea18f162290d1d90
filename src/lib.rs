//! tracefold records what an AI agent does into an embedded, append-only
//! event log and reduces it back into an explainable rollout graph.

pub mod cli;
pub mod codec;
pub mod codemode;
pub mod demo;
pub mod diff;
pub mod error;
pub mod event;
pub mod export;
pub mod ingest;
pub mod model;
pub mod recorder;
pub mod redact;
pub mod reducer;
pub mod store;
pub mod writer;

#[cfg(test)]
mod format_v1_tests;

pub use error::{Error, Result};

/// The README's Rust examples, compiled and run as doc-tests, so the
/// README works as written (`cargo test` runs them).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
