//! Code mode: model-written JavaScript "exec" cells with nested tools,
//! yield, wait and terminate, traced.
//!
//! [`CodeModeService`] runs each cell as an ES module on its own OS thread,
//! on an [`Engine`]: QuickJS by default, V8 with the `v8` feature. The
//! service records each cell's lifecycle and nested tool calls through a
//! [`CodeModeTraceSink`] the host passes per call. This module never prints,
//! never touches the store directly (the sink does), and never lets a script
//! hang or panic its host.

mod cell;
mod engine;
mod output;
mod quickjs;
mod service;
mod trace;
mod types;
#[cfg(feature = "v8")]
mod v8_engine;

pub use engine::{
    Engine, HostCallback, MAIN_MODULE_NAME, PRELUDE_JS, Terminator, UNSUPPORTED_IMPORT, Vm,
};
pub use output::{TRUNCATION_MARKER, limit_output};
pub use quickjs::{QuickJsEngine, QuickJsVm};
pub use service::{CodeModeService, ToolHost, YIELD_TIME_MS_MAX, missing_cell_response};
pub use trace::{
    CodeModeTraceSink, NoopTraceSink, response_payload, runtime_status, wait_invocation_payload,
};
pub use types::{
    BYTES_PER_TOKEN, CodeModeError, ContentItem, DEFAULT_EXEC_YIELD_TIME_MS,
    DEFAULT_MAX_OUTPUT_TOKENS, ExecuteRequest, NestedToolCall, RuntimeResponse, StoredValues,
    ToolDefinition, WaitOutcome, WaitRequest,
};
#[cfg(feature = "v8")]
pub use v8_engine::{V8Engine, V8Vm};

pub use cell::STALLED_SCRIPT;

use crate::event::truncate_utf8;
