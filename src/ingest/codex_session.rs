//! Codex session rollouts (`~/.codex/sessions/**/rollout-*.jsonl`) converted
//! into wire events, line by line, for the ordinary import.
//!
//! Every line becomes a `source_line` event holding its exact bytes (so
//! `export --format source` writes the file back), followed by the events
//! it converts to:
//!
//! - `session_meta`: the session's thread, with metadata in the
//!   reference's shape (`session_source`, agent path, nickname, role); for
//!   a session that starts its rollout, the rollout first. A sub-agent's
//!   session is a thread of its parent's rollout (see `session_files.rs`);
//!   a fork whose `history_base` names its parent starts from the parent's
//!   history up to that point, fed in by [`CodexSession::inherit`];
//! - `event_msg` `task_started` / `task_complete` (or `turn_started` /
//!   `turn_complete`) / `turn_aborted`: the turn's start and end;
//! - `response_item`s the model produced (reasoning, assistant messages,
//!   tool calls, web searches, image generations): one inference call per
//!   model response. Its request is the conversation so far, every
//!   `response_item` before it (or, after a `compacted` record, its
//!   `replacement_history` and what followed), marked
//!   `"tracefold_reconstructed": true`: Codex does not log the request.
//!   After the thread's first call (and its first after a compaction) a
//!   request holds only the items since the previous call's response and
//!   names that response (`previous_response_id`, an id made up as
//!   `THREAD:response:N`), so the requests of a session take linear space
//!   and time, not quadratic; the reducer rebuilds each full conversation.
//!   The
//!   call ends at the next `token_count` (its `last_token_usage` is the
//!   call's usage), at the next input item, or at the turn's end; the tool
//!   calls it made start after it;
//! - `function_call_output` / `custom_tool_call_output`: the tool call's end;
//! - `compacted` with its `replacement_history`: inside a turn, a
//!   `local_compaction_installed` whose checkpoint holds the conversation
//!   it replaced (`input_history`) and the replacement; later requests
//!   start from the replacement.
//!
//! Everything else (`turn_context`, the other `event_msg`s) is kept only as
//! its source line. Each event depends only on the lines before it, and
//! nothing is made up at the end of the file, so converting a file that
//! grew gives the same events and more: the import appends them.

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::emit::{Converter, Emitter, OpenWork, json_array, request_head, text_ref};
use crate::error::{Error, Result};

/// The state of one session file's conversion.
pub(crate) struct CodexSession {
    /// The file's name, as `source_line` events give it.
    file: String,
    /// The session's thread (its `session_meta` id), once read.
    thread: Option<String>,
    /// What the ids this file makes up start with: the thread id, or for
    /// a file resuming its thread, the thread id and the file's name.
    prefix: String,
    provider: String,
    model: String,
    turn: Option<String>,
    turns: u64,
    /// Every `response_item` so far (raw JSON), as the model saw them.
    history: Vec<Box<RawValue>>,
    /// The last completed call's response id, and the history's length when
    /// it completed: the next request continues from there.
    chain: Option<(String, usize)>,
    open: Option<OpenCall>,
    calls: u64,
    compactions: u64,
    /// Tool calls started and not ended, by call id: a later
    /// `collab_agent_spawn_end` names the thread a `spawn_agent` made.
    tools_running: Vec<String>,
    /// The session's thread is already in the rollout (an earlier file of
    /// it: a revert or a rotated segment continues the thread): the first
    /// line resumes it.
    resumes: bool,
}

/// An inference call whose response is being read.
struct OpenCall {
    id: String,
    /// Where its output items start in the history (they run to its end:
    /// an input item ends the call).
    output_from: usize,
    /// Tool calls it made: (call id, tool name).
    tools: Vec<(String, String)>,
}

/// The `response_item` types the model produces.
const OUTPUT_TYPES: &[&str] = &[
    "reasoning",
    "function_call",
    "custom_tool_call",
    "local_shell_call",
    "web_search_call",
    "image_generation_call",
    "tool_search_call",
];

