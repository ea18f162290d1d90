//! Small value types shared by raw events and the reduced model: statuses,
//! tool kinds, summaries and requesters.
//!
//! Their serde shape is the reference's JSON wire shape; their bincode shape
//! (derived `Encode`/`Decode`, which ignores serde attributes) is our on-disk
//! format. Variant order is on-disk format: add new variants at the end.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Coarse status of a whole rollout or a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    /// No terminal rollout event has been seen.
    Running,
    /// Ended normally.
    Completed,
    /// Ended with an error.
    Failed,
    /// Stopped before finishing.
    Aborted,
}

impl RolloutStatus {
    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Running => "running",
            RolloutStatus::Completed => "completed",
            RolloutStatus::Failed => "failed",
            RolloutStatus::Aborted => "aborted",
        }
    }
}

/// Lifecycle status of a runtime object (turn, call, operation).
///
/// A thread's status is its [`RolloutStatus`] mapped one to one. An end
/// event's status is stored as given (a later end overwrites an earlier
/// one), except that an inference call keeps its first terminal status; a
/// turn's end also closes what still runs in it (see
/// [`EventPayload::CodexTurnEnded`](crate::event::EventPayload::CodexTurnEnded)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Started, not ended.
    Running,
    /// Finished normally.
    Completed,
    /// Finished with an error.
    Failed,
    /// Stopped on request before finishing (Codex: a turn aborted for any
    /// reason, such as an interrupt).
    Cancelled,
    /// Stopped before finishing otherwise (a thread that ended `aborted`).
    Aborted,
}

impl ExecutionStatus {
    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Completed => "completed",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
            ExecutionStatus::Aborted => "aborted",
        }
    }
}

/// Code-mode runtime lifecycle of one `exec` cell.
///
/// `Completed`, `Failed` and `Terminated` end the cell's execution window
/// (`Terminated` as `cancelled`); the others leave it running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum CodeCellRuntimeStatus {
    /// Started, no response yet: a reduced cell's status until its first
    /// lifecycle event.
    Starting,
    /// Running without having yielded (code mode here reports `Yielded`
    /// instead; accepted from other producers).
    Running,
    /// Gave control back to the model while still running (its yield time
    /// passed, or it called `yield_control()`); a `wait` observes it later.
    Yielded,
    /// Finished normally.
    Completed,
    /// Finished with a script error.
    Failed,
    /// Stopped by a terminate (its stored-value writes discarded), or by
    /// the cancelled or aborted turn it ran in.
    Terminated,
}

/// Who asked for a tool call, in runtime-local terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum RawToolCallRequester {
    /// The model: a call item of one of its responses.
    Model,
    /// A code-mode cell: a nested call made by a running `exec` cell, whose
    /// `code_cell_started` must come first.
    CodeCell {
        /// Runtime-local code-mode cell handle (scoped by thread).
        runtime_cell_id: String,
    },
}

/// Runtime tool category. It decides which of a tool call's payloads the
/// reducer reads (see
/// [`PayloadKind::ToolInvocation`](crate::event::PayloadKind::ToolInvocation)
/// and [`PayloadKind::ToolRuntimeEvent`](crate::event::PayloadKind::ToolRuntimeEvent));
/// [`ToolCallKind::from_tool_name`] gives the tool names of each.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ToolCallKind {
    /// Runs a command in a terminal (`exec_command`, `shell`,
    /// `local_shell`): its runtime payloads make a terminal operation and
    /// its session.
    ExecCommand,
    /// Writes to a running terminal session (`write_stdin`): its invocation
    /// makes the terminal operation.
    WriteStdin,
    /// Applies a patch (`apply_patch`); nothing beyond the tool call.
    ApplyPatch,
    /// A tool of an MCP server; nothing beyond the tool call and its
    /// `mcp_tool_call_correlation_assigned`.
    Mcp {
        /// The MCP server's name.
        server: String,
        /// The tool's name on that server.
        tool: String,
    },
    /// Web search (`web_search`); nothing beyond the tool call.
    Web,
    /// Image generation (`image_generation`, `imagegen`); nothing beyond
    /// the tool call.
    ImageGeneration,
    /// Spawns a child agent (`spawn_agent`): its runtime end makes the
    /// spawn edge.
    SpawnAgent,
    /// Gives an agent a task (`followup_task`, `assign_task`): a task
    /// delivery edge.
    AssignAgentTask,
    /// Sends an agent a message (`send_message`): a message delivery edge.
    SendMessage,
    /// Waits for an agent (`wait_agent`); nothing beyond the tool call.
    WaitAgent,
    /// Closes or interrupts an agent (`close_agent`, `interrupt_agent`): a
    /// close edge to the agent's thread.
    CloseAgent,
    /// Any other tool, by name. `wait` (code mode's wait on a cell) links
    /// to the cell its invocation names.
    Other {
        /// The dispatched tool name.
        name: String,
    },
}

