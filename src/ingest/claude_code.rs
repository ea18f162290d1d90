//! Claude Code transcripts (`~/.claude/projects/PROJECT/SESSION.jsonl`, and
//! each sub-agent's `SESSION/subagents/agent-ID.jsonl`) converted into wire
//! events, line by line, for the ordinary import.
//!
//! Every line becomes a `source_line` event holding its exact bytes. The
//! first line also starts the file's thread (and, for a session, its
//! rollout); a sub-agent's thread metadata names the session's thread as
//! the one that spawned it. Then:
//!
//! - a `user` record that is a prompt (text, not a tool result, not a
//!   meta or compaction-summary record) starts a turn; the next prompt, or
//!   a `system` `turn_duration` record, ends it;
//! - `assistant` records: Claude Code writes one record per content block,
//!   the blocks of one model response sharing `message.id`, and writes the
//!   tool results of a response between its blocks while it streams. One
//!   response is one inference call: it opens at its first block and ends
//!   when another response, a prompt, or a system record comes; its usage
//!   is that of its last record. Its request is the conversation before it
//!   as Anthropic Messages (`messages`), marked `"tracefold_reconstructed":
//!   true`, holding only what came since the previous response and naming
//!   it (`previous_response_id`) after the first call;
//! - its `tool_use` blocks start tool calls when it ends (a `Task` or
//!   `Agent` tool spawns a sub-agent: the `agent_progress` records name
//!   the sub-agent, which links the spawn to its thread), and `tool_result`
//!   blocks end them;
//! - a `system` `compact_boundary` followed by the `isCompactSummary`
//!   record: a local compaction whose checkpoint holds the conversation it
//!   replaced and the summary that replaced it.
//!
//! Everything else (progress, hooks, file-history snapshots, queue
//! operations) is kept only as its source line. As for Codex sessions,
//! each event depends only on the lines before it, so a file that grew
//! appends.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::emit::{Converter, Emitter, OpenWork, request_head, text_ref};
use crate::error::Result;

/// The state of one transcript file's conversion.
pub(crate) struct ClaudeSession {
    /// The file's name, as `source_line` events give it.
    file: String,
    thread: String,
    /// The session's thread, for a sub-agent's file.
    parent: Option<String>,
    started: bool,
    model: String,
    turn: Option<String>,
    /// The conversation so far: messages as JSON text.
    history: Vec<String>,
    /// The last completed call's response id, and the history's length when
    /// it completed.
    chain: Option<(String, usize)>,
    open: Option<OpenCall>,
    calls: u64,
    compactions: u64,
    /// A `compact_boundary` was read: the next summary record replaces the
    /// conversation.
    compacting: bool,
    /// Response ids used so far (a repeated one gets a suffix).
    responses: BTreeSet<String>,
    /// Tool calls started (by `tool_use` id): their tool name.
    tools: BTreeMap<String, String>,
    /// Sub-agents named by progress records, by the tool call that spawned
    /// them; removed once linked.
    spawned: BTreeMap<String, String>,
}

/// A model response being read.
struct OpenCall {
    id: String,
    message_id: String,
    /// Its content blocks so far.
    blocks: Vec<Value>,
    /// Its last record's message, without `content`.
    message: Value,
    /// Tool results written while it streamed: (tool use id, message text,
    /// `toolUseResult`).
    results: Vec<(String, String, Option<Value>)>,
}

impl ClaudeSession {
    pub(crate) fn new(file: String, thread: String, parent: Option<String>) -> ClaudeSession {
        ClaudeSession {
            file,
            thread,
            parent,
            started: false,
            model: String::new(),
            turn: None,
            history: Vec::new(),
            chain: None,
            open: None,
            calls: 0,
            compactions: 0,
            compacting: false,
            responses: BTreeSet::new(),
            tools: BTreeMap::new(),
            spawned: BTreeMap::new(),
        }
    }