impl CodexSession {
    pub(crate) fn new(file: String) -> CodexSession {
        CodexSession {
            file,
            thread: None,
            prefix: String::new(),
            provider: "openai".into(),
            model: String::new(),
            turn: None,
            turns: 0,
            history: Vec::new(),
            chain: None,
            open: None,
            calls: 0,
            compactions: 0,
            tools_running: Vec::new(),
            resumes: false,
        }
    }

    /// The session continues a thread the rollout already has.
    pub(crate) fn resuming(mut self) -> CodexSession {
        self.resumes = true;
        self
    }

    /// Takes in one line of the history this session inherits (a fork's
    /// parent, up to its `history_base`): its items become the start of
    /// the conversation; nothing is emitted.
    pub(crate) fn inherit(&mut self, raw: &[u8]) {
        let Ok(record) = serde_json::from_slice::<Record>(raw) else {
            return;
        };
        match record.kind.as_str() {
            "response_item" => self.history.push(record.payload),
            "turn_context" => self.turn_context(record.payload.get()),
            "compacted" => {
                if let Ok(Compacted {
                    replacement_history: Some(history),
                }) = serde_json::from_str::<Compacted>(record.payload.get())
                {
                    self.history = history;
                }
            }
            _ => {}
        }
    }

    fn fail(&self, line: u64, message: String) -> Error {
        Error::Other(format!(
            "{} line {line}: Codex session record: {message}",
            self.file
        ))
    }

    /// The first line: the session's `session_meta`, which starts its
    /// thread (and its rollout, when the session is the rollout's root).
    fn start(&mut self, line: u64, record: &Record, text: &str, emit: &mut Emitter) -> Result<()> {
        if record.kind != "session_meta" {
            return Err(self.fail(
                line,
                format!("the first record is `{}`, not `session_meta`", record.kind),
            ));
        }
        let meta: Value = serde_json::from_str(record.payload.get())
            .map_err(|err| self.fail(line, format!("session_meta: {err}")))?;
        let Some(id) = meta.get("id").and_then(Value::as_str).map(str::to_string) else {
            return Err(self.fail(line, "session_meta has no string `id`".into()));
        };
        if let Some(provider) = meta.get("model_provider").and_then(Value::as_str) {
            self.provider = provider.to_string();
        }
        let root = emit.rollout_id() == id;
        let metadata = thread_metadata(&meta, &id, root);
        let agent_path = metadata["agent_path"]
            .as_str()
            .unwrap_or("/root")
            .to_string();
        // A file resuming its thread makes up ids of its own.
        let starts = if self.resumes {
            let stem = self.file.strip_suffix(".jsonl").unwrap_or(&self.file);
            self.prefix = format!("{id}:{stem}");
            "thread_resumed"
        } else {
            if root {
                emit.emit(
                    None,
                    None,
                    json!({"type": "rollout_started", "trace_id": id, "root_thread_id": id}),
                );
            }
            self.prefix.clone_from(&id);
            "thread_started"
        };
        emit.source_line(&self.file, line, text);
        emit.emit(
            None,
            None,
            json!({"type": starts, "thread_id": id, "agent_path": agent_path,
                   "metadata_payload": text_ref("session_metadata", &metadata.to_string())}),
        );
        self.thread = Some(id);
        Ok(())
    }

    fn turn_context(&mut self, payload: &str) {
        if let Ok(TurnContext { model: Some(model) }) = serde_json::from_str(payload) {
            self.model = model;
        }
    }

