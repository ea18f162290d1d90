//! Runtime object types of the reduced state: threads, turns, inference
//! calls, tool calls, code cells, terminals, compactions and interaction
//! edges.
//!
//! Plain data only, with the reference's field names (our additions are extra
//! keys). Nothing here may read payloads or depend on reducer state.

use serde::{Deserialize, Serialize};

use super::{ExecutionWindow, ItemId};
use crate::event::{CodeCellRuntimeStatus, ToolCallKind, ToolCallSummary};

/// One agent thread (the root or a spawned child).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentThread {
    /// The host's thread id (a UUID in Codex), from `thread_started` or
    /// `thread_resumed`.
    pub thread_id: String,
    /// The agent's routing path (e.g. `/root/worker`): the spawn metadata's,
    /// else the session metadata's `agent_path`, else the event's. Inter-agent
    /// messages name their author and recipient by this path.
    pub agent_path: String,
    /// Display name from the session metadata's `nickname`; `None` without
    /// one (or without a metadata payload).
    pub nickname: Option<String>,
    /// How the thread came to exist, read from its session metadata.
    pub origin: AgentOrigin,
    /// Opened by `thread_started` (or the `thread_resumed` that first showed
    /// the thread); closed by `thread_ended`, whose rollout status maps one
    /// to one. A later `thread_resumed` reopens it (running, end cleared).
    pub execution: ExecutionWindow,
    /// The session metadata's `model`; `None` without one. Each inference
    /// call records its own `model`.
    pub default_model: Option<String>,
    /// Ordered, append-only, without duplicates.
    ///
    /// Every conversation item created in this thread, in creation order,
    /// including items a compaction later replaced: the thread's whole
    /// history, not its current context (see each inference call's
    /// `request_item_ids` for that).
    pub conversation_item_ids: Vec<ItemId>,
    /// Our addition: the `session_metadata` payload of `thread_started` (or
    /// of the first `thread_resumed` that carried one); `None` when no
    /// metadata was recorded.
    pub raw_metadata_payload_id: Option<String>,
    /// Our addition: seqs of `thread_resumed` events for this thread (empty
    /// when read from a state without it, the reference's).
    #[serde(default)]
    pub resumed_at_seqs: Vec<u64>,
}

/// How a thread came to exist, read from its session metadata payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum AgentOrigin {
    /// No spawn origin: the root thread, or any thread without metadata or
    /// whose metadata has no `session_source.subagent.thread_spawn` naming a
    /// parent.
    Root,
    /// Spawned by another thread, as the metadata's
    /// `session_source.subagent.thread_spawn` says. This alone creates no
    /// interaction edge.
    Spawned {
        /// The thread that spawned this one.
        parent_thread_id: String,
        /// `edge:spawn:{parent_thread_id}:{thread_id}`: the id the spawn's
        /// [`InteractionEdge`] has when the parent's spawn tool call
        /// reported it. Absent from `interaction_edges` otherwise.
        spawn_edge_id: String,
        /// The spawn's task name, else the metadata's, else the last segment
        /// of the thread's agent path (the reference's precedence).
        #[serde(deserialize_with = "string_or_null")]
        task_name: String,
        /// The spawn's role, else the metadata's, else `""`.
        #[serde(deserialize_with = "string_or_null")]
        agent_role: String,
    },
}

/// A string field that states saved before it was always a string may hold
/// as `null`.
fn string_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// One Codex turn: the work a thread does for one input (in Codex, from
/// `TurnStarted` to `TurnComplete` or `TurnAborted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodexTurn {
    /// The host's turn id, from `codex_turn_started`.
    pub codex_turn_id: String,
    /// The thread the turn runs in.
    pub thread_id: String,
    /// From `codex_turn_started` to `codex_turn_ended`, whose status it
    /// takes. The end also closes the turn's running inference calls and,
    /// unless the turn completed, its running code cells.
    pub execution: ExecutionWindow,
    /// Part of the reference's schema, which never fills it; this reducer
    /// does not either, so it is always empty. The turn's inputs are in its
    /// inference calls' `request_item_ids`.
    pub input_item_ids: Vec<ItemId>,
}

