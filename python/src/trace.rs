//! `reduce`, the reduced rollout (`Trace`) and replay-equivalence `diff`.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tracefold::model::RolloutTrace;
use tracefold::{DiffPolicy, DiffReport, PayloadSource, ReduceOptions, diff_with_payloads};

use crate::errors::IntoPy;
use crate::store::PyStore;

/// Folds a stored rollout's events into its graph: threads, turns, what the
/// model saw, inference and tool calls, code cells, terminals, compactions
/// and the edges between agents, as ``tracefold reduce`` does.
///
/// Raises ``UnknownRolloutError`` for an id the store lacks and
/// ``ReduceError`` (naming the seq) for an event the reducer refuses;
/// ``keep_going=True`` reduces past such events instead, each one a
/// diagnostic in ``trace.diagnostics``, so a damaged log still gives a
/// partial graph.
#[pyfunction]
#[pyo3(signature = (store, rollout_id, *, keep_going = false))]
pub(crate) fn reduce(
    py: Python<'_>,
    store: &Bound<'_, PyStore>,
    rollout_id: String,
    keep_going: bool,
) -> PyResult<PyTrace> {
    let rust_store = store.get().get(py)?;
    let trace = py
        .detach(move || {
            tracefold::reduce_stored_with(&rust_store, &rollout_id, ReduceOptions { keep_going })
        })
        .py_err(py)?;
    Ok(PyTrace {
        trace: Arc::new(trace),
        store: Some(store.clone().unbind()),
        state: PyOnceLock::new(),
    })
}

/// A reduced rollout. ``state`` is the state JSON ``tracefold reduce``
/// writes, as Python dicts and lists (built once, on first use); the
/// properties are its collections.
#[pyclass(frozen, module = "tracefold._native", name = "Trace")]
pub struct PyTrace {
    pub(crate) trace: Arc<RolloutTrace>,
    store: Option<Py<PyStore>>,
    state: PyOnceLock<Py<PyDict>>,
}

impl PyTrace {
    fn collection<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.state(py)?.as_any().get_item(key)
    }
}

#[pymethods]
impl PyTrace {
    /// The rollout's id.
    #[getter]
    fn rollout_id(&self) -> String {
        self.trace.rollout_id.clone()
    }

    /// ``running``, ``completed``, ``failed`` or ``aborted``.
    #[getter]
    fn status(&self) -> &'static str {
        self.trace.status.as_str()
    }

    /// The root thread's id.
    #[getter]
    fn root_thread_id(&self) -> Option<String> {
        self.trace.root_thread_id.clone()
    }

    /// The whole state as dicts (the state JSON's shape).
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let state = self.state.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
            let made = pythonize::pythonize(py, &*self.trace)?;
            Ok(made.cast_into::<PyDict>()?.unbind())
        })?;
        Ok(state.bind(py).clone())
    }

    /// Agent threads by thread id.
    #[getter]
    fn threads<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "threads")
    }

    /// Turns by turn id.
    #[getter]
    fn codex_turns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "codex_turns")
    }

    /// What the models saw, by item id.
    #[getter]
    fn conversation_items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "conversation_items")
    }

    /// Inference calls by id, with model, usage and status.
    #[getter]
    fn inference_calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "inference_calls")
    }

    /// Tool calls by id.
    #[getter]
    fn tool_calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "tool_calls")
    }

    /// Code cells by id.
    #[getter]
    fn code_cells<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "code_cells")
    }

    /// Terminal sessions by id.
    #[getter]
    fn terminal_sessions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "terminal_sessions")
    }

    /// Terminal operations by id.
    #[getter]
    fn terminal_operations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "terminal_operations")
    }

    /// Compactions by id.
    #[getter]
    fn compactions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "compactions")
    }

    /// Edges between agents (spawn, task, message, result, close) by id.
    #[getter]
    fn interaction_edges<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "interaction_edges")
    }

    /// What the reducer noticed (with ``keep_going``, the events it skipped).
    #[getter]
    fn diagnostics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.collection(py, "diagnostics")
    }

    /// The state JSON, byte for byte as ``tracefold reduce`` writes it.
    fn to_json(&self, py: Python<'_>) -> String {
        let trace = self.trace.clone();
        py.detach(move || tracefold::state_to_json(&trace))
    }

    fn __repr__(&self) -> String {
        let t = &self.trace;
        format!(
            "<tracefold.Trace {:?} {}: {} threads, {} turns, {} inference calls, {} tool calls>",
            t.rollout_id,
            t.status.as_str(),
            t.threads.len(),
            t.codex_turns.len(),
            t.inference_calls.len(),
            t.tool_calls.len()
        )
    }
}