    fn event_msg(&mut self, payload: &str, emit: &mut Emitter) {
        let Ok(message) = serde_json::from_str::<EventMsg>(payload) else {
            return;
        };
        match message.kind.as_str() {
            "task_started" | "turn_started" => {
                self.close_call(None, emit);
                self.end_turn("completed", emit);
                let turn = message
                    .turn_id
                    .unwrap_or_else(|| format!("{}:turn:{}", self.prefix, self.turns + 1));
                self.start_turn(turn, emit);
            }
            "task_complete" | "turn_complete" | "turn_aborted" => {
                self.close_call(None, emit);
                let status = if message.kind != "turn_aborted" {
                    "completed"
                } else {
                    "cancelled"
                };
                self.end_turn(status, emit);
            }
            "token_count" => {
                if let Some(usage) = message.info.and_then(|info| info.last_token_usage) {
                    self.close_call(Some(usage), emit);
                }
            }
            "collab_agent_spawn_end" => self.spawn_ended(payload, message.call_id, emit),
            _ => {}
        }
    }

    /// A `token_usage_record` (newer Codex): one response's usage.
    fn usage_record(&mut self, payload: &str, emit: &mut Emitter) {
        if let Ok(UsageRecord { usage: Some(usage) }) = serde_json::from_str(payload) {
            self.close_call(Some(usage), emit);
        }
    }

    /// A `spawn_agent` call's runtime end (which names the thread it made,
    /// linking the spawn to the sub-agent's thread).
    fn spawn_ended(&mut self, payload: &str, call_id: Option<String>, emit: &mut Emitter) {
        let Some(call_id) = call_id.filter(|id| self.tools_running.contains(id)) else {
            return;
        };
        self.in_thread(
            emit,
            json!({"type": "tool_call_runtime_ended", "tool_call_id": call_id,
                   "status": "completed",
                   "runtime_payload": text_ref("tool_runtime_event", payload)}),
        );
    }

    fn response_item(&mut self, item: Box<RawValue>, emit: &mut Emitter) {
        let head: ItemHead = serde_json::from_str(item.get()).unwrap_or_default();
        let produced = OUTPUT_TYPES.contains(&head.kind.as_str())
            || (head.kind == "message" && head.role.as_deref() == Some("assistant"));
        if produced {
            if self.open.is_none() {
                self.open_call(emit);
            }
            if let (Some(open), Some(call_id)) = (self.open.as_mut(), head.call_id) {
                open.tools.push((call_id, head.name.unwrap_or(head.kind)));
            }
            self.history.push(item);
            return;
        }
        self.close_call(None, emit);
        let is_output = matches!(
            head.kind.as_str(),
            "function_call_output" | "custom_tool_call_output"
        );
        if let (true, Some(call_id)) = (is_output, head.call_id) {
            let result = format!(
                r#"{{"type":"direct_response","response_item":{}}}"#,
                item.get()
            );
            self.tools_running.retain(|id| *id != call_id);
            self.in_thread(
                emit,
                json!({"type": "tool_call_ended", "tool_call_id": call_id,
                       "status": "completed",
                       "result_payload": text_ref("tool_result", &result)}),
            );
        }
        self.history.push(item);
    }

    /// A compaction replaced the conversation with `replacement`: inside a
    /// turn, a local compaction whose checkpoint holds the history it
    /// replaced and its replacement.
    fn compacted(&mut self, replacement: Vec<Box<RawValue>>, emit: &mut Emitter) {
        if self.turn.is_some() {
            self.compactions += 1;
            let id = format!("{}:compaction:{}", self.prefix, self.compactions);
            let checkpoint = format!(
                "{{\"input_history\":{},\"replacement_history\":{}}}",
                json_array(&self.history),
                json_array(&replacement)
            );
            self.in_thread(
                emit,
                json!({"type": "local_compaction_installed", "compaction_id": id,
                       "inference_call_id": null,
                       "checkpoint_payload": text_ref("compaction_checkpoint", &checkpoint)}),
            );
        }
        self.history = replacement;
        self.chain = None;
    }

    fn start_turn(&mut self, turn: String, emit: &mut Emitter) {
        self.turns += 1;
        self.turn = Some(turn.clone());
        self.in_thread(
            emit,
            json!({"type": "codex_turn_started", "codex_turn_id": turn, "thread_id": self.id()}),
        );
    }

