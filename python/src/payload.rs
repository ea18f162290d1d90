//! Python payloads into the recorder's payload bodies.
//!
//! A payload is a JSON value (dict, list, str-keyed nesting of str, int,
//! float, bool, None), stored as compact JSON; `bytes`, `bytearray` or
//! `memoryview`, stored as is; or a `str`, stored as its UTF-8 text (as
//! the Rust recorder stores a `String`). A callable is a lazy payload:
//! called (with no argument) only when the handle records, so a disabled
//! recorder never builds it.
//!
//! A payload that cannot be stored (an object JSON has no form for, a
//! callable that raises, a payload over the store's limit) is handled by
//! the recorder's rule:
//! - lenient (the default): the event is recorded with a marker payload,
//!   `{"tracefold_payload_error": "<why>"}`, so the graph keeps its shape;
//!   the recorder counts it (`stats()["payload_errors"]`) and logs a warning
//!   on the `tracefold` logger. Nothing raises into the worker. (A payload
//!   over the limit is not measured here: the writer drops the event and
//!   counts it in `events_dropped`, as the Rust recorder does.)
//! - strict: the call raises (`PayloadError`, a `TypeError`, or
//!   `PayloadTooLargeError`, a `ValueError`) before anything is queued.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use serde_json::Value;
use tracefold::PayloadBody;

use crate::errors::raise;

/// What every handle of one recorder shares about payloads.
#[derive(Debug)]
pub(crate) struct PayloadRules {
    /// Raise instead of recording a marker.
    pub(crate) strict: bool,
    /// The store's limit, checked here in strict mode.
    pub(crate) limit_bytes: u64,
    /// Payloads replaced by a marker (lenient mode).
    pub(crate) errors: AtomicU64,
}

/// Why a payload could not be made, and which exception strict mode raises.
struct Refused {
    class: &'static str,
    message: String,
}

impl PayloadRules {
    pub(crate) fn new(strict: bool, limit_bytes: u64) -> PayloadRules {
        PayloadRules {
            strict,
            limit_bytes,
            errors: AtomicU64::new(0),
        }
    }

    /// The body of a required payload (`None` is JSON null).
    pub(crate) fn body(
        &self,
        py: Python<'_>,
        what: &str,
        obj: &Bound<'_, PyAny>,
    ) -> PyResult<PayloadBody> {
        Ok(self
            .optional(py, what, Some(obj))?
            .unwrap_or(PayloadBody::Json(Value::Null)))
    }

