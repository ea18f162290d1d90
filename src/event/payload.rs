//! [`EventPayload<R>`]: the typed payload of one raw event, every variant
//! with its fields, and the wire `type` name of each.
//!
//! The enum is the on-disk format (bincode: variant index, then the fields
//! in declaration order) and the wire format (serde, internally tagged by
//! `type`). Variant order is on-disk format: add new variants at the end.
//! A new variant then needs a line in each exhaustive match the compiler
//! points to: `type_name` in `type_names.rs`, the reference table in `refs.rs`, the
//! string table in `strings.rs`, the conventional kinds in `kinds.rs`, and a
//! sample in `samples.rs` (the golden format test asks for its record).
//! No I/O.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::{
    CodeCellRuntimeStatus, ExecutionStatus, JsonText, RawToolCallRequester, RolloutStatus,
    ToolCallKind, ToolCallSummary,
};

/// How an inference request's `input` reduces into conversation state (an
/// optional field from an unmerged reference branch; accepted when present).
///
/// Without it (`request_input_mode: None`), the request payload decides: a
/// top-level string `previous_response_id` makes the request incremental
/// (as `Incremental`), else it is a full snapshot. With it, the mode wins
/// over the payload's `previous_response_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum InferenceRequestInputMode<R> {
    /// The request's items are the thread's whole history. They are
    /// reconciled with the thread's live history: an item reuses the one at
    /// the same position when the content matches, else the first unused
    /// matching one, else it is new (new identical items are never merged).
    /// A `previous_response_id` in the payload is ignored.
    FullSnapshot,
    /// The request continues an earlier response: its items are the request
    /// and response items of the call that got `previous_response_id` in
    /// this thread, then the request's own items (reused position by
    /// position when the live history already continues that chain, as a
    /// retry does; else new).
    Incremental {
        /// A response id an earlier call of the same thread completed with
        /// (its `inference_completed` `response_id`, or the one its response
        /// payload carried). One no call of this thread has is an unknown
        /// reference.
        previous_response_id: String,
    },
    /// As `Incremental`, with items the request builds on that no traced
    /// request carried: the items of `prefix_payload` come first, then the
    /// request's own.
    IncrementalWithUntracedPrefix {
        /// As in `Incremental`: a response id of an earlier call of the same
        /// thread, else an unknown reference.
        previous_response_id: String,
        /// The untraced items (kind `inference_request`), read as the
        /// request payload is (the same shapes and errors, see
        /// [`PayloadKind::InferenceRequest`](crate::event::PayloadKind::InferenceRequest)).
        prefix_payload: R,
    },
}