/// Token counts of one inference call, as the provider reported them,
/// mapped onto the Codex meaning (input counts include cached input).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// All input tokens of the request, cached ones included (Anthropic's
    /// uncached, cache-read and cache-write counts added together).
    pub input_tokens: u64,
    /// Input tokens read from the provider's prompt cache (part of
    /// `input_tokens`); 0 when not reported.
    pub cached_input_tokens: u64,
    /// Tokens the model generated, reasoning included.
    pub output_tokens: u64,
    /// Reasoning tokens among `output_tokens`; 0 when not reported (always
    /// for Anthropic).
    pub reasoning_output_tokens: u64,
    /// Input tokens written to the provider's prompt cache (part of
    /// `input_tokens`, like `cached_input_tokens`); 0 when not reported.
    #[serde(default)]
    pub cache_write_input_tokens: u64,
}

/// One model request and its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceCall {
    /// The host's id for the call (a UUID in Codex, also sent to the
    /// provider as `x-codex-inference-call-id`), from `inference_started`.
    pub inference_call_id: String,
    /// The thread that made the request.
    pub thread_id: String,
    /// The turn of that thread the request belongs to.
    pub codex_turn_id: String,
    /// Opened by `inference_started`; closed by the first of
    /// `inference_completed` (completed), `inference_failed` (failed),
    /// `inference_cancelled` (cancelled) or the end of its turn (a completed
    /// or cancelled turn cancels it, a failed or aborted one fails or aborts
    /// it). Later end events keep that status but still attach payloads and
    /// ids.
    pub execution: ExecutionWindow,
    /// The model the host asked for, from `inference_started`.
    pub model: String,
    /// The provider the host sent it to, from `inference_started` (a label:
    /// the payload shapes decide how payloads are read).
    pub provider_name: String,
    /// The provider's response id, from `inference_completed` or else its
    /// response payload; `None` until then. A later request naming it as
    /// `previous_response_id` continues this call's conversation.
    pub response_id: Option<String>,
    /// The provider's request id (`x-request-id`), from the end event or the
    /// response payload; `None` when not reported.
    pub upstream_request_id: Option<String>,
    /// The whole input the model saw, in order: the request's items for a
    /// full request; for an incremental one, the previous call's request
    /// and response items followed by the new ones. Items the thread's live
    /// history already holds keep their ids; the others are new.
    pub request_item_ids: Vec<ItemId>,
    /// The items of the response (of a completed call, or the partial
    /// response of a failed or cancelled one), always new items produced by
    /// this call; empty while the call runs. Only the first response's
    /// items count.
    pub response_item_ids: Vec<ItemId>,
    /// Tool calls whose model-visible call item this call's response
    /// produced, in the order they were linked (whichever of the item and
    /// the tool call came first).
    pub tool_call_ids_started_by_response: Vec<String>,
    /// Token usage from the response payload (or a partial response's);
    /// `None` while running or when the provider reported none.
    pub usage: Option<TokenUsage>,
    /// The `inference_request` payload of `inference_started`: the whole
    /// provider request.
    pub raw_request_payload_id: String,
    /// The `inference_response` payload of `inference_completed`, or the
    /// partial response of `inference_failed` / `inference_cancelled`;
    /// `None` while running or when the call ended without one.
    pub raw_response_payload_id: Option<String>,
    /// Our addition: the failure or cancellation text, when there was one.
    pub error: Option<String>,
}