    fn end_turn(&mut self, status: &str, emit: &mut Emitter) {
        if let Some(turn) = self.turn.clone() {
            self.in_thread(
                emit,
                json!({"type": "codex_turn_ended", "codex_turn_id": turn, "status": status}),
            );
            self.turn = None;
        }
    }

    /// Starts an inference call whose request is the conversation so far
    /// (in a turn of its own when the model answers outside one): the
    /// items since the previous call's response, naming it, or all of them.
    fn open_call(&mut self, emit: &mut Emitter) {
        if self.turn.is_none() {
            let turn = format!("{}:turn:{}", self.prefix, self.turns + 1);
            self.start_turn(turn, emit);
        }
        self.calls += 1;
        let id = format!("{}:inference:{}", self.prefix, self.calls);
        let (mut request, from) =
            request_head(&self.model, self.chain.as_ref(), self.history.len());
        request.push_str("\"input\":");
        request.push_str(&json_array(&self.history[from..]));
        request.push('}');
        self.in_thread(
            emit,
            json!({"type": "inference_started", "inference_call_id": id, "thread_id": self.id(),
                   "codex_turn_id": self.turn, "model": self.model, "provider_name": self.provider,
                   "request_payload": text_ref("inference_request", &request)}),
        );
        self.open = Some(OpenCall {
            id,
            output_from: self.history.len(),
            tools: Vec::new(),
        });
    }

    /// Ends the open inference call, if any, with `usage`; then starts the
    /// tool calls its response made.
    fn close_call(&mut self, usage: Option<Box<RawValue>>, emit: &mut Emitter) {
        let Some(open) = self.open.take() else {
            return;
        };
        let response_id = format!("{}:response:{}", self.prefix, self.calls);
        let mut response = format!(
            "{{\"response_id\":{},\"upstream_request_id\":null,\"token_usage\":",
            Value::String(response_id.clone())
        );
        response.push_str(usage.as_deref().map_or("null", RawValue::get));
        response.push_str(",\"output_items\":");
        response.push_str(&json_array(&self.history[open.output_from..]));
        response.push('}');
        self.in_thread(
            emit,
            json!({"type": "inference_completed", "inference_call_id": open.id,
                   "response_id": response_id, "upstream_request_id": null,
                   "response_payload": text_ref("inference_response", &response)}),
        );
        self.chain = Some((response_id, self.history.len()));
        for (call_id, name) in open.tools {
            let kind = match name.as_str() {
                "apply_patch" => json!({"type": "apply_patch"}),
                "spawn_agent" => json!({"type": "spawn_agent"}),
                _ => json!({"type": "other", "name": name}),
            };
            self.in_thread(
                emit,
                json!({"type": "tool_call_started", "tool_call_id": call_id,
                       "model_visible_call_id": call_id, "code_mode_runtime_tool_id": null,
                       "requester": {"type": "model"}, "kind": kind,
                       "summary": {"type": "generic", "label": name,
                                   "input_preview": null, "output_preview": null},
                       "invocation_payload": null}),
            );
            self.tools_running.push(call_id);
        }
    }

    fn id(&self) -> &str {
        self.thread.as_deref().unwrap_or_default()
    }

    /// Emits `payload` in the session's thread and current turn.
    fn in_thread(&self, emit: &mut Emitter, payload: Value) {
        emit.emit(self.thread.as_deref(), self.turn.as_deref(), payload);
    }
}