    /// The thread (and, for a session, the rollout) the file is the log of.
    fn start(&mut self, emit: &mut Emitter) {
        self.started = true;
        let root = emit.rollout_id() == self.thread;
        if root {
            emit.emit(
                None,
                None,
                json!({"type": "rollout_started", "trace_id": self.thread,
                       "root_thread_id": self.thread}),
            );
        }
        let (path, metadata) = match (&self.parent, root) {
            (Some(parent), false) => {
                let path = format!("/root/{}", self.thread);
                let role = if self.thread.starts_with("acompact") {
                    "compact"
                } else {
                    "subagent"
                };
                let spawn = json!({"parent_thread_id": parent, "depth": 1,
                                   "agent_path": path, "agent_role": role});
                let metadata = json!({"thread_id": self.thread, "agent_path": path,
                       "agent_role": role, "source": "claude-code",
                       "session_source": {"subagent": {"thread_spawn": spawn}}});
                (path, metadata)
            }
            _ => (
                "/root".to_string(),
                json!({"thread_id": self.thread, "agent_path": "/root",
                       "source": "claude-code", "parent_thread_id": self.parent}),
            ),
        };
        emit.emit(
            None,
            None,
            json!({"type": "thread_started", "thread_id": self.thread, "agent_path": path,
                   "metadata_payload": text_ref("session_metadata", &metadata.to_string())}),
        );
    }

    fn in_thread(&self, emit: &mut Emitter, payload: Value) {
        emit.emit(Some(&self.thread), self.turn.as_deref(), payload);
    }