/// One code-mode `exec` cell: model-written JavaScript run by the code-mode
/// runtime. It exists once its model-visible `exec` custom tool call item is
/// in the thread's conversation; its events wait until then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCell {
    /// `code_cell:{model_visible_call_id}`, or
    /// `code_cell:{thread_id}:{model_visible_call_id}` when a cell of another
    /// thread already has the first form; minted by the reducer.
    pub code_cell_id: String,
    /// The `call_id` of the `exec` custom tool call the model made, from
    /// `code_cell_started`.
    pub model_visible_call_id: String,
    /// The thread of `code_cell_started` (its envelope).
    pub thread_id: String,
    /// The turn of `code_cell_started` (its envelope).
    pub codex_turn_id: String,
    /// The `exec` custom tool call item (a `code` part holding the source).
    pub source_item_id: ItemId,
    /// The `custom_tool_call_output` items with the `exec` call id in the
    /// thread, in creation order: the cell's first output and any `notify`
    /// messages. Outputs of later `wait` calls belong to those tool calls.
    pub output_item_ids: Vec<ItemId>,
    /// The runtime's own handle for the cell (in Codex a per-session
    /// counter, "1", "2", ..., so unique only within a thread), from
    /// `code_cell_started`; nested tool calls, `wait` arguments and lifecycle
    /// events name the cell by it. This reducer always sets it.
    pub runtime_cell_id: Option<String>,
    /// Opened at `code_cell_started` (even when the cell materialised
    /// later); closed when the runtime status becomes `completed`, `failed`
    /// or `terminated` (execution status completed, failed or cancelled), or
    /// by the end of a failed, cancelled or aborted turn. A completed turn
    /// leaves it open: a yielded cell may outlive its turn.
    pub execution: ExecutionWindow,
    /// The last status a `code_cell_initial_response` or `code_cell_ended`
    /// reported (`starting` before either); a failed turn sets `failed`, a
    /// cancelled or aborted one `terminated`.
    pub runtime_status: CodeCellRuntimeStatus,
    /// Wall time (ms since the Unix epoch) of the cell's first response to
    /// the model: `code_cell_initial_response`, or the cell's end (or its
    /// turn's) when that came first; `None` before.
    pub initial_response_at_unix_ms: Option<i64>,
    /// Seq of the event that set `initial_response_at_unix_ms`.
    pub initial_response_seq: Option<u64>,
    /// Wall time (ms since the Unix epoch) of the latest lifecycle event
    /// that reported `yielded` (the script kept running after returning
    /// output); `None` if it never yielded.
    pub yielded_at_unix_ms: Option<i64>,
    /// Seq of the event that set `yielded_at_unix_ms`.
    pub yielded_seq: Option<u64>,
    /// The JavaScript source, from `code_cell_started`.
    pub source_js: String,
    /// Tool calls the script made (requester `code_cell` naming this cell),
    /// in start order.
    pub nested_tool_call_ids: Vec<String>,
    /// `wait` tool calls whose arguments' `cell_id` names this cell's runtime
    /// id, in start order.
    pub wait_tool_call_ids: Vec<String>,
    /// Our addition: initial and final runtime response payloads (empty when
    /// read from a state without it, the reference's).
    #[serde(default)]
    pub raw_response_payload_ids: Vec<String>,
    /// Our addition: the stored values the cell committed (empty when read
    /// from a state without it).
    #[serde(default)]
    pub stored_values_raw_payload_ids: Vec<String>,
}

/// Who asked for a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ToolCallRequester {
    /// The model, through a tool call item in its response.
    Model,
    /// A code cell's script, through `tools.*`.
    CodeCell {
        /// The requesting [`CodeCell`], resolved from the event's runtime
        /// cell id within the thread. It may name a cell that never
        /// materialised; an `unmaterialized_code_cell` diagnostic then says
        /// so.
        code_cell_id: String,
    },
}