impl Converter for CodexSession {
    fn convert(&mut self, line: u64, raw: &[u8], emit: &mut Emitter) -> Result<()> {
        let parsed = std::str::from_utf8(raw)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(|text| {
                serde_json::from_str::<Record>(text.trim_end_matches(['\n', '\r']))
                    .map(|record| (text, record))
                    .map_err(|err| format!("not a JSON record: {err}"))
            });
        let (text, record) = match parsed {
            Ok(parsed) => parsed,
            // The first line places the file; a later one is kept as is.
            Err(why) if self.thread.is_some() => {
                emit.unconverted(&self.file, line, raw, &why);
                return Ok(());
            }
            Err(why) => return Err(self.fail(line, why)),
        };
        emit.at(record.timestamp.as_deref());
        if self.thread.is_none() {
            return self.start(line, &record, text, emit);
        }
        emit.source_line(&self.file, line, text);
        match record.kind.as_str() {
            "turn_context" => self.turn_context(record.payload.get()),
            "event_msg" => self.event_msg(record.payload.get(), emit),
            "token_usage_record" => self.usage_record(record.payload.get(), emit),
            "response_item" => self.response_item(record.payload, emit),
            "compacted" => {
                self.close_call(None, emit);
                if let Ok(Compacted {
                    replacement_history: Some(history),
                }) = serde_json::from_str::<Compacted>(record.payload.get())
                {
                    self.compacted(history, emit);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn open_work(&self) -> OpenWork<'_> {
        OpenWork {
            call: self.open.as_ref().map(|open| open.id.as_str()),
            turn: None,
        }
    }

    /// Codex writes every turn's end, and a response's usage after it; a
    /// response left open at a finished file's end completes without usage.
    fn finish(&mut self, emit: &mut Emitter) {
        self.close_call(None, emit);
    }
}

/// A thread's metadata payload in the reference's shape, from a
/// `session_meta` payload: a sub-agent's `session_source` says which thread
/// spawned it (left out when the session is its rollout's root: its parent
/// is not in the rollout).
fn thread_metadata(meta: &Value, id: &str, root: bool) -> Value {
    let source = meta.get("source").cloned().unwrap_or(Value::Null);
    let spawn = source.pointer("/subagent/thread_spawn");
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
    let nickname = text(spawn.and_then(|s| s.get("agent_nickname")))
        .or_else(|| text(meta.get("agent_nickname")));
    let role = text(spawn.and_then(|s| s.get("agent_role")))
        .or_else(|| text(spawn.and_then(|s| s.get("agent_type"))))
        .or_else(|| text(meta.get("agent_role")));
    let agent_path = if root {
        "/root".to_string()
    } else {
        text(spawn.and_then(|s| s.get("agent_path")))
            .or_else(|| text(meta.get("agent_path")))
            .unwrap_or_else(|| format!("/root/{}", nickname.as_deref().unwrap_or(id)))
    };
    json!({
        "thread_id": id,
        "agent_path": agent_path,
        "nickname": nickname,
        "agent_role": role,
        "session_source": if root { Value::Null } else { source.clone() },
        "source": source,
        "parent_thread_id": meta.get("parent_thread_id"),
        "forked_from_id": meta.get("forked_from_id"),
        "cwd": meta.get("cwd"),
        "cli_version": meta.get("cli_version"),
        "provider_name": meta.get("model_provider"),
    })
}

#[derive(serde::Deserialize)]
struct Record {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    payload: Box<RawValue>,
}

#[derive(serde::Deserialize)]
struct TurnContext {
    #[serde(default)]
    model: Option<String>,
}

#[derive(serde::Deserialize)]
struct EventMsg {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    turn_id: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    info: Option<TokenInfo>,
}

#[derive(serde::Deserialize)]
struct UsageRecord {
    #[serde(default)]
    usage: Option<Box<RawValue>>,
}

#[derive(serde::Deserialize)]
struct TokenInfo {
    #[serde(default)]
    last_token_usage: Option<Box<RawValue>>,
}

#[derive(serde::Deserialize)]
struct Compacted {
    #[serde(default)]
    replacement_history: Option<Vec<Box<RawValue>>>,
}

#[derive(serde::Deserialize, Default)]
struct ItemHead {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Whether `record` (a file's first line, parsed) is a Codex session's
/// `session_meta`.
pub(crate) fn looks_like_codex_session(record: &Value) -> bool {
    record.get("type").and_then(Value::as_str) == Some("session_meta")
        && record
            .get("payload")
            .is_some_and(|payload| payload.get("id").is_some())
}
