//! `tracefold.Recorder` and the rollout and thread handles.
//!
//! Recording is best effort, as in Rust: a call never raises for what
//! happens at run time (a full queue, a failed write, a shut-down recorder,
//! a payload that cannot be stored; see `payload.rs`), never blocks longer
//! than the overflow wait, and what it loses is counted in `stats()`. Only
//! an argument of the wrong type or an unknown status name raises
//! (`TypeError`, `ValueError`): a bug at the call site, raised on its first
//! run whatever the data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use tracefold::event::{ExecutionStatus, RolloutStatus};
use tracefold::{
    Durability, Overflow, Recorder, RecorderConfig, Redactor, RolloutRecorder, RolloutStart,
    ThreadRecorder, WriterConfig,
};

use crate::calls::PyTurn;
use crate::errors::IntoPy;
use crate::payload::PayloadRules;
use crate::store::PyStore;

/// Every live recorder of the process, so `atexit` can flush them all.
static LIVE: Mutex<Vec<Weak<RecorderCore>>> = Mutex::new(Vec::new());

/// A recorder's writer (none when disabled) and its payload rules.
pub(crate) struct RecorderCore {
    recorder: Option<Recorder>,
    pub(crate) rules: Arc<PayloadRules>,
    shut: AtomicBool,
}

impl RecorderCore {
    /// Flushes and stops the writer; later events are counted as dropped.
    pub(crate) fn shutdown(&self) -> tracefold::Result<()> {
        match &self.recorder {
            Some(recorder) if !self.shut.swap(true, Ordering::AcqRel) => recorder.shutdown(),
            _ => Ok(()),
        }
    }
}

/// Flushes and stops every recorder still running (the package calls it
/// at interpreter exit, so what was queued is not lost).
#[pyfunction]
pub(crate) fn shutdown_all(py: Python<'_>) {
    let live: Vec<_> = std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner));
    py.detach(move || {
        for core in live.iter().filter_map(Weak::upgrade) {
            let _ = core.shutdown();
        }
    });
}

pub(crate) fn rollout_status(name: &str) -> PyResult<RolloutStatus> {
    Ok(match name {
        "running" => RolloutStatus::Running,
        "completed" => RolloutStatus::Completed,
        "failed" => RolloutStatus::Failed,
        "aborted" => RolloutStatus::Aborted,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown status {other:?}: one of running, completed, failed, aborted"
            )));
        }
    })
}

pub(crate) fn execution_status(name: &str) -> PyResult<ExecutionStatus> {
    Ok(match name {
        "running" => ExecutionStatus::Running,
        "completed" => ExecutionStatus::Completed,
        "failed" => ExecutionStatus::Failed,
        "cancelled" => ExecutionStatus::Cancelled,
        "aborted" => ExecutionStatus::Aborted,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown status {other:?}: one of running, completed, failed, cancelled, aborted"
            )));
        }
    })
}

/// Whether a `__exit__` saw an exception (its first argument is not None).
pub(crate) fn raised(args: &Bound<'_, PyTuple>) -> bool {
    args.get_item(0).is_ok_and(|exc_type| !exc_type.is_none())
}

/// Records what happens in one store, from any number of Python threads.
///
/// ``Recorder(store)`` starts a writer thread on ``store``; every recording
/// call queues an event for it and returns at once (waiting at most
/// ``overflow_wait`` seconds when the queue is full, then dropping the
/// event and counting it). ``flush()`` and ``shutdown()`` make what was
/// recorded durable. ``Recorder.disabled()`` records nothing and never
/// calls a lazy payload.
///
/// ``strict=True`` raises ``PayloadError`` or ``PayloadTooLargeError`` for a
/// payload that cannot be stored, before anything is queued (for tests);
/// the default records a marker payload instead, counts it in
/// ``stats()["payload_errors"]`` and logs a warning on the ``tracefold``
/// logger.
#[pyclass(frozen, module = "tracefold._native", name = "Recorder")]
pub struct PyRecorder {
    core: Arc<RecorderCore>,
}