/// One dispatched tool call (code-mode `exec` itself is a [`CodeCell`]
/// instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The host's id, from `tool_call_started`: in Codex the model's call id
    /// for a direct call, `exec-{uuid}` for a call made from code mode.
    pub tool_call_id: String,
    /// The id the host put in the MCP request's `_meta`
    /// (`codex_bridge_mcp_call_id`), from
    /// `mcp_tool_call_correlation_assigned`; `None` for other tools and
    /// until that event.
    pub mcp_call_id: Option<String>,
    /// The model's `call_id` for the call, linking it to conversation items
    /// with that `call_id` in the thread; normally `None` for a call made
    /// from code mode.
    pub model_visible_call_id: Option<String>,
    /// The code-mode runtime's id for a nested call (`tool-N`); `None` for a
    /// call the model made.
    pub code_mode_runtime_tool_id: Option<String>,
    /// The thread of `tool_call_started` (its envelope).
    pub thread_id: String,
    /// The turn of `tool_call_started` (its envelope). This reducer always
    /// sets it.
    pub started_by_codex_turn_id: Option<String>,
    /// From `tool_call_started` to `tool_call_ended`, whose status it takes
    /// (a repeated end overwrites). Runtime events do not change it.
    pub execution: ExecutionWindow,
    /// Who asked for the call.
    pub requester: ToolCallRequester,
    /// The tool's category, from `tool_call_started`.
    pub kind: ToolCallKind,
    /// The model-visible call items (`function_call`, `custom_tool_call`)
    /// with `model_visible_call_id` in the thread, linked whichever came
    /// first; usually one.
    pub model_visible_call_item_ids: Vec<ItemId>,
    /// The output items with `model_visible_call_id` in the thread (each
    /// also gets a `tool` producer), linked whichever came first.
    pub model_visible_output_item_ids: Vec<ItemId>,
    /// The operation derived from this call (`exec_command` and
    /// `write_stdin` kinds only); `None` for other kinds, or before the
    /// event that creates it.
    pub terminal_operation_id: Option<String>,
    /// The card summary from `tool_call_started`, replaced by
    /// `terminal{operation_id}` once a terminal operation is derived.
    pub summary: ToolCallSummary,
    /// The `tool_invocation` payload of `tool_call_started` (tool name and
    /// arguments); `None` when none was recorded.
    pub raw_invocation_payload_id: Option<String>,
    /// The `tool_result` payload of `tool_call_ended`; `None` while running
    /// or when none was recorded.
    pub raw_result_payload_id: Option<String>,
    /// The `tool_runtime_event` payloads of `tool_call_runtime_started` and
    /// `tool_call_runtime_ended` (the runtime's own begin/end events), in
    /// log order.
    pub raw_runtime_payload_ids: Vec<String>,
}

/// One terminal session: a process started by `exec_command`, which later
/// `write_stdin` calls can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSession {
    /// The runtime's process/session id: `process_id` of an exec runtime
    /// payload, or `session_id` of `write_stdin` arguments.
    pub terminal_id: String,
    /// The thread of its operations; a session never spans threads.
    pub thread_id: String,
    /// The first operation that named the session.
    pub created_by_operation_id: String,
    /// Every operation that named the session, in that order.
    pub operation_ids: Vec<String>,
    /// Opened at the start of its first operation; closed only by our
    /// `terminal_session_ended` (the reference never ends sessions).
    pub execution: ExecutionWindow,
    /// Our addition: from `terminal_session_ended`.
    pub exit_code: Option<i32>,
    /// Our addition: the session-end runtime payload, when there was one.
    pub raw_end_payload_id: Option<String>,
}

/// What a terminal operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalOperationKind {
    /// Ran a command (`exec_command`, `shell`, `local_shell` tools).
    ExecCommand,
    /// Wrote to (or polled) a running session (`write_stdin`).
    WriteStdin,
}

/// What a terminal operation asked for, read from the runtime begin payload
/// (for `write_stdin`, from the invocation arguments when recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TerminalRequest {
    /// A command to run.
    ExecCommand {
        /// The argv (`command`, else `cmd`); a command given as one string
        /// is one element. Empty when the payload has neither.
        command: Vec<String>,
        /// The argv joined with spaces, for display.
        display_command: String,
        /// The working directory; empty when not reported.
        cwd: String,
        /// How long (ms) the tool waits for output before returning while
        /// the process keeps running; `None` when not given.
        yield_time_ms: Option<u64>,
        /// The output limit (tokens) the call asked for; `None` when not
        /// given.
        max_output_tokens: Option<u64>,
    },
    /// Input for a running session.
    WriteStdin {
        /// The characters written (`chars`, or the runtime's
        /// `interaction_input`); empty for a poll.
        stdin: String,
        /// How long (ms) the tool waits for output before returning; `None`
        /// when not given.
        yield_time_ms: Option<u64>,
        /// The output limit (tokens) the call asked for; `None` when not
        /// given.
        max_output_tokens: Option<u64>,
    },
}

/// What a terminal operation returned: from the runtime end payload, or,
/// when the call had no runtime payloads, from its dispatch result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalResult {
    /// The process's exit code; `None` while it still runs (the call
    /// returned early) or when not reported.
    pub exit_code: Option<i32>,
    /// Standard output as reported (for a dispatch result, its output text).
    pub stdout: String,
    /// Standard error as reported (for an error result, the error text).
    pub stderr: String,
    /// The output as returned to the model (`formatted_output`, else
    /// `aggregated_output`, of the end payload; a dispatch result's output);
    /// `None` when not reported.
    pub formatted_output: Option<String>,
    /// Token count of the output before it was cut to the limit; `None`
    /// when not reported.
    pub original_token_count: Option<u64>,
    /// The runtime's id for this piece of a session's output; `None` when
    /// not reported.
    pub chunk_id: Option<String>,
}

