//! The built-in simulated agent host behind `tracefold demo`.
//!
//! It behaves like a coding agent, not a loop of identical events: a root
//! agent with a system prompt and tool definitions, inference requests that
//! resend the growing conversation, scripted responses with reasoning,
//! messages and tool calls, shell commands as terminal operations, JavaScript
//! exec cells run by the real code-mode runtime (nested tools, a yield and a
//! wait), spawned child agents that get tasks, receive messages, return
//! results and are closed, a remote compaction once the conversation grows
//! past a threshold, and one interrupted turn. Everything goes through the
//! public recorder API.
//!
//! The script is deterministic for a seed; generated ids (rollout, threads,
//! inference calls) and wall times are not, as with a real host. The module
//! never prints: the CLI renders its [`DemoReport`].

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::codemode::{
    CodeModeService, CodeModeTraceSink, ExecuteRequest, NestedToolCall, ToolDefinition, ToolHost,
    WaitRequest,
};
use crate::event::{
    ExecutionStatus, RawToolCallRequester, RolloutStatus, ToolCallKind, ToolCallSummary,
    truncate_utf8,
};
use crate::recorder::{
    ChildSpawn, Recorder, RolloutStart, ThreadRecorder, ThreadStart, ToolCallRecorder,
    ToolCallStart, TurnRecorder,
};
use crate::replay::ReplaySource;

/// How big a demo run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoConfig {
    /// Turns of the root agent.
    pub turns: u32,
    /// Child agents the root spawns (each gets a task, a message, returns a
    /// result and is closed).
    pub agents: u32,
    pub seed: u64,
    /// Conversation size (bytes of JSON) past which the root compacts.
    pub compaction_threshold_bytes: usize,
}

impl Default for DemoConfig {
    fn default() -> DemoConfig {
        DemoConfig {
            turns: 12,
            agents: 2,
            seed: 7,
            compaction_threshold_bytes: 24 * 1024,
        }
    }
}

/// What the simulated host did, as the script knows it (the reduced state
/// says the same from the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    pub rollout_id: String,
    pub root_thread_id: String,
    /// `(agent path, thread id)` of every thread, root first.
    pub threads: Vec<(String, String)>,
    pub turns: u64,
    pub inference_calls: u64,
    pub tool_calls: u64,
    pub code_cells: u64,
    pub terminal_commands: u64,
    pub compactions: u64,
    pub interrupted_turns: u64,
}

/// A tiny deterministic generator (xorshift64*), so the script depends on the
/// seed only.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn words(&mut self, count: usize) -> String {
        const WORDS: &[&str] = &[
            "the",
            "parser",
            "rejects",
            "a",
            "trailing",
            "comma",
            "in",
            "config",
            "file",
            "so",
            "we",
            "should",
            "update",
            "tests",
            "and",
            "check",
            "error",
            "message",
            "for",
            "line",
            "number",
            "module",
            "returns",
            "result",
            "instead",
            "of",
            "panicking",
            "when",
            "input",
            "is",
            "empty",
            "cache",
            "invalidates",
            "entry",
            "after",
            "write",
            "flush",
            "batch",
        ];
        let mut out = String::new();
        for index in 0..count {
            if index > 0 {
                out.push(' ');
            }
            out.push_str(self.pick(WORDS));
        }
        out
    }

    fn blob(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..len)
            .map(|_| char::from(ALPHABET[self.below(64) as usize]))
            .collect()
    }
}

/// The model the demo's sub-agents run on.
const CHILD_MODEL: &str = "gpt-5-codex-mini";

const SYSTEM_PROMPT: &str = "You are a coding agent working in a Rust repository. Read before you \
edit, run the tests after every change, and explain what you changed. Use exec_command for shell \
commands, exec for JavaScript that calls tools, spawn_agent to delegate a self-contained task to a \
sub-agent, send_message to talk to it and close_agent when it is done.";

