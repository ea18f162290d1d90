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
    /// What the script calls it by (`tools.<name>`), and the
    /// [`NestedToolCall::tool_name`] the host receives; a call of a name the
    /// cell was not given fails in the script with `unknown tool: <name>`.
    pub name: String,
    /// Free text for whoever writes the script; the cell sees it in
    /// `ALL_TOOLS`, the runtime never interprets it.
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
    /// so tracing and waits can name the cell before it runs. It must not
    /// name a cell still live in the service
    /// ([`CodeModeError::CellAlreadyExists`]).
    pub cell_id: String,
    /// The model-visible `exec` call id: the `call_id` of the model's `exec`
    /// tool call, recorded as the cell's `model_visible_call_id` and handed
    /// to nested calls as [`NestedToolCall::exec_call_id`].
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
    /// The cell to observe, as [`ExecuteRequest::cell_id`] named it. An id
    /// with no live cell answers [`WaitOutcome::MissingCell`].
    pub cell_id: String,
    /// How long to observe before answering `Yielded`, in milliseconds, cut
    /// to [`YIELD_TIME_MS_MAX`](crate::codemode::YIELD_TIME_MS_MAX); `0`
    /// answers at once with the output so far. Unlike `execute` there is no
    /// default here: the host applies the `wait` tool's. Ignored when
    /// `terminate` is set.
    pub yield_time_ms: u64,
    /// Stop the cell instead of observing it: the answer is `Terminated`
    /// with the output not yet delivered, and the cell's stored-value writes
    /// are discarded. A cell that had already finished answers its `Result`
    /// instead (its writes stay committed).
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
    /// Text: what the script passed to `text(value)` (a non-string as its
    /// JSON), or a line the service adds (`Script error:` and the error, the
    /// [`TRUNCATION_MARKER`](crate::codemode::TRUNCATION_MARKER) line).
    InputText {
        /// The text; counts against the response's output budget.
        text: String,
    },
    /// An image the script passed to `image(url)`.
    InputImage {
        /// The URL string exactly as the script gave it (a `data:` URL
        /// included); never fetched or checked, and not counted against the
        /// output budget.
        image_url: String,
    },
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
        /// The observed cell ([`ExecuteRequest::cell_id`]).
        cell_id: String,
        /// Output since the last response, cut to this response's output
        /// budget (a marker says what was cut).
        content_items: Vec<ContentItem>,
    },
    /// The cell was terminated; its stored-value writes were discarded.
    Terminated {
        /// The terminated cell ([`ExecuteRequest::cell_id`]).
        cell_id: String,
        /// Output no earlier response delivered, as of the terminate, cut
        /// to this response's output budget.
        content_items: Vec<ContentItem>,
    },
    /// The cell finished: normally (`error_text: None`, `exit()` included)
    /// or with a script error. `stored_values` is the cell's view at the end
    /// (its snapshot plus its own writes).
    Result {
        /// The finished cell ([`ExecuteRequest::cell_id`]), or the id a wait
        /// found no live cell for.
        cell_id: String,
        /// Output since the last response, then a `Script error:` item when
        /// `error_text` is set, cut to this response's output budget. Empty
        /// for a missing cell.
        content_items: Vec<ContentItem>,
        /// The cell's stored values at its end (not the session's map, which
        /// [`CodeModeService::stored_values`](crate::codemode::CodeModeService::stored_values)
        /// gives). Empty for a missing cell.
        stored_values: StoredValues,
        /// `None` when the module finished (its promise fulfilled) or the
        /// script called `exit()`; otherwise why it failed: the thrown value (`Name:
        /// message` for an `Error`), [`STALLED_SCRIPT`](crate::codemode::STALLED_SCRIPT),
        /// a dead runtime, or `exec cell <id> not found` for a missing cell.
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
    /// The cell was live: the response is `Yielded`, `Terminated` or its
    /// `Result`, and a terminal one was recorded as the cell's end.
    LiveCell(RuntimeResponse),
    /// No live cell had that id (never started, or its end already
    /// delivered): the response is a `Result` with an `exec cell <id> not
    /// found` error ([`missing_cell_response`](crate::codemode::missing_cell_response)),
    /// and nothing about the cell was recorded.
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
    /// The tool called: one of the cell's
    /// [`ExecuteRequest::enabled_tools`], by [`ToolDefinition::name`].
    pub tool_name: String,
    /// The JSON value the script passed (`null` when it passed nothing).
    pub input: Value,
}

/// Errors of the code-mode service. Bad scripts are not errors: they answer
/// a `Result` with `error_text`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeModeError {
    /// `execute` was given the id (given) of a cell still live in this
    /// service; nothing was started or recorded.
    #[error("exec cell {0} already exists")]
    CellAlreadyExists(String),
    /// A `wait` (not a terminate) came while another observer, `execute` or
    /// another `wait`, was observing the cell (id given); the cell runs on
    /// untouched and no cell event was recorded
    /// ([`wait_traced`](crate::codemode::CodeModeService::wait_traced) still
    /// records its `wait` call, as failed).
    #[error("exec cell {0} already has an active observer")]
    Busy(String),
    /// `execute` could not start the cell; nothing was recorded.
    #[error("failed to start exec cell {cell_id}: {reason}")]
    Spawn {
        /// The cell that was not started ([`ExecuteRequest::cell_id`]).
        cell_id: String,
        /// Why: the cell thread could not be spawned, or the engine failed
        /// to create its VM or evaluate the prelude (the engine's text).
        reason: String,
    },
}