/// How the model saw a terminal operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalObservationSource {
    /// The model called the terminal tool itself.
    DirectToolCall,
    /// A code cell's script called it; the model saw the cell.
    CodeCellOutput,
}

/// The conversation items through which the model saw a terminal operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalModelObservation {
    /// The call items: the tool call's model-visible call items, or the
    /// code cell's `exec` item.
    pub call_item_ids: Vec<ItemId>,
    /// The output items: the tool call's, or the code cell's.
    pub output_item_ids: Vec<ItemId>,
    /// Which of the two it was.
    pub source: TerminalObservationSource,
}

/// One `exec_command` or `write_stdin` call, as a terminal operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalOperation {
    /// `terminal_operation:{n:06}`, minted by the reducer in creation order.
    pub operation_id: String,
    /// The session it ran in; `None` until a payload names the process (an
    /// `exec_command` may report it only at its end, or never).
    pub terminal_id: Option<String>,
    /// The tool call it was derived from (one operation per call).
    pub tool_call_id: String,
    /// What it did.
    pub kind: TerminalOperationKind,
    /// Opened by the runtime begin event (`tool_call_runtime_started`), or
    /// for `write_stdin` by `tool_call_started`; closed by the runtime end
    /// event, or by `tool_call_ended` when the call had no runtime payloads.
    pub execution: ExecutionWindow,
    /// What it asked for.
    pub request: TerminalRequest,
    /// What it returned; `None` while running or when the end carried no
    /// readable result.
    pub result: Option<TerminalResult>,
    /// How the model saw it: at most one entry, filled at the end of the
    /// log (so empty in a state taken mid-fold), empty when the model never
    /// saw it.
    pub model_observations: Vec<TerminalModelObservation>,
    /// The payloads it was read from, in log order: invocation (for
    /// `write_stdin`), runtime begin and end, or the dispatch result.
    pub raw_payload_ids: Vec<String>,
}

/// How a compaction was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactionMode {
    /// The provider compacted the history (`compaction_request_*` events,
    /// then `compaction_installed`).
    Remote,
    /// The host summarised the history with an ordinary inference call
    /// (`local_compaction_installed`, our addition).
    Local,
}

impl CompactionMode {
    /// [`CompactionMode::Remote`]: the mode of a compaction read from a
    /// state that names none (the reference's, which has only remote ones).
    fn remote() -> CompactionMode {
        CompactionMode::Remote
    }
}

/// One installed compaction: the thread's history replaced by a shorter
/// one, with a marker item where it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// The host's id (Codex's context-compaction item id), from the install
    /// event.
    pub compaction_id: String,
    /// The thread whose history was replaced (the install event's envelope,
    /// else the local compaction's inference call's).
    pub thread_id: String,
    /// The turn of the install (same sources as `thread_id`).
    pub codex_turn_id: String,
    /// Wall time (ms since the Unix epoch) of the install event.
    pub installed_at_unix_ms: i64,
    /// Our addition: the seq of the install event (0 when read from a state
    /// without it, the reference's).
    #[serde(default)]
    pub installed_seq: u64,
    /// The compaction-marker item created at the install.
    pub marker_item_id: ItemId,
    /// The compaction requests naming this compaction, in start order
    /// (remote compactions; normally empty for a local one).
    pub request_ids: Vec<String>,
    /// The checkpoint's `input_history`: the history that was compacted,
    /// reusing the items of the thread's live history where they match.
    pub input_item_ids: Vec<ItemId>,
    /// The checkpoint's `replacement_history`: always new items, produced by
    /// this compaction. The thread's next full request is compared against
    /// them.
    pub replacement_item_ids: Vec<ItemId>,
    /// Our addition: remote (provider request) or local (summarising call).
    /// Remote when read from a state without it: the reference has no local
    /// compactions.
    #[serde(default = "CompactionMode::remote")]
    pub mode: CompactionMode,
    /// Our addition: the summarising inference call of a local compaction.
    pub inference_call_id: Option<String>,
    /// Our addition: the `compaction_checkpoint` payload of the install
    /// event (input and replacement histories); empty when read from a state
    /// without it (the reference's).
    #[serde(default)]
    pub raw_checkpoint_payload_id: String,
}