fn tool_definitions() -> Value {
    json!([
        {"type": "function", "name": "exec_command", "description": "Runs a shell command in a terminal session.",
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}, "workdir": {"type": "string"}, "yield_time_ms": {"type": "integer"}}, "required": ["cmd"]}},
        {"type": "function", "name": "write_stdin", "description": "Writes to a running terminal session.",
         "parameters": {"type": "object", "properties": {"session_id": {"type": "integer"}, "chars": {"type": "string"}}, "required": ["session_id"]}},
        {"type": "custom", "name": "exec", "description": "Runs JavaScript with tools.* bound to nested tools; store/load keep values between cells."},
        {"type": "function", "name": "wait", "description": "Waits on a running exec cell.",
         "parameters": {"type": "object", "properties": {"cell_id": {"type": "string"}, "yield_time_ms": {"type": "integer"}, "terminate": {"type": "boolean"}}, "required": ["cell_id"]}},
        {"type": "function", "name": "spawn_agent", "description": "Starts a sub-agent with a task.",
         "parameters": {"type": "object", "properties": {"message": {"type": "string"}, "agent_type": {"type": "string"}}, "required": ["message"]}},
        {"type": "function", "name": "send_message", "description": "Sends a message to a sub-agent.",
         "parameters": {"type": "object", "properties": {"target": {"type": "string"}, "message": {"type": "string"}}, "required": ["target", "message"]}},
        {"type": "function", "name": "close_agent", "description": "Closes a sub-agent.",
         "parameters": {"type": "object", "properties": {"target": {"type": "string"}}, "required": ["target"]}}
    ])
}

fn message(role: &str, text: &str) -> Value {
    let part = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    json!({"type": "message", "role": role, "content": [{"type": part, "text": text}]})
}

fn agent_message(author: &str, recipient: &str, text: &str) -> Value {
    json!({"type": "agent_message", "author": author, "recipient": recipient,
           "content": [{"type": "input_text", "text": text}]})
}

fn function_call(call_id: &str, name: &str, arguments: &Value) -> Value {
    json!({"type": "function_call", "name": name, "arguments": arguments.to_string(), "call_id": call_id})
}

fn function_output(call_id: &str, output: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": output})
}

/// One agent's conversation and its recorder handle.
struct Agent {
    thread: ThreadRecorder,
    path: String,
    model: &'static str,
    conversation: Vec<Value>,
    /// Inter-agent items delivered to this agent, not yet in a request.
    inbox: Arc<Mutex<Vec<Value>>>,
}

impl Agent {
    fn take_inbox(&mut self) {
        let mut inbox = self
            .inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.conversation.append(&mut inbox);
    }

    /// Whether inter-agent items wait in the inbox (a poisoned inbox counts
    /// as empty).
    fn has_mail(&self) -> bool {
        self.inbox.lock().is_ok_and(|inbox| !inbox.is_empty())
    }

    fn conversation_bytes(&self) -> usize {
        self.conversation
            .iter()
            .map(|item| item.to_string().len())
            .sum()
    }
}

/// Answers nested tool calls from exec cells with scripted results.
struct ScriptedTools;

impl ToolHost for ScriptedTools {
    fn call_tool(&self, call: NestedToolCall) -> Result<Value, String> {
        match call.tool_name.as_str() {
            "read_file" => {
                let path = call
                    .input
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                Ok(
                    json!({"path": path, "content": format!("// {path}\npub fn parse(input: &str) -> Result<Config, Error> {{ todo!() }}\n")}),
                )
            }
            "list_dir" => Ok(json!({"entries": ["lib.rs", "parser.rs", "config.rs", "error.rs"]})),
            "exec_command" => {
                Ok(json!({"output": "test result: ok. 12 passed; 0 failed", "exit_code": 0}))
            }
            other => Err(format!("unknown tool {other}")),
        }
    }
}

/// The simulated host.
struct Host<'a> {
    config: DemoConfig,
    rng: Rng,
    code_mode: CodeModeService,
    report: DemoReport,
    recorder: &'a Recorder,
    next_terminal: u64,
    /// When set, model outputs come from a recording instead of the script.
    replay: Option<&'a mut ReplaySource>,
}

/// Runs the simulated host into `recorder`'s store. Returns what it did; the
/// caller flushes, reduces and reports.
pub fn run(recorder: &Recorder, config: DemoConfig) -> DemoReport {
    run_host(recorder, config, None)
}

/// Runs the simulated host with its model outputs answered by `replay` (a
/// recorded rollout) instead of its script: the record/replay test loop. A
/// request the recording cannot answer falls back to the script; `replay`
/// lists such misses.
pub fn run_replayed(
    recorder: &Recorder,
    config: DemoConfig,
    replay: &mut ReplaySource,
) -> DemoReport {
    run_host(recorder, config, Some(replay))
}

