//! The code-mode request, response and error types shared by the service,
//! the cell runner and the engines.
//!
//! Plain data only: nothing here spawns, locks or runs JavaScript.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long `execute` observes a new cell before yielding, when the request
/// does not say (the reference's `DEFAULT_EXEC_YIELD_TIME_MS`).
pub const DEFAULT_EXEC_YIELD_TIME_MS: u64 = 10_000;

/// Output budget of one response, in tokens, when the request does not say
/// (the reference's `DEFAULT_MAX_OUTPUT_TOKENS`).
pub const DEFAULT_MAX_OUTPUT_TOKENS: usize = 10_000;

/// The token estimate used for output limits: about four bytes of UTF-8 text
/// per token. It is an approximation, not a tokenizer; it only has to bound
/// what reaches the model.
pub const BYTES_PER_TOKEN: usize = 4;

/// Stored values: the session map `store`/`load` work on, keyed by name.
pub type StoredValues = BTreeMap<String, Value>;

/// A nested tool a cell may call as `tools.<name>(input)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
}

impl ToolDefinition {
    /// A tool with a name and a description.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: description.into(),
        }
    }
}

/// Starts one exec cell.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteRequest {
    /// Runtime cell id, allocated by the caller (see
    /// [`CodeModeService::allocate_cell_id`](crate::codemode::CodeModeService::allocate_cell_id))
    /// so tracing and waits can name the cell before it runs.
    pub cell_id: String,
    /// The model-visible `exec` call id.
    pub tool_call_id: String,
    /// The nested tools the cell sees as `tools.<name>`.
    pub enabled_tools: Vec<ToolDefinition>,
    /// JavaScript, evaluated as an ES module.
    pub source: String,
    /// Values the cell sees through `load`, on top of the session's stored
    /// values (an entry here wins over the session's entry of that key).
    pub stored_values: StoredValues,
    /// How long to observe before yielding; `None` means
    /// [`DEFAULT_EXEC_YIELD_TIME_MS`].
    pub yield_time_ms: Option<u64>,
    /// Output budget of the first response; `None` means
    /// [`DEFAULT_MAX_OUTPUT_TOKENS`].
    pub max_output_tokens: Option<usize>,
}

/// Re-observes (or terminates) a live cell.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitRequest {
    pub cell_id: String,
    pub yield_time_ms: u64,
    pub terminate: bool,
    /// Output budget of this response; `None` means
    /// [`DEFAULT_MAX_OUTPUT_TOKENS`].
    pub max_output_tokens: Option<usize>,
}

impl WaitRequest {
    /// A plain wait (no terminate, default output budget).
    pub fn new(cell_id: impl Into<String>, yield_time_ms: u64) -> WaitRequest {
        WaitRequest {
            cell_id: cell_id.into(),
            yield_time_ms,
            terminate: false,
            max_output_tokens: None,
        }
    }

    /// A wait that terminates the cell.
    pub fn terminate(cell_id: impl Into<String>) -> WaitRequest {
        WaitRequest {
            cell_id: cell_id.into(),
            yield_time_ms: 0,
            terminate: true,
            max_output_tokens: None,
        }
    }
}

/// One item of a cell's output, in the Responses API's content-item shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ContentItem {
    InputText { text: String },
    InputImage { image_url: String },
}

impl ContentItem {
    /// A text item.
    pub fn text(text: impl Into<String>) -> ContentItem {
        ContentItem::InputText { text: text.into() }
    }
}

/// What an observer of a cell gets back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeResponse {
    /// The yield time passed (or the script called `yield_control()`); the
    /// cell keeps running. `content_items` is the output since the last
    /// response.
    Yielded {
        cell_id: String,
        content_items: Vec<ContentItem>,
    },
    /// The cell was terminated; its stored-value writes were discarded.
    Terminated {
        cell_id: String,
        content_items: Vec<ContentItem>,
    },
    /// The cell finished: normally (`error_text: None`, `exit()` included)
    /// or with a script error. `stored_values` is the cell's view at the end
    /// (its snapshot plus its own writes).
    Result {
        cell_id: String,
        content_items: Vec<ContentItem>,
        stored_values: StoredValues,
        error_text: Option<String>,
    },
}

impl RuntimeResponse {
    /// The cell this response is about.
    pub fn cell_id(&self) -> &str {
        match self {
            RuntimeResponse::Yielded { cell_id, .. }
            | RuntimeResponse::Terminated { cell_id, .. }
            | RuntimeResponse::Result { cell_id, .. } => cell_id,
        }
    }

    /// The output items of this response.
    pub fn content_items(&self) -> &[ContentItem] {
        match self {
            RuntimeResponse::Yielded { content_items, .. }
            | RuntimeResponse::Terminated { content_items, .. }
            | RuntimeResponse::Result { content_items, .. } => content_items,
        }
    }

    /// All text items joined with newlines (a convenience for hosts and tests).
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        for item in self.content_items() {
            if let ContentItem::InputText { text } = item {
                out.push(text.as_str());
            }
        }
        out.join("\n")
    }

    /// Whether the cell is still running after this response.
    pub fn is_yield(&self) -> bool {
        matches!(self, RuntimeResponse::Yielded { .. })
    }
}

/// The answer to a wait: the variant says whether the cell was live, which
/// the response alone cannot (a failed cell and a missing cell both answer
/// `Result` with an error). Only a live-cell answer is a cell lifecycle event.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitOutcome {
    LiveCell(RuntimeResponse),
    MissingCell(RuntimeResponse),
}

impl WaitOutcome {
    /// The response, whichever the variant.
    pub fn response(&self) -> &RuntimeResponse {
        match self {
            WaitOutcome::LiveCell(response) | WaitOutcome::MissingCell(response) => response,
        }
    }
}

impl From<WaitOutcome> for RuntimeResponse {
    fn from(outcome: WaitOutcome) -> RuntimeResponse {
        match outcome {
            WaitOutcome::LiveCell(response) | WaitOutcome::MissingCell(response) => response,
        }
    }
}

/// One nested tool call, as the host receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedToolCall {
    /// The calling cell.
    pub cell_id: String,
    /// The model-visible `exec` call that started the cell.
    pub exec_call_id: String,
    /// The traced tool call id (`exec-{uuid}`), unique across sessions.
    pub tool_call_id: String,
    /// The cell-local runtime id (`tool-N`).
    pub runtime_tool_id: String,
    pub tool_name: String,
    /// The JSON value the script passed (`null` when it passed nothing).
    pub input: Value,
}

/// Errors of the code-mode service. Bad scripts are not errors: they answer
/// a `Result` with `error_text`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeModeError {
    #[error("exec cell {0} already exists")]
    CellAlreadyExists(String),
    #[error("exec cell {0} already has an active observer")]
    Busy(String),
    #[error("failed to start exec cell {cell_id}: {reason}")]
    Spawn { cell_id: String, reason: String },
}
