//! The code-mode service: starts cells, observes them (execute, wait,
//! terminate), keeps the session's stored values, and records each cell's
//! lifecycle through the caller's trace sink.
//!
//! Synchronous by design: callers block on a condition variable for at most
//! the yield time (terminate: a bounded join). The service never runs
//! JavaScript on the caller's thread and never waits on the tool host.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cell::{
    CellCommand, CellHandle, CellShared, CellSpec, DispatchGate, Finished, lock, spawn_cell,
};
use super::engine::Engine;
use super::output::limit_output;
use super::quickjs::QuickJsEngine;
use super::trace::{self, CodeModeTraceSink};
use super::types::{
    CodeModeError, ContentItem, DEFAULT_EXEC_YIELD_TIME_MS, ExecuteRequest, NestedToolCall,
    RuntimeResponse, StoredValues, WaitOutcome, WaitRequest,
};

/// How long a terminate waits for the cell thread to leave before answering
/// anyway (it answers `Terminated` either way).
const TERMINATE_JOIN_MS_MAX: u64 = 2_000;

/// The longest an observer blocks (one hour); longer yield times are cut to
/// it, so no request can overflow a deadline.
pub const YIELD_TIME_MS_MAX: u64 = 3_600_000;

fn yield_duration(yield_time_ms: u64) -> Duration {
    Duration::from_millis(yield_time_ms.min(YIELD_TIME_MS_MAX))
}

/// What a cell's nested tools and notifications reach.
///
/// ```
/// use std::sync::Arc;
/// use serde_json::{Value, json};
/// use tracefold::codemode::{
///     CodeModeService, ExecuteRequest, NestedToolCall, NoopTraceSink, ToolDefinition, ToolHost,
/// };
///
/// struct Files;
/// impl ToolHost for Files {
///     fn call_tool(&self, call: NestedToolCall) -> Result<Value, String> {
///         match call.tool_name.as_str() {
///             "read_file" => Ok(json!({ "path": call.input["path"], "content": "fn main() {}" })),
///             other => Err(format!("{other} is not available")),
///         }
///     }
/// }
///
/// let service = CodeModeService::quickjs(Arc::new(Files));
/// let request = ExecuteRequest {
///     cell_id: service.allocate_cell_id(),
///     tool_call_id: "call_1".to_string(),
///     enabled_tools: vec![ToolDefinition::new("read_file", "Reads a file.")],
///     source: "const f = await tools.read_file({path: 'main.rs'});\n\
///              text(f.content.length);"
///         .to_string(),
///     stored_values: Default::default(),
///     yield_time_ms: None,
///     max_output_tokens: None,
/// };
/// let response = service.execute(request, Arc::new(NoopTraceSink)).unwrap();
/// assert_eq!(response.text(), "12");
/// ```
pub trait ToolHost: Send + Sync {
    /// Runs one nested tool call. Called off the JavaScript thread, once per
    /// call, and only after the cell's `CodeCellStarted` was recorded (never
    /// for a cell terminated before that); it may block (a call that never
    /// answers leaves only its own thread waiting: yields and terminate keep
    /// working). `Ok(value)` resolves the script's promise with `value`;
    /// `Err(text)` rejects it with `new Error(text)`, as does a panic here
    /// (`the tool host panicked`).
    fn call_tool(&self, call: NestedToolCall) -> Result<Value, String>;

    /// `notify(text)` from a cell. Called on the cell's thread: it must
    /// return promptly (queue the notification). The default drops it.
    fn notify(&self, cell_id: &str, exec_call_id: &str, text: &str) {
        let _ = (cell_id, exec_call_id, text);
    }
}

/// A live cell, as the service keeps it.
struct LiveCell {
    cell_id: String,
    shared: Arc<CellShared>,
    handle: CellHandle,
    gate: Arc<DispatchGate>,
    /// `CodeCellEnded` was recorded (at most once, whoever observes the end).
    end_recorded: AtomicBool,
}

