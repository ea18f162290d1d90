//! `tracefold.Store`: a store opened from Python, and the lazy iterator of a
//! rollout's events.
//!
//! Closing a store shuts down the recorders started on it (flushing what
//! they queued), then drops it, which releases its lock; every later call
//! raises `StoreClosedError`. Calls that were already running hold their own
//! handle on the store and finish.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tracefold::event::Hash;
use tracefold::{
    EventIter, Importer, IngestOptions, IngestReport, PayloadIds, Redactor, RefStyle, Store,
    StoreOptions, discover, to_wire,
};

use crate::errors::{IntoPy, raise};
use crate::recorder::RecorderCore;

/// An embedded tracefold store: one directory holding every rollout's log
/// and the payloads they cite.
///
/// ``Store(path)`` opens the store at ``path``, creating it when missing
/// (``create=False``: raise ``NoStoreError`` instead). A store is locked by
/// the process that opens it; a second opener waits up to ``lock_wait``
/// seconds, then raises ``StoreLockedError``. Use it as a context manager,
/// or call ``close()``: closing shuts down the store's recorders (what they
/// queued is made durable first) and releases the lock.
#[pyclass(frozen, module = "tracefold._native", name = "Store")]
pub struct PyStore {
    path: PathBuf,
    inner: RwLock<Option<Store>>,
    recorders: Mutex<Vec<Weak<RecorderCore>>>,
}

impl PyStore {
    /// The open store, or `StoreClosedError`.
    pub(crate) fn get(&self, py: Python<'_>) -> PyResult<Store> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                raise(
                    py,
                    "StoreClosedError",
                    format!("store {} is closed", self.path.display()),
                )
            })
    }

    /// The store, if still open.
    pub(crate) fn get_open(&self) -> Option<Store> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Registers a recorder, so `close()` shuts it down.
    pub(crate) fn register(&self, core: Weak<RecorderCore>) {
        let mut recorders = self
            .recorders
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        recorders.retain(|r| r.strong_count() > 0);
        recorders.push(core);
    }
}

#[pymethods]
impl PyStore {
    #[new]
    #[pyo3(signature = (path, *, create = true, max_payload_bytes = None, lock_wait = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        create: bool,
        max_payload_bytes: Option<u64>,
        lock_wait: Option<f64>,
    ) -> PyResult<PyStore> {
        let mut options = StoreOptions::default();
        if let Some(limit) = max_payload_bytes {
            options.max_payload_bytes = limit;
        }
        if let Some(seconds) = lock_wait {
            options.lock_wait = Duration::try_from_secs_f64(seconds).map_err(|_| {
                pyo3::exceptions::PyValueError::new_err(format!(
                    "lock_wait must be a number of seconds from 0, not {seconds}"
                ))
            })?;
        }
        let at = path.clone();
        let store = py
            .detach(move || {
                if create {
                    Store::open(&at, options)
                } else {
                    Store::open_existing(&at, options)
                }
            })
            .py_err(py)?;
        Ok(PyStore {
            path,
            inner: RwLock::new(Some(store)),
            recorders: Mutex::new(Vec::new()),
        })
    }

    /// The store's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.get_open().is_none()
    }

    /// The largest payload the store accepts, in bytes.
    #[getter]
    fn max_payload_bytes(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.get(py)?.options().max_payload_bytes)
    }

    /// Every rollout's manifest (``rollout_id``, ``trace_id``,
    /// ``root_thread_id``, ``started_at_unix_ms``, ``ended_at_unix_ms``,
    /// ``status``, ``event_count``, ...), in creation order.
    fn rollouts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = self.get(py)?;
        let manifests = py.detach(move || store.rollouts()).py_err(py)?;
        Ok(pythonize::pythonize(py, &manifests)?)
    }

    /// The ids of every stored rollout, in creation order.
    fn rollout_ids(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let store = self.get(py)?;
        let manifests = py.detach(move || store.rollouts()).py_err(py)?;
        Ok(manifests.into_iter().map(|m| m.rollout_id).collect())
    }

    /// The events of ``rollout_id`` in seq order, as wire-format dicts (the
    /// lines ``tracefold events`` prints), read lazily. Payloads are cited
    /// by BLAKE3 and size, or with ``inline_payloads=True`` carried in the
    /// event. Raises ``UnknownRolloutError`` for an id the store lacks.
    #[pyo3(signature = (rollout_id, *, inline_payloads = false))]
    fn events(
        &self,
        py: Python<'_>,
        rollout_id: String,
        inline_payloads: bool,
    ) -> PyResult<PyEventIter> {
        let store = self.get(py)?;
        let id = rollout_id.clone();
        let reader = store.clone();
        let iter = py.detach(move || reader.events(&id)).py_err(py)?;
        Ok(PyEventIter {
            store,
            rollout_id,
            style: if inline_payloads {
                RefStyle::Inline
            } else {
                RefStyle::Stored
            },
            state: Mutex::new((iter, PayloadIds::default())),
        })
    }

    /// The bytes of the payload with this BLAKE3 hash (64 hex digits, as the
    /// events cite it; a ``blake3:`` prefix is accepted). Raises
    /// ``UnknownPayloadError`` when the store holds no such payload.
    fn payload<'py>(&self, py: Python<'py>, hash: &str) -> PyResult<Bound<'py, PyBytes>> {
        let text = hash.strip_prefix("blake3:").unwrap_or(hash);
        let hash: Hash = text.parse().map_err(|_| {
            raise(
                py,
                "InvalidInputError",
                format!("{hash:?} is not a BLAKE3 hash (64 hex digits)"),
            )
        })?;
        let store = self.get(py)?;
        let bytes = py.detach(move || store.read_payload(&hash)).py_err(py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// What the store holds: rollouts, events, payloads, logical and stored
    /// bytes, chunks, pack sizes.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = self.get(py)?;
        let stats = py.detach(move || store.stats()).py_err(py)?;
        Ok(pythonize::pythonize(py, &stats)?)
    }

    /// Checks every record (checksums, hashes, recipes, manifests against
    /// their logs) and returns what is wrong, as ``{"subject", "message"}``
    /// dicts; an empty list means the store is sound.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = self.get(py)?;
        let findings = py.detach(move || store.verify()).py_err(py)?;
        Ok(pythonize::pythonize(py, &findings)?)
    }

    /// Imports what ``tracefold import`` does: wire JSONL, reference
    /// bundles, Codex and Claude Code sessions, ATIF trajectories; a file or
    /// a directory searched for them. Returns ``{"files", "events",
    /// "rollout_ids", "rollouts": [{"rollout_id", "created",
    /// "already_stored", "appended"}], "warnings"}``. Importing again adds
    /// nothing. Every file is tried; if any failed, raises the first
    /// failure's exception (naming its file and line) after the others
    /// were imported.
    #[pyo3(signature = (path, *, redact = true, allow_missing_subagents = false))]
    fn import_path<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        redact: bool,
        allow_missing_subagents: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = self.get(py)?;
        let (summary, failures) =
            py.detach(move || import_all(&store, &path, redact, allow_missing_subagents));
        if let Some(first) = failures.into_iter().next() {
            return Err(crate::errors::to_py(py, first));
        }
        Ok(pythonize::pythonize(py, &summary)?)
    }

    /// Shuts down the recorders started on this store (flushing what they
    /// queued) and closes it, releasing its lock. Closing twice does
    /// nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let recorders: Vec<_> = std::mem::take(
            &mut *self
                .recorders
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut first_error = None;
        for core in recorders.iter().filter_map(Weak::upgrade) {
            if let Err(err) = py.detach(|| core.shutdown())
                && first_error.is_none()
            {
                first_error = Some(err);
            }
        }
        let store = self
            .inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(store) = store {
            py.detach(move || {
                let _ = store.flush();
                drop(store);
            });
        }
        match first_error {
            Some(err) => Err(crate::errors::to_py(py, err)),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { " closed" } else { "" };
        format!(
            "<tracefold.Store {:?}{state}>",
            self.path.display().to_string()
        )
    }
}

