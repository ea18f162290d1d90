//! The turn handle and the handles of calls with a lifecycle: inference,
//! tool call, compaction. Each is a context manager that records the
//! call's terminal event if the block did not: ``failed`` when it raised,
//! ``cancelled`` (inference) or ``completed`` (tool call) otherwise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use tracefold::event::{RawToolCallRequester, ToolCallKind, ToolCallSummary};
use tracefold::{InferenceRecorder, PayloadBody, ToolCallStart, TurnRecorder};

use crate::payload::PayloadRules;
use crate::recorder::{execution_status, raised};
pub(crate) use crate::tools::{PyCompaction, PyCompactionRequest, PyToolCall};

/// Takes the handle out of its slot (`None` once its terminal event was
/// recorded).
pub(crate) fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Whether the handle's terminal event was recorded (its slot is empty).
pub(crate) fn is_taken<T>(slot: &Mutex<Option<T>>) -> bool {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_none()
}

/// What a block's exception says, for a failed call: `TypeName: message`.
pub(crate) fn describe(args: &Bound<'_, PyTuple>) -> String {
    let Ok(exc) = args.get_item(1) else {
        return "the block raised".to_string();
    };
    let name = exc
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_string());
    match exc.str() {
        Ok(text) if !text.is_empty().unwrap_or(true) => format!("{name}: {text}"),
        _ => name,
    }
}

/// Whether the block was interrupted rather than failed (Ctrl-C, task
/// cancellation).
pub(crate) fn interrupted(py: Python<'_>, args: &Bound<'_, PyTuple>) -> bool {
    let Ok(exc) = args.get_item(1) else {
        return false;
    };
    if exc.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>() {
        return true;
    }
    py.import("asyncio")
        .and_then(|asyncio| asyncio.getattr("CancelledError"))
        .and_then(|class| exc.is_instance(&class))
        .unwrap_or(false)
}

/// One turn of a thread.
#[pyclass(frozen, module = "tracefold._native", name = "Turn")]
pub struct PyTurn {
    inner: TurnRecorder,
    rules: Arc<PayloadRules>,
    ended: AtomicBool,
}

impl PyTurn {
    pub(crate) fn new(inner: TurnRecorder, rules: Arc<PayloadRules>) -> PyTurn {
        PyTurn {
            inner,
            rules,
            ended: AtomicBool::new(false),
        }
    }

    /// A payload, converted only when this turn records.
    fn body(
        &self,
        py: Python<'_>,
        what: &str,
        obj: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PayloadBody> {
        match obj {
            Some(obj) => self.rules.body(py, what, obj),
            None => Ok(PayloadBody::Json(serde_json::Value::Null)),
        }
    }
}

#[pymethods]
impl PyTurn {
    /// The turn's id.
    #[getter]
    fn turn_id(&self) -> String {
        self.inner.turn_id().to_string()
    }

    /// The id of the thread the turn belongs to.
    #[getter]
    fn thread_id(&self) -> String {
        self.inner.thread_id().to_string()
    }

    /// Whether this handle records.
    #[getter]
    fn enabled(&self) -> bool {
        self.inner.is_enabled()
    }

    /// Starts an inference call: ``request`` is what was sent to the model
    /// (a dict, bytes, or a callable returning one, called only when
    /// recording). Returns the call's handle.
    #[pyo3(signature = (model, provider = "openai", request = None))]
    fn inference(
        &self,
        py: Python<'_>,
        model: &str,
        provider: &str,
        request: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyInference> {
        if !self.inner.is_enabled() {
            let call = self
                .inner
                .start_inference(model, provider, || PayloadBody::Bytes(Vec::new()));
            return Ok(PyInference::new(call, None));
        }
        let body = self.body(py, "inference request", request)?;
        let call = py.detach(|| self.inner.start_inference(model, provider, move || body));
        Ok(PyInference::new(call, Some(self.rules.clone())))
    }

    /// Starts a tool call named ``name`` (its kind follows from the name:
    /// ``exec_command``, ``apply_patch``, ``spawn_agent``, ...; ``kind``
    /// overrides it, ``mcp_server`` and ``mcp_tool`` make it an MCP call).
    /// ``call_id`` is the model's call id (links the call to the model's
    /// call item); ``code_cell_id`` names the code cell that asked for it
    /// instead of the model. ``invocation`` is the call's input payload.
    #[pyo3(signature = (
        name, invocation = None, *, call_id = None, tool_call_id = None, kind = None,
        mcp_server = None, mcp_tool = None, code_cell_id = None, runtime_tool_id = None,
        label = None, input_preview = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn tool_call(
        &self,
        py: Python<'_>,
        name: &str,
        invocation: Option<&Bound<'_, PyAny>>,
        call_id: Option<String>,
        tool_call_id: Option<String>,
        kind: Option<&str>,
        mcp_server: Option<String>,
        mcp_tool: Option<String>,
        code_cell_id: Option<String>,
        runtime_tool_id: Option<String>,
        label: Option<String>,
        input_preview: Option<String>,
    ) -> PyResult<PyToolCall> {
        let kind = match (mcp_server, mcp_tool) {
            (Some(server), Some(tool)) => ToolCallKind::Mcp { server, tool },
            (None, None) => ToolCallKind::from_tool_name(kind.unwrap_or(name)),
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "an MCP call needs both mcp_server and mcp_tool",
                ));
            }
        };
        let start = ToolCallStart {
            tool_call_id: tool_call_id.or_else(|| call_id.clone()),
            model_visible_call_id: call_id,
            code_mode_runtime_tool_id: runtime_tool_id,
            requester: match code_cell_id {
                Some(runtime_cell_id) => RawToolCallRequester::CodeCell { runtime_cell_id },
                None => RawToolCallRequester::Model,
            },
            kind,
            summary: ToolCallSummary::Generic {
                label: label.unwrap_or_else(|| name.to_string()),
                input_preview,
                output_preview: None,
            },
        };
        let invocation = if self.inner.is_enabled() {
            self.rules.optional(py, "tool invocation", invocation)?
        } else {
            None
        };
        let call = py.detach(|| self.inner.start_tool_call(start, move || invocation));
        Ok(PyToolCall::new(call, self.rules.clone()))
    }

    /// Starts a compaction of the thread's history (``compaction_id``
    /// defaults to a new UUID).
    #[pyo3(signature = (compaction_id = None))]
    fn compaction(&self, compaction_id: Option<String>) -> PyCompaction {
        let id = compaction_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        PyCompaction::new(
            self.inner.is_enabled(),
            self.inner.compaction(id),
            self.rules.clone(),
        )
    }

    /// Delivers a child's result to its parent: calls ``deliver()`` (the
    /// host's own delivery, whose exception propagates and records
    /// nothing), then records the ``agent_result`` edge. Returns what
    /// ``deliver`` returned.
    #[pyo3(signature = (parent_thread_id, message, deliver = None, *, carried = None))]
    fn deliver_agent_result(
        &self,
        py: Python<'_>,
        parent_thread_id: &str,
        message: &str,
        deliver: Option<&Bound<'_, PyAny>>,
        carried: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let delivered = match deliver {
            Some(deliver) => deliver.call0()?.unbind(),
            None => py.None(),
        };
        if self.inner.is_enabled() {
            let carried = self.rules.optional(py, "carried result", carried)?;
            py.detach(|| {
                self.inner.deliver_agent_result(
                    parent_thread_id,
                    message,
                    move || carried,
                    || Ok::<(), ()>(()),
                )
            })
            .ok();
        }
        Ok(delivered)
    }

    /// Ends the turn (``completed``, ``failed``, ``cancelled``, ``aborted``).
    #[pyo3(signature = (status = "completed"))]
    fn end(&self, py: Python<'_>, status: &str) -> PyResult<()> {
        let status = execution_status(status)?;
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
        let status = match (raised(args), interrupted(py, args)) {
            (false, _) => "completed",
            (true, true) => "cancelled",
            (true, false) => "failed",
        };
        self.end(py, status)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<tracefold.Turn {:?}>", self.inner.turn_id())
    }
}

