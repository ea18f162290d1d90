//! One ATIF step: checked, then turned into events and conversation.

use serde_json::{Value, json};

use super::{Call, Ids, Outcome, ThreadConversion, ours};
use crate::error::{Error, Result};
use crate::ingest::atif::{Target, step_path};
use crate::ingest::emit::{Emitter, request_head, text_ref, unix_ms};

/// Fields ATIF allows only on agent steps.
const AGENT_ONLY: [&str; 5] = [
    "model_name",
    "reasoning_effort",
    "reasoning_content",
    "tool_calls",
    "metrics",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    System,
    User,
    Agent,
}

/// A step, checked.
struct Checked {
    step_id: u64,
    source: Source,
    /// The message as Chat Completions content.
    message: Value,
    calls: Vec<Call>,
    outcomes: Vec<Outcome>,
    metrics: Option<Value>,
    copied: bool,
    llm_calls: Option<u64>,
}

/// Where each of a step's results went: the result of each tool call (by
/// position), and the results no call took.
struct Links {
    of_call: Vec<Option<usize>>,
    free: Vec<usize>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl ThreadConversion<'_> {
    fn fail(&self, path: &str, message: impl std::fmt::Display) -> Error {
        self.doc().error(path, message)
    }

    /// `value` as message or observation content: a string, or a list of
    /// text, image and audio parts (as Chat Completions content blocks).
    fn content(&self, path: &str, value: &Value) -> Result<Value> {
        let parts = match value {
            Value::String(_) => return Ok(value.clone()),
            Value::Array(parts) => parts,
            other => {
                return Err(self.fail(
                    path,
                    format!(
                        "expected a string or a list of content parts, found {}",
                        type_name(other)
                    ),
                ));
            }
        };
        let mut blocks = Vec::with_capacity(parts.len());
        for (n, part) in parts.iter().enumerate() {
            let at = format!("{path}[{n}]");
            let kind = part.get("type").and_then(Value::as_str);
            let block = match kind {
                Some("text") => match part.get("text") {
                    Some(Value::String(text)) => json!({"type": "text", "text": text}),
                    _ => return Err(self.fail(&format!("{at}.text"), "missing or not a string")),
                },
                Some("image" | "audio") => {
                    let Some(source) = part.get("source").filter(|s| s.is_object()) else {
                        return Err(self.fail(&format!("{at}.source"), "missing or not an object"));
                    };
                    let url = source
                        .get("path")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if kind == Some("image") {
                        json!({"type": "image_url", "image_url": {"url": url}, "atif_source": source})
                    } else {
                        json!({"type": "audio", "atif_source": source})
                    }
                }
                _ => {
                    return Err(self.fail(
                        &format!("{at}.type"),
                        "missing, or not text, image or audio",
                    ));
                }
            };
            blocks.push(block);
        }
        Ok(Value::Array(blocks))
    }