/// What `import_path` reports.
#[derive(serde::Serialize, Default)]
struct ImportSummary {
    files: usize,
    events: u64,
    rollout_ids: Vec<String>,
    rollouts: Vec<Outcome>,
    warnings: Vec<String>,
}

#[derive(serde::Serialize)]
struct Outcome {
    rollout_id: String,
    created: bool,
    already_stored: u64,
    appended: u64,
}

fn import_all(
    store: &Store,
    path: &Path,
    redact: bool,
    allow_missing_subagents: bool,
) -> (ImportSummary, Vec<tracefold::Error>) {
    let found = Importer::order(discover(path));
    let mut importer = Importer::new(store).allow_missing_subagents(allow_missing_subagents);
    let options = IngestOptions {
        redactor: redact.then(Redactor::new),
        max_payload_bytes: store.options().max_payload_bytes,
        ..IngestOptions::default()
    };
    let mut summary = ImportSummary {
        files: found.len(),
        ..ImportSummary::default()
    };
    let mut failures = Vec::new();
    if found.is_empty() {
        failures.push(tracefold::Error::input(
            path.display().to_string(),
            "no importable file here (wire JSONL, a bundle, a Codex or Claude Code session, ATIF)",
        ));
    }
    for entry in found {
        match entry.and_then(|(file, format)| importer.import(&file, format, &options)) {
            Ok(report) => add_report(&mut summary, report),
            Err(err) => failures.push(err),
        }
    }
    (summary, failures)
}

fn add_report(summary: &mut ImportSummary, report: IngestReport) {
    summary.events += report.events;
    summary.warnings.extend(report.unconverted_lines);
    for id in report.rollout_ids {
        if !summary.rollout_ids.contains(&id) {
            summary.rollout_ids.push(id);
        }
    }
    summary
        .rollouts
        .extend(report.rollouts.into_iter().map(|r| Outcome {
            rollout_id: r.rollout_id,
            created: r.created,
            already_stored: r.already_stored,
            appended: r.appended,
        }));
}

/// The events of one rollout, read one at a time as Python iterates.
#[pyclass(frozen, module = "tracefold._native", name = "EventIterator")]
pub struct PyEventIter {
    store: Store,
    rollout_id: String,
    style: RefStyle,
    state: Mutex<(EventIter, PayloadIds)>,
}

#[pymethods]
impl PyEventIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let wire = py.detach(|| {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (iter, ids) = &mut *state;
            match iter.next() {
                None => Ok(None),
                Some(Err(err)) => Err(err),
                Some(Ok(event)) => to_wire(&self.store, &self.rollout_id, &event, ids, self.style)
                    .and_then(|wire| {
                        serde_json::to_value(&wire)
                            .map(Some)
                            .map_err(|err| tracefold::Error::Other(err.to_string()))
                    }),
            }
        });
        match wire.py_err(py)? {
            None => Ok(None),
            Some(value) => Ok(Some(pythonize::pythonize(py, &value)?)),
        }
    }
}