fn run_host(
    recorder: &Recorder,
    config: DemoConfig,
    replay: Option<&mut ReplaySource>,
) -> DemoReport {
    let mut host = Host {
        config,
        rng: Rng::new(config.seed),
        code_mode: CodeModeService::quickjs(Arc::new(ScriptedTools)),
        report: DemoReport::default(),
        recorder,
        next_terminal: 1,
        replay,
    };
    host.run();
    host.report
}

impl Host<'_> {
    fn run(&mut self) {
        let root_thread_id = uuid::Uuid::new_v4().to_string();
        let rollout = self.recorder.start_rollout(RolloutStart {
            rollout_id: None,
            trace_id: None,
            root: ThreadStart {
                thread_id: root_thread_id.clone(),
                agent_path: "/root".to_string(),
                // The reference's `ThreadStartedTraceMetadata`, every field.
                metadata: Some(json!({
                    "thread_id": root_thread_id, "agent_path": "/root", "task_name": null,
                    "nickname": null, "agent_role": null, "session_source": "cli",
                    "cwd": "/work/repo", "rollout_path": null, "model": "gpt-5-codex",
                    "provider_name": "openai", "approval_policy": "on-request",
                    "sandbox_policy": "workspace-write"
                })),
            },
        });
        self.report.rollout_id = rollout.rollout_id().to_string();
        self.report.root_thread_id = root_thread_id.clone();
        self.report
            .threads
            .push(("/root".to_string(), root_thread_id));
        let mut root = Agent {
            thread: rollout.root(),
            path: "/root".to_string(),
            model: "gpt-5-codex",
            conversation: vec![message("developer", SYSTEM_PROMPT)],
            inbox: Arc::new(Mutex::new(Vec::new())),
        };
        let mut children: Vec<Agent> = Vec::new();
        // Each child gets one follow-up message on the turn after its spawn.
        let mut messaged = 0usize;
        let interrupted_turn = (self.config.turns / 2).max(1);
        for turn_index in 1..=self.config.turns {
            let turn = root.thread.start_turn(format!("turn-{turn_index:03}"));
            self.report.turns += 1;
            let words = 12 + self.rng.below(20) as usize;
            let task = self.rng.words(words);
            root.conversation
                .push(message("user", &format!("Turn {turn_index}: {task}")));
            root.take_inbox();
            if turn_index == interrupted_turn {
                self.interrupted(&mut root, &turn);
                continue;
            }
            if messaged < children.len() {
                let child = &children[messaged];
                self.send_message(&mut root, &turn, child);
                messaged += 1;
            }
            let spawn_now = (children.len() as u32) < self.config.agents && turn_index % 3 == 2;
            match (turn_index % 4, spawn_now) {
                (_, true) => {
                    let child = self.spawn_child(&mut root, &turn, children.len());
                    children.push(child);
                }
                (0, _) => self.code_cell(&mut root, &turn, turn_index),
                (1, _) => self.shell(&mut root, &turn, turn_index),
                (2, _) => self.code_cell(&mut root, &turn, turn_index),
                _ => self.shell(&mut root, &turn, turn_index),
            }
            // Children with work pending take a turn and report back.
            for child in &mut children {
                if child.has_mail() {
                    self.child_turn(child, &root);
                }
            }
            if turn_index % 4 == 3
                && messaged == children.len()
                && let Some(child) = children.first()
            {
                self.send_message(&mut root, &turn, child);
            }
            self.final_answer(&mut root, &turn);
            if root.conversation_bytes() > self.config.compaction_threshold_bytes {
                self.compact(&mut root, &turn);
            }
            turn.end(ExecutionStatus::Completed);
        }
        // Children that still have mail finish it, then every child is closed.
        for child in &mut children {
            if child.has_mail() {
                self.child_turn(child, &root);
            }
        }
        if !children.is_empty() {
            let turn = root
                .thread
                .start_turn(format!("turn-{:03}", self.config.turns + 1));
            self.report.turns += 1;
            root.conversation
                .push(message("user", "Wrap up and close the helpers."));
            root.take_inbox();
            for child in &children {
                self.close_child(&mut root, &turn, child);
            }
            self.final_answer(&mut root, &turn);
            turn.end(ExecutionStatus::Completed);
        }
        rollout.end(RolloutStatus::Completed);
    }

    /// One inference call: records the full request and the response, and
    /// appends the output items to the conversation.
    fn infer(&mut self, agent: &mut Agent, turn: &TurnRecorder, output_items: Vec<Value>) {
        let request = json!({
            "model": agent.model,
            "instructions": SYSTEM_PROMPT,
            "tools": tool_definitions(),
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "input": agent.conversation,
        });
        let output_items = match self.replay.as_deref_mut() {
            Some(replay) => replay
                .answer(&agent.path, &request)
                .and_then(|response| {
                    response
                        .get("output_items")
                        .and_then(Value::as_array)
                        .cloned()
                })
                .unwrap_or(output_items),
            None => output_items,
        };
        let call = turn.start_inference(agent.model, "openai", || request);
        let response_id = format!("resp_{}", self.rng.blob(24));
        let input_tokens = agent.conversation_bytes() as u64 / 4;
        let output_tokens: u64 = output_items
            .iter()
            .map(|item| item.to_string().len() as u64 / 4)
            .sum();
        let response = json!({
            "response_id": response_id,
            "upstream_request_id": format!("req_{}", self.rng.blob(16)),
            "token_usage": {"input_tokens": input_tokens, "cached_input_tokens": input_tokens * 3 / 4,
                            "output_tokens": output_tokens, "reasoning_output_tokens": output_tokens / 3},
            "output_items": output_items,
        });
        let upstream = response["upstream_request_id"].as_str().map(str::to_string);
        call.completed(Some(&response_id), upstream.as_deref(), || response);
        self.report.inference_calls += 1;
        agent.conversation.extend(output_items);
    }

    fn reasoning(&mut self) -> Value {
        let summary = self.rng.words(18);
        json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": summary}],
               "encrypted_content": format!("gAAAAB{}", self.rng.blob(600))})
    }

    fn shell(&mut self, agent: &mut Agent, turn: &TurnRecorder, turn_index: u32) {
        let cmd = self.rng.pick(&[
            "cargo test -p parser 2>&1 | tail -20",
            "rg -n 'fn parse' src",
            "cargo clippy --all-targets",
            "git diff --stat",
            "ls -la src",
        ]);
        let call_id = format!("call_{turn_index:03}_shell");
        let arguments = json!({"cmd": cmd, "workdir": "/work/repo", "yield_time_ms": 10000});
        let reasoning = self.reasoning();
        self.infer(
            agent,
            turn,
            vec![
                reasoning,
                function_call(&call_id, "exec_command", &arguments),
            ],
        );
        let process_id = format!("{}", 1000 + self.next_terminal);
        self.next_terminal += 1;
        let lines = 8 + self.rng.below(40);
        let stdout = (0..lines)
            .map(|line| format!("{line:>4}: {}", self.rng.words(10)))
            .collect::<Vec<_>>()
            .join("\n");
        let tool = turn.start_tool_call(
            ToolCallStart {
                tool_call_id: Some(call_id.clone()),
                model_visible_call_id: Some(call_id.clone()),
                code_mode_runtime_tool_id: None,
                requester: RawToolCallRequester::Model,
                kind: ToolCallKind::ExecCommand,
                summary: ToolCallSummary::Generic {
                    label: "exec_command".to_string(),
                    input_preview: Some(truncate_utf8(cmd, 160).to_string()),
                    output_preview: None,
                },
            },
            || {
                Some(json!({"tool_name": "exec_command", "tool_namespace": null,
                           "payload": {"type": "function", "arguments": arguments.to_string()}}))
            },
        );
        let command = vec!["bash".to_string(), "-lc".to_string(), cmd.to_string()];
        // codex-protocol's `ExecCommandBeginEvent` / `ExecCommandEndEvent`,
        // every field they require included.
        let parsed_cmd = json!([{"type": "unknown", "cmd": cmd}]);
        let turn_id = turn.turn_id();
        tool.runtime_started(|| {
            json!({"call_id": call_id, "process_id": process_id, "turn_id": turn_id,
                   "command": command, "cwd": "/work/repo", "parsed_cmd": parsed_cmd,
                   "source": "unified_exec_startup"})
        });
        tool.runtime_ended(ExecutionStatus::Completed, || {
            json!({
                "call_id": call_id, "process_id": process_id, "turn_id": turn_id,
                "command": command, "cwd": "/work/repo", "parsed_cmd": parsed_cmd,
                "source": "unified_exec_startup",
                "stdout": stdout, "stderr": "", "aggregated_output": stdout, "exit_code": 0,
                "duration": {"secs": 1, "nanos": 250_000_000}, "formatted_output": stdout,
                "status": "completed"
            })
        });
        let output = format!("Process exited with code 0\nOutput:\n{stdout}");
        self.tool_returns(agent, tool, &call_id, &output);
        self.report.terminal_commands += 1;
    }

    fn code_cell(&mut self, agent: &mut Agent, turn: &TurnRecorder, turn_index: u32) {
        let call_id = format!("call_{turn_index:03}_exec");
        // Every other cell outlives its first observation and is waited on.
        let yields = turn_index % 4 == 2;
        let source = if yields {
            "const files = await tools.list_dir({path: \"src\"});\n\
             text(`found ${files.entries.length} files`);\n\
             yield_control();\n\
             await new Promise((resolve) => setTimeout(resolve, 20));\n\
             const parser = await tools.read_file({path: \"src/parser.rs\"});\n\
             store(\"parser_len\", parser.content.length);\n\
             text(parser.content);\n"
        } else {
            "const files = await tools.list_dir({path: \"src\"});\n\
             for (const name of files.entries.slice(0, 2)) {\n\
               const file = await tools.read_file({path: `src/${name}`});\n\
               text(`${name}: ${file.content.length} bytes`);\n\
             }\n\
             const seen = load(\"cells_run\") ?? 0;\n\
             store(\"cells_run\", seen + 1);\n"
        };
        let reasoning = self.reasoning();
        self.infer(agent, turn, vec![
            reasoning,
            json!({"type": "custom_tool_call", "name": "exec", "input": source, "call_id": call_id}),
        ]);
        let cell_id = self.code_mode.allocate_cell_id();
        let sink: Arc<dyn CodeModeTraceSink> = Arc::new(turn.clone());
        let request = ExecuteRequest {
            cell_id: cell_id.clone(),
            tool_call_id: call_id.clone(),
            enabled_tools: vec![
                ToolDefinition::new("read_file", "Reads a file."),
                ToolDefinition::new("list_dir", "Lists a directory."),
            ],
            source: source.to_string(),
            stored_values: Default::default(),
            // The yielding cell yields explicitly after its first output, so
            // what the model sees first does not depend on timing.
            yield_time_ms: Some(30_000),
            max_output_tokens: Some(2_000),
        };
        let first = match self.code_mode.execute(request, Arc::clone(&sink)) {
            Ok(response) => response.text(),
            Err(err) => format!("exec failed: {err}"),
        };
        let output = json!({"type": "custom_tool_call_output", "call_id": call_id,
                            "output": format!("Script running with cell ID {cell_id}\nOutput:\n{first}")});
        agent.conversation.push(output);
        self.report.code_cells += 1;
        if yields {
            // The model waits for the running cell in a follow-up call.
            let wait_call = format!("call_{turn_index:03}_wait");
            let arguments = json!({"cell_id": cell_id, "yield_time_ms": 5000});
            self.infer(
                agent,
                turn,
                vec![function_call(&wait_call, "wait", &arguments)],
            );
            let waited = self
                .code_mode
                .wait_traced(&wait_call, WaitRequest::new(cell_id.clone(), 5_000), sink)
                .map(|outcome| outcome.response().text())
                .unwrap_or_else(|err| format!("wait failed: {err}"));
            agent
                .conversation
                .push(function_output(&wait_call, &waited));
            self.report.tool_calls += 1;
        }
    }

    /// The model calls function tool `name`: one inference whose response is
    /// the call, then the tool call's start with its invocation payload.
    fn call_tool(
        &mut self,
        agent: &mut Agent,
        turn: &TurnRecorder,
        call_id: &str,
        name: &str,
        kind: ToolCallKind,
        arguments: &Value,
    ) -> ToolCallRecorder {
        self.infer(agent, turn, vec![function_call(call_id, name, arguments)]);
        turn.start_tool_call(
            ToolCallStart {
                tool_call_id: Some(call_id.to_string()),
                model_visible_call_id: Some(call_id.to_string()),
                code_mode_runtime_tool_id: None,
                requester: RawToolCallRequester::Model,
                kind,
                summary: ToolCallSummary::generic(name),
            },
            || {
                Some(json!({"tool_name": name, "tool_namespace": null,
                            "payload": {"type": "function", "arguments": arguments.to_string()}}))
            },
        )
    }

    /// The tool returns `output` to the model, which sees it in its next
    /// request.
    fn tool_returns(
        &mut self,
        agent: &mut Agent,
        tool: ToolCallRecorder,
        call_id: &str,
        output: &str,
    ) {
        let output = function_output(call_id, output);
        tool.ended(ExecutionStatus::Completed, || {
            Some(json!({"type": "direct_response", "response_item": output}))
        });
        agent.conversation.push(output);
        self.report.tool_calls += 1;
    }

    fn spawn_child(&mut self, root: &mut Agent, turn: &TurnRecorder, index: usize) -> Agent {
        let role = ["reviewer", "tester", "explorer"][index % 3];
        let path = format!("/root/{role}{}", index + 1);
        let task = format!(
            "Review {} and report problems.",
            self.rng
                .pick(&["src/parser.rs", "src/config.rs", "the error handling"])
        );
        let call_id = format!("call_spawn_{}", index + 1);
        let arguments = json!({"message": task, "agent_type": role});
        let tool = self.call_tool(
            root,
            turn,
            &call_id,
            "spawn_agent",
            ToolCallKind::SpawnAgent,
            &arguments,
        );
        let child_id = uuid::Uuid::new_v4().to_string();
        let nickname = ["Ada", "Grace", "Edsger"][index % 3];
        // The tool call spawns the child: the recorder writes the spawn's
        // runtime payloads (codex-protocol's `CollabAgentSpawnBeginEvent` and
        // `CollabAgentSpawnEndEvent`) and the child's spawn origin, from which
        // the reducer builds the child's origin and the spawn edge.
        let thread = tool.spawn_child(
            ThreadStart {
                thread_id: child_id.clone(),
                agent_path: path.clone(),
                // The reference's `ThreadStartedTraceMetadata`; the recorder
                // adds `session_source`.
                metadata: Some(json!({
                    "thread_id": child_id, "agent_path": path,
                    "task_name": format!("{role}{}", index + 1), "nickname": nickname,
                    "agent_role": role, "cwd": "/work/repo", "rollout_path": null,
                    "model": CHILD_MODEL, "provider_name": "openai", "approval_policy": "never",
                    "sandbox_policy": "workspace-write"
                })),
            },
            ChildSpawn {
                prompt: task.clone(),
                model: CHILD_MODEL.to_string(),
                reasoning_effort: "medium".to_string(),
            },
        );
        let output = json!({"agent_id": child_id, "nickname": path}).to_string();
        self.tool_returns(root, tool, &call_id, &output);
        self.report.threads.push((path.clone(), child_id));
        Agent {
            thread,
            path: path.clone(),
            model: CHILD_MODEL,
            conversation: vec![message(
                "developer",
                "You are a sub-agent. Do the task you are given and report back briefly.",
            )],
            inbox: Arc::new(Mutex::new(vec![agent_message("/root", &path, &task)])),
        }
    }

    /// A child takes a turn on its inbox and reports its result to the root.
    fn child_turn(&mut self, child: &mut Agent, root: &Agent) {
        let turn = child.thread.start_turn(uuid::Uuid::new_v4().to_string());
        self.report.turns += 1;
        child.take_inbox();
        let reasoning = self.reasoning();
        let result = format!("Done: {}", self.rng.words(16));
        self.infer(child, &turn, vec![reasoning, message("assistant", &result)]);
        turn.end(ExecutionStatus::Completed);
        // Delivery first; the edge is recorded only if it succeeded.
        let parent_inbox = Arc::clone(&root.inbox);
        let notification = agent_message(&child.path, &root.path, &result);
        let _: Result<(), String> = turn.deliver_agent_result(
            root.thread.thread_id(),
            &result,
            // The reference's `AgentResultTracePayload`: `status` is
            // codex-protocol's `AgentStatus` (`Completed(Option<String>)`).
            || Some(json!({"child_agent_path": child.path, "message": result, "status": {"completed": result}})),
            || {
                parent_inbox
                    .lock()
                    .map_err(|_| "parent inbox poisoned".to_string())?
                    .push(notification);
                Ok(())
            },
        );
    }

    fn send_message(&mut self, root: &mut Agent, turn: &TurnRecorder, child: &Agent) {
        let call_id = format!("call_msg_{}", self.rng.blob(8));
        let text = format!("Also check {}", self.rng.words(6));
        let arguments = json!({"target": child.path, "message": text});
        let tool = self.call_tool(
            root,
            turn,
            &call_id,
            "send_message",
            ToolCallKind::SendMessage,
            &arguments,
        );
        tool.runtime_started(|| json!({"call_id": call_id, "sender_thread_id": root.thread.thread_id(),
                                       "receiver_thread_id": child.thread.thread_id(), "prompt": text}));
        if let Ok(mut inbox) = child.inbox.lock() {
            inbox.push(agent_message(&root.path, &child.path, &text));
        }
        tool.runtime_ended(ExecutionStatus::Completed, || json!({"call_id": call_id, "sender_thread_id": root.thread.thread_id(),
                                       "receiver_thread_id": child.thread.thread_id(), "prompt": text, "status": "running"}));
        self.tool_returns(root, tool, &call_id, "delivered");
    }

    fn close_child(&mut self, root: &mut Agent, turn: &TurnRecorder, child: &Agent) {
        let call_id = format!("call_close_{}", self.rng.blob(8));
        let arguments = json!({"target": child.path});
        let tool = self.call_tool(
            root,
            turn,
            &call_id,
            "close_agent",
            ToolCallKind::CloseAgent,
            &arguments,
        );
        tool.runtime_started(|| {
            json!({"call_id": call_id, "sender_thread_id": root.thread.thread_id(),
                                       "receiver_thread_id": child.thread.thread_id()})
        });
        child.thread.end(RolloutStatus::Completed);
        tool.runtime_ended(ExecutionStatus::Completed, || json!({"call_id": call_id, "sender_thread_id": root.thread.thread_id(),
                                       "receiver_thread_id": child.thread.thread_id(), "status": "shutdown"}));
        self.tool_returns(root, tool, &call_id, "closed");
    }

    fn final_answer(&mut self, agent: &mut Agent, turn: &TurnRecorder) {
        let words = 30 + self.rng.below(60) as usize;
        let text = self.rng.words(words);
        self.infer(agent, turn, vec![message("assistant", &text)]);
    }

    /// The user interrupts while the model is still answering.
    fn interrupted(&mut self, agent: &mut Agent, turn: &TurnRecorder) {
        let request = json!({"model": agent.model, "instructions": SYSTEM_PROMPT, "tools": tool_definitions(),
                             "input": agent.conversation});
        // A replayed run asks too, so its calls line up with the recording's
        // (the recorded call has no response: it was cancelled).
        if let Some(replay) = self.replay.as_deref_mut() {
            let _ = replay.answer(&agent.path, &request);
        }
        let call = turn.start_inference(agent.model, "openai", || request);
        self.report.inference_calls += 1;
        call.cancelled(None, "turn interrupted by the user", || None::<Value>);
        turn.end(ExecutionStatus::Cancelled);
        self.report.interrupted_turns += 1;
    }

    /// Remote compaction: the history is summarised upstream and replaced.
    fn compact(&mut self, agent: &mut Agent, turn: &TurnRecorder) {
        let compaction_id = format!("compaction_{}", self.rng.blob(12));
        let compaction = turn.compaction(compaction_id.clone());
        let request = json!({"model": agent.model, "input": agent.conversation, "instructions": "Summarise the conversation so far."});
        let summary = json!({"type": "compaction", "encrypted_content": format!("gAAAAC{}", self.rng.blob(900))});
        let attempt =
            compaction.start_request(&format!("{compaction_id}:1"), agent.model, "openai", || {
                request
            });
        let response = json!({"output_items": [summary]});
        attempt.completed(|| response);
        let last_user = agent
            .conversation
            .iter()
            .rev()
            .find(|item| item["role"] == "user")
            .cloned()
            .unwrap_or_else(|| message("user", "continue"));
        let replacement = vec![message("developer", SYSTEM_PROMPT), last_user, summary];
        let checkpoint =
            json!({"input_history": agent.conversation, "replacement_history": replacement});
        compaction.installed(|| checkpoint);
        agent.conversation = replacement;
        self.report.compactions += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_script_generator_is_deterministic_for_a_seed() {
        let mut one = Rng::new(5);
        let mut two = Rng::new(5);
        assert_eq!(one.words(20), two.words(20));
        assert_ne!(Rng::new(5).next(), Rng::new(6).next());
    }
}
