//! One cell's thread: the VM, its event loop, and the host half of the
//! prelude's operations (output, stored values, timers, nested tool
//! dispatch), plus the state the service's observers share with it.
//!
//! The cell thread never blocks on the tool host (nested calls run on their
//! own threads, behind the cell's dispatch gate) and never commits stored
//! values after a terminate. It owns no tracing decisions beyond recording a
//! nested call's start and end once the gate is open.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::{Value, json};

use super::engine::{Engine, HostCallback, Terminator, Vm};
use super::service::ToolHost;
use super::trace::{self, CodeModeTraceSink};
use super::types::{ContentItem, NestedToolCall, StoredValues, ToolDefinition};

/// Output a cell may buffer between two observations. Beyond it, output is
/// counted and dropped (an observer's token limit is far lower anyway).
pub(crate) const OUTPUT_BUFFER_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Nested tool calls one cell may have in flight.
pub(crate) const PENDING_TOOL_CALLS_MAX: usize = 256;

/// Timers one cell may have scheduled.
const TIMERS_MAX: usize = 10_000;

/// The longest timer delay honoured (one day).
const TIMER_DELAY_MS_MAX: f64 = 86_400_000.0;

/// Stack of a cell thread (the JavaScript engines keep their own, smaller,
/// limit inside it).
const CELL_THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Error text of a script whose module promise can never settle: nothing is
/// scheduled and no nested tool call is in flight.
pub const STALLED_SCRIPT: &str =
    "exec cell is waiting on a promise that can never settle (no timer or tool call is pending)";

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Output gathered since the last observation.
#[derive(Debug, Default)]
pub(crate) struct OutputBuffer {
    items: Vec<ContentItem>,
    buffered_bytes: usize,
    omitted_bytes: usize,
}

impl OutputBuffer {
    fn push(&mut self, item: ContentItem) {
        let len = match &item {
            ContentItem::InputText { text } => text.len(),
            ContentItem::InputImage { image_url } => image_url.len(),
        };
        let room = OUTPUT_BUFFER_BYTES_MAX.saturating_sub(self.buffered_bytes);
        if len <= room {
            self.buffered_bytes += len;
            self.items.push(item);
            return;
        }
        if let ContentItem::InputText { text } = &item {
            let kept = super::truncate_utf8(text, room);
            self.buffered_bytes += kept.len();
            self.omitted_bytes += text.len() - kept.len();
            if !kept.is_empty() {
                self.items.push(ContentItem::text(kept));
            }
        } else {
            self.omitted_bytes += len;
        }
    }

    /// Takes everything buffered: the items and the bytes dropped for room.
    pub(crate) fn take(&mut self) -> (Vec<ContentItem>, usize) {
        let items = std::mem::take(&mut self.items);
        let omitted = std::mem::take(&mut self.omitted_bytes);
        self.buffered_bytes = 0;
        (items, omitted)
    }
}

/// How a cell ended on its own (not by terminate).
#[derive(Debug)]
pub(crate) struct Finished {
    /// The cell's view at the end: its snapshot plus its writes.
    pub stored_values: StoredValues,
    /// The writes, already merged into the session's values.
    pub writes: StoredValues,
    pub error_text: Option<String>,
}

/// What observers and the cell thread share, under one mutex.
#[derive(Debug, Default)]
pub(crate) struct CellState {
    pub output: OutputBuffer,
    pub observer_active: bool,
    pub yield_requested: bool,
    /// Set by the cell thread when it ends on its own; taken by the observer
    /// that delivers it.
    pub finished: Option<Finished>,
    /// The finish was delivered: the cell is gone for every later wait.
    pub delivered: bool,
    pub terminated: bool,
    /// The cell thread has dropped its VM and left.
    pub exited: bool,
}

#[derive(Debug, Default)]
pub(crate) struct CellShared {
    pub state: Mutex<CellState>,
    pub changed: Condvar,
}

