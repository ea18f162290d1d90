//! The engine seam: what a JavaScript engine must provide to run one cell.
//!
//! Everything engine-independent (the globals, timers, nested tool
//! bookkeeping, completion, the event loop) lives in the shared prelude
//! (`prelude.js`) and the cell runner; an engine only evaluates the prelude,
//! hands it one native host function, evaluates the cell as an ES module,
//! delivers JSON messages and drains its job queue. An engine must never
//! allow imports, block on the host, or keep running after its terminator
//! fired.

use std::fmt;
use std::sync::Arc;

/// The JavaScript prelude every engine evaluates as a script. Its value is a
/// function `install(host)` that installs the globals and returns
/// `{dispatch, watch, format}`.
pub const PRELUDE_JS: &str = include_str!("prelude.js");

/// The module name a cell's source is evaluated under.
pub const MAIN_MODULE_NAME: &str = "exec_main.mjs";

/// The error text of any import, static or dynamic.
pub const UNSUPPORTED_IMPORT: &str = "Unsupported import in exec";

/// The native function the prelude calls for everything host-side:
/// `host(op, argument_json) -> reply_json`. It runs on the cell's thread,
/// never calls back into JavaScript and never blocks for long.
pub type HostCallback = Box<dyn FnMut(&str, &str) -> String>;

/// Stops a running VM from any thread, promptly, even inside a CPU-bound
/// loop (QuickJS: the interrupt flag; V8: `terminate_execution`).
#[derive(Clone)]
pub struct Terminator(Arc<dyn Fn() + Send + Sync>);

impl Terminator {
    /// Wraps the engine's stop action.
    pub fn new(stop: impl Fn() + Send + Sync + 'static) -> Terminator {
        Terminator(Arc::new(stop))
    }

    /// Asks the VM to stop. Idempotent.
    pub fn terminate(&self) {
        (self.0)();
    }
}

impl fmt::Debug for Terminator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Terminator")
    }
}

/// A JavaScript engine. One engine value serves many cells; each cell gets
/// its own [`Vm`], created and used on that cell's own thread.
///
/// Hosts pick one when building the service
/// ([`QuickJsEngine`](crate::codemode::QuickJsEngine), or `V8Engine` with
/// the `v8` feature) and otherwise only see it through the service:
///
/// ```
/// use std::sync::Arc;
/// use serde_json::Value;
/// use tracefold::codemode::{CodeModeService, Engine, NestedToolCall, QuickJsEngine, ToolHost};
///
/// struct NoTools;
/// impl ToolHost for NoTools {
///     fn call_tool(&self, _call: NestedToolCall) -> Result<Value, String> {
///         Err("no tools".to_string())
///     }
/// }
///
/// fn session<E: Engine>(engine: E) -> CodeModeService<E> {
///     CodeModeService::new(engine, Arc::new(NoTools))
/// }
/// assert_eq!(session(QuickJsEngine).engine_name(), "quickjs");
/// ```
pub trait Engine: Send + Sync + 'static {
    /// The per-cell VM. It never leaves the thread that created it.
    type Vm: Vm;

    /// A short name for reports ("quickjs", "v8").
    fn name(&self) -> &'static str;

    /// Creates a VM, evaluates [`PRELUDE_JS`] in it and calls the installer
    /// with `host` as a native function. Errors are plain text.
    fn create_vm(&self, host: HostCallback) -> Result<(Self::Vm, Terminator), String>;
}

/// One cell's VM. Every method returns the formatted exception text (or
/// engine failure) as `Err`; after a terminate, calls may fail and the
/// runner stops calling.
pub trait Vm {
    /// Compiles `source` as the ES module [`MAIN_MODULE_NAME`], with every
    /// import rejected ([`UNSUPPORTED_IMPORT`]), starts evaluating it and
    /// passes its completion promise to the prelude's `watch`. A syntax
    /// error or a synchronous link failure is `Err`.
    fn start_module(&mut self, source: &str) -> Result<(), String>;

    /// Calls the prelude's `dispatch(message_json)`.
    fn dispatch(&mut self, message_json: &str) -> Result<(), String>;

    /// Runs queued promise jobs (microtasks) until none is left.
    fn run_jobs(&mut self) -> Result<(), String>;
}