/// How an observation ended, for tracing.
enum Observed {
    /// The cell yields (keeps running).
    Yield(RuntimeResponse),
    /// The cell ended and this observer delivers it; `writes` are the
    /// stored values it committed (empty on terminate).
    End {
        response: RuntimeResponse,
        writes: StoredValues,
    },
    /// The finish was already delivered to another observer.
    Gone,
}

/// Who observes: `execute`'s initial observer (registered when the cell is
/// created) or a later `wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observer {
    Initial,
    Wait,
}

/// Runs exec cells on engine `E` (QuickJS by default).
///
/// One service is one session: it allocates cell ids and keeps the stored
/// values finished cells commit. Its methods take `&self` and may be called
/// from several threads. Dropping it stops every live cell.
///
/// A cell that yields, then is waited on. The cell's nested tool call
/// blocks until the host opens a gate, so the first observation is the yield
/// whatever the machine's load:
///
/// ```
/// use std::sync::{Arc, Mutex, mpsc};
/// use serde_json::Value;
/// use tracefold::codemode::{
///     CodeModeService, ExecuteRequest, NestedToolCall, NoopTraceSink, RuntimeResponse,
///     ToolDefinition, ToolHost, WaitRequest,
/// };
///
/// struct Gate(Mutex<mpsc::Receiver<()>>);
/// impl ToolHost for Gate {
///     fn call_tool(&self, _call: NestedToolCall) -> Result<Value, String> {
///         let gate = self.0.lock().map_err(|e| e.to_string())?;
///         gate.recv().map_err(|e| e.to_string())?;
///         Ok(Value::Null)
///     }
/// }
///
/// let (open, gate) = mpsc::channel();
/// let service = CodeModeService::quickjs(Arc::new(Gate(Mutex::new(gate))));
/// let cell_id = service.allocate_cell_id();
/// let request = ExecuteRequest {
///     cell_id: cell_id.clone(),
///     tool_call_id: "call_1".to_string(),
///     enabled_tools: vec![ToolDefinition::new("gate", "returns when the host says so")],
///     source: "text('first'); yield_control();\n\
///              await tools.gate({});\n\
///              store('runs', 1); text('second');"
///         .to_string(),
///     stored_values: Default::default(),
///     yield_time_ms: Some(5_000),
///     max_output_tokens: None,
/// };
/// let first = service.execute(request, Arc::new(NoopTraceSink)).unwrap();
/// assert!(first.is_yield());
/// assert_eq!(first.text(), "first");
///
/// open.send(()).unwrap();
/// let waited = service.wait(WaitRequest::new(cell_id, 5_000), Arc::new(NoopTraceSink)).unwrap();
/// assert!(matches!(waited.response(), RuntimeResponse::Result { error_text: None, .. }));
/// assert_eq!(waited.response().text(), "second");
/// assert_eq!(service.stored_values()["runs"], 1);
/// ```
pub struct CodeModeService<E: Engine = QuickJsEngine> {
    engine: Arc<E>,
    tool_host: Arc<dyn ToolHost>,
    cells: Mutex<BTreeMap<String, Arc<LiveCell>>>,
    stored_values: Arc<Mutex<StoredValues>>,
    next_cell_id: AtomicU64,
}

impl CodeModeService<QuickJsEngine> {
    /// A service on the default engine.
    pub fn quickjs(tool_host: Arc<dyn ToolHost>) -> CodeModeService<QuickJsEngine> {
        CodeModeService::new(QuickJsEngine, tool_host)
    }
}

impl<E: Engine> CodeModeService<E> {
    /// A service running cells on `engine`, sending nested tools to `tool_host`.
    pub fn new(engine: E, tool_host: Arc<dyn ToolHost>) -> CodeModeService<E> {
        CodeModeService {
            engine: Arc::new(engine),
            tool_host,
            cells: Mutex::new(BTreeMap::new()),
            stored_values: Arc::new(Mutex::new(StoredValues::new())),
            next_cell_id: AtomicU64::new(1),
        }
    }

