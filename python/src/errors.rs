//! Library errors as the Python package's exception classes, which live in
//! `tracefold/errors.py` (plain Python, so they can also derive from the
//! built-in class a Python user would catch: `KeyError`, `ValueError`,
//! `OSError`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tracefold::Error;

/// The exception class (in `tracefold.errors`) for a library error.
fn class_of(err: &Error) -> &'static str {
    match err {
        Error::Locked { .. } => "StoreLockedError",
        Error::NoStore { .. } => "NoStoreError",
        Error::Open { .. } => "StoreOpenError",
        Error::Store(_) | Error::Io { .. } => "StorageError",
        Error::Corrupt { .. } | Error::CorruptData(_) => "CorruptStoreError",
        Error::UnknownRollout(_) => "UnknownRolloutError",
        Error::UnknownPayload(_) => "UnknownPayloadError",
        Error::PayloadTooLarge { .. } => "PayloadTooLargeError",
        Error::Input { .. } | Error::Event { .. } => "InvalidInputError",
        Error::Reduce { .. } => "ReduceError",
        Error::Poisoned(_) | Error::WriterGone => "RecorderError",
        _ => "TracefoldError",
    }
}

/// An instance of `tracefold.errors.<class>` with `message`, as a `PyErr`.
pub(crate) fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    let made = py
        .import("tracefold.errors")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call1((message.clone(),)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        // The package is broken (errors.py missing): still say what failed.
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// A library error as its Python exception.
pub(crate) fn to_py(py: Python<'_>, err: Error) -> PyErr {
    raise(py, class_of(&err), err.to_string())
}

/// `Result<T, tracefold::Error>` into `PyResult<T>`.
pub(crate) trait IntoPy<T> {
    /// Maps the error to its Python exception.
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for tracefold::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|err| to_py(py, err))
    }
}
