//! The runtime objects of one rollout, one function per category: inference
//! calls, tool calls, code cells, terminal operations, compactions,
//! terminal sessions and interaction edges. `model_visible_only` skips them
//! all; `opaque_tool_output` drops the facts that carry tool output.

use super::align::Side;
use super::category::Category;
use super::fact::{Entry, Sink, in_order, plain};
use super::render::window;
use crate::model::{TerminalRequest, ToolCallRequester, ToolCallSummary};

impl Side<'_> {
    /// Inference calls: status, provider, model, request (payload, or the
    /// items sent when tool output is opaque), response, calls started,
    /// token usage and error.
    pub(super) fn inference_entries(&self, sink: &mut Sink) {
        let policy = self.policy;
        let calls = in_order(self.trace.inference_calls.values(), |x| {
            x.execution.started_seq
        });
        for call in calls {
            let path = self.path(&call.thread_id);
            let n = sink.peek(&path, Category::Inference);
            let mut facts = vec![
                plain("status", window(&call.execution)),
                plain("provider", call.provider_name.clone()),
            ];
            if !policy.ignore_model {
                facts.push(plain("model", call.model.clone()));
            }
            if policy.opaque_tool_output {
                facts.push(plain(
                    "request items",
                    self.names_of(&call.request_item_ids),
                ));
            } else {
                facts.push(self.payload("request payload", Some(&call.raw_request_payload_id)));
            }
            facts.push(self.payload("response payload", call.raw_response_payload_id.as_deref()));
            facts.push(plain(
                "response items",
                self.names_of(&call.response_item_ids),
            ));
            facts.push(plain(
                "tool calls started",
                self.names_of(&call.tool_call_ids_started_by_response),
            ));
            if !policy.ignore_token_usage {
                facts.push(plain("token usage", format!("{:?}", call.usage)));
            }
            facts.push(plain(
                "error",
                call.error
                    .as_deref()
                    .map(|e| self.normalize_text(e))
                    .unwrap_or_default(),
            ));
            sink.add(
                Category::Inference,
                Entry {
                    seq: call.execution.started_seq,
                    thread: path,
                    turn: self.turn(Some(&call.codex_turn_id)),
                    subject: format!("inference call {n}"),
                    id: Some(call.inference_call_id.clone()),
                    facts,
                },
            );
        }
    }

    /// Tool calls: kind, requester, call id, arguments, invocation, status,
    /// summary, model-visible items, and (unless opaque) result and runtime
    /// payloads.
    pub(super) fn tool_entries(&self, sink: &mut Sink) {
        let tools = in_order(self.trace.tool_calls.values(), |x| x.execution.started_seq);
        for tool in tools {
            let kind = tool.kind.name();
            let requester = match &tool.requester {
                ToolCallRequester::Model => "model".to_string(),
                ToolCallRequester::CodeCell { code_cell_id } => self.name(code_cell_id),
            };
            let summary = match &tool.summary {
                ToolCallSummary::Terminal { operation_id } => {
                    format!("terminal {}", self.name(operation_id))
                }
                other => self.normalize_text(&serde_json::to_string(other).unwrap_or_default()),
            };
            let mut facts = vec![
                plain("kind", kind.clone()),
                plain("requester", requester),
                plain(
                    "call id",
                    tool.model_visible_call_id
                        .as_deref()
                        .map(|c| self.normalize_text(c))
                        .unwrap_or_default(),
                ),
                plain(
                    "arguments",
                    self.arguments(&tool.model_visible_call_item_ids),
                ),
                self.payload(
                    "invocation payload",
                    tool.raw_invocation_payload_id.as_deref(),
                ),
                plain("status", window(&tool.execution)),
                plain("summary", summary),
                plain(
                    "call items",
                    self.names_of(&tool.model_visible_call_item_ids),
                ),
                plain(
                    "output items",
                    self.names_of(&tool.model_visible_output_item_ids),
                ),
            ];
            if !self.policy.opaque_tool_output {
                facts.push(self.payload("result payload", tool.raw_result_payload_id.as_deref()));
                facts.push(self.payloads("runtime payloads", &tool.raw_runtime_payload_ids));
            }
            sink.add(
                Category::Tool,
                Entry {
                    seq: tool.execution.started_seq,
                    thread: self.path(&tool.thread_id),
                    turn: self.turn(tool.started_by_codex_turn_id.as_deref()),
                    subject: format!("tool call {kind}"),
                    id: Some(tool.tool_call_id.clone()),
                    facts,
                },
            );
        }
    }

    /// Code cells: source, call id, statuses, whether it yielded, its items
    /// and tool calls, and (unless opaque) response and stored-value
    /// payloads.
    pub(super) fn cell_entries(&self, sink: &mut Sink) {
        let cells = in_order(self.trace.code_cells.values(), |x| x.execution.started_seq);
        for cell in cells {
            let path = self.path(&cell.thread_id);
            let n = sink.peek(&path, Category::Cell);
            let mut facts = vec![
                plain("source", cell.source_js.clone()),
                plain("call id", self.normalize_text(&cell.model_visible_call_id)),
                plain("status", window(&cell.execution)),
                plain("runtime status", format!("{:?}", cell.runtime_status)),
                plain("yielded", cell.yielded_seq.is_some().to_string()),
                plain("source item", self.name(&cell.source_item_id)),
                plain("output items", self.names_of(&cell.output_item_ids)),
                plain(
                    "nested tool calls",
                    self.names_of(&cell.nested_tool_call_ids),
                ),
                plain("wait tool calls", self.names_of(&cell.wait_tool_call_ids)),
            ];
            if !self.policy.opaque_tool_output {
                facts.push(self.payloads("response payloads", &cell.raw_response_payload_ids));
                facts.push(self.payloads("stored values", &cell.stored_values_raw_payload_ids));
            }
            sink.add(
                Category::Cell,
                Entry {
                    seq: cell.execution.started_seq,
                    thread: path,
                    turn: self.turn(Some(&cell.codex_turn_id)),
                    subject: format!("code cell {n}"),
                    id: Some(cell.code_cell_id.clone()),
                    facts,
                },
            );
        }
    }

    /// Terminal operations, in their tool call's thread and turn: command,
    /// terminal, status and (unless opaque) result.
    pub(super) fn terminal_entries(&self, sink: &mut Sink) {
        let t = self.trace;
        let ops = in_order(t.terminal_operations.values(), |x| x.execution.started_seq);
        for op in ops {
            let path = self.path(&self.op_thread(&op.tool_call_id));
            let n = sink.peek(&path, Category::Terminal);
            let request = match &op.request {
                TerminalRequest::ExecCommand {
                    display_command,
                    cwd,
                    ..
                } => format!("{display_command} (in {cwd})"),
                TerminalRequest::WriteStdin { stdin, .. } => format!("stdin {stdin:?}"),
            };
            let mut facts = vec![
                plain("command", self.normalize_text(&request)),
                plain(
                    "terminal",
                    op.terminal_id
                        .as_deref()
                        .map(|id| self.name(id))
                        .unwrap_or_default(),
                ),
                plain("status", window(&op.execution)),
            ];
            if !self.policy.opaque_tool_output {
                let result = op
                    .result
                    .as_ref()
                    .map(|r| {
                        format!(
                            "exit {:?}, stdout {:?}, stderr {:?}",
                            r.exit_code,
                            self.normalize_text(&r.stdout),
                            self.normalize_text(&r.stderr)
                        )
                    })
                    .unwrap_or_default();
                facts.push(plain("result", result));
            }
            let turn = t
                .tool_calls
                .get(&op.tool_call_id)
                .and_then(|tool| self.turn(tool.started_by_codex_turn_id.as_deref()));
            sink.add(
                Category::Terminal,
                Entry {
                    seq: op.execution.started_seq,
                    thread: path,
                    turn,
                    subject: format!("terminal operation {n}"),
                    id: Some(op.operation_id.clone()),
                    facts,
                },
            );
        }
    }

    /// Compactions: mode, checkpoint, marker, input and replacement items,
    /// the summarising call, and the requests with their payloads.
    pub(super) fn compaction_entries(&self, sink: &mut Sink) {
        let t = self.trace;
        let compactions = in_order(t.compactions.values(), |x| x.installed_seq);
        for compaction in compactions {
            let path = self.path(&compaction.thread_id);
            let n = sink.peek(&path, Category::Compaction);
            let requests = || {
                compaction
                    .request_ids
                    .iter()
                    .filter_map(|id| t.compaction_requests.get(id))
            };
            let request_text = requests()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        if self.policy.ignore_model {
                            ""
                        } else {
                            &r.model
                        },
                        window(&r.execution),
                        r.error.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let request_payloads: Vec<String> = requests()
                .flat_map(|r| {
                    std::iter::once(r.raw_request_payload_id.clone())
                        .chain(r.raw_response_payload_id.clone())
                })
                .collect();
            let facts = vec![
                plain("mode", format!("{:?}", compaction.mode)),
                self.payload(
                    "checkpoint payload",
                    Some(&compaction.raw_checkpoint_payload_id),
                ),
                plain("marker item", self.name(&compaction.marker_item_id)),
                plain("input items", self.names_of(&compaction.input_item_ids)),
                plain(
                    "replacement items",
                    self.names_of(&compaction.replacement_item_ids),
                ),
                plain(
                    "summarising inference call",
                    compaction
                        .inference_call_id
                        .as_deref()
                        .map(|id| self.name(id))
                        .unwrap_or_default(),
                ),
                plain("requests", request_text),
                self.payloads("request payloads", &request_payloads),
            ];
            sink.add(
                Category::Compaction,
                Entry {
                    seq: compaction.installed_seq,
                    thread: path,
                    turn: self.turn(Some(&compaction.codex_turn_id)),
                    subject: format!("compaction {n}"),
                    id: Some(compaction.compaction_id.clone()),
                    facts,
                },
            );
        }
    }

    /// Terminal sessions, in creation order: operations, status, exit code
    /// and (unless opaque) end payload.
    pub(super) fn session_entries(&self, sink: &mut Sink) {
        for session in self.trace.terminal_sessions.values() {
            let path = self.path(&session.thread_id);
            let n = sink.peek(&path, Category::Session);
            let mut facts = vec![
                plain("operations", self.names_of(&session.operation_ids)),
                plain("status", window(&session.execution)),
                plain("exit code", format!("{:?}", session.exit_code)),
            ];
            if !self.policy.opaque_tool_output {
                facts.push(self.payload("end payload", session.raw_end_payload_id.as_deref()));
            }
            sink.add(
                Category::Session,
                Entry {
                    seq: session.execution.started_seq,
                    thread: path,
                    turn: None,
                    subject: format!("terminal session {n}"),
                    id: Some(session.terminal_id.clone()),
                    facts,
                },
            );
        }
    }

    /// Interaction edges, in creation order, in their source's thread:
    /// kind, endpoints, whether ended, carried items and payloads.
    pub(super) fn edge_entries(&self, sink: &mut Sink) {
        for edge in self.trace.interaction_edges.values() {
            let path = self.path(&self.anchor_thread(&edge.source));
            let n = sink.peek(&path, Category::Edge);
            let kind = edge.kind.as_str().to_string();
            let facts = vec![
                plain("kind", kind.clone()),
                plain("source", self.anchor_name(&edge.source)),
                plain("target", self.anchor_name(&edge.target)),
                plain("ended", edge.ended_at_unix_ms.is_some().to_string()),
                plain("carried items", self.names_of(&edge.carried_item_ids)),
                self.payloads("carried payloads", &edge.carried_raw_payload_ids),
            ];
            sink.add(
                Category::Edge,
                Entry {
                    seq: self.anchor_seq(&edge.source),
                    thread: path,
                    turn: None,
                    subject: format!("interaction edge {n} ({kind})"),
                    id: Some(edge.edge_id.clone()),
                    facts,
                },
            );
        }
    }
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;