#[pymethods]
impl PyRecorder {
    #[new]
    #[pyo3(signature = (
        store, *, strict = false, durability = "group_commit", commit_wait = 0.002,
        queue_capacity = 65_536, overflow = "block", overflow_wait = 0.05, redact = true
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: &Bound<'_, PyStore>,
        strict: bool,
        durability: &str,
        commit_wait: f64,
        queue_capacity: usize,
        overflow: &str,
        overflow_wait: f64,
        redact: bool,
    ) -> PyResult<PyRecorder> {
        let seconds = |what: &str, value: f64| {
            Duration::try_from_secs_f64(value).map_err(|_| {
                PyValueError::new_err(format!("{what} must be seconds from 0, not {value}"))
            })
        };
        let durability = match durability {
            "group_commit" => Durability::GroupCommit {
                max_wait: seconds("commit_wait", commit_wait)?,
            },
            "buffered" => Durability::Buffered,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown durability {other:?}: group_commit or buffered"
                )));
            }
        };
        let overflow = match overflow {
            "block" => Overflow::Block {
                max_wait: seconds("overflow_wait", overflow_wait)?,
            },
            "drop" => Overflow::Drop,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown overflow {other:?}: block or drop"
                )));
            }
        };
        // Whether `RecorderConfig` has more fields than `writer` (`ship`,
        // feature `fleet`) depends on the features a workspace build
        // unifies, so the update is needless in this crate's own build only.
        #[allow(clippy::needless_update)]
        let config = RecorderConfig {
            writer: WriterConfig {
                durability,
                queue_capacity,
                overflow,
                redaction: redact.then(|| Arc::new(Redactor::new())),
                ..WriterConfig::default()
            },
            ..RecorderConfig::default()
        };
        let rust_store = store.get().get(py)?;
        let limit = rust_store.options().max_payload_bytes;
        let recorder = py
            .detach(move || Recorder::start(&rust_store, config))
            .py_err(py)?;
        let core = Arc::new(RecorderCore {
            recorder: Some(recorder),
            rules: Arc::new(PayloadRules::new(strict, limit)),
            shut: AtomicBool::new(false),
        });
        store.get().register(Arc::downgrade(&core));
        LIVE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&core));
        Ok(PyRecorder { core })
    }

    /// A recorder that records nothing: its handles do nothing and never
    /// call a lazy payload.
    #[staticmethod]
    fn disabled() -> PyRecorder {
        PyRecorder {
            core: Arc::new(RecorderCore {
                recorder: None,
                rules: Arc::new(PayloadRules::new(false, u64::MAX)),
                shut: AtomicBool::new(true),
            }),
        }
    }

    /// Whether this recorder records (False for ``Recorder.disabled()``).
    #[getter]
    fn enabled(&self) -> bool {
        self.core.recorder.is_some()
    }

    /// Starts a rollout with its root thread. A rollout id the store already
    /// holds with the same root thread is resumed; with another root, the
    /// handle records nothing and counts every event as dropped.
    #[pyo3(signature = (
        rollout_id = None, *, root_thread_id = None, agent_path = "/root".to_string(),
        metadata = None, trace_id = None
    ))]
    fn start_rollout(
        &self,
        py: Python<'_>,
        rollout_id: Option<String>,
        root_thread_id: Option<String>,
        agent_path: String,
        metadata: Option<&Bound<'_, PyAny>>,
        trace_id: Option<String>,
    ) -> PyResult<PyRollout> {
        let rules = self.core.rules.clone();
        let Some(recorder) = &self.core.recorder else {
            return Ok(PyRollout::new(RolloutRecorder::disabled(), rules));
        };
        let root = rules.thread_start(
            py,
            root_thread_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            agent_path,
            metadata,
        )?;
        let start = RolloutStart {
            rollout_id,
            trace_id,
            root,
        };
        let rollout = py.detach(|| recorder.start_rollout(start));
        Ok(PyRollout::new(rollout, rules))
    }

    /// A handle on a stored rollout that records nothing by itself, to go on
    /// with it in a later session (``resume_thread``).
    fn attach_rollout(&self, rollout_id: &str, root_thread_id: &str) -> PyRollout {
        let rules = self.core.rules.clone();
        match &self.core.recorder {
            Some(recorder) => {
                PyRollout::new(recorder.attach_rollout(rollout_id, root_thread_id), rules)
            }
            None => PyRollout::new(RolloutRecorder::disabled(), rules),
        }
    }

    /// Waits until everything recorded before the call is durable. Raises
    /// ``RecorderError`` if the writer failed (what was stored before the
    /// failure stays).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        match &self.core.recorder {
            Some(recorder) => py.detach(|| recorder.flush()).py_err(py),
            None => Ok(()),
        }
    }

    /// Flushes and stops the writer. Later recording calls are counted as
    /// dropped. Calling it again does nothing.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.core.shutdown()).py_err(py)
    }

    /// What the writer has done: ``events_written``, ``events_dropped``,
    /// ``payloads_written``, ``payloads_deduplicated``, ``payload_bytes_in``,
    /// ``chunks_written``, ``chunks_deduplicated``, ``bytes_stored``,
    /// ``groups_committed``, ``flushes``, and ``payload_errors`` (payloads
    /// replaced by a marker).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self
            .core
            .recorder
            .as_ref()
            .map(Recorder::stats)
            .unwrap_or_default();
        let dict = pythonize::pythonize(py, &stats)?.cast_into::<PyDict>()?;
        dict.set_item(
            "payload_errors",
            self.core.rules.errors.load(Ordering::Relaxed),
        )?;
        Ok(dict)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.shutdown(py)?;
        Ok(false)
    }
}