    /// The body of an optional payload: `None` (or a lazy payload that
    /// returns `None`) records none.
    pub(crate) fn optional(
        &self,
        py: Python<'_>,
        what: &str,
        obj: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<PayloadBody>> {
        let Some(obj) = obj else { return Ok(None) };
        match self.convert(obj) {
            Ok(body) => Ok(body),
            Err(refused) => {
                let message = self.refuse(py, what, refused)?;
                Ok(Some(PayloadBody::Json(
                    serde_json::json!({ "tracefold_payload_error": message }),
                )))
            }
        }
    }

    /// Thread metadata as JSON (an object, as the reducer reads it). Under
    /// the lenient rule, metadata with no JSON form, or given as text or
    /// bytes, is left out (counted and logged) instead of raising.
    pub(crate) fn metadata(
        &self,
        py: Python<'_>,
        what: &str,
        obj: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Value>> {
        let Some(obj) = obj else { return Ok(None) };
        let refused = match self.convert(obj) {
            Ok(None) => return Ok(None),
            Ok(Some(PayloadBody::Json(value))) => return Ok(Some(value)),
            Ok(Some(PayloadBody::Bytes(_))) => Refused {
                class: "PayloadError",
                message: "must be a JSON object (a dict), not text or bytes".to_string(),
            },
            Err(refused) => refused,
        };
        self.refuse(py, what, refused)?;
        Ok(None)
    }

    /// What a refused payload becomes: under the strict rule the exception
    /// to raise; under the lenient one, counted and logged, the message
    /// for the marker.
    fn refuse(&self, py: Python<'_>, what: &str, refused: Refused) -> PyResult<String> {
        let message = format!("{what}: {}", refused.message);
        if self.strict {
            return Err(raise(py, refused.class, message));
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        warn(py, &message);
        Ok(message)
    }

    /// How a thread starts, its metadata under these rules.
    pub(crate) fn thread_start(
        &self,
        py: Python<'_>,
        thread_id: String,
        agent_path: String,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<tracefold::ThreadStart> {
        Ok(tracefold::ThreadStart {
            thread_id,
            agent_path,
            metadata: self.metadata(py, "thread metadata", metadata)?,
        })
    }

    fn convert(&self, obj: &Bound<'_, PyAny>) -> Result<Option<PayloadBody>, Refused> {
        let called;
        let obj = if obj.is_callable() && !is_data(obj) {
            called = obj.call0().map_err(|err| Refused {
                class: "PayloadError",
                message: format!("the payload callable raised {err}"),
            })?;
            &called
        } else {
            obj
        };
        if obj.is_none() {
            return Ok(None);
        }
        let body = if let Ok(bytes) = obj.cast::<PyBytes>() {
            PayloadBody::Bytes(bytes.as_bytes().to_vec())
        } else if let Ok(bytes) = obj.cast::<PyByteArray>() {
            PayloadBody::Bytes(bytes.to_vec())
        } else if obj.cast::<PyMemoryView>().is_ok() {
            let bytes: Vec<u8> = obj
                .call_method0("tobytes")
                .and_then(|b| b.extract())
                .map_err(|err| Refused {
                    class: "PayloadError",
                    message: format!("memoryview: {err}"),
                })?;
            PayloadBody::Bytes(bytes)
        } else if let Ok(text) = obj.cast::<PyString>() {
            let text = text.to_cow().map_err(|err| Refused {
                class: "PayloadError",
                message: format!("text that is not UTF-8: {err}"),
            })?;
            PayloadBody::Bytes(text.into_owned().into_bytes())
        } else {
            let value = to_json(obj, 0).map_err(|err| Refused {
                class: "PayloadError",
                message: format!(
                    "{err}; pass a dict, list, str, bytes or a callable returning one"
                ),
            })?;
            PayloadBody::Json(value)
        };
        if self.strict {
            let size = size_of(&body);
            if size > self.limit_bytes {
                return Err(Refused {
                    class: "PayloadTooLargeError",
                    message: format!(
                        "payload of {size} bytes is over the store's limit of {} bytes",
                        self.limit_bytes
                    ),
                });
            }
        }
        Ok(Some(body))
    }
}

/// Deepest nesting a payload may have: deeper is refused, which also stops
/// a structure that contains itself.
const MAX_DEPTH: usize = 256;

/// Why a value has no JSON form, and where (`$.input[0].content`).
struct NoJson {
    path: Vec<String>,
    what: String,
}

impl std::fmt::Display for NoJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path: String = self.path.iter().rev().map(String::as_str).collect();
        write!(f, "{} at ${path}", self.what)
    }
}

impl NoJson {
    fn new(what: String) -> NoJson {
        NoJson {
            path: Vec::new(),
            what,
        }
    }

    fn at(mut self, step: String) -> NoJson {
        self.path.push(step);
        self
    }
}

/// A Python value as JSON, as `json.dumps` would write it (dict keys that
/// are `int`, `float`, `bool` or `None` become strings), except that NaN
/// and the infinities, which JSON has no form for, are refused. Walks the
/// objects directly (no serde visitor), which is what a record call costs.
fn to_json(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, NoJson> {
    if depth > MAX_DEPTH {
        return Err(NoJson::new(format!(
            "nested deeper than {MAX_DEPTH} levels (does it contain itself?)"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(text) = obj.cast::<PyString>() {
        let text = text
            .to_cow()
            .map_err(|err| NoJson::new(format!("text that is not UTF-8 ({err})")))?;
        return Ok(Value::String(text.into_owned()));
    }
    if let Ok(flag) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(n) = obj.extract::<i64>() {
            return Ok(Value::from(n));
        }
        if let Ok(n) = obj.extract::<u64>() {
            return Ok(Value::from(n));
        }
        return Err(NoJson::new(
            "an int beyond 64 bits (JSON readers lose its digits)".to_string(),
        ));
    }
    if let Ok(number) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(number.value())
            .map(Value::Number)
            .ok_or_else(|| {
                NoJson::new(format!("{} (JSON has no NaN or infinity)", number.value()))
            });
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = serde_json::Map::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            let key = json_key(&key)?;
            let value = to_json(&value, depth + 1).map_err(|err| err.at(format!(".{key}")))?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        let mut items = Vec::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            items.push(to_json(&item, depth + 1).map_err(|err| err.at(format!("[{index}]")))?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        let mut items = Vec::with_capacity(tuple.len());
        for (index, item) in tuple.iter().enumerate() {
            items.push(to_json(&item, depth + 1).map_err(|err| err.at(format!("[{index}]")))?);
        }
        return Ok(Value::Array(items));
    }
    Err(NoJson::new(format!(
        "a value of type {} has no JSON form",
        type_name(obj)
    )))
}

/// A dict key as `json.dumps` writes it.
fn json_key(key: &Bound<'_, PyAny>) -> Result<String, NoJson> {
    match to_json(key, 0)? {
        Value::String(text) => Ok(text),
        Value::Null => Ok("null".to_string()),
        scalar @ (Value::Bool(_) | Value::Number(_)) => Ok(scalar.to_string()),
        _ => Err(NoJson::new(format!(
            "a dict key of type {} (JSON keys are strings)",
            type_name(key)
        ))),
    }
}

/// Classes that are data even though they can be called (a class object
/// would otherwise be "called" as a lazy payload).
fn is_data(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<pyo3::types::PyType>()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "value".to_string())
}

/// The stored size of a body: its bytes, or its compact JSON's length.
fn size_of(body: &PayloadBody) -> u64 {
    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    match body {
        PayloadBody::Bytes(bytes) => bytes.len() as u64,
        PayloadBody::Json(value) => {
            let mut count = Count(0);
            let _ = serde_json::to_writer(&mut count, value);
            count.0
        }
    }
}

/// A warning on the `tracefold` logger; a logging failure is ignored (the
/// recorder never raises for its own diagnostics).
fn warn(py: Python<'_>, message: &str) {
    let _ = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", ("tracefold",)))
        .and_then(|logger| {
            logger.call_method1(
                "warning",
                ("payload replaced by a marker: %s", message.to_string()),
            )
        });
}
