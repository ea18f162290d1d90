//! Saved fold state: [`Reducer::save`] writes the reducer's fields as JSON
//! under a format version, and [`Reducer::resume`] reads them back, refusing
//! another version (or none) with an error naming it.
//!
//! Unsaved parts (indexes rebuilt from the trace, caches, per-event scratch)
//! are rebuilt or start empty on resume; resuming never changes a result.

use serde::{Deserialize, Serialize};

use super::{ReduceError, Reducer};

/// The format of [`Reducer::save`]: bumped whenever the fold state's
/// fields change, so that [`Reducer::resume`] refuses a state it would read
/// wrongly instead of continuing from it.
pub const SAVED_STATE_VERSION: u32 = 1;

/// What [`Reducer::save`] writes.
#[derive(Serialize)]
struct SavedState<'r> {
    saved_state_version: u32,
    reducer: &'r Reducer,
}

/// What [`Reducer::resume`] reads first: the version, and the reducer's
/// JSON, parsed only once the version is known.
#[derive(Deserialize)]
struct SavedStateText<'a> {
    saved_state_version: Option<u32>,
    #[serde(borrow)]
    reducer: Option<&'a serde_json::value::RawValue>,
}

impl Reducer {
    /// The saved fold state (JSON), to continue later with [`Reducer::resume`]:
    /// `{"saved_state_version": 1, "reducer": {..}}` (see
    /// [`SAVED_STATE_VERSION`]).
    pub fn save(&self) -> Vec<u8> {
        serde_json::to_vec(&SavedState {
            saved_state_version: SAVED_STATE_VERSION,
            reducer: self,
        })
        .unwrap_or_default()
    }

    /// A reducer continuing from [`Reducer::save`] output of this
    /// [`SAVED_STATE_VERSION`]; a state without a version or of another
    /// version is refused, naming it.
    pub fn resume(bytes: &[u8]) -> Result<Reducer, ReduceError> {
        let resume_error = |reason: String| ReduceError::Resume { reason };
        let saved: SavedStateText<'_> =
            serde_json::from_slice(bytes).map_err(|err| resume_error(err.to_string()))?;
        match saved.saved_state_version {
            Some(SAVED_STATE_VERSION) => {}
            Some(other) => {
                return Err(resume_error(format!(
                    "saved state version {other}; this build resumes version {SAVED_STATE_VERSION}"
                )));
            }
            None => {
                return Err(resume_error(
                    "no saved_state_version: not a state saved by Reducer::save of this format"
                        .to_string(),
                ));
            }
        }
        let Some(text) = saved.reducer else {
            return Err(resume_error("no reducer in the saved state".to_string()));
        };
        let mut reducer: Reducer =
            serde_json::from_str(text.get()).map_err(|err| resume_error(err.to_string()))?;
        if reducer.conversation.item_identity.len() != reducer.trace.conversation_items.len() {
            return Err(ReduceError::Resume {
                reason: format!(
                    "{} item identities for {} conversation items",
                    reducer.conversation.item_identity.len(),
                    reducer.trace.conversation_items.len()
                ),
            });
        }
        reducer.rebuild_raw_payload_index();
        Ok(reducer)
    }
}

#[cfg(test)]
#[path = "saved_tests.rs"]
mod tests;