/// One rollout being recorded. As a context manager it ends the rollout
/// (``completed``, or ``failed`` when the block raised) unless ``end`` was
/// called.
#[pyclass(frozen, module = "tracefold._native", name = "Rollout")]
pub struct PyRollout {
    inner: RolloutRecorder,
    rules: Arc<PayloadRules>,
    ended: AtomicBool,
}

impl PyRollout {
    fn new(inner: RolloutRecorder, rules: Arc<PayloadRules>) -> PyRollout {
        PyRollout {
            inner,
            rules,
            ended: AtomicBool::new(false),
        }
    }
}

#[pymethods]
impl PyRollout {
    /// The rollout's id.
    #[getter]
    fn rollout_id(&self) -> String {
        self.inner.rollout_id().to_string()
    }

    /// Whether this handle records.
    #[getter]
    fn enabled(&self) -> bool {
        self.inner.is_enabled()
    }

    /// The root thread.
    #[getter]
    fn root(&self) -> PyThread {
        PyThread::new(self.inner.root(), self.rules.clone())
    }

    /// Resumes a thread a previous session started (``thread_resumed``).
    #[pyo3(signature = (thread_id, agent_path, *, metadata = None))]
    fn resume_thread(
        &self,
        py: Python<'_>,
        thread_id: String,
        agent_path: String,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyThread> {
        let start = self
            .rules
            .thread_start(py, thread_id, agent_path, metadata)?;
        let thread = py.detach(|| self.inner.resume_thread(start));
        Ok(PyThread::new(thread, self.rules.clone()))
    }

    /// Ends the rollout: ``completed``, ``failed``, ``aborted`` or
    /// ``running``.
    #[pyo3(signature = (status = "completed"))]
    fn end(&self, py: Python<'_>, status: &str) -> PyResult<()> {
        let status = rollout_status(status)?;
        if !self.ended.swap(true, Ordering::AcqRel) {
            py.detach(|| self.inner.end(status));
        }
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*args))]
    fn __exit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.end(py, if raised(args) { "failed" } else { "completed" })?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<tracefold.Rollout {:?}>", self.inner.rollout_id())
    }
}

/// One agent thread (the root or a sub-agent).
#[pyclass(frozen, module = "tracefold._native", name = "Thread")]
pub struct PyThread {
    inner: ThreadRecorder,
    rules: Arc<PayloadRules>,
    ended: AtomicBool,
}

impl PyThread {
    pub(crate) fn new(inner: ThreadRecorder, rules: Arc<PayloadRules>) -> PyThread {
        PyThread {
            inner,
            rules,
            ended: AtomicBool::new(false),
        }
    }
}

#[pymethods]
impl PyThread {
    /// The thread's id.
    #[getter]
    fn thread_id(&self) -> String {
        self.inner.thread_id().to_string()
    }

    /// Whether this handle records.
    #[getter]
    fn enabled(&self) -> bool {
        self.inner.is_enabled()
    }

    /// Starts a turn (``turn_id`` defaults to a new UUID).
    #[pyo3(signature = (turn_id = None))]
    fn turn(&self, py: Python<'_>, turn_id: Option<String>) -> PyTurn {
        let id = turn_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let turn = py.detach(|| self.inner.start_turn(id));
        PyTurn::new(turn, self.rules.clone())
    }

    /// Records a child thread (a sub-agent) spawned by this one, with its
    /// spawn origin. For the spawn edge from the tool call that spawned it,
    /// use ``ToolCall.spawn_child``.
    #[pyo3(signature = (thread_id, agent_path, *, metadata = None))]
    fn spawn_child(
        &self,
        py: Python<'_>,
        thread_id: String,
        agent_path: String,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyThread> {
        let start = self
            .rules
            .thread_start(py, thread_id, agent_path, metadata)?;
        let child = py.detach(|| self.inner.spawn_child(start));
        Ok(PyThread::new(child, self.rules.clone()))
    }

    /// Records a child thread resumed in a later session.
    #[pyo3(signature = (thread_id, agent_path, *, metadata = None))]
    fn resume_child(
        &self,
        py: Python<'_>,
        thread_id: String,
        agent_path: String,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyThread> {
        let start = self
            .rules
            .thread_start(py, thread_id, agent_path, metadata)?;
        let child = py.detach(|| self.inner.resume_child(start));
        Ok(PyThread::new(child, self.rules.clone()))
    }

    /// Ends the thread (``completed``, ``failed``, ``aborted``).
    #[pyo3(signature = (status = "completed"))]
    fn end(&self, py: Python<'_>, status: &str) -> PyResult<()> {
        let status = rollout_status(status)?;
        if !self.ended.swap(true, Ordering::AcqRel) {
            py.detach(|| self.inner.end(status));
        }
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*args))]
    fn __exit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.end(py, if raised(args) { "failed" } else { "completed" })?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<tracefold.Thread {:?}>", self.inner.thread_id())
    }
}
