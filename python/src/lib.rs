//! `tracefold._native`: the Rust side of the Python package (PyO3).
//!
//! The package (`python/tracefold/`) re-exports these classes and adds what
//! is plain Python (the exception classes, `assert_replay_equivalent`).
//! Map of this crate:
//!
//! - `store.rs`: [`store::PyStore`] (`tracefold.Store`) and its event
//!   iterator;
//! - `recorder.rs`: `Recorder`, and the rollout and thread handles;
//! - `calls.rs`: the turn and the handles of calls with a lifecycle
//!   (inference, tool call, compaction);
//! - `payload.rs`: Python payloads (dict, list, bytes, str, a lazy callable)
//!   into the recorder's payload bodies, with the strict and lenient rules;
//! - `trace.rs`: `reduce`, `Trace` and `diff`;
//! - `errors.rs`: library errors as the package's exception classes.
//!
//! Every call that touches the store, reduces or waits on the writer
//! releases the GIL (`Python::detach`); recording calls release it while
//! they queue, since a full queue may make them wait.

mod calls;
mod errors;
mod payload;
mod recorder;
mod store;
mod tools;
mod trace;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<store::PyStore>()?;
    m.add_class::<store::PyEventIter>()?;
    m.add_class::<recorder::PyRecorder>()?;
    m.add_class::<recorder::PyRollout>()?;
    m.add_class::<recorder::PyThread>()?;
    m.add_class::<calls::PyTurn>()?;
    m.add_class::<calls::PyInference>()?;
    m.add_class::<calls::PyToolCall>()?;
    m.add_class::<calls::PyCompaction>()?;
    m.add_class::<calls::PyCompactionRequest>()?;
    m.add_class::<trace::PyTrace>()?;
    m.add_class::<trace::PyDiffReport>()?;
    m.add_function(wrap_pyfunction!(trace::reduce, m)?)?;
    m.add_function(wrap_pyfunction!(trace::diff, m)?)?;
    m.add_function(wrap_pyfunction!(recorder::shutdown_all, m)?)?;
    m.add("SAVED_STATE_VERSION", tracefold::SAVED_STATE_VERSION)?;
    Ok(())
}
