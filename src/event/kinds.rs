//! [`PayloadKind`]: the coarse role of a payload, its wire names, its serde
//! shape, and the kind each event variant's payloads have by convention.
//!
//! One table (`PAYLOAD_KIND_NAMES`) gives the wire name of every known
//! kind, both ways. Kinds this build does not know keep their name
//! (`Other`), so a newer producer's payloads import and export unchanged.
//! No I/O.

use std::borrow::Cow;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::EventPayload;

/// Coarse role of a payload. Wire shape: `{"type":"inference_request"}`.
///
/// Kinds this build does not know are kept by name (`Other`), so a newer
/// producer's payloads still import and export unchanged.
///
/// **Payload contracts.** The reducer reads a payload by the event field
/// that cites it, never by its kind: the kind is a label, kept in
/// `raw_payloads` and on export (the recorder stamps each payload with the
/// kind its field conventionally has, see
/// [`EventPayload::conventional_payload_kinds`]). Each variant below gives
/// the JSON shape the reducer expects in those fields and what it does when
/// the shape differs. A payload it reads must be valid JSON (else an error:
/// the strict fold stops, a keep-going one skips the event); one it never
/// reads ("kept by id") may be any bytes. Field lists are exact: a field
/// not named is ignored, and a named field that is absent or of another
/// JSON type than the one given counts as absent unless marked required.
/// The reducer's `providers.rs` and `conversation/normalize.rs` hold every
/// detail of the model item shapes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub enum PayloadKind {
    /// A model request as sent: `inference_started.request_payload`, and
    /// the `prefix_payload` of its input mode. Read; the shape is told from
    /// the payload, never from `provider_name`:
    /// - a list of Responses items, or an object with `input` (a list of
    ///   Responses items, required to be a list when present) and an
    ///   optional string `previous_response_id` (which makes the request
    ///   incremental unless the event's input mode says otherwise);
    /// - else an object with `messages` (a list, required; Anthropic
    ///   Messages or Chat Completions, read message by message) and an
    ///   optional `system` (a string or a list of blocks: one system message
    ///   first).
    ///
    /// Responses items, by `type` (an item with `role` and no `type` is a
    /// `message`):
    /// - `message`: `role` (required: `system`, `developer`, `user`,
    ///   `assistant` or `tool`), `content` (a list: `input_text`,
    ///   `output_text`, `text` entries give text, `input_image` an image,
    ///   any other entry a `payload_ref` part labelled with its type), and
    ///   `phase` (`commentary`, `final_answer` or `summary` set the channel);
    /// - `agent_message` (an inter-agent message): `author` and `recipient`
    ///   (agent paths, required), and content: `content` (a string, or a
    ///   list of `{encrypted_content}` or `{text}` entries) and/or a
    ///   top-level `encrypted_content` (at least one required);
    /// - `reasoning`: `content` (a list of `reasoning_text` or `text`
    ///   entries), `summary` (a list of `summary_text` entries), each entry
    ///   with a string `text`, and `encrypted_content` (a string); with no
    ///   encrypted content, `id` identifies it; at least one required;
    /// - `function_call` (`call_id`, `arguments`), `function_call_output`
    ///   (`call_id`, `output`), `custom_tool_call` (`call_id`, `name`,
    ///   `input`; named `exec` with a string `input`, it is a code cell's
    ///   source), `custom_tool_call_output` (`call_id`, `output`);
    /// - `tool_search_call`, `web_search_call`, `image_generation_call`,
    ///   `local_shell_call` (function calls) and `tool_search_output`,
    ///   `mcp_tool_call_output` (function call outputs), kept whole as JSON,
    ///   linked by `call_id`;
    /// - `compaction` (a string `encrypted_content`, required),
    ///   `compaction_summary`, `context_compaction`: a summary message;
    /// - `additional_tools`: skipped (not conversation). An item's
    ///   `internal_chat_message_metadata_passthrough` is ignored.
    ///
    /// `messages` entries are `{role, content}` with the five roles above
    /// (string content is text; content blocks `text`, `image`,
    /// `image_url`, `tool_use` `{id, name, input}`, `tool_result`
    /// `{tool_use_id, content}`, `thinking` `{thinking, signature}`,
    /// `redacted_thinking` `{data}`, any other block a labelled
    /// `payload_ref` part); an `assistant` message may add
    /// `reasoning_content` (or `reasoning`), `refusal`, `tool_calls`
    /// (`{id, type: "function", function: {name, arguments}}` or
    /// `{id, type: "custom", custom: {name, input}}`) and a legacy
    /// `function_call`; a `tool` message is the output of `tool_call_id`.
    /// A `tool_use` or `tool_calls` id is the model-visible call id.
    ///
    /// Errors (the event fails; the thread's live history is kept): neither
    /// `input` nor `messages`, a non-list `input`, `messages` or
    /// `tool_calls`, an item `type` not listed, an item without `type` or
    /// `role`, a missing or unlisted role, a reasoning, `agent_message`,
    /// `compaction`, `thinking` or `redacted_thinking` that lacks what it
    /// requires or holds an entry of a type not listed, and a `tool_calls`
    /// entry of another type. Content not inlined (an unknown content entry
    /// or block) is never an error.
    InferenceRequest,
    /// A model response: `inference_completed.response_payload`, and the
    /// `partial_response_payload` of `inference_failed` and
    /// `inference_cancelled`. Read; the first of these keys holding a list
    /// decides the shape:
    /// - `output_items`: the Codex trace shape `{response_id,
    ///   upstream_request_id, token_usage, output_items}`;
    /// - `output`: a Responses API response (`id`, `usage`, `output`);
    /// - `choices`: a Chat Completions response (`id`, `usage`; the first
    ///   choice's `message` is the output, read as an assistant message of
    ///   a `messages` request);
    /// - `content`: an Anthropic Messages response (`id`, `usage`; the
    ///   content blocks are the output).
    ///
    /// Output items follow the `InferenceRequest` rules and errors. For a
    /// completed call, the response id (`response_id` of the Codex shape,
    /// `id` of the others) and a top-level string `upstream_request_id`
    /// (any shape) are used when the event has none; a partial response
    /// gives only its items and usage. Token usage, optional (dropped
    /// when its input or output count is missing; counts are unsigned
    /// integers): Codex `token_usage` `{input_tokens, output_tokens,
    /// cached_input_tokens, reasoning_output_tokens,
    /// cache_write_input_tokens}`; Responses `usage` `{input_tokens,
    /// output_tokens, input_tokens_details.cached_tokens,
    /// output_tokens_details.reasoning_tokens}`; Chat Completions `usage`
    /// `{prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens,
    /// completion_tokens_details.reasoning_tokens}`; Anthropic `usage`
    /// `{input_tokens, output_tokens, cache_creation_input_tokens,
    /// cache_read_input_tokens}`, whose input count the reducer makes the
    /// sum of the three input fields (Codex's meaning).
    ///
    /// None of the four keys: an error for a completed call, only a
    /// `partial_response_without_items` diagnostic for a partial response.
    InferenceResponse,
    /// A remote compaction request as sent:
    /// `compaction_request_started.request_payload`. Kept by id, never read.
    CompactionRequest,
    /// What a compaction installed: the `checkpoint_payload` of
    /// `compaction_installed` and `local_compaction_installed`. Read: an
    /// object with
    /// - `input_history` (a list of Responses items, required): the history
    ///   the compaction summarised, reconciled with the thread's live
    ///   history as a full request is;
    /// - `replacement_history` (a list of Responses items, required): what
    ///   replaces it; always new items, produced by the compaction, and the
    ///   thread's live history from then on.
    ///
    /// Items follow the `InferenceRequest` rules for Responses items (not
    /// the `messages` shapes). Either key missing or not a list, or an item
    /// refused, is an error.
    CompactionCheckpoint,
    /// A remote compaction response:
    /// `compaction_request_completed.response_payload` (Codex:
    /// `{output_items}`). Kept by id, never read.
    CompactionResponse,
    /// What a tool was called with: `tool_call_started.invocation_payload`.
    /// The reference's shape is `{tool_name, tool_namespace, payload:
    /// {type, ..}}`, `payload.type` one of `function` (with `arguments`),
    /// `tool_search`, `custom`, `local_shell`. The reducer reads only
    /// `payload.arguments` (a string holding JSON, or an object; anything
    /// else counts as no arguments), and only for:
    /// - `WriteStdin` calls: `session_id` (a string or a number, required:
    ///   the terminal session written to), `chars`, `yield_time_ms`,
    ///   `max_output_tokens`; arguments missing or unparsable, or no
    ///   `session_id`, are an error;
    /// - `wait` calls (kind `Other { name: "wait" }`): `cell_id` (a string
    ///   or a number, required: the runtime cell waited on; missing is an
    ///   error, a cell unknown in the thread a `wait_for_unknown_code_cell`
    ///   diagnostic);
    /// - `SpawnAgent`, `AssignAgentTask` and `SendMessage` calls whose
    ///   runtime end is a sub-agent activity: `message`, else `prompt`, the
    ///   text the delivery edge matches (without one, a task or message edge
    ///   targets the receiving thread).
    ///
    /// Otherwise kept by id.
    ToolInvocation,
    /// A tool's result (`tool_call_ended.result_payload`) or a code cell's
    /// response (`code_cell_initial_response` and `code_cell_ended`,
    /// `response_payload`; code mode writes `{response: RuntimeResponse}`,
    /// never read). A tool result is one of:
    /// - `{type: "direct_response", response_item}`: the output is
    ///   `response_item.output` (a string, else its JSON text);
    /// - `{type: "code_mode_response", value}`: `value.output`,
    ///   `value.exit_code`, `value.original_token_count`, `value.chunk_id`;
    /// - `{type: "error", error}`: `error` (a string, else its JSON text)
    ///   is the stderr.
    ///
    /// Read only to end a terminal operation that had no runtime payload (a
    /// `write_stdin` without runtime events); another `type` ends it without
    /// a result. Otherwise kept by id (and carried on the call's interaction
    /// edge, if any).
    ToolResult,
    /// A runtime observation of a tool call: `tool_call_runtime_started` and
    /// `tool_call_runtime_ended`, `runtime_payload` (Codex writes the
    /// protocol begin or end event verbatim). Read by the tool call's kind:
    /// - `ExecCommand` begin: `command` or `cmd` (a list, or a string),
    ///   `cwd`, `yield_time_ms`, `max_output_tokens`, `process_id` (a string
    ///   or a number: the terminal session);
    /// - `WriteStdin` begin: `interaction_input` or `chars`,
    ///   `yield_time_ms`, `max_output_tokens`, `process_id` (only
    ///   `process_id` when the invocation already made the operation);
    /// - `ExecCommand` and `WriteStdin` end: `process_id`, `exit_code`,
    ///   `stdout`, `stderr`, `formatted_output` or `aggregated_output`,
    ///   `original_token_count`, `chunk_id`;
    /// - `AssignAgentTask`, `SendMessage` and `CloseAgent` begin, and their
    ///   end without `agent_thread_id`: `receiver_thread_id` (a string or a
    ///   number, required: an error without it) and `prompt` (the message);
    /// - `SpawnAgent` end without `agent_thread_id`: `new_thread_id` (absent:
    ///   the spawn failed, no edge), `sender_thread_id` (default: the tool
    ///   call's thread), `prompt`;
    /// - the end of any of those four kinds with `agent_thread_id` (a
    ///   sub-agent activity): `kind`, compared case-insensitively, must be
    ///   `started` (`SpawnAgent`), `interacted` (`AssignAgentTask`,
    ///   `SendMessage`) or `interrupted` (`CloseAgent`), else an error; the
    ///   message comes from the invocation.
    ///
    /// A `process_id` other than the one the operation already has, or a
    /// session of another thread, is an error. Other kinds' payloads, and a
    /// spawn's begin, are kept by id.
    ToolRuntimeEvent,
    /// Evidence of a terminal session's end:
    /// `terminal_session_ended.runtime_payload` (the reference declares the
    /// kind but never writes it). Kept by id, never read.
    TerminalRuntimeEvent,
    /// A host protocol event: `protocol_event_observed.event_payload`. Kept
    /// by id, never read.
    ProtocolEvent,
    /// A thread's session metadata: `thread_started` and `thread_resumed`,
    /// `metadata_payload` (Codex's `ThreadStartedTraceMetadata`). Read, for
    /// a `thread_started` and for a `thread_resumed` of a thread the log
    /// does not hold (a resume of a known thread keeps it by id). Any JSON
    /// value (a non-object has none of the fields); every field optional:
    /// - `agent_path`: the thread's agent path, over the event's;
    /// - `nickname`: the thread's display name;
    /// - `model`: the thread's `default_model`;
    /// - `session_source.subagent.thread_spawn` with a string
    ///   `parent_thread_id`: a spawned thread, `origin: Spawned
    ///   {parent_thread_id, spawn_edge_id: "edge:spawn:{parent}:{child}",
    ///   task_name, agent_role}`. Its `agent_path`, `task_name` and
    ///   `agent_role` win over the top-level ones; `task_name` defaults to
    ///   the agent path's last segment, `agent_role` to empty. The parent
    ///   need not be in the log.
    SessionMetadata,
    /// A child's result as delivered to its parent:
    /// `agent_result_observed.carried_payload` (the reference writes
    /// `{child_agent_path, message, status}`). Kept by id on the edge, never
    /// read.
    AgentResult,
    /// Our addition: the stored values a code cell committed
    /// (`code_cell_stored_values.stored_values_payload`; code mode writes
    /// `{stored_values: {name: value, ..}}`). Kept by id, never read. Not a
    /// kind the reference knows ([`PayloadKind::is_reference_kind`]).
    CodeCellStoredValues,
    /// A kind name this build does not know, kept as given (an `other`
    /// event's payloads take `Other(kind)` by convention). Read or not by
    /// the field that cites it, like any kind.
    Other(String),
    /// Our addition: one line of an imported file, byte for byte
    /// (`source_line.line_payload`). Read only by `export --format source`.
    SourceLine,
}