impl CellShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, CellState> {
        lock(&self.state)
    }

    /// Waits for a change until `deadline` (or a spurious wake-up), keeping
    /// the state across a poisoned lock as `lock` does.
    pub(crate) fn wait_until<'a>(
        &self,
        state: MutexGuard<'a, CellState>,
        deadline: std::time::Instant,
    ) -> MutexGuard<'a, CellState> {
        let timeout = deadline.saturating_duration_since(std::time::Instant::now());
        self.changed
            .wait_timeout(state, timeout)
            .map(|(guard, _)| guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner().0)
    }

    fn is_terminated(&self) -> bool {
        self.lock().terminated
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateState {
    Closed,
    Open,
    Cancelled,
}

/// Holds a cell's nested tool dispatch until its `CodeCellStarted` event has
/// been recorded, so that event always precedes the cell's nested calls.
#[derive(Debug)]
pub(crate) struct DispatchGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

impl DispatchGate {
    pub(crate) fn new() -> DispatchGate {
        DispatchGate {
            state: Mutex::new(GateState::Closed),
            changed: Condvar::new(),
        }
    }

    /// Lets nested calls through (after `CodeCellStarted` was recorded).
    pub(crate) fn open(&self) {
        let mut state = lock(&self.state);
        if *state == GateState::Closed {
            *state = GateState::Open;
        }
        self.changed.notify_all();
    }

    /// Refuses every waiting and later nested call (the cell was terminated).
    pub(crate) fn cancel(&self) {
        *lock(&self.state) = GateState::Cancelled;
        self.changed.notify_all();
    }

    /// Blocks until the gate opens (`true`) or is cancelled (`false`).
    fn wait(&self) -> bool {
        let mut state = lock(&self.state);
        loop {
            match *state {
                GateState::Open => return true,
                GateState::Cancelled => return false,
                GateState::Closed => {
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}

/// Messages to a cell thread.
#[derive(Debug)]
pub(crate) enum CellCommand {
    ToolResult {
        runtime_tool_id: String,
        result: Result<Value, String>,
    },
    Terminate,
}

/// Everything a cell thread needs.
pub(crate) struct CellSpec {
    pub cell_id: String,
    pub exec_call_id: String,
    pub enabled_tools: Vec<ToolDefinition>,
    pub source: String,
    pub snapshot: StoredValues,
    pub shared: Arc<CellShared>,
    pub session_values: Arc<Mutex<StoredValues>>,
    pub tool_host: Arc<dyn ToolHost>,
    pub sink: Arc<dyn CodeModeTraceSink>,
    pub gate: Arc<DispatchGate>,
}

/// The service's handle on a running cell thread.
#[derive(Debug)]
pub(crate) struct CellHandle {
    pub terminator: Terminator,
    pub commands: Sender<CellCommand>,
}

/// Starts a cell on its own thread and returns once its VM exists.
pub(crate) fn spawn_cell<E: Engine>(engine: Arc<E>, spec: CellSpec) -> Result<CellHandle, String> {
    let (commands, command_rx) = crossbeam_channel::unbounded();
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let thread_commands = commands.clone();
    thread::Builder::new()
        .name(format!("exec-cell-{}", spec.cell_id))
        .stack_size(CELL_THREAD_STACK_BYTES)
        .spawn(move || run_cell(&*engine, spec, thread_commands, command_rx, ready_tx))
        .map_err(|err| format!("cannot spawn the cell thread: {err}"))?;
    match ready_rx.recv() {
        Ok(Ok(terminator)) => Ok(CellHandle {
            terminator,
            commands,
        }),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err("the cell thread ended before its engine started".to_string()),
    }
}

/// Marks the cell thread as gone when it leaves, however it leaves.
struct ExitGuard(Arc<CellShared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.exited = true;
        if state.finished.is_none() && !state.terminated && !state.delivered {
            state.finished = Some(Finished {
                stored_values: StoredValues::new(),
                writes: StoredValues::new(),
                error_text: Some("exec runtime ended unexpectedly".to_string()),
            });
        }
        self.0.changed.notify_all();
    }
}

fn run_cell<E: Engine>(
    engine: &E,
    spec: CellSpec,
    commands: Sender<CellCommand>,
    command_rx: Receiver<CellCommand>,
    ready_tx: Sender<Result<Terminator, String>>,
) {
    let guard = ExitGuard(Arc::clone(&spec.shared));
    let host_state = Arc::new(Mutex::new(HostState {
        cell_id: spec.cell_id.clone(),
        exec_call_id: spec.exec_call_id.clone(),
        enabled_tools: spec.enabled_tools.clone(),
        snapshot: spec.snapshot.clone(),
        writes: StoredValues::new(),
        completion: None,
        timers: Timers::default(),
        pending_tools: 0,
        next_tool_id: 1,
        shared: Arc::clone(&spec.shared),
        tool_host: Arc::clone(&spec.tool_host),
        sink: Arc::clone(&spec.sink),
        gate: Arc::clone(&spec.gate),
        commands,
    }));
    let callback_state = Arc::clone(&host_state);
    let host: HostCallback = Box::new(move |op, arg| lock(&callback_state).handle(op, arg));
    let (mut vm, terminator) = match engine.create_vm(host) {
        Ok(created) => created,
        Err(reason) => {
            let _ = ready_tx.send(Err(reason));
            // Nothing ran: no finish to report.
            spec.shared.lock().delivered = true;
            return;
        }
    };
    if ready_tx.send(Ok(terminator)).is_err() {
        return;
    }
    let outcome = drive(
        &mut vm,
        &host_state,
        &command_rx,
        &spec.shared,
        &spec.source,
    );
    drop(vm);
    if let Outcome::Finished(error_text) = outcome {
        let writes = std::mem::take(&mut lock(&host_state).writes);
        commit(&spec, writes, error_text);
    }
    drop(guard);
}

/// Records a finish and merges the writes, unless the cell was terminated
/// first (checked under the cell's lock, so terminate and commit never both
/// win).
fn commit(spec: &CellSpec, writes: StoredValues, error_text: Option<String>) {
    let mut state = spec.shared.lock();
    if state.terminated {
        return;
    }
    if !writes.is_empty() {
        let mut session = lock(&spec.session_values);
        for (key, value) in &writes {
            session.insert(key.clone(), value.clone());
        }
    }
    let mut stored_values = spec.snapshot.clone();
    for (key, value) in &writes {
        stored_values.insert(key.clone(), value.clone());
    }
    state.finished = Some(Finished {
        stored_values,
        writes,
        error_text,
    });
    spec.shared.changed.notify_all();
}

enum Outcome {
    /// Ended on its own; `Some` is the script error.
    Finished(Option<String>),
    /// Stopped by terminate (or the service went away).
    Stopped,
}

fn drive<V: Vm>(
    vm: &mut V,
    host: &Mutex<HostState>,
    command_rx: &Receiver<CellCommand>,
    shared: &CellShared,
    source: &str,
) -> Outcome {
    let failed = |error: String| {
        if shared.is_terminated() {
            Outcome::Stopped
        } else {
            Outcome::Finished(Some(error))
        }
    };
    if let Err(error) = vm.start_module(source) {
        // A finish reported before the failure (e.g. `exit()`) wins.
        if let Some(completion) = lock(host).completion.take() {
            return Outcome::Finished(completion);
        }
        return failed(error);
    }
    loop {
        if shared.is_terminated() {
            return Outcome::Stopped;
        }
        if let Err(error) = vm.run_jobs() {
            if let Some(completion) = lock(host).completion.take() {
                return Outcome::Finished(completion);
            }
            return failed(error);
        }
        let (completion, deadline, pending_tools) = {
            let mut host = lock(host);
            (
                host.completion.take(),
                host.timers.next_deadline(),
                host.pending_tools,
            )
        };
        if let Some(completion) = completion {
            return Outcome::Finished(completion);
        }
        if deadline.is_none() && pending_tools == 0 {
            return Outcome::Finished(Some(STALLED_SCRIPT.to_string()));
        }
        let command = match deadline {
            Some(deadline) => match command_rx.recv_deadline(deadline) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Outcome::Stopped,
            },
            None => match command_rx.recv() {
                Ok(command) => Some(command),
                Err(_) => return Outcome::Stopped,
            },
        };
        let message = match command {
            Some(CellCommand::Terminate) => return Outcome::Stopped,
            Some(CellCommand::ToolResult {
                runtime_tool_id,
                result,
            }) => {
                let mut host = lock(host);
                host.pending_tools = host.pending_tools.saturating_sub(1);
                match result {
                    Ok(value) => {
                        json!({"kind": "tool", "id": runtime_tool_id, "ok": true, "value": value})
                    }
                    Err(error) => {
                        json!({"kind": "tool", "id": runtime_tool_id, "ok": false, "error": error})
                    }
                }
            }
            None => match lock(host).timers.pop_due(Instant::now()) {
                Some(id) => json!({"kind": "timer", "id": id}),
                None => continue,
            },
        };
        if let Err(error) = vm.dispatch(&message.to_string()) {
            if let Some(completion) = lock(host).completion.take() {
                return Outcome::Finished(completion);
            }
            return failed(error);
        }
    }
}

#[derive(Debug, Default)]
struct Timers {
    by_deadline: BTreeSet<(Instant, u64)>,
    by_id: BTreeMap<u64, Instant>,
    next_id: u64,
}

impl Timers {
    fn schedule(&mut self, delay_ms: f64) -> Result<u64, String> {
        if self.by_id.len() >= TIMERS_MAX {
            return Err(format!("too many pending timers (at most {TIMERS_MAX})"));
        }
        self.next_id += 1;
        let id = self.next_id;
        let delay_ms = if delay_ms.is_finite() {
            delay_ms.clamp(0.0, TIMER_DELAY_MS_MAX)
        } else {
            0.0
        };
        let deadline = Instant::now() + Duration::from_secs_f64(delay_ms / 1000.0);
        self.by_deadline.insert((deadline, id));
        self.by_id.insert(id, deadline);
        Ok(id)
    }

    fn clear(&mut self, id: u64) {
        if let Some(deadline) = self.by_id.remove(&id) {
            self.by_deadline.remove(&(deadline, id));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(deadline, _)| *deadline)
    }

    fn pop_due(&mut self, now: Instant) -> Option<u64> {
        let (deadline, id) = *self.by_deadline.first()?;
        if deadline > now {
            return None;
        }
        self.clear(id);
        Some(id)
    }
}

/// The host half of the prelude's operations, on the cell thread.
struct HostState {
    cell_id: String,
    exec_call_id: String,
    enabled_tools: Vec<ToolDefinition>,
    snapshot: StoredValues,
    writes: StoredValues,
    /// `Some(None)`: finished normally; `Some(Some(e))`: script error. The
    /// first report wins.
    completion: Option<Option<String>>,
    timers: Timers,
    pending_tools: usize,
    next_tool_id: u64,
    shared: Arc<CellShared>,
    tool_host: Arc<dyn ToolHost>,
    sink: Arc<dyn CodeModeTraceSink>,
    gate: Arc<DispatchGate>,
    commands: Sender<CellCommand>,
}

fn reply_ok(value: Value) -> String {
    json!({ "ok": value }).to_string()
}

fn reply_error(error: impl Into<String>) -> String {
    json!({ "error": error.into() }).to_string()
}

impl HostState {
    fn handle(&mut self, op: &str, arg: &str) -> String {
        let arg: Value = match serde_json::from_str(arg) {
            Ok(value) => value,
            Err(err) => return reply_error(format!("bad host call argument for {op}: {err}")),
        };
        if op == "load" {
            // A missing key answers `{}`, which the prelude reads as `undefined`.
            return match string_arg(arg) {
                Ok(key) => match self.writes.get(&key).or_else(|| self.snapshot.get(&key)) {
                    Some(value) => reply_ok(value.clone()),
                    None => "{}".to_string(),
                },
                Err(error) => reply_error(error),
            };
        }
        match self.handle_op(op, arg) {
            Ok(value) => reply_ok(value),
            Err(error) => reply_error(error),
        }
    }

    fn handle_op(&mut self, op: &str, arg: Value) -> Result<Value, String> {
        match op {
            "tools" => Ok(json!(self.enabled_tools)),
            "text" => {
                let text = string_arg(arg)?;
                self.push_output(ContentItem::InputText { text });
                Ok(Value::Null)
            }
            "image" => {
                let image_url = string_arg(arg)?;
                self.push_output(ContentItem::InputImage { image_url });
                Ok(Value::Null)
            }
            "store" => {
                let key = arg
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("store() needs a string key")?
                    .to_string();
                let value = arg.get("value").cloned().unwrap_or(Value::Null);
                self.writes.insert(key, value);
                Ok(Value::Null)
            }
            "notify" => {
                let text = string_arg(arg)?;
                self.tool_host
                    .notify(&self.cell_id, &self.exec_call_id, &text);
                Ok(Value::Null)
            }
            "yield" => {
                let mut state = self.shared.lock();
                // A yield with nobody observing is dropped, as in the reference.
                if state.observer_active {
                    state.yield_requested = true;
                    self.shared.changed.notify_all();
                }
                Ok(Value::Null)
            }
            "exit" | "done" => {
                self.completion.get_or_insert(None);
                Ok(Value::Null)
            }
            "fail" => {
                let error = string_arg(arg)?;
                self.completion.get_or_insert(Some(error));
                Ok(Value::Null)
            }
            "tool" => self.start_tool_call(arg),
            "set_timeout" => {
                let delay_ms = arg.as_f64().unwrap_or(0.0);
                self.timers.schedule(delay_ms).map(Value::from)
            }
            "clear_timeout" => {
                if let Some(id) = arg.as_u64() {
                    self.timers.clear(id);
                }
                Ok(Value::Null)
            }
            other => Err(format!("unknown host operation {other}")),
        }
    }

    fn push_output(&self, item: ContentItem) {
        self.shared.lock().output.push(item);
    }

    fn start_tool_call(&mut self, arg: Value) -> Result<Value, String> {
        let tool_name = arg
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a nested tool call needs a tool name")?
            .to_string();
        if !self.enabled_tools.iter().any(|tool| tool.name == tool_name) {
            return Err(format!("unknown tool: {tool_name}"));
        }
        if self.pending_tools >= PENDING_TOOL_CALLS_MAX {
            return Err(format!(
                "too many nested tool calls in flight (at most {PENDING_TOOL_CALLS_MAX})"
            ));
        }
        let runtime_tool_id = format!("tool-{}", self.next_tool_id);
        self.next_tool_id += 1;
        let call = NestedToolCall {
            cell_id: self.cell_id.clone(),
            exec_call_id: self.exec_call_id.clone(),
            tool_call_id: format!("exec-{}", uuid::Uuid::new_v4()),
            runtime_tool_id: runtime_tool_id.clone(),
            tool_name,
            input: arg.get("input").cloned().unwrap_or(Value::Null),
        };
        let dispatch = NestedDispatch {
            tool_host: Arc::clone(&self.tool_host),
            sink: Arc::clone(&self.sink),
            gate: Arc::clone(&self.gate),
            commands: self.commands.clone(),
        };
        thread::Builder::new()
            .name(format!("exec-tool-{}-{}", self.cell_id, runtime_tool_id))
            .spawn(move || dispatch.run(call))
            .map_err(|err| format!("cannot start the nested tool call: {err}"))?;
        self.pending_tools += 1;
        Ok(Value::String(runtime_tool_id))
    }
}

fn string_arg(arg: Value) -> Result<String, String> {
    match arg {
        Value::String(text) => Ok(text),
        other => Err(format!("expected a string, got {other}")),
    }
}

/// One nested tool call, off the cell thread.
struct NestedDispatch {
    tool_host: Arc<dyn ToolHost>,
    sink: Arc<dyn CodeModeTraceSink>,
    gate: Arc<DispatchGate>,
    commands: Sender<CellCommand>,
}

impl NestedDispatch {
    fn run(self, call: NestedToolCall) {
        let runtime_tool_id = call.runtime_tool_id.clone();
        if !self.gate.wait() {
            let _ = self.commands.send(CellCommand::ToolResult {
                runtime_tool_id,
                result: Err("exec cell was terminated".to_string()),
            });
            return;
        }
        let tool_call_id = call.tool_call_id.clone();
        trace::nested_tool_started(&*self.sink, &call);
        let host = &self.tool_host;
        let result = catch_unwind(AssertUnwindSafe(|| host.call_tool(call)))
            .unwrap_or_else(|_| Err("the tool host panicked".to_string()));
        trace::nested_tool_ended(&*self.sink, &tool_call_id, &result);
        let _ = self.commands.send(CellCommand::ToolResult {
            runtime_tool_id,
            result,
        });
    }
}
