//! [`ToolCallRecorder`], one tool call from its start to the result returned
//! to its requester, and [`TurnRecorder::start_tool_call`], which starts one.
//! A spawn tool call's child thread is recorded in `spawn.rs`
//! ([`ToolCallRecorder::spawn_child`]).

use super::TurnRecorder;
use crate::event::{
    EventPayload, ExecutionStatus, RawToolCallRequester, ToolCallKind, ToolCallSummary,
};
use crate::writer::PayloadBody;

/// How a tool call starts.
#[derive(Debug, Clone)]
pub struct ToolCallStart {
    /// `None`: a new UUID.
    pub tool_call_id: Option<String>,
    pub model_visible_call_id: Option<String>,
    pub code_mode_runtime_tool_id: Option<String>,
    pub requester: RawToolCallRequester,
    pub kind: ToolCallKind,
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