    fn user(&mut self, record: &Value, emit: &mut Emitter) {
        let Some(message) = record.get("message") else {
            return;
        };
        let results: Vec<String> = match message.get("content") {
            Some(Value::Array(blocks)) => blocks
                .iter()
                .filter(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"))
                .filter_map(|block| block.get("tool_use_id").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let text = message.to_string();
        let tool_use_result = record.get("toolUseResult").cloned();
        // The results of the streaming response wait for its end.
        if let Some(open) = self.open.as_mut()
            && !results.is_empty()
            && results.iter().all(|id| {
                open.blocks
                    .iter()
                    .any(|block| block.get("id").and_then(Value::as_str) == Some(id))
            })
        {
            for id in results {
                open.results
                    .push((id, text.clone(), tool_use_result.clone()));
            }
            return;
        }
        self.close_call(emit);
        let flag = |name: &str| record.get(name).and_then(Value::as_bool) == Some(true);
        if self.compacting && flag("isCompactSummary") {
            self.compacted(text, emit);
            return;
        }
        if results.is_empty() && !flag("isMeta") && !flag("isCompactSummary") {
            let turn = record.get("uuid").and_then(Value::as_str).map_or_else(
                || format!("{}:turn:{}", self.thread, self.history.len() + 1),
                str::to_string,
            );
            self.end_turn("completed", emit);
            self.start_turn(turn, emit);
        }
        for id in &results {
            self.tool_ended(id, &text, tool_use_result.as_ref(), emit);
        }
        self.history.push(text);
    }

    fn assistant(&mut self, record: &Value, emit: &mut Emitter) {
        let Some(message) = record.get("message") else {
            return;
        };
        let message_id = message
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.message_id != message_id)
        {
            self.close_call(emit);
        }
        if let Some(model) = message.get("model").and_then(Value::as_str) {
            self.model = model.to_string();
        }
        if self.open.is_none() {
            self.open_call(message_id, emit);
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if let Some(Value::Array(blocks)) = message.get("content") {
            open.blocks.extend(blocks.iter().cloned());
        }
        let mut head = message.clone();
        if let Some(head) = head.as_object_mut() {
            head.remove("content");
        }
        open.message = head;
    }

    fn open_call(&mut self, message_id: String, emit: &mut Emitter) {
        if self.turn.is_none() {
            let turn = format!("{}:turn:{}", self.thread, self.calls + 1);
            self.start_turn(turn, emit);
        }
        self.calls += 1;
        let id = format!("{}:inference:{}", self.thread, self.calls);
        let (mut request, from) =
            request_head(&self.model, self.chain.as_ref(), self.history.len());
        request.push_str("\"messages\":[");
        request.push_str(&self.history[from..].join(","));
        request.push_str("]}");
        self.in_thread(
            emit,
            json!({"type": "inference_started", "inference_call_id": id,
                   "thread_id": self.thread, "codex_turn_id": self.turn,
                   "model": self.model, "provider_name": "anthropic",
                   "request_payload": text_ref("inference_request", &request)}),
        );
        self.open = Some(OpenCall {
            id,
            message_id,
            blocks: Vec::new(),
            message: Value::Null,
            results: Vec::new(),
        });
    }

    /// Ends the response being read: the call, then its tool calls, then
    /// the results written while it streamed.
    fn close_call(&mut self, emit: &mut Emitter) {
        let Some(open) = self.open.take() else {
            return;
        };
        let mut response_id = open.message_id.clone();
        while !self.responses.insert(response_id.clone()) {
            response_id.push('+');
        }
        let mut response = open.message.clone();
        if !response.is_object() {
            response = json!({});
        }
        response["id"] = Value::String(response_id.clone());
        response["content"] = Value::Array(open.blocks.clone());
        if response.get("role").is_none() {
            response["role"] = json!("assistant");
        }
        self.in_thread(
            emit,
            json!({"type": "inference_completed", "inference_call_id": open.id,
                   "response_id": response_id, "upstream_request_id": null,
                   "response_payload": text_ref("inference_response", &response.to_string())}),
        );
        self.history
            .push(json!({"role": "assistant", "content": open.blocks}).to_string());
        self.chain = Some((response_id, self.history.len()));
        for block in &open.blocks {
            if block.get("type").and_then(Value::as_str) != Some("tool_use") {
                continue;
            }
            let (Some(id), Some(name)) = (
                block.get("id").and_then(Value::as_str),
                block.get("name").and_then(Value::as_str),
            ) else {
                continue;
            };
            let kind = match name {
                "Task" | "Agent" => json!({"type": "spawn_agent"}),
                _ => json!({"type": "other", "name": name}),
            };
            self.tools.insert(id.to_string(), name.to_string());
            self.in_thread(
                emit,
                json!({"type": "tool_call_started", "tool_call_id": id,
                       "model_visible_call_id": id, "code_mode_runtime_tool_id": null,
                       "requester": {"type": "model"}, "kind": kind,
                       "summary": {"type": "generic", "label": name,
                                   "input_preview": null, "output_preview": null},
                       "invocation_payload": text_ref("tool_invocation", &block.to_string())}),
            );
        }
        let mut pushed = BTreeSet::new();
        for (id, text, tool_use_result) in open.results {
            self.tool_ended(&id, &text, tool_use_result.as_ref(), emit);
            // A record holding several results is one message.
            if pushed.insert(text.clone()) {
                self.history.push(text);
            }
        }
    }

    /// A tool call's end (and, for a spawn, the sub-agent it made).
    fn tool_ended(
        &mut self,
        id: &str,
        message: &str,
        tool_use_result: Option<&Value>,
        emit: &mut Emitter,
    ) {
        if self.tools.remove(id).is_none() {
            return;
        }
        let agent = tool_use_result
            .and_then(|result| result.get("agentId"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.spawned.remove(id));
        if let Some(agent) = agent {
            let runtime = json!({"call_id": id, "new_thread_id": agent,
                                 "sender_thread_id": self.thread, "status": "completed"});
            self.in_thread(
                emit,
                json!({"type": "tool_call_runtime_ended", "tool_call_id": id,
                       "status": "completed",
                       "runtime_payload": text_ref("tool_runtime_event", &runtime.to_string())}),
            );
        }
        let failed = message.contains("\"is_error\":true");
        self.in_thread(
            emit,
            json!({"type": "tool_call_ended", "tool_call_id": id,
                   "status": if failed { "failed" } else { "completed" },
                   "result_payload": text_ref("tool_result", message)}),
        );
    }

    /// The summary that replaced the conversation after a compact boundary.
    fn compacted(&mut self, summary: String, emit: &mut Emitter) {
        self.compacting = false;
        let replacement = vec![summary];
        if self.turn.is_some() {
            self.compactions += 1;
            let id = format!("{}:compaction:{}", self.thread, self.compactions);
            let checkpoint = format!(
                "{{\"input_history\":[{}],\"replacement_history\":[{}]}}",
                self.history.join(","),
                replacement.join(",")
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

    fn system(&mut self, record: &Value, emit: &mut Emitter) {
        self.close_call(emit);
        match record.get("subtype").and_then(Value::as_str) {
            Some("compact_boundary") => self.compacting = true,
            Some("turn_duration") => self.end_turn("completed", emit),
            _ => {}
        }
    }

    fn progress(&mut self, record: &Value) {
        let data = record.get("data");
        if data.and_then(|d| d.get("type")).and_then(Value::as_str) != Some("agent_progress") {
            return;
        }
        if let (Some(agent), Some(tool)) = (
            data.and_then(|d| d.get("agentId")).and_then(Value::as_str),
            record.get("parentToolUseID").and_then(Value::as_str),
        ) {
            self.spawned
                .entry(tool.to_string())
                .or_insert_with(|| agent.to_string());
        }
    }

    fn start_turn(&mut self, turn: String, emit: &mut Emitter) {
        self.turn = Some(turn.clone());
        emit.emit(
            Some(&self.thread),
            Some(&turn),
            json!({"type": "codex_turn_started", "codex_turn_id": turn,
                   "thread_id": self.thread}),
        );
    }

    fn end_turn(&mut self, status: &str, emit: &mut Emitter) {
        self.close_call(emit);
        if let Some(turn) = self.turn.take() {
            emit.emit(
                Some(&self.thread),
                Some(&turn),
                json!({"type": "codex_turn_ended", "codex_turn_id": turn, "status": status}),
            );
        }
    }
}

impl Converter for ClaudeSession {
    fn convert(&mut self, line: u64, raw: &[u8], emit: &mut Emitter) -> Result<()> {
        let parsed = std::str::from_utf8(raw)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(|text| {
                serde_json::from_str::<Value>(text.trim_end_matches(['\n', '\r']))
                    .map_err(|err| format!("not a JSON record: {err}"))
                    .and_then(|record| match record.is_object() {
                        true => Ok((text, record)),
                        false => Err("not a JSON object".to_string()),
                    })
            });
        let (text, record) = match parsed {
            Ok(parsed) => parsed,
            // A transcript's thread is known from its path: any line that
            // is not a record is kept as is, the first one too.
            Err(why) => {
                if !self.started {
                    self.start(emit);
                }
                emit.unconverted(&self.file, line, raw, &why);
                return Ok(());
            }
        };
        emit.at(record.get("timestamp").and_then(Value::as_str));
        if !self.started {
            self.start(emit);
        }
        emit.source_line(&self.file, line, text);
        match record.get("type").and_then(Value::as_str) {
            Some("user") => self.user(&record, emit),
            Some("assistant") => self.assistant(&record, emit),
            Some("system") => self.system(&record, emit),
            Some("progress") => self.progress(&record),
            _ => {}
        }
        Ok(())
    }

    fn open_work(&self) -> OpenWork<'_> {
        OpenWork {
            call: self.open.as_ref().map(|open| open.id.as_str()),
            turn: self.turn.as_deref(),
        }
    }

    /// Claude Code writes no end for a session's last response or turn.
    fn finish(&mut self, emit: &mut Emitter) {
        self.end_turn("completed", emit);
    }
}
