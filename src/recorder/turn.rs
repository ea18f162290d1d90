//! [`TurnRecorder`], the handle on one turn of one thread, through which most
//! events are recorded: the turn's end, code cells, protocol breadcrumbs,
//! terminal sessions and agent results. The calls a turn starts live beside
//! their handles: `start_inference` in `inference.rs`, `start_tool_call` in
//! `tool_call.rs`, `compaction` in `compaction.rs`.

use std::sync::Arc;

use serde_json::Value;

use super::ThreadRecorder;
use super::thread::ThreadShared;
use crate::event::{CodeCellRuntimeStatus, EventPayload, ExecutionStatus};
use crate::writer::PayloadBody;

/// What every handle of one turn shares.
struct TurnShared {
    thread: Arc<ThreadShared>,
    turn_id: Arc<str>,
}

/// Handle on one turn of one thread: most events are recorded through it.
#[derive(Clone, Default)]
pub struct TurnRecorder {
    inner: Option<Arc<TurnShared>>,
}

impl TurnRecorder {
    /// An enabled handle on turn `turn_id` of `thread`.
    pub(super) fn new(thread: &Arc<ThreadShared>, turn_id: Arc<str>) -> TurnRecorder {
        TurnRecorder {
            inner: Some(Arc::new(TurnShared {
                thread: Arc::clone(thread),
                turn_id,
            })),
        }
    }

    /// A handle that records nothing.
    pub fn disabled() -> TurnRecorder {
        TurnRecorder { inner: None }
    }

    /// Whether calls on this handle record anything.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The turn id (empty when disabled).
    pub fn turn_id(&self) -> &str {
        self.inner.as_ref().map_or("", |t| &t.turn_id)
    }

    /// The thread id (empty when disabled).
    pub fn thread_id(&self) -> &str {
        self.inner.as_ref().map_or("", |t| &t.thread.thread_id)
    }

    /// The handle on this turn's thread (disabled when this one is).
    pub(super) fn thread(&self) -> ThreadRecorder {
        ThreadRecorder {
            inner: self.inner.as_ref().map(|turn| Arc::clone(&turn.thread)),
        }
    }

    /// Queues the event `build` makes with this thread and turn as its
    /// context, if this handle is enabled.
    pub(super) fn emit(&self, build: impl FnOnce() -> EventPayload<PayloadBody>) {
        if let Some(turn) = &self.inner {
            turn.thread
                .rollout
                .send(Some(&turn.thread.thread_id), Some(&turn.turn_id), build());
        }
    }

    /// Records any event with this thread and turn as its context; payload
    /// values are stored as compact JSON under their conventional kinds.
    /// The escape hatch for components (code mode) that build events.
    pub fn record(&self, build: impl FnOnce() -> EventPayload<Value>) {
        self.emit(|| build().map_refs(PayloadBody::Json));
    }

    /// Records the turn's end.
    pub fn end(&self, status: ExecutionStatus) {
        let turn_id = self.turn_id().to_string();
        self.emit(|| EventPayload::CodexTurnEnded {
            codex_turn_id: turn_id,
            status,
        });
    }

    /// Records a code cell start. Hosts must call this before any nested tool
    /// call of the cell can be dispatched (code mode does, through a gate).
    pub fn code_cell_started(
        &self,
        runtime_cell_id: &str,
        model_visible_call_id: &str,
        source_js: &str,
    ) {
        self.emit(|| EventPayload::CodeCellStarted {
            runtime_cell_id: runtime_cell_id.to_string(),
            model_visible_call_id: model_visible_call_id.to_string(),
            source_js: source_js.to_string(),
        });
    }

    /// Records a code cell's first response.
    pub fn code_cell_initial_response<P: Into<PayloadBody>>(
        &self,
        runtime_cell_id: &str,
        status: CodeCellRuntimeStatus,
        response: impl FnOnce() -> Option<P>,
    ) {
        self.emit(|| EventPayload::CodeCellInitialResponse {
            runtime_cell_id: runtime_cell_id.to_string(),
            status,
            response_payload: response().map(Into::into),
        });
    }

    /// Records a code cell's terminal response.
    pub fn code_cell_ended<P: Into<PayloadBody>>(
        &self,
        runtime_cell_id: &str,
        status: CodeCellRuntimeStatus,
        response: impl FnOnce() -> Option<P>,
    ) {
        self.emit(|| EventPayload::CodeCellEnded {
            runtime_cell_id: runtime_cell_id.to_string(),
            status,
            response_payload: response().map(Into::into),
        });
    }

    /// Records a wrapped protocol event (a breadcrumb).
    pub fn protocol_event<P: Into<PayloadBody>>(
        &self,
        event_type: &str,
        event: impl FnOnce() -> P,
    ) {
        self.emit(|| EventPayload::ProtocolEventObserved {
            event_type: event_type.to_string(),
            event_payload: event().into(),
        });
    }

    /// Records that a terminal session ended.
    pub fn terminal_session_ended<P: Into<PayloadBody>>(
        &self,
        terminal_id: &str,
        status: ExecutionStatus,
        exit_code: Option<i32>,
        runtime: impl FnOnce() -> Option<P>,
    ) {
        let thread_id = self.thread_id().to_string();
        self.emit(|| EventPayload::TerminalSessionEnded {
            terminal_id: terminal_id.to_string(),
            thread_id,
            status,
            exit_code,
            runtime_payload: runtime().map(Into::into),
        });
    }

    /// Delivers a child's result to its parent with `deliver`, and records
    /// the `agent_result` edge only if delivery succeeded.
    ///
    /// Recording first and delivering second produced edges that never
    /// happened in the reference; taking the delivery as a closure makes
    /// that order impossible here.
    ///
    /// In the reduced state the edge runs from this turn's latest assistant
    /// message (else the child thread) to the parent's inter-agent item
    /// that carries `message`: an `agent_message` item with `author` = this
    /// thread's agent path and `message` as its content. It counts as
    /// delivered only when a **later inference request of the parent**
    /// carries that item; until then it is pending, and a log that ends
    /// without such a request reduces to an `undelivered_interaction_edge`
    /// diagnostic instead of an edge. So `deliver` should put that item
    /// where the parent's next request will include it.
    pub fn deliver_agent_result<T, E, P: Into<PayloadBody>>(
        &self,
        parent_thread_id: &str,
        message: &str,
        carried: impl FnOnce() -> Option<P>,
        deliver: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let delivered = deliver()?;
        let child_thread_id = self.thread_id().to_string();
        let child_codex_turn_id = self.turn_id().to_string();
        self.emit(|| EventPayload::AgentResultObserved {
            edge_id: format!(
                "edge:agent_result:{child_thread_id}:{child_codex_turn_id}:{parent_thread_id}"
            ),
            child_thread_id,
            child_codex_turn_id,
            parent_thread_id: parent_thread_id.to_string(),
            message: message.to_string(),
            carried_payload: carried().map(Into::into),
        });
        Ok(delivered)
    }
}

/// Code mode records through the turn that executes (or waits on) a cell.
#[cfg(feature = "codemode")]
impl crate::codemode::CodeModeTraceSink for TurnRecorder {
    fn record(&self, payload: EventPayload<Value>) {
        TurnRecorder::record(self, || payload);
    }
}
