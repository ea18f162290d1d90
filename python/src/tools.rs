//! The tool-call and compaction handles.

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use tracefold::{
    ChildSpawn, CompactionRecorder, CompactionRequestRecorder, PayloadBody, ToolCallRecorder,
};

use crate::calls::{describe, is_taken, take};
use crate::payload::PayloadRules;
use crate::recorder::{PyThread, execution_status, raised};

/// One tool call, from its start to the result returned to its requester.
/// As a context manager it records ``ended`` (``completed``, or ``failed``
/// when the block raised) unless ``ended`` was called.
#[pyclass(frozen, module = "tracefold._native", name = "ToolCall")]
pub struct PyToolCall {
    id: String,
    enabled: bool,
    inner: Mutex<Option<ToolCallRecorder>>,
    rules: Arc<PayloadRules>,
}

impl PyToolCall {
    pub(crate) fn new(call: ToolCallRecorder, rules: Arc<PayloadRules>) -> PyToolCall {
        PyToolCall {
            id: call.tool_call_id().to_string(),
            enabled: !call.tool_call_id().is_empty(),
            inner: Mutex::new(Some(call)),
            rules,
        }
    }

    /// Runs `f` on the call while it has not ended.
    fn with(&self, f: impl FnOnce(&ToolCallRecorder)) {
        if let Some(call) = &*self.inner.lock().unwrap_or_else(PoisonError::into_inner) {
            f(call);
        }
    }
}

#[pymethods]
impl PyToolCall {
    /// The tool call's id.
    #[getter]
    fn tool_call_id(&self) -> String {
        self.id.clone()
    }

    /// Whether ``ended`` was recorded.
    #[getter]
    fn finished(&self) -> bool {
        is_taken(&self.inner)
    }

    /// Records the MCP correlation id the call carried to its server.
    fn mcp_correlation(&self, py: Python<'_>, mcp_call_id: &str) {
        py.detach(|| self.with(|call| call.mcp_correlation(mcp_call_id)));
    }

    /// Records a runtime begin observation (``exec_command_begin``, say).
    fn runtime_started(&self, py: Python<'_>, runtime: &Bound<'_, PyAny>) -> PyResult<()> {
        if !self.enabled {
            return Ok(());
        }
        let body = self.rules.body(py, "runtime observation", runtime)?;
        py.detach(|| self.with(|call| call.runtime_started(move || body)));
        Ok(())
    }

    /// Records a runtime end observation.
    #[pyo3(signature = (runtime, *, status = "completed"))]
    fn runtime_ended(
        &self,
        py: Python<'_>,
        runtime: &Bound<'_, PyAny>,
        status: &str,
    ) -> PyResult<()> {
        let status = execution_status(status)?;
        if !self.enabled {
            return Ok(());
        }
        let body = self.rules.body(py, "runtime observation", runtime)?;
        py.detach(|| self.with(|call| call.runtime_ended(status, move || body)));
        Ok(())
    }