    /// The engine's name ("quickjs", "v8").
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// A fresh per-session cell id ("1", "2", ...).
    pub fn allocate_cell_id(&self) -> String {
        self.next_cell_id
            .fetch_add(1, Ordering::Relaxed)
            .to_string()
    }

    /// The session's stored values (what finished cells committed).
    pub fn stored_values(&self) -> StoredValues {
        lock(&self.stored_values).clone()
    }

    /// Replaces the session's stored values.
    pub fn replace_stored_values(&self, values: StoredValues) {
        *lock(&self.stored_values) = values;
    }

    /// Ids of the cells still live (running, or finished and not yet observed).
    pub fn live_cell_ids(&self) -> Vec<String> {
        let ids: Vec<String> = lock(&self.cells).keys().cloned().collect();
        ids
    }

    /// Starts a cell and observes it for the yield time.
    ///
    /// Records `CodeCellStarted` before the cell may dispatch any nested
    /// tool call (the cell's dispatch gate opens only after it), then
    /// `CodeCellInitialResponse`, and, when that first response is terminal,
    /// the committed stored values and `CodeCellEnded`. Nested calls of the
    /// cell are recorded through this `sink` too.
    pub fn execute(
        &self,
        request: ExecuteRequest,
        sink: Arc<dyn CodeModeTraceSink>,
    ) -> Result<RuntimeResponse, CodeModeError> {
        let ExecuteRequest {
            cell_id,
            tool_call_id,
            enabled_tools,
            source,
            stored_values,
            yield_time_ms,
            max_output_tokens,
        } = request;
        let shared = Arc::new(CellShared::default());
        // The initial observer exists from the start, so a `yield_control()`
        // the script makes before `execute` starts waiting still counts.
        shared.lock().observer_active = true;
        let gate = Arc::new(DispatchGate::new());
        if lock(&self.cells).contains_key(&cell_id) {
            return Err(CodeModeError::CellAlreadyExists(cell_id));
        }
        let mut snapshot = self.stored_values();
        snapshot.extend(stored_values);
        let spec = CellSpec {
            cell_id: cell_id.clone(),
            exec_call_id: tool_call_id.clone(),
            enabled_tools,
            source: source.clone(),
            snapshot,
            shared: Arc::clone(&shared),
            session_values: Arc::clone(&self.stored_values),
            tool_host: Arc::clone(&self.tool_host),
            sink: Arc::clone(&sink),
            gate: Arc::clone(&gate),
        };
        // Spawned outside the registry lock (engine start-up takes time);
        // nothing the cell does can reach the host before the gate opens.
        let handle =
            spawn_cell(Arc::clone(&self.engine), spec).map_err(|reason| CodeModeError::Spawn {
                cell_id: cell_id.clone(),
                reason,
            })?;
        let cell = Arc::new(LiveCell {
            cell_id: cell_id.clone(),
            shared,
            handle,
            gate,
            end_recorded: AtomicBool::new(false),
        });
        {
            let mut cells = lock(&self.cells);
            if cells.contains_key(&cell_id) {
                // Lost a race with a concurrent execute of the same id.
                drop(cells);
                stop_cell(&cell);
                return Err(CodeModeError::CellAlreadyExists(cell_id));
            }
            cells.insert(cell_id.clone(), Arc::clone(&cell));
        }
        trace::cell_started(&*sink, &cell_id, &tool_call_id, &source);
        cell.gate.open();
        let yield_time = yield_duration(yield_time_ms.unwrap_or(DEFAULT_EXEC_YIELD_TIME_MS));
        let observed = self.observe(&cell, yield_time, max_output_tokens, Observer::Initial)?;
        let response = match observed {
            Observed::Yield(response) => {
                trace::cell_initial_response(&*sink, &response);
                response
            }
            Observed::End { response, writes } => {
                trace::cell_initial_response(&*sink, &response);
                self.record_end(&cell, &*sink, &response, &writes);
                response
            }
            // Only a concurrent terminate can take the finish first; the
            // cell is gone either way.
            Observed::Gone => {
                let response = missing_cell_response(&cell_id);
                trace::cell_initial_response(&*sink, &response);
                response
            }
        };
        Ok(response)
    }

