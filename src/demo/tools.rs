//! Tools: shell commands as terminal operations, JavaScript exec cells run
//! by the real code-mode runtime (with a yield and a wait), the model's
//! function tool calls and their results, and [`ScriptedTools`], the
//! scripted answers to an exec cell's nested tool calls.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Host;
use super::agents::Agent;
use super::script::{function_call, function_output};
use crate::codemode::{
    CodeModeTraceSink, ExecuteRequest, NestedToolCall, ToolDefinition, ToolHost, WaitRequest,
};
use crate::event::{
    ExecutionStatus, RawToolCallRequester, ToolCallKind, ToolCallSummary, truncate_utf8,
};
use crate::recorder::{ToolCallRecorder, ToolCallStart, TurnRecorder};

/// Answers nested tool calls from exec cells with scripted results.
pub(super) struct ScriptedTools;

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

impl Host<'_> {
    pub(super) fn shell(&mut self, agent: &mut Agent, turn: &TurnRecorder, turn_index: u32) {
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

    pub(super) fn code_cell(&mut self, agent: &mut Agent, turn: &TurnRecorder, turn_index: u32) {
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
    pub(super) fn call_tool(
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
    pub(super) fn tool_returns(
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
}