    /// Records the child thread this (``spawn_agent``) call spawned, with
    /// what it asked of it: the reduced rollout gets the spawn edge from
    /// this call to the child.
    #[pyo3(signature = (
        thread_id, agent_path, *, prompt, model, reasoning_effort = "medium".to_string(),
        metadata = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn spawn_child(
        &self,
        py: Python<'_>,
        thread_id: String,
        agent_path: String,
        prompt: String,
        model: String,
        reasoning_effort: String,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyThread> {
        let start = self
            .rules
            .thread_start(py, thread_id, agent_path, metadata)?;
        let spawn = ChildSpawn {
            prompt,
            model,
            reasoning_effort,
        };
        let child = py.detach(|| {
            let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            match &*guard {
                Some(call) => call.spawn_child(start, spawn),
                // An ended call spawns nothing: a handle that records nothing.
                None => tracefold::ThreadRecorder::disabled(),
            }
        });
        Ok(PyThread::new(child, self.rules.clone()))
    }

    /// Records the result returned to the requester (a dict, bytes, or a
    /// callable returning one) and ends the call.
    #[pyo3(signature = (result = None, *, status = "completed"))]
    fn ended(
        &self,
        py: Python<'_>,
        result: Option<&Bound<'_, PyAny>>,
        status: &str,
    ) -> PyResult<()> {
        let status = execution_status(status)?;
        let Some(call) = take(&self.inner) else {
            return Ok(());
        };
        let result = if !self.enabled {
            None // a disabled handle: the payload is never built
        } else {
            self.rules.optional(py, "tool result", result)?
        };
        py.detach(|| call.ended(status, move || result));
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*args))]
    fn __exit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        if raised(args) {
            let error = serde_json::json!({ "error": describe(args) });
            let error = pythonize::pythonize(py, &error)?;
            self.ended(py, Some(&error), "failed")?;
        } else {
            self.ended(py, None, "completed")?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<tracefold.ToolCall {:?}>", self.id)
    }
}

/// One compaction of a thread's history: its requests to the model, then
/// the installed checkpoint.
#[pyclass(frozen, module = "tracefold._native", name = "Compaction")]
pub struct PyCompaction {
    enabled: bool,
    inner: Mutex<Option<CompactionRecorder>>,
    rules: Arc<PayloadRules>,
}

impl PyCompaction {
    pub(crate) fn new(
        enabled: bool,
        inner: CompactionRecorder,
        rules: Arc<PayloadRules>,
    ) -> PyCompaction {
        PyCompaction {
            enabled,
            inner: Mutex::new(Some(inner)),
            rules,
        }
    }
}

#[pymethods]
impl PyCompaction {
    /// Records a compaction request to the model; returns its handle.
    #[pyo3(signature = (model, provider = "openai", request = None, *, compaction_request_id = None))]
    fn request(
        &self,
        py: Python<'_>,
        model: &str,
        provider: &str,
        request: Option<&Bound<'_, PyAny>>,
        compaction_request_id: Option<String>,
    ) -> PyResult<PyCompactionRequest> {
        let id = compaction_request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let body = match request {
            Some(request) if self.enabled => self.rules.body(py, "compaction request", request)?,
            _ => PayloadBody::Json(serde_json::Value::Null),
        };
        let made = py.detach(|| {
            let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            guard
                .as_ref()
                .map(|compaction| compaction.start_request(&id, model, provider, move || body))
        });
        Ok(PyCompactionRequest {
            enabled: self.enabled,
            inner: Mutex::new(made),
            rules: self.rules.clone(),
        })
    }

    /// Records the installed checkpoint (the history the thread goes on
    /// with) and ends the compaction.
    fn installed(&self, py: Python<'_>, checkpoint: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(compaction) = take(&self.inner) else {
            return Ok(());
        };
        if !self.enabled {
            return Ok(());
        }
        let body = self.rules.body(py, "compaction checkpoint", checkpoint)?;
        py.detach(|| compaction.installed(move || body));
        Ok(())
    }
}

/// One compaction request: ``completed`` or ``failed``.
#[pyclass(frozen, module = "tracefold._native", name = "CompactionRequest")]
pub struct PyCompactionRequest {
    enabled: bool,
    inner: Mutex<Option<CompactionRequestRecorder>>,
    rules: Arc<PayloadRules>,
}

#[pymethods]
impl PyCompactionRequest {
    /// Records the model's response.
    fn completed(&self, py: Python<'_>, response: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(request) = take(&self.inner) else {
            return Ok(());
        };
        if !self.enabled {
            return Ok(());
        }
        let body = self.rules.body(py, "compaction response", response)?;
        py.detach(|| request.completed(move || body));
        Ok(())
    }

    /// Records a failure.
    fn failed(&self, py: Python<'_>, error: &str) {
        if let Some(request) = take(&self.inner) {
            py.detach(|| request.failed(error));
        }
    }
}