/// One remote compaction request to the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionRequest {
    /// The host's id, from `compaction_request_started` (in Codex,
    /// `compaction_request:{n}` from a process-wide counter).
    pub compaction_request_id: String,
    /// The compaction it was made for (installed or not).
    pub compaction_id: String,
    /// The thread, from `compaction_request_started`.
    pub thread_id: String,
    /// The turn, from `compaction_request_started`.
    pub codex_turn_id: String,
    /// From `compaction_request_started` to `compaction_request_completed`
    /// (completed) or `compaction_request_failed` (failed).
    pub execution: ExecutionWindow,
    /// The model asked to compact.
    pub model: String,
    /// The provider the request went to.
    pub provider_name: String,
    /// The `compaction_request` payload of the start event.
    pub raw_request_payload_id: String,
    /// The `compaction_response` payload of `compaction_request_completed`;
    /// `None` while running or after a failure.
    pub raw_response_payload_id: Option<String>,
    /// Our addition: the failure text of a failed request.
    pub error: Option<String>,
}

/// What a multi-agent edge delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionEdgeKind {
    /// A `spawn_agent` call's initial task to the new child thread.
    SpawnAgent,
    /// A `followup_task` / `assign_task` call's task to another agent.
    AssignAgentTask,
    /// A `send_message` call's message to another agent.
    SendMessage,
    /// A child agent's result delivered to its parent
    /// (`agent_result_observed`).
    AgentResult,
    /// A `close_agent` / `interrupt_agent` call aimed at another thread.
    CloseAgent,
}

impl InteractionEdgeKind {
    /// Its name in the state JSON: `spawn_agent`, `assign_agent_task`,
    /// `send_message`, `agent_result`, `close_agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionEdgeKind::SpawnAgent => "spawn_agent",
            InteractionEdgeKind::AssignAgentTask => "assign_agent_task",
            InteractionEdgeKind::SendMessage => "send_message",
            InteractionEdgeKind::AgentResult => "agent_result",
            InteractionEdgeKind::CloseAgent => "close_agent",
        }
    }
}

/// One end of an interaction edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TraceAnchor {
    /// A conversation item.
    ConversationItem {
        /// The item's `conversation_item:{n:06}` id.
        item_id: ItemId,
    },
    /// A tool call.
    ToolCall {
        /// The tool call's id.
        tool_call_id: String,
    },
    /// A whole thread, when no finer anchor is known.
    Thread {
        /// The thread's id.
        thread_id: String,
    },
}

/// A multi-agent interaction: something one thread delivered to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionEdge {
    /// Stable and deterministic: `edge:spawn:{parent_thread}:{child_thread}`,
    /// `edge:tool:{tool_call_id}` (task, message, close), or the host's
    /// `edge_id` of `agent_result_observed`.
    pub edge_id: String,
    /// What was delivered.
    pub kind: InteractionEdgeKind,
    /// Where it came from: the sending tool call; for a result, the child
    /// turn's latest assistant message, else the child thread.
    pub source: TraceAnchor,
    /// Where it arrived: the inter-agent item (matched by author, recipient
    /// and content) in the recipient thread; the thread itself for a close,
    /// for a task or message without text, and for a spawn whose delivery
    /// item never appeared.
    pub target: TraceAnchor,
    /// Wall time (ms since the Unix epoch): the source tool call's start,
    /// or the `agent_result_observed` event's; the earliest when observed
    /// more than once.
    pub started_at_unix_ms: i64,
    /// Wall time (ms since the Unix epoch) of the runtime end event (or the
    /// `agent_result_observed` event); `None` when only a runtime start was
    /// seen. The latest when observed more than once.
    pub ended_at_unix_ms: Option<i64>,
    /// The delivered item (the target, when it is an item); empty otherwise.
    pub carried_item_ids: Vec<ItemId>,
    /// Evidence payloads: the tool call's invocation, runtime and result
    /// payloads, or the `agent_result` payload of a result.
    pub carried_raw_payload_ids: Vec<String>,
}