/// The wire name of every known kind (all but `Other`).
const PAYLOAD_KIND_NAMES: &[(&str, PayloadKind)] = &[
    ("inference_request", PayloadKind::InferenceRequest),
    ("inference_response", PayloadKind::InferenceResponse),
    ("compaction_request", PayloadKind::CompactionRequest),
    ("compaction_checkpoint", PayloadKind::CompactionCheckpoint),
    ("compaction_response", PayloadKind::CompactionResponse),
    ("tool_invocation", PayloadKind::ToolInvocation),
    ("tool_result", PayloadKind::ToolResult),
    ("tool_runtime_event", PayloadKind::ToolRuntimeEvent),
    ("terminal_runtime_event", PayloadKind::TerminalRuntimeEvent),
    ("protocol_event", PayloadKind::ProtocolEvent),
    ("session_metadata", PayloadKind::SessionMetadata),
    ("agent_result", PayloadKind::AgentResult),
    ("code_cell_stored_values", PayloadKind::CodeCellStoredValues),
    ("source_line", PayloadKind::SourceLine),
];

impl PayloadKind {
    /// Whether the reference has this kind (all but our additions and kind
    /// names this build does not know).
    pub fn is_reference_kind(&self) -> bool {
        !matches!(
            self,
            PayloadKind::CodeCellStoredValues | PayloadKind::SourceLine | PayloadKind::Other(_)
        )
    }