/// One inference call: exactly one of ``completed``, ``failed`` or
/// ``cancelled`` is recorded (later ones are ignored).
#[pyclass(frozen, module = "tracefold._native", name = "Inference")]
pub struct PyInference {
    id: String,
    inner: Mutex<Option<InferenceRecorder>>,
    rules: Option<Arc<PayloadRules>>,
}

impl PyInference {
    fn new(call: InferenceRecorder, rules: Option<Arc<PayloadRules>>) -> PyInference {
        PyInference {
            id: call.inference_call_id().to_string(),
            inner: Mutex::new(Some(call)),
            rules,
        }
    }
}

#[pymethods]
impl PyInference {
    /// The call's generated id (send it upstream as a correlation header).
    #[getter]
    fn inference_call_id(&self) -> String {
        self.id.clone()
    }

    /// Whether the call's terminal event was recorded.
    #[getter]
    fn finished(&self) -> bool {
        is_taken(&self.inner)
    }

    /// Records the response (a dict, bytes, or a callable returning one).
    #[pyo3(signature = (response = None, *, response_id = None, upstream_request_id = None))]
    fn completed(
        &self,
        py: Python<'_>,
        response: Option<&Bound<'_, PyAny>>,
        response_id: Option<&str>,
        upstream_request_id: Option<&str>,
    ) -> PyResult<()> {
        let Some(call) = take(&self.inner) else {
            return Ok(());
        };
        let body = self
            .payload(py, "inference response", response)?
            .unwrap_or(PayloadBody::Json(serde_json::Value::Null));
        py.detach(|| call.completed(response_id, upstream_request_id, move || body));
        Ok(())
    }

    /// Records a failure, with any partial response.
    #[pyo3(signature = (error, *, partial = None, upstream_request_id = None))]
    fn failed(
        &self,
        py: Python<'_>,
        error: &str,
        partial: Option<&Bound<'_, PyAny>>,
        upstream_request_id: Option<&str>,
    ) -> PyResult<()> {
        let Some(call) = take(&self.inner) else {
            return Ok(());
        };
        let partial = self.payload(py, "partial response", partial)?;
        py.detach(|| call.failed(upstream_request_id, error, move || partial));
        Ok(())
    }

    /// Records a cancellation, with any partial response.
    #[pyo3(signature = (reason = "cancelled", *, partial = None, upstream_request_id = None))]
    fn cancelled(
        &self,
        py: Python<'_>,
        reason: &str,
        partial: Option<&Bound<'_, PyAny>>,
        upstream_request_id: Option<&str>,
    ) -> PyResult<()> {
        let Some(call) = take(&self.inner) else {
            return Ok(());
        };
        let partial = self.payload(py, "partial response", partial)?;
        py.detach(|| call.cancelled(upstream_request_id, reason, move || partial));
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*args))]
    fn __exit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        if raised(args) && !interrupted(py, args) {
            self.failed(py, &describe(args), None, None)?;
        } else if raised(args) {
            self.cancelled(py, &describe(args), None, None)?;
        } else {
            self.cancelled(
                py,
                "the with block ended without a terminal event",
                None,
                None,
            )?;
        }
        Ok(false)
    }
}

impl PyInference {
    fn payload(
        &self,
        py: Python<'_>,
        what: &str,
        obj: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<PayloadBody>> {
        match &self.rules {
            Some(rules) => rules.optional(py, what, obj),
            None => Ok(None),
        }
    }
}
