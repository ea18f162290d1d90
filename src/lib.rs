//! tracefold records what an AI agent does into an embedded, append-only
//! event log and reduces it back into an explainable rollout graph.

pub mod codec;
pub mod error;
pub mod event;
pub mod store;

pub use error::{Error, Result};