    /// The snake_case wire name.
    pub fn name(&self) -> &str {
        if let PayloadKind::Other(name) = self {
            return name;
        }
        PAYLOAD_KIND_NAMES
            .iter()
            .find(|(_, kind)| kind == self)
            .map_or("other", |(name, _)| name)
    }

    /// Parses a wire name; unknown names become `Other`.
    pub fn from_name(name: &str) -> PayloadKind {
        PAYLOAD_KIND_NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map_or_else(
                || PayloadKind::Other(name.to_string()),
                |(_, kind)| kind.clone(),
            )
    }
}

#[derive(Serialize, Deserialize)]
struct PayloadKindWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

impl Serialize for PayloadKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PayloadKindWire {
            kind: Cow::Borrowed(self.name()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PayloadKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PayloadKind, D::Error> {
        let wire = PayloadKindWire::deserialize(deserializer)?;
        Ok(PayloadKind::from_name(&wire.kind))
    }
}

impl<R> EventPayload<R> {
    /// The kind each payload reference of this event has by convention (the
    /// reference's producers), in `for_each_ref` order.
    pub fn conventional_payload_kinds(&self) -> Vec<PayloadKind> {
        let kind = match self {
            EventPayload::ThreadStarted { .. } | EventPayload::ThreadResumed { .. } => {
                PayloadKind::SessionMetadata
            }
            EventPayload::InferenceStarted { .. } => PayloadKind::InferenceRequest,
            EventPayload::InferenceCompleted { .. }
            | EventPayload::InferenceFailed { .. }
            | EventPayload::InferenceCancelled { .. } => PayloadKind::InferenceResponse,
            EventPayload::ToolCallStarted { .. } => PayloadKind::ToolInvocation,
            EventPayload::ToolCallRuntimeStarted { .. }
            | EventPayload::ToolCallRuntimeEnded { .. } => PayloadKind::ToolRuntimeEvent,
            EventPayload::ToolCallEnded { .. }
            | EventPayload::CodeCellInitialResponse { .. }
            | EventPayload::CodeCellEnded { .. } => PayloadKind::ToolResult,
            EventPayload::CompactionRequestStarted { .. } => PayloadKind::CompactionRequest,
            EventPayload::CompactionRequestCompleted { .. } => PayloadKind::CompactionResponse,
            EventPayload::CompactionInstalled { .. }
            | EventPayload::LocalCompactionInstalled { .. } => PayloadKind::CompactionCheckpoint,
            EventPayload::AgentResultObserved { .. } => PayloadKind::AgentResult,
            EventPayload::ProtocolEventObserved { .. } => PayloadKind::ProtocolEvent,
            EventPayload::TerminalSessionEnded { .. } => PayloadKind::TerminalRuntimeEvent,
            EventPayload::CodeCellStoredValues { .. } => PayloadKind::CodeCellStoredValues,
            EventPayload::SourceLine { .. } => PayloadKind::SourceLine,
            EventPayload::Other { kind, .. } => PayloadKind::Other(kind.clone()),
            // No payload references.
            EventPayload::RolloutStarted { .. }
            | EventPayload::RolloutEnded { .. }
            | EventPayload::ThreadEnded { .. }
            | EventPayload::CodexTurnStarted { .. }
            | EventPayload::CodexTurnEnded { .. }
            | EventPayload::McpToolCallCorrelationAssigned { .. }
            | EventPayload::CodeCellStarted { .. }
            | EventPayload::CompactionRequestFailed { .. }
            | EventPayload::EventsDropped { .. }
            | EventPayload::Unknown { .. } => return Vec::new(),
        };
        let mut count = 0;
        self.for_each_ref(|_| count += 1);
        vec![kind; count]
    }
}