/// The typed payload of one raw event.
///
/// Variants 0 to 24 are the reference's, with its field names. Variants from
/// `ThreadResumed` on are tracefold additions (see DESIGN.md). `Unknown` keeps
/// an event type from the wire that this build does not know, verbatim.
/// Variant order is on-disk format: add new variants at the end.
///
/// Each variant's doc says what happened in the host, which recorder handle
/// records it, what must come before it (a lower seq), and what the reducer
/// builds from it; each payload field says what the reducer reads from it
/// (the shapes are on [`PayloadKind`](crate::event::PayloadKind)'s variants).
///
/// **Ids.** Every id in an event is host-supplied (the recorder mints UUIDs
/// where a host gives none). Turn, inference call, tool call and compaction
/// request ids are unique in the rollout; model-visible call ids and runtime
/// cell ids are scoped by thread. The ids the reducer mints
/// (`conversation_item:{n:06}`, `raw_payload:{n:06}`,
/// `terminal_operation:{n:06}`, `code_cell:{call_id}`, `edge:spawn:..`,
/// `edge:tool:..`) are never looked up from an event field.
///
/// **Payloads.** Every payload reference an event cites is registered in
/// `raw_payloads` (as `raw_payload:{n:06}`, one entry per citation in log
/// order) before the event is handled, even when the event then fails. A
/// payload the reducer reads must come from the `PayloadSource`
/// (`ReduceError::PayloadUnavailable` otherwise) and be valid JSON (an error
/// otherwise); one it only registers ("kept by id") may be any bytes.
///
/// **Failures.** "An error": the strict fold stops with `ReduceError::Event`
/// naming the seq (a keep-going fold skips the event, state unchanged, with
/// a `reduce_error` diagnostic). "An unknown reference": an id the log never
/// started; an error, or, once the log holds an `events_dropped` event, an
/// `unresolved_reference` diagnostic with the event ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Encode, Decode)]
#[serde(
    rename_all = "snake_case",
    tag = "type",
    bound(serialize = "R: Serialize", deserialize = "R: Deserialize<'de>")
)]
pub enum EventPayload<R> {
    /// A rollout began: the first event of its log.
    ///
    /// Recorded by [`Recorder::start_rollout`](crate::Recorder::start_rollout)
    /// (not again when that call resumes a stored rollout), with no envelope
    /// thread or turn. The reducer sets the trace's `trace_id`,
    /// `root_thread_id`, `started_at_unix_ms` (this event's wall time) and
    /// status `running`. A second one in the log is an error; nothing else
    /// requires it to come first.
    RolloutStarted {
        /// Host-supplied id of this trace (a new UUID when the host gives
        /// none). Not the rollout id, which is the log's.
        trace_id: String,
        /// Thread id of the rollout's root agent thread, whose
        /// `thread_started` follows. A `thread_resumed` of this thread sets
        /// the rollout back to running.
        root_thread_id: String,
    },
    /// The rollout ended: the root agent's session shut down.
    ///
    /// Recorded by [`RolloutRecorder::end`](crate::RolloutRecorder::end),
    /// right after the root's `thread_ended`, with no envelope thread or
    /// turn. Ending a child thread never ends the rollout. The reducer sets
    /// the trace's status and `ended_at_unix_ms`; a later one overwrites
    /// them, and a later `thread_resumed` of the root reopens the rollout.
    RolloutEnded {
        /// How the rollout ended.
        status: RolloutStatus,
    },
    /// An agent thread started: the root, or a child another thread spawned.
    ///
    /// Recorded by [`Recorder::start_rollout`](crate::Recorder::start_rollout)
    /// (the root), [`ThreadRecorder::spawn_child`](crate::ThreadRecorder::spawn_child)
    /// and [`ToolCallRecorder::spawn_child`](crate::ToolCallRecorder::spawn_child)
    /// (children: they add the spawn origin to the metadata), with no
    /// envelope thread or turn. Must precede every event naming the thread.
    /// The reducer creates `threads[thread_id]`, running from this seq; a
    /// second start of one id is an error (a traced-again thread is
    /// `ThreadResumed`).
    ThreadStarted {
        /// Host-supplied thread id (Codex: the session's UUID), unique in
        /// the rollout; the key every other `thread_id` must match.
        thread_id: String,
        /// The agent's routing path (such as `/root`): inter-agent items name
        /// their `author` and `recipient` by it. The metadata's `agent_path`
        /// (and a spawn origin's) wins over this one.
        agent_path: String,
        /// Session metadata (kind `session_metadata`), read for the thread's
        /// agent path, nickname, default model and spawn origin (shape in
        /// [`PayloadKind::SessionMetadata`](crate::event::PayloadKind::SessionMetadata)).
        /// `None`: a root thread with this event's `agent_path`, no nickname
        /// and no default model.
        metadata_payload: Option<R>,
    },
    /// An agent thread ended.
    ///
    /// Recorded by [`ThreadRecorder::end`](crate::ThreadRecorder::end) and,
    /// for the root, [`RolloutRecorder::end`](crate::RolloutRecorder::end),
    /// with no envelope thread or turn. The thread must have started (else
    /// an unknown reference). The reducer ends the thread's window with the
    /// status mapped one to one onto `ExecutionStatus`; a later end
    /// overwrites it, a later `thread_resumed` reopens it. Nothing else is
    /// closed: turns end with their own events.
    ThreadEnded {
        /// The thread, as its `thread_started` (or `thread_resumed`) named it.
        thread_id: String,
        /// How the thread ended.
        status: RolloutStatus,
    },
    /// A turn of a thread began (Codex: a `TurnStarted` protocol event).
    ///
    /// Recorded by [`ThreadRecorder::start_turn`](crate::ThreadRecorder::start_turn),
    /// with the thread and this turn as envelope context. The thread must
    /// have started (else an unknown reference); a second start of one turn
    /// id, or an envelope thread other than `thread_id`, is an error. Must
    /// precede the turn's inference calls, tool calls, code cells and
    /// compactions. The reducer creates `codex_turns[codex_turn_id]`.
    CodexTurnStarted {
        /// Host-supplied turn id (Codex: the turn's `sub_id`), unique in the
        /// rollout: turns are keyed by it alone, not per thread.
        codex_turn_id: String,
        /// The thread the turn belongs to.
        thread_id: String,
    },
    /// A turn ended (Codex: `TurnComplete` or `TurnAborted`).
    ///
    /// Recorded by [`TurnRecorder::end`](crate::TurnRecorder::end). The turn
    /// must have started (else an unknown reference); an envelope thread
    /// other than the turn's is an error. The reducer ends the turn's window
    /// (a later end overwrites it) and closes what still runs in the turn:
    /// inference calls end `failed` for a failed turn, `aborted` for an
    /// aborted one, else `cancelled`; code cells end only with a `failed`
    /// turn (runtime status `failed`) or a `cancelled` or `aborted` one
    /// (`terminated`), since a yielded cell may outlive a completed turn.
    CodexTurnEnded {
        /// The turn, as its `codex_turn_started` named it.
        codex_turn_id: String,
        /// How the turn ended (Codex: `completed`, or `cancelled` for every
        /// abort reason).
        status: ExecutionStatus,
    },
    /// A model request is about to be sent (recorded before sending).
    ///
    /// Recorded by [`TurnRecorder::start_inference`](crate::TurnRecorder::start_inference),
    /// which mints the call id. The thread and turn must have started (else
    /// an unknown reference) and the turn must belong to the thread (else an
    /// error); a second start of one call id is an error. The reducer reads
    /// the request into the thread's conversation: each input item is
    /// reused or created as a `conversation_items` entry (see
    /// [`InferenceRequestInputMode`]), the call's `request_item_ids` are the
    /// whole input in order, and that list becomes the thread's live
    /// history. It creates `inference_calls[inference_call_id]`, running.
    /// When the request fails to reduce, the live history stays as it was.
    InferenceStarted {
        /// Host-supplied call id (the recorder mints a UUIDv4; Codex sends
        /// its own upstream as `x-codex-inference-call-id`), unique in the
        /// rollout; the call's terminal event names it.
        inference_call_id: String,
        /// The thread whose conversation the request carries.
        thread_id: String,
        /// The turn that makes the request; must belong to `thread_id`.
        codex_turn_id: String,
        /// The model name as the host sent it; stored, not interpreted.
        model: String,
        /// The provider name as the host configured it; stored, never used
        /// to tell the payload's shape.
        provider_name: String,
        /// How the input relates to the history; `None` (the reference's
        /// main branch, and what the recorder writes): the payload's
        /// `previous_response_id` decides. Omitted from the wire when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_input_mode: Option<InferenceRequestInputMode<R>>,
        /// The whole provider request (kind `inference_request`), read: a
        /// list or `input` of Responses items, or `messages` (Anthropic
        /// Messages, Chat Completions), with an optional
        /// `previous_response_id` (shapes and errors in
        /// [`PayloadKind::InferenceRequest`](crate::event::PayloadKind::InferenceRequest)).
        /// A payload it cannot read is an error; a `previous_response_id`
        /// no earlier call of this thread completed with is an unknown
        /// reference.
        request_payload: R,
    },
    /// The model's response arrived in full.
    ///
    /// Recorded by [`InferenceRecorder::completed`](crate::InferenceRecorder::completed).
    /// The call must have started (else an unknown reference). The reducer
    /// reads the response: its output items become new `conversation_items`
    /// produced by the call, its `response_item_ids`, appended to the
    /// thread's live history (unless the call already has response items,
    /// from an earlier terminal event). It records the response id (for
    /// later incremental requests), the upstream request id, token usage and
    /// the response payload id, and ends the call `completed` unless it
    /// already ended (a turn end or an earlier terminal event keeps its
    /// status).
    InferenceCompleted {
        /// The call, as its `inference_started` named it.
        inference_call_id: String,
        /// The provider's response id. `None`: the payload's (`response_id`
        /// of the Codex shape, else `id`), if any. Indexed per thread: a
        /// later request's `previous_response_id` names it.
        response_id: Option<String>,
        /// The provider's request id (Codex: the `x-request-id` header).
        /// `None`: the payload's top-level string `upstream_request_id`, if
        /// any.
        upstream_request_id: Option<String>,
        /// The response (kind `inference_response`; shapes in
        /// [`PayloadKind::InferenceResponse`](crate::event::PayloadKind::InferenceResponse)),
        /// read even when the call already has response items. One with
        /// none of `output_items`, `output`, `choices` or `content` as a
        /// list, or with an item the normaliser refuses, is an error.
        response_payload: R,
    },
    /// The request failed (a transport or provider error).
    ///
    /// Recorded by [`InferenceRecorder::failed`](crate::InferenceRecorder::failed).
    /// The call must have started (else an unknown reference). The reducer
    /// ends the call `failed` unless it already ended (the first terminal
    /// status is kept), sets its `error`, and takes the upstream request id
    /// and the partial response when given.
    InferenceFailed {
        /// The call, as its `inference_started` named it.
        inference_call_id: String,
        /// The provider's request id, if the request got that far. `None`
        /// keeps any earlier one.
        upstream_request_id: Option<String>,
        /// The error as text; the call's `error` (a later failure or
        /// cancellation overwrites it).
        error: String,
        /// What the model produced before the failure (kind
        /// `inference_response`, the shapes of a full response). When the
        /// call has no response items yet, its output items enter the
        /// conversation as the call's response items and its usage is kept;
        /// a payload of no known shape is only a
        /// `partial_response_without_items` diagnostic. `None`: nothing
        /// produced (an earlier response payload id stays).
        partial_response_payload: Option<R>,
    },
    /// The request was given up before its response completed (the turn
    /// was interrupted, the stream dropped).
    ///
    /// Recorded by [`InferenceRecorder::cancelled`](crate::InferenceRecorder::cancelled),
    /// and by dropping an [`InferenceRecorder`](crate::InferenceRecorder)
    /// without a terminal event. Reduced as `InferenceFailed` is, with
    /// status `cancelled` and `reason` as the call's `error`.
    InferenceCancelled {
        /// The call, as its `inference_started` named it.
        inference_call_id: String,
        /// The provider's request id, if the request got that far. `None`
        /// keeps any earlier one.
        upstream_request_id: Option<String>,
        /// Why, as text; the call's `error`.
        reason: String,
        /// What the model produced before the cancellation; as in
        /// `InferenceFailed`.
        partial_response_payload: Option<R>,
    },
    /// A tool call was dispatched, by the model (a call item of a response)
    /// or by a code cell (a nested call).
    ///
    /// Recorded by [`TurnRecorder::start_tool_call`](crate::TurnRecorder::start_tool_call),
    /// and by code mode for nested calls and model-visible `wait` calls. The
    /// envelope must carry the thread and turn (else an error), both
    /// started, the turn in the thread. A second start of one
    /// `tool_call_id`, or of one `model_visible_call_id` in a thread, is an
    /// error. The reducer creates `tool_calls[tool_call_id]`, running; links
    /// the conversation items with its model-visible call id, whichever
    /// comes first (the call item also credits the inference call whose
    /// response holds it); and by `kind`: `WriteStdin` creates its terminal
    /// operation from the invocation, `Other { name: "wait" }` links to the
    /// code cell its invocation names.
    ToolCallStarted {
        /// Host-supplied tool call id, unique in the rollout (Codex: the
        /// model's `call_id` for a direct call, `exec-{uuid}` for a nested
        /// one; the recorder mints a UUID when none is given).
        tool_call_id: String,
        /// The `call_id` of the model-visible call item (a `function_call`,
        /// `custom_tool_call`, ...), in the envelope thread. `None`: the
        /// model never saw this call (a code cell's nested call).
        model_visible_call_id: Option<String>,
        /// Code mode's id of a nested call within its cell (`tool-{n}`);
        /// stored only. `None` for a direct call.
        code_mode_runtime_tool_id: Option<String>,
        /// Who asked. A code cell is named by its runtime cell id, which
        /// must be known in the envelope thread (its `code_cell_started`
        /// first, else an unknown reference); the cell then lists this call.
        requester: RawToolCallRequester,
        /// The tool's category, which decides the payloads the reducer reads.
        kind: ToolCallKind,
        /// A bounded card summary, stored as given; replaced by
        /// `Terminal { operation_id }` when the call gets a terminal
        /// operation.
        summary: ToolCallSummary,
        /// What the tool was called with (kind `tool_invocation`,
        /// `{tool_name, tool_namespace, payload: {type, arguments}}`). Read
        /// only for `WriteStdin` (session and input), `wait` (`cell_id`) and
        /// agent tools whose runtime end reports a sub-agent activity (the
        /// message); see
        /// [`PayloadKind::ToolInvocation`](crate::event::PayloadKind::ToolInvocation).
        /// `None`: not recorded.
        invocation_payload: Option<R>,
    },
    /// An MCP tool call got the correlation id it carries to its server
    /// (Codex writes it into the request's `_meta` as
    /// `codex_bridge_mcp_call_id`).
    ///
    /// Recorded by [`ToolCallRecorder::mcp_correlation`](crate::ToolCallRecorder::mcp_correlation).
    /// The tool call must have started (else an unknown reference); a second
    /// correlation for one call is an error. Sets the call's `mcp_call_id`.
    McpToolCallCorrelationAssigned {
        /// The tool call, as its `tool_call_started` named it.
        tool_call_id: String,
        /// The host-supplied correlation id, as the MCP server sees it.
        mcp_call_id: String,
    },
    /// The runtime began executing a tool call (Codex: a protocol begin
    /// event, such as `ExecCommandBegin` or a collab agent begin).
    ///
    /// Recorded by [`ToolCallRecorder::runtime_started`](crate::ToolCallRecorder::runtime_started)
    /// (and [`ToolCallRecorder::spawn_child`](crate::ToolCallRecorder::spawn_child)).
    /// The tool call must have started (else an unknown reference). The
    /// reducer appends the payload to the call's `raw_runtime_payload_ids`
    /// and, by the call's kind: `ExecCommand` and `WriteStdin` create its
    /// terminal operation (`terminal_operation:{n:06}`; a second one for a
    /// call is an error) and attach it to the terminal session the payload
    /// names, created on first sight; `AssignAgentTask`, `SendMessage` and
    /// `CloseAgent` open its interaction edge to `receiver_thread_id`.
    ToolCallRuntimeStarted {
        /// The tool call, as its `tool_call_started` named it.
        tool_call_id: String,
        /// The begin observation (kind `tool_runtime_event`; Codex writes
        /// the protocol event verbatim), read per kind as
        /// [`PayloadKind::ToolRuntimeEvent`](crate::event::PayloadKind::ToolRuntimeEvent)
        /// says; a required field missing is an error.
        runtime_payload: R,
    },
    /// The runtime finished executing a tool call (Codex: a protocol end
    /// event, or `SubAgentActivity`).
    ///
    /// Recorded by [`ToolCallRecorder::runtime_ended`](crate::ToolCallRecorder::runtime_ended)
    /// (and [`ToolCallRecorder::spawn_child`](crate::ToolCallRecorder::spawn_child)).
    /// The tool call must have started (else an unknown reference). The
    /// reducer appends the payload to `raw_runtime_payload_ids` and, by the
    /// call's kind: `ExecCommand` and `WriteStdin` end the call's terminal
    /// operation with `status` and its result (the operation must exist,
    /// else an unknown reference); `SpawnAgent` records the spawn edge
    /// `edge:spawn:{parent}:{child}`; `AssignAgentTask`, `SendMessage` and
    /// `CloseAgent` the edge `edge:tool:{tool_call_id}`. A spawn, task or
    /// message edge is pending until the receiving thread's conversation
    /// holds the inter-agent item it delivered (author: the calling
    /// thread's agent path; recipient: the receiving thread's; content: the
    /// prompt); at the log's end a pending spawn edge targets the child
    /// thread, any other becomes an `undelivered_interaction_edge`
    /// diagnostic. A close edge targets the thread (none when the thread is
    /// not in the log). The tool call itself runs until `tool_call_ended`.
    ToolCallRuntimeEnded {
        /// The tool call, as its `tool_call_started` named it.
        tool_call_id: String,
        /// The runtime's outcome (Codex: `cancelled` for a declined call,
        /// `failed` for an MCP error or a spawn without a new thread). Ends
        /// the terminal operation, not the tool call.
        status: ExecutionStatus,
        /// The end observation (kind `tool_runtime_event`), read per kind as
        /// [`PayloadKind::ToolRuntimeEvent`](crate::event::PayloadKind::ToolRuntimeEvent)
        /// says.
        runtime_payload: R,
    },
    /// The tool's result was returned to its requester.
    ///
    /// Recorded by [`ToolCallRecorder::ended`](crate::ToolCallRecorder::ended),
    /// and by code mode for nested calls and waits. The tool call must have
    /// started (else an unknown reference). The reducer ends the call's
    /// window with `status` (a later end overwrites it), records the result
    /// payload id, adds it to the call's interaction edge if it has one, and
    /// ends a terminal operation that had no runtime payload (a `write_stdin`
    /// without runtime events) from the result.
    ToolCallEnded {
        /// The tool call, as its `tool_call_started` named it.
        tool_call_id: String,
        /// How the call ended.
        status: ExecutionStatus,
        /// The result (kind `tool_result`: `{type: "direct_response",
        /// response_item}`, `{type: "code_mode_response", value}` or
        /// `{type: "error", error}`). Read only to end a terminal operation
        /// without runtime payloads (see
        /// [`PayloadKind::ToolResult`](crate::event::PayloadKind::ToolResult));
        /// else kept by id. `None`: no result recorded (an earlier one
        /// stays).
        result_payload: Option<R>,
    },
    /// A code-mode cell began running the JavaScript of a model's `exec`
    /// call.
    ///
    /// Recorded by [`TurnRecorder::code_cell_started`](crate::TurnRecorder::code_cell_started)
    /// and by code mode, before any nested tool call of the cell. The
    /// envelope must carry the thread and turn (else an error), both
    /// started, the turn in the thread. The reducer maps the runtime cell id
    /// (per thread) to the cell `code_cell:{model_visible_call_id}`
    /// (`code_cell:{thread}:{call}` when another thread's cell holds that
    /// id). The cell materialises when the thread's conversation holds its
    /// `exec` item (a `custom_tool_call` named `exec`, with a string
    /// `input`, with this call id), which may come later: until then it is
    /// pending, and a log that ends first leaves an
    /// `unmaterialized_code_cell` diagnostic. A second start of one cell, or
    /// of one runtime cell id in a thread, is an error.
    CodeCellStarted {
        /// The code-mode runtime's cell handle, unique per thread; the
        /// cell's later events and nested tool calls name the cell by it.
        runtime_cell_id: String,
        /// The `call_id` of the model's `exec` custom tool call item in the
        /// envelope thread; names the cell.
        model_visible_call_id: String,
        /// The cell's JavaScript source, inline (no payload).
        source_js: String,
    },
    /// The cell's first response went back to the model: it yielded, or it
    /// already finished.
    ///
    /// Recorded by [`TurnRecorder::code_cell_initial_response`](crate::TurnRecorder::code_cell_initial_response)
    /// and by code mode. The envelope thread must be present (else an
    /// error) and the runtime cell known in it (its `code_cell_started`
    /// first, else an unknown reference). Applied to the cell at once, or
    /// queued until it materialises and then applied in seq order (a log
    /// that ends first leaves a `pending_code_cell_event` diagnostic). Sets
    /// the cell's initial response time and seq (the first wins), its
    /// runtime status (`yielded` also sets its yield time and seq), ends
    /// its window for `completed`, `failed` or `terminated` (as
    /// `cancelled`), and appends the payload id to
    /// `raw_response_payload_ids`.
    CodeCellInitialResponse {
        /// The cell, as its `code_cell_started` named it in this thread.
        runtime_cell_id: String,
        /// The cell's status as of this response.
        status: CodeCellRuntimeStatus,
        /// The response (kind `tool_result`; code mode writes
        /// `{response: RuntimeResponse}`); kept by id, never read. `None`:
        /// not recorded.
        response_payload: Option<R>,
    },
    /// The cell finished: its first response was terminal, or a `wait`
    /// observed its end.
    ///
    /// Recorded by [`TurnRecorder::code_cell_ended`](crate::TurnRecorder::code_cell_ended)
    /// and by code mode. The same rules and effects as
    /// `CodeCellInitialResponse`; a cell that ends before any initial
    /// response takes this event as its initial response too.
    CodeCellEnded {
        /// The cell, as its `code_cell_started` named it in this thread.
        runtime_cell_id: String,
        /// The cell's final status.
        status: CodeCellRuntimeStatus,
        /// The final response (kind `tool_result`; code mode writes
        /// `{response: RuntimeResponse}`); kept by id, never read. `None`:
        /// not recorded.
        response_payload: Option<R>,
    },
    /// A remote compaction request was sent upstream.
    ///
    /// Recorded by [`CompactionRecorder::start_request`](crate::CompactionRecorder::start_request).
    /// The thread and turn must have started (else an unknown reference),
    /// the turn in the thread (else an error); a second start of one
    /// request id is an error. The reducer creates
    /// `compaction_requests[compaction_request_id]`, running, and lists it
    /// under its compaction (created at the install, which may come later).
    CompactionRequestStarted {
        /// The compaction this request serves (host-supplied; Codex: the UI
        /// `ContextCompactionItem` id). Its install names the same id.
        compaction_id: String,
        /// Host-supplied request id, unique in the rollout (Codex:
        /// `compaction_request:{n}` from a process-wide counter).
        compaction_request_id: String,
        /// The thread whose history is compacted.
        thread_id: String,
        /// The turn that compacts; must belong to `thread_id`.
        codex_turn_id: String,
        /// The model name as the host sent it; stored only.
        model: String,
        /// The provider name as the host configured it; stored only.
        provider_name: String,
        /// The provider request (kind `compaction_request`); kept by id,
        /// never read.
        request_payload: R,
    },
    /// A remote compaction request's response arrived.
    ///
    /// Recorded by [`CompactionRequestRecorder::completed`](crate::CompactionRequestRecorder::completed).
    /// The request must have started (else an unknown reference) with the
    /// same `compaction_id` (else an error). Ends the request `completed`
    /// with its response payload id. The conversation is not changed: the
    /// install changes it.
    CompactionRequestCompleted {
        /// The compaction, as the request's start named it.
        compaction_id: String,
        /// The request, as its `compaction_request_started` named it.
        compaction_request_id: String,
        /// The response (kind `compaction_response`; Codex:
        /// `{output_items}`); kept by id, never read.
        response_payload: R,
    },
    /// A remote compaction request failed.
    ///
    /// Recorded by [`CompactionRequestRecorder::failed`](crate::CompactionRequestRecorder::failed).
    /// The same checks as `CompactionRequestCompleted`; ends the request
    /// `failed` with `error`.
    CompactionRequestFailed {
        /// The compaction, as the request's start named it.
        compaction_id: String,
        /// The request, as its `compaction_request_started` named it.
        compaction_request_id: String,
        /// The error as text; the request's `error`.
        error: String,
    },
    /// A remote compaction was installed: the thread's history was
    /// replaced by the compacted one.
    ///
    /// Recorded by [`CompactionRecorder::installed`](crate::CompactionRecorder::installed).
    /// The envelope must carry the thread and turn (else an error), both
    /// started, the turn in the thread; a second install of one compaction
    /// id (remote or local) is an error. The reducer reconciles the
    /// checkpoint's `input_history` with the live history (as a full
    /// request), creates a compaction marker item and the
    /// `replacement_history` items (always new, produced by the
    /// compaction), and makes the replacement the thread's live history, so
    /// the next full request is compared with it. It creates
    /// `compactions[compaction_id]` (mode `remote`, with the requests
    /// started for it so far).
    CompactionInstalled {
        /// Host-supplied compaction id, unique among compactions (Codex:
        /// the UI `ContextCompactionItem` id).
        compaction_id: String,
        /// The checkpoint (kind `compaction_checkpoint`):
        /// `{input_history, replacement_history}`, both lists of Responses
        /// items, required (else an error); see
        /// [`PayloadKind::CompactionCheckpoint`](crate::event::PayloadKind::CompactionCheckpoint).
        checkpoint_payload: R,
    },
    /// A child agent's result was delivered to its parent (recorded only
    /// after the delivery succeeded).
    ///
    /// Recorded by [`TurnRecorder::deliver_agent_result`](crate::TurnRecorder::deliver_agent_result)
    /// on the child's turn. Both threads must have started (else an unknown
    /// reference). The reducer records an `AgentResult` interaction edge
    /// from the child turn's latest assistant message (else the child
    /// thread) to the parent's inter-agent item carrying `message`
    /// (author: the child's agent path; recipient: the parent's). Until the
    /// parent's conversation holds that item the edge is pending; a log that
    /// ends first leaves an `undelivered_interaction_edge` diagnostic. The
    /// same edge observed again merges, unless its endpoints differ (an
    /// error).
    AgentResultObserved {
        /// Host-supplied edge id; the reference and the recorder write
        /// `edge:agent_result:{child_thread}:{child_turn}:{parent_thread}`.
        edge_id: String,
        /// The child thread that produced the result.
        child_thread_id: String,
        /// The child's turn that produced it; its latest assistant message
        /// is the edge's source. Not checked: a turn without one (or
        /// unknown) makes the child thread the source.
        child_codex_turn_id: String,
        /// The parent thread the result was delivered to.
        parent_thread_id: String,
        /// The result exactly as delivered: compared with the content of
        /// the parent's inter-agent item (an `agent_message`'s
        /// `encrypted_content` when it has one, else its text).
        message: String,
        /// The result as the host carried it (kind `agent_result`; the
        /// reference writes `{child_agent_path, message, status}`); kept by
        /// id on the edge, never read. `None`: not recorded.
        carried_payload: Option<R>,
    },
    /// A host protocol event, kept as a breadcrumb (Codex wraps eight:
    /// `session_configured`, `turn_started`, `turn_complete`,
    /// `turn_aborted`, `thread_rolled_back`, `error`, `warning`,
    /// `shutdown_complete`).
    ///
    /// Recorded by [`TurnRecorder::protocol_event`](crate::TurnRecorder::protocol_event).
    /// The reducer only registers its payload.
    ProtocolEventObserved {
        /// The protocol event's type name; not interpreted.
        event_type: String,
        /// The protocol event (kind `protocol_event`); kept by id, never
        /// read.
        event_payload: R,
    },
    /// The reference's escape hatch: an event no variant models.
    ///
    /// No recorder handle makes one (a host can, through `record`). The
    /// reducer registers its payloads and records an `other_event`
    /// diagnostic (the reference fails on it, so a default codex bundle
    /// leaves it out).
    Other {
        /// A producer-chosen kind name; its payloads' conventional kind is
        /// `PayloadKind::Other(kind)`.
        kind: String,
        /// One line saying what happened; quoted in the diagnostic.
        summary: String,
        /// Any payloads, in order; kept by id, never read.
        payloads: Vec<R>,
        /// Any JSON, kept verbatim; not read.
        metadata: JsonText,
    },
    // ---- tracefold additions (DESIGN.md, "Events the reference lacks") ----
    /// A thread that already started (in this rollout or an earlier one) is
    /// traced again after a resume. Never a second `ThreadStarted`.
    ///
    /// Recorded by [`RolloutRecorder::resume_thread`](crate::RolloutRecorder::resume_thread),
    /// [`ThreadRecorder::resume_child`](crate::ThreadRecorder::resume_child),
    /// and [`Recorder::start_rollout`](crate::Recorder::start_rollout) on a
    /// stored rollout (a start of a thread its log holds becomes a resume),
    /// with no envelope thread or turn. Never refused (only a metadata
    /// payload it must read and cannot is an error). A known thread runs
    /// again (its end cleared, this seq added to `resumed_at_seqs`; the
    /// metadata is only registered, its id kept if the thread had none); an
    /// unknown one is created as `ThreadStarted` creates it, with this seq
    /// in `resumed_at_seqs`. A resumed root thread sets the rollout back to
    /// running.
    ThreadResumed {
        /// The thread, as its start named it (or, for a thread of an earlier
        /// session, as it will be known here).
        thread_id: String,
        /// The agent's routing path, as in `ThreadStarted`; used only when
        /// the thread is new to the log.
        agent_path: String,
        /// Session metadata (kind `session_metadata`), read as in
        /// `ThreadStarted` only when the thread is new to the log. `None`:
        /// none recorded.
        metadata_payload: Option<R>,
    },
    /// A terminal session (process) ended; the reference's sessions never
    /// end.
    ///
    /// Recorded by [`TurnRecorder::terminal_session_ended`](crate::TurnRecorder::terminal_session_ended).
    /// The session must be known (created by a terminal operation that
    /// named it; else an unknown reference) and belong to `thread_id` (else
    /// an error). The reducer ends the session's window with `status` and
    /// sets its `exit_code` and end payload id; a later end overwrites them.
    TerminalSessionEnded {
        /// The session: the runtime's process or session id, as a runtime
        /// payload's `process_id` or a `write_stdin` invocation's
        /// `session_id` named it.
        terminal_id: String,
        /// The thread the session belongs to (the recorder writes the
        /// turn's thread).
        thread_id: String,
        /// How the session ended.
        status: ExecutionStatus,
        /// The process's exit code; `None`: not known. Replaces an earlier
        /// one either way.
        exit_code: Option<i32>,
        /// Runtime evidence of the end (kind `terminal_runtime_event`); kept
        /// by id as the session's `raw_end_payload_id`, never read. `None`
        /// keeps an earlier one.
        runtime_payload: Option<R>,
    },
    /// A local (non-remote) compaction installed replacement history. The
    /// summarisation call, if any, is an ordinary inference call.
    ///
    /// Recorded by [`CompactionRecorder::installed_local`](crate::CompactionRecorder::installed_local).
    /// Reduced as `CompactionInstalled` is (the same checks and checkpoint),
    /// with mode `local` and the inference call recorded; when the envelope
    /// carries neither thread nor turn, they are the inference call's.
    LocalCompactionInstalled {
        /// Host-supplied compaction id, unique among compactions.
        compaction_id: String,
        /// The summarising inference call, which must have started (else an
        /// unknown reference). `None`: no traced call made the summary.
        inference_call_id: Option<String>,
        /// The checkpoint (kind `compaction_checkpoint`), as in
        /// `CompactionInstalled`.
        checkpoint_payload: R,
    },
    /// The recorder dropped `count` events (full queue, failed write, ...).
    ///
    /// Written by the writer for the drops it counted (a full queue, a
    /// payload over the limit, a failed encoding, a start repeated after a
    /// resume), and by ingest and the bundle reader for each seq their input
    /// skips or each line they leave out; never by a handle. The reducer
    /// records an `events_dropped` diagnostic, and from then on an unknown
    /// reference is an `unresolved_reference` diagnostic instead of an
    /// error (the lost events may have started what later events name).
    EventsDropped {
        /// How many events were lost at this point.
        count: u64,
        /// Why, as text (such as `recorder queue full`); quoted in the
        /// diagnostic.
        reason: String,
    },
    /// The stored values a code cell committed when it finished.
    ///
    /// Recorded by code mode through its trace sink (a
    /// [`TurnRecorder`](crate::TurnRecorder) is one), before the cell's
    /// `CodeCellEnded`. The same rules as `CodeCellInitialResponse`
    /// (envelope thread, known runtime cell, queued until the cell
    /// materialises); appends the payload id to the cell's
    /// `stored_values_raw_payload_ids` and changes no status.
    CodeCellStoredValues {
        /// The cell, as its `code_cell_started` named it in this thread.
        runtime_cell_id: String,
        /// The values (kind `code_cell_stored_values`; code mode writes
        /// `{stored_values: {name: value, ..}}`); kept by id, never read.
        stored_values_payload: R,
    },
    /// An event type this build does not know, kept verbatim: `json` is the
    /// whole wire payload object, `type` included.
    ///
    /// Made by the wire parser, never by a handle. It cites no payload: a
    /// reference inside `json` stays opaque text. The reducer records an
    /// `unknown_event_type` diagnostic; `jsonl` and `events` exports write
    /// it back unchanged, a default codex bundle leaves it out.
    #[serde(skip)]
    Unknown {
        /// The wire `type`.
        type_name: String,
        /// The wire payload object as read.
        json: JsonText,
    },
    /// Our addition: one line of a file `import` converted (a Codex session
    /// rollout), kept byte for byte so that `export --format source` writes
    /// the file back.
    ///
    /// Made by the converter for every line of the file, in order, before
    /// the events the line converts to. The reducer counts nothing for it
    /// (no rule, no diagnostic); a default codex bundle leaves it out.
    SourceLine {
        /// The file's path relative to what was imported, `/`-separated.
        file: String,
        /// The line's number in the file, from 1.
        line: u64,
        /// The line's bytes, its line ending included (kind `source_line`).
        line_payload: R,
    },
}