impl ToolCallKind {
    /// Maps a dispatched tool name to its kind, as the reference's producers do.
    pub fn from_tool_name(name: &str) -> ToolCallKind {
        match name {
            "exec_command" | "shell" | "local_shell" => ToolCallKind::ExecCommand,
            "write_stdin" => ToolCallKind::WriteStdin,
            "apply_patch" => ToolCallKind::ApplyPatch,
            "web_search" => ToolCallKind::Web,
            // Newer Codex (after June 2026) names its image tool `imagegen`.
            "image_generation" | "imagegen" => ToolCallKind::ImageGeneration,
            "spawn_agent" => ToolCallKind::SpawnAgent,
            "followup_task" | "assign_task" => ToolCallKind::AssignAgentTask,
            "send_message" => ToolCallKind::SendMessage,
            "wait_agent" => ToolCallKind::WaitAgent,
            "close_agent" | "interrupt_agent" => ToolCallKind::CloseAgent,
            other => ToolCallKind::Other {
                name: other.to_string(),
            },
        }
    }

    /// The kind as people read it: its JSON type (`exec_command`),
    /// `mcp server/tool`, or the tool's own name for any other tool.
    pub fn name(&self) -> String {
        match self {
            ToolCallKind::Mcp { server, tool } => format!("mcp {server}/{tool}"),
            ToolCallKind::Other { name } => name.clone(),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| {
                    v.get("type")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| format!("{other:?}")),
        }
    }
}

/// Bounded card/list summary for a tool call. Stored as the host gave it,
/// never interpreted, except that the reducer sets `Terminal` when the call
/// gets a terminal operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ToolCallSummary {
    /// A terminal operation's card, set by the reducer.
    Terminal {
        /// The operation's reducer-minted id (`terminal_operation:{n:06}`).
        operation_id: String,
    },
    /// A multi-agent tool's card (the reference declares it; its producers
    /// never write it).
    Agent {
        /// The agent path the call addresses.
        target_agent_path: String,
        /// The task's name, if it has one.
        task_name: Option<String>,
        /// The start of the message, bounded.
        message_preview: String,
    },
    /// A `wait_agent` card (the reference declares it; its producers never
    /// write it).
    WaitAgent {
        /// The agent path waited on, if one is named.
        target_agent_path: Option<String>,
        /// The wait's timeout in milliseconds, if one is set.
        timeout_ms: Option<u64>,
    },
    /// Any call's card: what the reference's producers write for every
    /// call.
    Generic {
        /// A short label, such as the tool name.
        label: String,
        /// The start of the input, if given (the reference's producers cut
        /// it at 160 characters).
        input_preview: Option<String>,
        /// The start of the output, if given (the reference's producers
        /// never give one).
        output_preview: Option<String>,
    },
}

impl ToolCallSummary {
    /// A generic summary with a label and no previews.
    pub fn generic(label: impl Into<String>) -> ToolCallSummary {
        ToolCallSummary::Generic {
            label: label.into(),
            input_preview: None,
            output_preview: None,
        }
    }
}

/// Cuts `text` to at most `max_bytes` bytes without splitting a UTF-8 character.
///
/// The reference truncates with `String::truncate` at a byte offset and panics
/// when that offset falls inside a multi-byte character; this never does.
pub fn truncate_utf8(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::{ToolCallKind, truncate_utf8};

    #[test]
    fn imagegen_is_an_image_generation_tool() {
        for name in ["imagegen", "image_generation"] {
            assert_eq!(
                ToolCallKind::from_tool_name(name),
                ToolCallKind::ImageGeneration
            );
        }
    }

    #[test]
    fn truncate_never_splits_a_character() {
        let text = "ab\u{1F600}cd"; // the emoji takes bytes 2..6
        for max in 0..=text.len() + 1 {
            let cut = truncate_utf8(text, max);
            assert!(cut.len() <= max);
            assert!(text.starts_with(cut));
        }
        assert_eq!(truncate_utf8(text, 3), "ab");
        assert_eq!(truncate_utf8(text, 6), "ab\u{1F600}");
    }
}
