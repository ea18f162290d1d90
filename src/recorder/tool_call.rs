//! [`ToolCallRecorder`], one tool call from its start to the result returned
//! to its requester, and [`TurnRecorder::start_tool_call`], which starts one.
//! A spawn tool call's child thread is recorded in `spawn.rs`
//! ([`ToolCallRecorder::spawn_child`]).

use super::TurnRecorder;
use crate::event::{
    EventPayload, ExecutionStatus, RawToolCallRequester, ToolCallKind, ToolCallSummary,
};
use crate::writer::PayloadBody;

/// How a tool call starts ([`TurnRecorder::start_tool_call`]): the fields
/// of its `tool_call_started` event.
#[derive(Debug, Clone)]
pub struct ToolCallStart {
    /// The host's id for the call, unique in the rollout (a second start
    /// with the same id makes the log unreducible); `None`: a new UUID.
    /// Codex uses the model's call id for a call the model made.
    pub tool_call_id: Option<String>,
    /// The `call_id` of the model's call item (`function_call`,
    /// `custom_tool_call`), which links the tool call to that item and to
    /// its output item in the thread's conversation; unique per thread.
    /// `None` for a call the model did not make itself (one made from code
    /// mode, say).
    pub model_visible_call_id: Option<String>,
    /// The code-mode runtime's id of a call a code cell made (`tool-N`);
    /// `None` for a call the model made.
    pub code_mode_runtime_tool_id: Option<String>,
    /// Who asked for the call: the model, or a code cell (by its runtime
    /// cell id, which must name a cell started in this thread).
    pub requester: RawToolCallRequester,
    /// The runtime's category of tool. [`ToolCallKind::SpawnAgent`] for a
    /// call that spawns a child through [`ToolCallRecorder::spawn_child`];
    /// `ExecCommand` and `WriteStdin` calls become terminal operations.
    pub kind: ToolCallKind,
    /// A bounded summary for cards and lists
    /// ([`ToolCallSummary::generic`] when nothing more specific fits).
    pub summary: ToolCallSummary,
}

impl TurnRecorder {
    /// Records a tool call start and returns the call's handle.
    pub fn start_tool_call<P: Into<PayloadBody>>(
        &self,
        start: ToolCallStart,
        invocation: impl FnOnce() -> Option<P>,
    ) -> ToolCallRecorder {
        if !self.is_enabled() {
            return ToolCallRecorder::disabled();
        }
        let tool_call_id = start
            .tool_call_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let id = tool_call_id.clone();
        self.emit(|| EventPayload::ToolCallStarted {
            tool_call_id: id,
            model_visible_call_id: start.model_visible_call_id,
            code_mode_runtime_tool_id: start.code_mode_runtime_tool_id,
            requester: start.requester,
            kind: start.kind,
            summary: start.summary,
            invocation_payload: invocation().map(Into::into),
        });
        ToolCallRecorder {
            turn: self.clone(),
            tool_call_id,
        }
    }
}

/// One tool call.
pub struct ToolCallRecorder {
    pub(super) turn: TurnRecorder,
    pub(super) tool_call_id: String,
}

impl ToolCallRecorder {
    fn disabled() -> ToolCallRecorder {
        ToolCallRecorder {
            turn: TurnRecorder::disabled(),
            tool_call_id: String::new(),
        }
    }

    /// The tool call id.
    pub fn tool_call_id(&self) -> &str {
        &self.tool_call_id
    }

    /// Records the MCP correlation id the call carried to its server.
    pub fn mcp_correlation(&self, mcp_call_id: &str) {
        let tool_call_id = self.tool_call_id.clone();
        self.turn
            .emit(|| EventPayload::McpToolCallCorrelationAssigned {
                tool_call_id,
                mcp_call_id: mcp_call_id.to_string(),
            });
    }

    /// Records a runtime begin observation (for example `exec_command_begin`).
    pub fn runtime_started<P: Into<PayloadBody>>(&self, runtime: impl FnOnce() -> P) {
        let tool_call_id = self.tool_call_id.clone();
        self.turn.emit(|| EventPayload::ToolCallRuntimeStarted {
            tool_call_id,
            runtime_payload: runtime().into(),
        });
    }

    /// Records a runtime end observation.
    pub fn runtime_ended<P: Into<PayloadBody>>(
        &self,
        status: ExecutionStatus,
        runtime: impl FnOnce() -> P,
    ) {
        let tool_call_id = self.tool_call_id.clone();
        self.turn.emit(|| EventPayload::ToolCallRuntimeEnded {
            tool_call_id,
            status,
            runtime_payload: runtime().into(),
        });
    }

    /// Records the result returned to the requester.
    pub fn ended<P: Into<PayloadBody>>(
        self,
        status: ExecutionStatus,
        result: impl FnOnce() -> Option<P>,
    ) {
        let tool_call_id = self.tool_call_id.clone();
        self.turn.emit(|| EventPayload::ToolCallEnded {
            tool_call_id,
            status,
            result_payload: result().map(Into::into),
        });
    }
}
