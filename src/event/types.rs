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
    Completed,
    Failed,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
    Aborted,
}

/// Code-mode runtime lifecycle of one `exec` cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum CodeCellRuntimeStatus {
    Starting,
    Running,
    Yielded,
    Completed,
    Failed,
    Terminated,
}

/// Who asked for a tool call, in runtime-local terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum RawToolCallRequester {
    Model,
    CodeCell {
        /// Runtime-local code-mode cell handle (scoped by thread).
        runtime_cell_id: String,
    },
}

/// Runtime tool category.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ToolCallKind {
    ExecCommand,
    WriteStdin,
    ApplyPatch,
    Mcp { server: String, tool: String },
    Web,
    ImageGeneration,
    SpawnAgent,
    AssignAgentTask,
    SendMessage,
    WaitAgent,
    CloseAgent,
    Other { name: String },
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
}

/// Bounded card/list summary for a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ToolCallSummary {
    Terminal {
        operation_id: String,
    },
    Agent {
        target_agent_path: String,
        task_name: Option<String>,
        message_preview: String,
    },
    WaitAgent {
        target_agent_path: Option<String>,
        timeout_ms: Option<u64>,
    },
    Generic {
        label: String,
        input_preview: Option<String>,
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