    /// Re-observes a live cell (or terminates it). A cell that does not exist
    /// (never did, or its end was already delivered) answers `MissingCell`
    /// and records nothing; a second concurrent observer is
    /// [`CodeModeError::Busy`]. A live cell's terminal answer records its
    /// committed stored values and `CodeCellEnded`.
    pub fn wait(
        &self,
        request: WaitRequest,
        sink: Arc<dyn CodeModeTraceSink>,
    ) -> Result<WaitOutcome, CodeModeError> {
        let Some(cell) = lock(&self.cells).get(&request.cell_id).cloned() else {
            return Ok(WaitOutcome::MissingCell(missing_cell_response(
                &request.cell_id,
            )));
        };
        let observed = if request.terminate {
            self.terminate(&cell, request.max_output_tokens)
        } else {
            self.observe(
                &cell,
                yield_duration(request.yield_time_ms),
                request.max_output_tokens,
                Observer::Wait,
            )?
        };
        Ok(match observed {
            Observed::Yield(response) => WaitOutcome::LiveCell(response),
            Observed::End { response, writes } => {
                self.record_end(&cell, &*sink, &response, &writes);
                WaitOutcome::LiveCell(response)
            }
            Observed::Gone => WaitOutcome::MissingCell(missing_cell_response(&request.cell_id)),
        })
    }

    /// [`wait`](Self::wait) traced as the model-visible `wait` tool call
    /// `call_id`: `ToolCallStarted` (kind `Other{"wait"}`, arguments naming
    /// the cell), the cell's lifecycle events if any, then `ToolCallEnded`.
    pub fn wait_traced(
        &self,
        call_id: &str,
        request: WaitRequest,
        sink: Arc<dyn CodeModeTraceSink>,
    ) -> Result<WaitOutcome, CodeModeError> {
        trace::wait_started(&*sink, call_id, &request);
        let outcome = self.wait(request, Arc::clone(&sink));
        match &outcome {
            Ok(outcome) => trace::wait_ended(&*sink, call_id, Ok(outcome.response())),
            Err(error) => trace::wait_ended(&*sink, call_id, Err(&error.to_string())),
        }
        outcome
    }

    fn record_end(
        &self,
        cell: &LiveCell,
        sink: &dyn CodeModeTraceSink,
        response: &RuntimeResponse,
        writes: &StoredValues,
    ) {
        if cell.end_recorded.swap(true, Ordering::AcqRel) {
            return;
        }
        if !writes.is_empty() {
            trace::cell_stored_values(sink, &cell.cell_id, writes);
        }
        trace::cell_ended(sink, response);
    }

    /// Blocks until the cell finishes, yields, or the yield time passes.
    fn observe(
        &self,
        cell: &LiveCell,
        yield_time: Duration,
        max_output_tokens: Option<usize>,
        observer: Observer,
    ) -> Result<Observed, CodeModeError> {
        let deadline = Instant::now() + yield_time;
        let mut state = cell.shared.lock();
        if observer == Observer::Wait {
            if state.delivered {
                return Ok(Observed::Gone);
            }
            if state.observer_active {
                return Err(CodeModeError::Busy(cell.cell_id.clone()));
            }
            state.observer_active = true;
            state.yield_requested = false;
        }
        let observed = loop {
            if state.delivered {
                break Observed::Gone;
            }
            if state.terminated {
                // Terminated by a concurrent wait, which delivers the end.
                let (items, omitted) = state.output.take();
                break Observed::Yield(RuntimeResponse::Terminated {
                    cell_id: cell.cell_id.clone(),
                    content_items: limit_output(items, omitted, max_output_tokens),
                });
            }
            if let Some(finished) = state.finished.take() {
                state.delivered = true;
                let (items, omitted) = state.output.take();
                break finished_response(
                    &cell.cell_id,
                    finished,
                    items,
                    omitted,
                    max_output_tokens,
                );
            }
            let now = Instant::now();
            if state.yield_requested || now >= deadline {
                let (items, omitted) = state.output.take();
                break Observed::Yield(RuntimeResponse::Yielded {
                    cell_id: cell.cell_id.clone(),
                    content_items: limit_output(items, omitted, max_output_tokens),
                });
            }
            state = cell.shared.wait_until(state, deadline);
        };
        state.observer_active = false;
        state.yield_requested = false;
        drop(state);
        if matches!(observed, Observed::End { .. } | Observed::Gone) {
            self.remove(&cell.cell_id);
        }
        Ok(observed)
    }