/// Compares two reduced rollouts for replay equivalence, as ``tracefold
/// diff`` does: threads aligned by agent path, generated ids mapped to
/// their aligned names. With ``payloads=True`` (the default) and both
/// stores still open, payloads compare by normalised content and a
/// divergence names the differing JSON field; otherwise by BLAKE3.
#[pyfunction]
#[pyo3(signature = (a, b, *, payloads = true))]
pub(crate) fn diff(
    py: Python<'_>,
    a: &Bound<'_, PyTrace>,
    b: &Bound<'_, PyTrace>,
    payloads: bool,
) -> PyResult<PyDiffReport> {
    let (a, b) = (a.get(), b.get());
    let open = |trace: &PyTrace| {
        trace
            .store
            .as_ref()
            .filter(|_| payloads)
            .and_then(|store| store.get().get_open())
    };
    let (store_a, store_b) = (open(a), open(b));
    let (trace_a, trace_b) = (a.trace.clone(), b.trace.clone());
    let report = py.detach(move || {
        diff_with_payloads(
            &trace_a,
            reader(&store_a),
            &trace_b,
            reader(&store_b),
            &DiffPolicy::default(),
        )
    });
    Ok(PyDiffReport {
        report,
        a: a.trace.rollout_id.clone(),
        b: b.trace.rollout_id.clone(),
    })
}

fn reader(store: &Option<tracefold::Store>) -> Option<&(dyn PayloadSource + Sync)> {
    store
        .as_ref()
        .map(|store| store as &(dyn PayloadSource + Sync))
}

/// The result of ``diff``: true when the rollouts are replay-equivalent.
#[pyclass(frozen, module = "tracefold._native", name = "DiffReport")]
pub struct PyDiffReport {
    report: DiffReport,
    a: String,
    b: String,
}

#[pymethods]
impl PyDiffReport {
    /// Whether the rollouts are replay-equivalent.
    #[getter]
    fn equivalent(&self) -> bool {
        self.report.equivalent
    }

    /// The first divergence as ``tracefold diff`` prints it, or None.
    #[getter]
    fn first(&self) -> Option<String> {
        self.report.first.as_ref().map(ToString::to_string)
    }

    /// How many differences there are beyond the first.
    #[getter]
    fn further_differences(&self) -> usize {
        self.report.further_differences
    }

    /// The report as ``tracefold diff --json`` writes it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.report)?)
    }

    /// What ``assert_replay_equivalent`` says: both rollouts, the first
    /// divergence and the count of further differences.
    #[getter]
    fn message(&self) -> String {
        match &self.report.first {
            None => format!("rollouts {} and {} are replay-equivalent", self.a, self.b),
            Some(first) => format!(
                "rollouts are not replay-equivalent\n  A: rollout {}\n  B: rollout {}\n  first divergence: {first}\n  further differences: {}",
                self.a, self.b, self.report.further_differences
            ),
        }
    }

    fn __bool__(&self) -> bool {
        self.report.equivalent
    }

    fn __str__(&self) -> String {
        match &self.report.first {
            None => "equivalent".to_string(),
            Some(first) => {
                let further = self.report.further_differences;
                let plural = if further == 1 { "" } else { "s" };
                format!("{first}\n({further} further difference{plural})")
            }
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<tracefold.DiffReport equivalent={} further_differences={}>",
            if self.report.equivalent {
                "True"
            } else {
                "False"
            },
            self.report.further_differences
        )
    }
}