    /// Checks step `position` against the ATIF rules this import relies on.
    fn check(&self, position: usize, step: &Value) -> Result<Checked> {
        let path = step_path(position, step);
        let Some(object) = step.as_object() else {
            return Err(self.fail(
                &path,
                format!("expected an object, found {}", type_name(step)),
            ));
        };
        let at = |key: &str| format!("{path}.{key}");
        let step_id = match object.get("step_id") {
            Some(Value::Number(n)) if n.as_u64() == Some(position as u64 + 1) => {
                position as u64 + 1
            }
            Some(other) => {
                return Err(self.fail(
                    &at("step_id"),
                    format!(
                        "{other} where {} is due: steps are numbered 1..n in order",
                        position + 1
                    ),
                ));
            }
            None => return Err(self.fail(&at("step_id"), "missing")),
        };
        let source = match object.get("source").and_then(Value::as_str) {
            Some("system") => Source::System,
            Some("user") => Source::User,
            Some("agent") => Source::Agent,
            _ => return Err(self.fail(&at("source"), "missing, or not system, user or agent")),
        };
        if source != Source::Agent
            && let Some(key) = AGENT_ONLY
                .iter()
                .find(|key| object.get(**key).is_some_and(|v| !v.is_null()))
        {
            return Err(self.fail(&at(key), "allowed only on agent steps"));
        }
        let message = match object.get("message") {
            Some(message) => self.content(&at("message"), message)?,
            None => return Err(self.fail(&at("message"), "missing")),
        };
        if let Some(stamp) = object.get("timestamp").filter(|t| !t.is_null())
            && stamp.as_str().and_then(unix_ms).is_none()
        {
            return Err(self.fail(&at("timestamp"), format!("{stamp} is not an ISO 8601 time")));
        }
        for key in ["reasoning_content", "model_name"] {
            if let Some(value) = object.get(key).filter(|v| !v.is_null() && !v.is_string()) {
                return Err(self.fail(
                    &at(key),
                    format!("expected a string, found {}", type_name(value)),
                ));
            }
        }
        let llm_calls = match object.get("llm_call_count") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(_) => return Err(self.fail(&at("llm_call_count"), "not a non-negative integer")),
        };
        let metrics = self.metrics(&at("metrics"), object.get("metrics"))?;
        if llm_calls == Some(0)
            && (metrics.is_some()
                || object
                    .get("reasoning_content")
                    .is_some_and(|r| !r.is_null()))
        {
            return Err(self.fail(&path, "llm_call_count 0 with metrics or reasoning_content"));
        }
        let calls = self.calls(&at("tool_calls"), object.get("tool_calls"))?;
        let outcomes = self.outcomes(&at("observation"), object.get("observation"), &calls)?;
        Ok(Checked {
            step_id,
            source,
            message,
            calls,
            outcomes,
            metrics,
            copied: object.get("is_copied_context").and_then(Value::as_bool) == Some(true),
            llm_calls,
        })
    }

    fn metrics(&self, path: &str, metrics: Option<&Value>) -> Result<Option<Value>> {
        let metrics = match metrics {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(metrics)) => metrics,
            Some(other) => {
                return Err(self.fail(
                    path,
                    format!("expected an object, found {}", type_name(other)),
                ));
            }
        };
        for key in ["prompt_tokens", "completion_tokens", "cached_tokens"] {
            if let Some(value) = metrics.get(key).filter(|v| !v.is_null())
                && value.as_u64().is_none()
            {
                return Err(self.fail(
                    &format!("{path}.{key}"),
                    format!("{value} is not a non-negative integer"),
                ));
            }
        }
        Ok(Some(Value::Object(metrics.clone())))
    }

    fn calls(&self, path: &str, calls: Option<&Value>) -> Result<Vec<Call>> {
        let calls = match calls {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(calls)) => calls,
            Some(other) => {
                return Err(self.fail(
                    path,
                    format!("expected an array, found {}", type_name(other)),
                ));
            }
        };
        let mut out: Vec<Call> = Vec::with_capacity(calls.len());
        for (n, call) in calls.iter().enumerate() {
            let at = |key: &str| format!("{path}[{n}].{key}");
            let text = |key: &str| -> Result<String> {
                match call.get(key) {
                    Some(Value::String(text)) => Ok(text.clone()),
                    _ => Err(self.fail(&at(key), "missing or not a string")),
                }
            };
            let id = text("tool_call_id")?;
            let name = text("function_name")?;
            let arguments = match call.get("arguments") {
                Some(Value::Object(arguments)) => arguments.clone(),
                Some(other) => {
                    return Err(self.fail(
                        &at("arguments"),
                        format!("expected an object, found {}", type_name(other)),
                    ));
                }
                None => {
                    return Err(self.fail(
                        &at("arguments"),
                        "missing (an empty object when there are none)",
                    ));
                }
            };
            if out.iter().any(|earlier| earlier.id == id) {
                return Err(self.fail(
                    &at("tool_call_id"),
                    format!("{id:?} is used by an earlier call of this step"),
                ));
            }
            out.push(Call {
                id,
                name,
                arguments,
                value: call.clone(),
            });
        }
        Ok(out)
    }

    fn outcomes(
        &self,
        path: &str,
        observation: Option<&Value>,
        calls: &[Call],
    ) -> Result<Vec<Outcome>> {
        let observation = match observation {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(observation @ Value::Object(_)) => observation,
            Some(other) => {
                return Err(self.fail(
                    path,
                    format!("expected an object, found {}", type_name(other)),
                ));
            }
        };
        let results = match observation.get("results") {
            Some(Value::Array(results)) => results,
            _ => return Err(self.fail(&format!("{path}.results"), "missing or not an array")),
        };
        let mut out = Vec::with_capacity(results.len());
        for (index, result) in results.iter().enumerate() {
            let at = |key: &str| format!("{path}.results[{index}].{key}");
            if !result.is_object() {
                return Err(self.fail(&format!("{path}.results[{index}]"), "not an object"));
            }
            let source_call_id = match result.get("source_call_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) if calls.iter().any(|call| &call.id == id) => {
                    Some(id.clone())
                }
                Some(Value::String(id)) => {
                    return Err(self.fail(
                        &at("source_call_id"),
                        format!("{id:?} names no tool call of this step"),
                    ));
                }
                Some(_) => return Err(self.fail(&at("source_call_id"), "not a string")),
            };
            let content = match result.get("content") {
                None | Some(Value::Null) => None,
                Some(content) => Some(self.content(&at("content"), content)?),
            };
            let refs = match result.get("subagent_trajectory_ref") {
                None | Some(Value::Null) => 0,
                Some(Value::Array(refs)) => refs.len(),
                Some(_) => return Err(self.fail(&at("subagent_trajectory_ref"), "not an array")),
            };
            out.push(Outcome {
                index,
                source_call_id,
                content,
                refs,
                value: result.clone(),
            });
        }
        Ok(out)
    }

    /// Step `position` as events and conversation.
    pub(super) fn step(
        &mut self,
        position: usize,
        step: &Value,
        steps: &[Value],
        emit: &mut Emitter,
        ids: &mut Ids,
    ) -> Result<()> {
        let checked = self.check(position, step)?;
        emit.at(step.get("timestamp").and_then(Value::as_str));
        let marker = ours(step, "compaction_id")
            .filter(|_| checked.source == Source::System && !checked.copied);
        if !checked.copied {
            self.finish_compaction(steps, position, emit, ids);
        }
        let links = link(&checked);
        match checked.source {
            Source::System if marker.is_some() => {
                let id = marker.unwrap_or_default().to_string();
                self.compaction = Some((id, self.history.clone(), Vec::new()));
            }
            Source::System => self.remember(
                json!({"role": "system", "content": checked.message}),
                checked.copied,
            ),
            Source::User => {
                if !checked.copied {
                    let hint = Self::turn_hint(steps, position);
                    if self.turn.is_none() || hint.is_none() || hint != self.turn.as_deref() {
                        self.start_turn(hint, emit, ids);
                    }
                }
                self.remember(
                    json!({"role": "user", "content": checked.message}),
                    checked.copied,
                );
            }
            Source::Agent if checked.copied || checked.llm_calls == Some(0) => {
                self.remember(assistant(step, &checked), checked.copied);
                for (call, outcome) in checked.calls.iter().zip(&links.of_call) {
                    if checked.llm_calls == Some(0) && !checked.copied {
                        self.ensure_turn(steps, position, emit, ids);
                        self.tool_call(
                            position,
                            call,
                            outcome.map(|o| &checked.outcomes[o]),
                            emit,
                            ids,
                        );
                    } else {
                        let content = outcome.and_then(|o| checked.outcomes[o].content.clone());
                        self.remember(tool_message(&call.id, content), checked.copied);
                    }
                }
            }
            Source::Agent => self.inference(position, step, steps, &checked, &links, emit, ids),
        }
        let spawning: Vec<&Outcome> = links
            .free
            .iter()
            .map(|o| &checked.outcomes[*o])
            .filter(|o| o.refs > 0)
            .collect();
        if !spawning.is_empty() {
            self.ensure_turn(steps, position, emit, ids);
            self.spawn_of_refs(position, checked.step_id, &spawning, emit, ids);
        }
        for outcome in links.free.iter().map(|o| &checked.outcomes[*o]) {
            if let Some(content) = &outcome.content {
                let role = if checked.source == Source::System {
                    "system"
                } else {
                    "user"
                };
                self.remember(json!({"role": role, "content": content}), checked.copied);
            }
        }
        Ok(())
    }

    /// An agent step's inference call, then its tool calls.
    #[allow(clippy::too_many_arguments)]
    fn inference(
        &mut self,
        position: usize,
        step: &Value,
        steps: &[Value],
        checked: &Checked,
        links: &Links,
        emit: &mut Emitter,
        ids: &mut Ids,
    ) {
        self.ensure_turn(steps, position, emit, ids);
        let thread = self.thread().to_string();
        let call_id = ids.fresh(
            ours(step, "inference_call_id"),
            format!("{thread}:step:{}", checked.step_id),
        );
        let model = step
            .get("model_name")
            .and_then(Value::as_str)
            .or_else(|| {
                self.doc()
                    .value
                    .pointer("/agent/model_name")
                    .and_then(Value::as_str)
            })
            .unwrap_or("unknown")
            .to_string();
        let (mut request, from) = request_head(&model, self.chain.as_ref(), self.history.len());
        request.push_str("\"messages\":[");
        request.push_str(&self.history[from..].join(","));
        request.push_str("]}");
        self.in_thread(
            emit,
            json!({"type": "inference_started", "inference_call_id": call_id,
                   "thread_id": thread, "codex_turn_id": self.turn, "model": model,
                   "provider_name": ours(step, "provider_name").unwrap_or("atif"),
                   "request_payload": text_ref("inference_request", &request)}),
        );
        let message = assistant(step, checked);
        let response_id = ids.fresh(ours(step, "response_id"), format!("{call_id}:response"));
        let finish = if checked.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        let mut response = json!({"id": response_id, "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]});
        if let Some(usage) = checked.metrics.as_ref().and_then(chat_usage) {
            response["usage"] = usage;
        }
        let mut atif = json!({"step_id": checked.step_id});
        for key in ["metrics", "llm_call_count", "reasoning_effort", "extra"] {
            if let Some(value) = step.get(key) {
                atif[key] = value.clone();
            }
        }
        response["atif"] = atif;
        self.in_thread(
            emit,
            json!({"type": "inference_completed", "inference_call_id": call_id,
                   "response_id": response_id, "upstream_request_id": null,
                   "response_payload": text_ref("inference_response", &response.to_string())}),
        );
        self.history.push(message.to_string());
        self.chain = Some((response_id, self.history.len()));
        for (call, outcome) in checked.calls.iter().zip(&links.of_call) {
            self.tool_call(
                position,
                call,
                outcome.map(|o| &checked.outcomes[o]),
                emit,
                ids,
            );
        }
    }

    /// The sub-agent threads the references of result `outcome` of step
    /// `position` resolved to; a reference resolved to nothing is a warning.
    fn children(&mut self, position: usize, outcome: &Outcome) -> Vec<String> {
        let mut children = Vec::new();
        let node = &self.tree.nodes[self.me];
        for ((step, result, reference), target) in &node.refs {
            if (*step, *result) != (position, outcome.index) {
                continue;
            }
            match target {
                Target::Resolved(child) => children.push(self.threads[*child].id.clone()),
                Target::Missing => {
                    let step = node
                        .doc
                        .value
                        .pointer(&format!("/steps/{position}"))
                        .unwrap_or(&Value::Null);
                    let path = format!(
                        "{}.observation.results[{result}].subagent_trajectory_ref[{reference}]",
                        step_path(position, step)
                    );
                    let location = node.doc.location(&path);
                    self.warnings.push(format!(
                        "{location}: the sub-agent trajectory it names is not there; kept in the step's observation only"
                    ));
                }
            }
        }
        children
    }

    /// The runtime ends that link spawn `tool_call_id` to its sub-agents.
    fn spawned(
        &self,
        tool_call_id: &str,
        model_call_id: Option<&str>,
        children: &[String],
        emit: &mut Emitter,
    ) {
        for child in children {
            let runtime = json!({"call_id": model_call_id.unwrap_or(tool_call_id),
                                 "new_thread_id": child, "sender_thread_id": self.thread(),
                                 "status": "completed"});
            self.in_thread(
                emit,
                json!({"type": "tool_call_runtime_ended", "tool_call_id": tool_call_id,
                       "status": "completed",
                       "runtime_payload": text_ref("tool_runtime_event", &runtime.to_string())}),
            );
        }
    }

    fn tool_call(
        &mut self,
        position: usize,
        call: &Call,
        outcome: Option<&Outcome>,
        emit: &mut Emitter,
        ids: &mut Ids,
    ) {
        let thread = self.thread().to_string();
        let id = ids.fresh(
            ours(&call.value, "tool_call_id").or(Some(&call.id)),
            format!("{thread}:{}", call.id),
        );
        let children = outcome
            .map(|o| self.children(position, o))
            .unwrap_or_default();
        let kind = if children.is_empty() {
            json!({"type": "other", "name": call.name})
        } else {
            json!({"type": "spawn_agent"})
        };
        let invocation = json!({"tool_name": call.name, "tool_namespace": null,
            "payload": {"type": "function", "arguments": Value::Object(call.arguments.clone()).to_string()}});
        // The reducer reads a `wait` call's invocation as code mode's wait
        // on a cell, which a trajectory has none of: its arguments stay in
        // the response alone.
        let invocation =
            (call.name != "wait").then(|| text_ref("tool_invocation", &invocation.to_string()));
        self.in_thread(
            emit,
            json!({"type": "tool_call_started", "tool_call_id": id,
                   "model_visible_call_id": call.id, "code_mode_runtime_tool_id": null,
                   "requester": {"type": "model"}, "kind": kind,
                   "summary": {"type": "generic", "label": call.name,
                               "input_preview": null, "output_preview": null},
                   "invocation_payload": invocation}),
        );
        self.spawned(&id, Some(&call.id), &children, emit);
        let status = match ours(&call.value, "status") {
            Some("failed") => "failed",
            _ => "completed",
        };
        let result = outcome.map(|o| text_ref("tool_result", &o.value.to_string()));
        self.in_thread(
            emit,
            json!({"type": "tool_call_ended", "tool_call_id": id, "status": status,
                   "result_payload": result}),
        );
        self.history
            .push(tool_message(&call.id, outcome.and_then(|o| o.content.clone())).to_string());
    }

    /// Sub-agent references in results no tool call took: a spawn call of
    /// their own, which the model never saw.
    fn spawn_of_refs(
        &mut self,
        position: usize,
        step_id: u64,
        outcomes: &[&Outcome],
        emit: &mut Emitter,
        ids: &mut Ids,
    ) {
        let thread = self.thread().to_string();
        let id = ids.fresh(None, format!("{thread}:step:{step_id}:subagents"));
        let refs: Vec<Value> = outcomes
            .iter()
            .filter_map(|o| {
                o.value
                    .get("subagent_trajectory_ref")
                    .and_then(Value::as_array)
            })
            .flatten()
            .cloned()
            .collect();
        let invocation = json!({"tool_name": "subagent_trajectory_ref", "tool_namespace": null,
            "payload": {"type": "function", "arguments": json!({"subagent_trajectory_ref": refs}).to_string()}});
        self.in_thread(
            emit,
            json!({"type": "tool_call_started", "tool_call_id": id,
                   "model_visible_call_id": null, "code_mode_runtime_tool_id": null,
                   "requester": {"type": "model"}, "kind": {"type": "spawn_agent"},
                   "summary": {"type": "generic", "label": "subagent_trajectory_ref",
                               "input_preview": null, "output_preview": null},
                   "invocation_payload": text_ref("tool_invocation", &invocation.to_string())}),
        );
        let mut children = Vec::new();
        for outcome in outcomes {
            children.extend(self.children(position, outcome));
        }
        self.spawned(&id, None, &children, emit);
        let results: Vec<&Value> = outcomes.iter().map(|o| &o.value).collect();
        let result = json!({"results": results});
        self.in_thread(
            emit,
            json!({"type": "tool_call_ended", "tool_call_id": id, "status": "completed",
                   "result_payload": text_ref("tool_result", &result.to_string())}),
        );
    }
}

/// Which result answers which call: the one naming it by
/// `source_call_id`; else, when as many results name no call and carry
/// no sub-agent reference as there are calls no result names, those
/// results in order.
fn link(checked: &Checked) -> Links {
    let mut of_call: Vec<Option<usize>> = checked
        .calls
        .iter()
        .map(|call| {
            checked
                .outcomes
                .iter()
                .position(|o| o.source_call_id.as_deref() == Some(call.id.as_str()))
        })
        .collect();
    let mut free: Vec<usize> = (0..checked.outcomes.len())
        .filter(|o| checked.outcomes[*o].source_call_id.is_none())
        .collect();
    let unlinked: Vec<usize> = (0..of_call.len())
        .filter(|c| of_call[*c].is_none())
        .collect();
    let pairable: Vec<usize> = free
        .iter()
        .copied()
        .filter(|o| checked.outcomes[*o].refs == 0)
        .collect();
    if !unlinked.is_empty() && unlinked.len() == pairable.len() {
        for (call, outcome) in unlinked.iter().zip(&pairable) {
            of_call[*call] = Some(*outcome);
        }
        free.retain(|o| !pairable.contains(o));
    }
    Links { of_call, free }
}

/// The step's message, reasoning and tool calls as a Chat Completions
/// assistant message.
fn assistant(step: &Value, checked: &Checked) -> Value {
    let mut message = json!({"role": "assistant", "content": checked.message});
    if let Some(reasoning) = step.get("reasoning_content").and_then(Value::as_str) {
        message["reasoning_content"] = json!(reasoning);
    }
    if !checked.calls.is_empty() {
        let calls: Vec<Value> = checked
            .calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function", "function": {
                    "name": call.name,
                    "arguments": Value::Object(call.arguments.clone()).to_string()}})
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    message
}

/// A tool's answer as a Chat Completions `tool` message.
fn tool_message(call_id: &str, content: Option<Value>) -> Value {
    json!({"role": "tool", "tool_call_id": call_id, "content": content.unwrap_or_else(|| json!(""))})
}

/// ATIF metrics as Chat Completions usage (`prompt_tokens` counts cached
/// tokens in both); `None` without token counts.
fn chat_usage(metrics: &Value) -> Option<Value> {
    let count = |key: &str| metrics.get(key).and_then(Value::as_u64);
    let (prompt, completion) = (count("prompt_tokens"), count("completion_tokens"));
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    let reasoning = metrics
        .pointer("/extra/tracefold/reasoning_output_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(json!({
        "prompt_tokens": prompt.unwrap_or(0),
        "completion_tokens": completion.unwrap_or(0),
        "prompt_tokens_details": {"cached_tokens": count("cached_tokens").unwrap_or(0)},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }))
}
