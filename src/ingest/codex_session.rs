//! Codex session rollouts (`~/.codex/sessions/**/rollout-*.jsonl`) converted
//! into wire events, line by line, for the ordinary import.
//!
//! Every line becomes a `source_line` event holding its exact bytes (so
//! `export --format source` writes the file back), followed by the events
//! it converts to:
//!
//! - `session_meta`: the rollout (its id is the session's) and its root
//!   thread, whose metadata payload is the line's `payload`;
//! - `event_msg` `task_started` / `task_complete` (or `turn_started` /
//!   `turn_complete`) / `turn_aborted`: the turn's start and end;
//! - `response_item`s the model produced (reasoning, assistant messages,
//!   tool calls, web searches, image generations): one inference call per
//!   model response. Its request is the conversation so far, every
//!   `response_item` before it (or, after a `compacted` record, its
//!   `replacement_history` and what followed), marked
//!   `"tracefold_reconstructed": true`: Codex does not log the request. The
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

use crate::error::{Error, Result};

/// The state of one session file's conversion.
pub(crate) struct CodexSession {
    /// The file's name, as `source_line` events give it.
    file: String,
    rollout_id: Option<String>,
    provider: String,
    model: String,
    seq: u64,
    wall_time: i64,
    turn: Option<String>,
    turns: u64,
    /// Every `response_item` so far (raw JSON), as the model saw them.
    history: Vec<Box<RawValue>>,
    open: Option<OpenCall>,
    calls: u64,
    compactions: u64,
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
            rollout_id: None,
            provider: "openai".into(),
            model: String::new(),
            seq: 0,
            wall_time: 0,
            turn: None,
            turns: 0,
            history: Vec::new(),
            open: None,
            calls: 0,
            compactions: 0,
        }
    }

    /// Converts line `line` (its bytes, line ending included) into wire
    /// events appended to `out`, one JSON object per line.
    pub(crate) fn convert(&mut self, line: u64, raw: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let fail = |message: String| {
            Error::Other(format!(
                "{} line {line}: Codex session record: {message}",
                self.file
            ))
        };
        let text = std::str::from_utf8(raw).map_err(|_| fail("not UTF-8".into()))?;
        let record: Record = serde_json::from_str(text.trim_end_matches(['\n', '\r']))
            .map_err(|err| fail(format!("not a JSON record: {err}")))?;
        if let Some(at) = record.timestamp.as_deref().and_then(unix_ms) {
            self.wall_time = at;
        }
        if self.rollout_id.is_none() {
            if record.kind != "session_meta" {
                return Err(fail(format!(
                    "the first record is `{}`, not `session_meta`",
                    record.kind
                )));
            }
            let meta: SessionMeta = serde_json::from_str(record.payload.get())
                .map_err(|err| fail(format!("session_meta: {err}")))?;
            self.rollout_id = Some(meta.id.clone());
            if let Some(provider) = meta.model_provider {
                self.provider = provider;
            }
            let root = meta.id;
            self.emit(
                out,
                false,
                json!({"type": "rollout_started", "trace_id": root, "root_thread_id": root}),
            );
            self.source_line(line, text, out);
            self.emit(
                out,
                false,
                json!({"type": "thread_started", "thread_id": root, "agent_path": "/root",
                       "metadata_payload": text_ref("session_metadata", record.payload.get())}),
            );
            return Ok(());
        }
        self.source_line(line, text, out);
        match record.kind.as_str() {
            "turn_context" => {
                if let Ok(TurnContext { model: Some(model) }) =
                    serde_json::from_str::<TurnContext>(record.payload.get())
                {
                    self.model = model;
                }
            }
            "event_msg" => self.event_msg(record.payload.get(), out),
            "response_item" => self.response_item(record.payload, out),
            "compacted" => {
                self.close_call(None, out);
                if let Ok(Compacted {
                    replacement_history: Some(history),
                }) = serde_json::from_str::<Compacted>(record.payload.get())
                {
                    self.compacted(history, out);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn event_msg(&mut self, payload: &str, out: &mut Vec<u8>) {
        let Ok(message) = serde_json::from_str::<EventMsg>(payload) else {
            return;
        };
        match message.kind.as_str() {
            "task_started" | "turn_started" => {
                self.close_call(None, out);
                self.end_turn("completed", out);
                let turn = message
                    .turn_id
                    .unwrap_or_else(|| format!("{}:turn:{}", self.root(), self.turns + 1));
                self.start_turn(turn, out);
            }
            "task_complete" | "turn_complete" | "turn_aborted" => {
                self.close_call(None, out);
                let status = if message.kind != "turn_aborted" {
                    "completed"
                } else {
                    "cancelled"
                };
                self.end_turn(status, out);
            }
            "token_count" => {
                if let Some(usage) = message.info.and_then(|info| info.last_token_usage) {
                    self.close_call(Some(usage), out);
                }
            }
            _ => {}
        }
    }

    fn response_item(&mut self, item: Box<RawValue>, out: &mut Vec<u8>) {
        let head: ItemHead = serde_json::from_str(item.get()).unwrap_or_default();
        let produced = OUTPUT_TYPES.contains(&head.kind.as_str())
            || (head.kind == "message" && head.role.as_deref() == Some("assistant"));
        if produced {
            if self.open.is_none() {
                self.open_call(out);
            }
            if let (Some(open), Some(call_id)) = (self.open.as_mut(), head.call_id) {
                open.tools.push((call_id, head.name.unwrap_or(head.kind)));
            }
            self.history.push(item);
            return;
        }
        self.close_call(None, out);
        let is_output = matches!(
            head.kind.as_str(),
            "function_call_output" | "custom_tool_call_output"
        );
        if let (true, Some(call_id)) = (is_output, head.call_id) {
            let result = format!(
                r#"{{"type":"direct_response","response_item":{}}}"#,
                item.get()
            );
            self.emit(
                out,
                true,
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
    fn compacted(&mut self, replacement: Vec<Box<RawValue>>, out: &mut Vec<u8>) {
        if self.turn.is_some() {
            self.compactions += 1;
            let id = format!("{}:compaction:{}", self.root(), self.compactions);
            let checkpoint = format!(
                "{{\"input_history\":{},\"replacement_history\":{}}}",
                json_array(&self.history),
                json_array(&replacement)
            );
            self.emit(
                out,
                true,
                json!({"type": "local_compaction_installed", "compaction_id": id,
                       "inference_call_id": null,
                       "checkpoint_payload": text_ref("compaction_checkpoint", &checkpoint)}),
            );
        }
        self.history = replacement;
    }

    fn start_turn(&mut self, turn: String, out: &mut Vec<u8>) {
        self.turns += 1;
        self.turn = Some(turn.clone());
        let root = self.root().to_string();
        self.emit(
            out,
            true,
            json!({"type": "codex_turn_started", "codex_turn_id": turn, "thread_id": root}),
        );
    }

    fn end_turn(&mut self, status: &str, out: &mut Vec<u8>) {
        if let Some(turn) = self.turn.clone() {
            self.emit(
                out,
                true,
                json!({"type": "codex_turn_ended", "codex_turn_id": turn, "status": status}),
            );
            self.turn = None;
        }
    }

    /// Starts an inference call whose request is the conversation so far
    /// (in a turn of its own when the model answers outside one).
    fn open_call(&mut self, out: &mut Vec<u8>) {
        if self.turn.is_none() {
            let turn = format!("{}:turn:{}", self.root(), self.turns + 1);
            self.start_turn(turn, out);
        }
        self.calls += 1;
        let id = format!("{}:inference:{}", self.root(), self.calls);
        let request = format!(
            "{{\"model\":{},\"tracefold_reconstructed\":true,\"input\":{}}}",
            Value::String(self.model.clone()),
            json_array(&self.history)
        );
        let (root, turn) = (self.root().to_string(), self.turn.clone());
        self.emit(
            out,
            true,
            json!({"type": "inference_started", "inference_call_id": id, "thread_id": root,
                   "codex_turn_id": turn, "model": self.model, "provider_name": self.provider,
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
    fn close_call(&mut self, usage: Option<Box<RawValue>>, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let mut response =
            String::from("{\"response_id\":null,\"upstream_request_id\":null,\"token_usage\":");
        response.push_str(usage.as_deref().map_or("null", RawValue::get));
        response.push_str(",\"output_items\":");
        response.push_str(&json_array(&self.history[open.output_from..]));
        response.push('}');
        self.emit(
            out,
            true,
            json!({"type": "inference_completed", "inference_call_id": open.id,
                   "response_id": null, "upstream_request_id": null,
                   "response_payload": text_ref("inference_response", &response)}),
        );
        for (call_id, name) in open.tools {
            let kind = if name == "apply_patch" {
                json!({"type": "apply_patch"})
            } else {
                json!({"type": "other", "name": name})
            };
            self.emit(
                out,
                true,
                json!({"type": "tool_call_started", "tool_call_id": call_id,
                       "model_visible_call_id": call_id, "code_mode_runtime_tool_id": null,
                       "requester": {"type": "model"}, "kind": kind,
                       "summary": {"type": "generic", "label": name,
                                   "input_preview": null, "output_preview": null},
                       "invocation_payload": null}),
            );
        }
    }

    fn root(&self) -> &str {
        self.rollout_id.as_deref().unwrap_or_default()
    }

    fn source_line(&mut self, line: u64, text: &str, out: &mut Vec<u8>) {
        let file = self.file.clone();
        self.emit(
            out,
            false,
            json!({"type": "source_line", "file": file, "line": line,
                   "line_payload": text_ref("source_line", text)}),
        );
    }

    /// Appends one wire event; `in_thread`: the envelope names the root
    /// thread and the current turn.
    fn emit(&mut self, out: &mut Vec<u8>, in_thread: bool, payload: Value) {
        self.seq += 1;
        let (thread, turn) = if in_thread {
            (Some(self.root().to_string()), self.turn.clone())
        } else {
            (None, None)
        };
        let event = json!({
            "schema_version": 1,
            "seq": self.seq,
            "wall_time_unix_ms": self.wall_time,
            "rollout_id": self.root(),
            "thread_id": thread,
            "codex_turn_id": turn,
            "payload": payload,
        });
        // A `Value` always serialises.
        out.extend_from_slice(event.to_string().as_bytes());
        out.push(b'\n');
    }
}

/// Raw JSON values as a JSON array, each value's text as read.
fn json_array(items: &[Box<RawValue>]) -> String {
    let mut text = String::from("[");
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            text.push(',');
        }
        text.push_str(item.get());
    }
    text.push(']');
    text
}

/// A payload given as its exact text.
fn text_ref(kind: &str, text: &str) -> Value {
    json!({"kind": {"type": kind}, "inline_text": text})
}

/// An RFC 3339 timestamp as Unix milliseconds.
fn unix_ms(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|at| at.as_millisecond())
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
struct SessionMeta {
    id: String,
    #[serde(default)]
    model_provider: Option<String>,
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
    info: Option<TokenInfo>,
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