    /// Stops the cell: no stored-value commit, gate cancelled, engine
    /// stopped (even mid-loop), thread joined for a bounded time.
    fn terminate(&self, cell: &LiveCell, max_output_tokens: Option<usize>) -> Observed {
        let mut state = cell.shared.lock();
        if state.delivered {
            return Observed::Gone;
        }
        if let Some(finished) = state.finished.take() {
            // It had already finished (and committed): deliver that end.
            state.delivered = true;
            let (items, omitted) = state.output.take();
            drop(state);
            self.remove(&cell.cell_id);
            return finished_response(&cell.cell_id, finished, items, omitted, max_output_tokens);
        }
        state.terminated = true;
        state.delivered = true;
        let (items, omitted) = state.output.take();
        cell.shared.changed.notify_all();
        drop(state);
        cell.gate.cancel();
        cell.handle.terminator.terminate();
        let _ = cell.handle.commands.send(CellCommand::Terminate);
        self.remove(&cell.cell_id);
        let deadline = Instant::now() + Duration::from_millis(TERMINATE_JOIN_MS_MAX);
        let mut state = cell.shared.lock();
        while !state.exited && Instant::now() < deadline {
            state = cell.shared.wait_until(state, deadline);
        }
        Observed::End {
            response: RuntimeResponse::Terminated {
                cell_id: cell.cell_id.clone(),
                content_items: limit_output(items, omitted, max_output_tokens),
            },
            writes: StoredValues::new(),
        }
    }

    fn remove(&self, cell_id: &str) {
        lock(&self.cells).remove(cell_id);
    }
}

impl<E: Engine> Drop for CodeModeService<E> {
    /// Stops every live cell; nothing outlives the service but threads
    /// blocked in the tool host.
    fn drop(&mut self) {
        let cells: Vec<Arc<LiveCell>> = std::mem::take(&mut *lock(&self.cells))
            .into_values()
            .collect();
        for cell in cells {
            stop_cell(&cell);
        }
    }
}

/// Marks a cell terminated and stops its engine and dispatch, without
/// waiting for its thread.
fn stop_cell(cell: &LiveCell) {
    {
        let mut state = cell.shared.lock();
        state.terminated = true;
        cell.shared.changed.notify_all();
    }
    cell.gate.cancel();
    cell.handle.terminator.terminate();
    let _ = cell.handle.commands.send(CellCommand::Terminate);
}

fn finished_response(
    cell_id: &str,
    finished: Finished,
    mut items: Vec<ContentItem>,
    omitted: usize,
    max_output_tokens: Option<usize>,
) -> Observed {
    let Finished {
        stored_values,
        writes,
        error_text,
    } = finished;
    if let Some(error) = &error_text {
        items.push(ContentItem::text(format!("Script error:\n{error}")));
    }
    Observed::End {
        response: RuntimeResponse::Result {
            cell_id: cell_id.to_string(),
            content_items: limit_output(items, omitted, max_output_tokens),
            stored_values,
            error_text,
        },
        writes,
    }
}

/// The answer to a wait on a cell that is not live.
pub fn missing_cell_response(cell_id: &str) -> RuntimeResponse {
    RuntimeResponse::Result {
        cell_id: cell_id.to_string(),
        content_items: Vec::new(),
        stored_values: StoredValues::new(),
        error_text: Some(format!("exec cell {cell_id} not found")),
    }
}
