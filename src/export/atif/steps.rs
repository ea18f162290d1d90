//! One thread of a reduced rollout as ATIF steps.
//!
//! The thread's inference calls are taken in start order. Before each call,
//! the items of its request that no earlier step showed become steps: a
//! system or developer message a `system` step, a user message a `user`
//! step, and a run of assistant items (messages, reasoning, tool calls)
//! that no traced call produced (history carried into the thread) an
//! `agent` step with `is_copied_context`. Then the call itself is an
//! `agent` step: the response's assistant text as `message`, its reasoning
//! as `reasoning_content`, its tool calls as `tool_calls` (name and
//! arguments as the model gave them in the recorded response, else from
//! the tool call's invocation, else from the item), the tool outputs the
//! model later saw as `observation` results matched by `source_call_id`,
//! token usage as `metrics` (`prompt_tokens` counts cached ones, as ATIF
//! and tracefold both count them).
//!
//! A compaction is a `system` step where it was installed, naming it in
//! `extra.tracefold.compaction_id`; the items that replaced the history are
//! the steps after it marked `is_copied_context`, each naming the
//! compaction too. A child thread a tool call spawned is referenced from
//! that tool call's observation result; one no tool call spawned from a
//! `system` step at the seq its thread started.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::Payloads;
use crate::error::Result;
use crate::model::{
    ConversationItem, ConversationItemKind as Kind, ConversationPart, ConversationRole as Role,
    InferenceCall, InteractionEdgeKind, ItemId, RolloutTrace, TraceAnchor,
};
use crate::view::RolloutView;

/// Lookups built once per rollout.
pub(super) struct Index<'a> {
    /// Tool calls by (thread, model-visible call id).
    tools: IndexMap<(&'a str, &'a str), &'a str>,
    /// Code cells by (thread, model-visible call id).
    cells: IndexMap<(&'a str, &'a str), &'a str>,
    /// Tool output items by (thread, call id), in creation order.
    outputs: IndexMap<(&'a str, &'a str), Vec<&'a ItemId>>,
    /// The child threads each spawn tool call made.
    spawned: IndexMap<&'a str, Vec<&'a str>>,
    /// Child threads no tool call spawned, by parent: (start seq, child).
    orphans: IndexMap<&'a str, Vec<(u64, &'a str)>>,
    /// The compaction each replacement and marker item belongs to.
    compaction_of: IndexMap<&'a str, &'a str>,
    /// Each thread's inference calls, in start order.
    pub(super) calls: IndexMap<&'a str, Vec<(&'a String, &'a InferenceCall)>>,
    /// Each thread's compactions: (install seq, compaction id).
    compactions: IndexMap<&'a str, Vec<(u64, &'a str)>>,
}

impl<'a> Index<'a> {
    pub(super) fn of(trace: &'a RolloutTrace, view: &'a RolloutView) -> Index<'a> {
        let mut index = Index {
            tools: IndexMap::new(),
            cells: IndexMap::new(),
            outputs: IndexMap::new(),
            spawned: IndexMap::new(),
            orphans: IndexMap::new(),
            compaction_of: IndexMap::new(),
            calls: IndexMap::new(),
            compactions: IndexMap::new(),
        };
        for (id, call) in &trace.inference_calls {
            index
                .calls
                .entry(call.thread_id.as_str())
                .or_default()
                .push((id, call));
        }
        for calls in index.calls.values_mut() {
            calls.sort_by_key(|(_, call)| call.execution.started_seq);
        }
        for (id, compaction) in &trace.compactions {
            index
                .compactions
                .entry(compaction.thread_id.as_str())
                .or_default()
                .push((compaction.installed_seq, id.as_str()));
        }
        for (id, tool) in &trace.tool_calls {
            if let Some(call_id) = &tool.model_visible_call_id {
                index
                    .tools
                    .entry((tool.thread_id.as_str(), call_id.as_str()))
                    .or_insert(id.as_str());
            }
        }
        for (id, cell) in &trace.code_cells {
            index
                .cells
                .entry((cell.thread_id.as_str(), cell.model_visible_call_id.as_str()))
                .or_insert(id.as_str());
        }
        for item in trace.conversation_items.values() {
            let output = matches!(
                item.kind,
                Kind::FunctionCallOutput | Kind::CustomToolCallOutput
            );
            if let (true, Some(call_id)) = (output, &item.call_id) {
                index
                    .outputs
                    .entry((item.thread_id.as_str(), call_id.as_str()))
                    .or_default()
                    .push(&item.item_id);
            }
        }
        // Where each child was spawned: by a call the model made (its
        // step references it), else at the spawn's seq.
        let mut spawned_at: IndexMap<&str, u64> = IndexMap::new();
        for edge in trace.interaction_edges.values() {
            if edge.kind != InteractionEdgeKind::SpawnAgent {
                continue;
            }
            let Some(child) = trace.anchor_thread(&edge.target) else {
                continue;
            };
            let seen_by_model = match &edge.source {
                TraceAnchor::ToolCall { tool_call_id } => trace
                    .tool_calls
                    .get(tool_call_id)
                    .filter(|tool| tool.model_visible_call_id.is_some())
                    .map(|_| tool_call_id.as_str()),
                _ => None,
            };
            match seen_by_model {
                Some(tool) => index.spawned.entry(tool).or_default().push(child),
                None => {
                    if let Some(seq) = trace.anchor_seq(&edge.source) {
                        spawned_at.entry(child).or_insert(seq);
                    }
                }
            }
        }
        let by_tool: BTreeSet<&str> = index.spawned.values().flatten().copied().collect();
        for node in &view.threads {
            if let Some(parent) = &node.parent_thread_id
                && !by_tool.contains(node.thread_id.as_str())
            {
                let seq = spawned_at
                    .get(node.thread_id.as_str())
                    .copied()
                    .unwrap_or_else(|| {
                        trace
                            .threads
                            .get(&node.thread_id)
                            .map_or(0, |thread| thread.execution.started_seq)
                    });
                index
                    .orphans
                    .entry(parent.as_str())
                    .or_default()
                    .push((seq, node.thread_id.as_str()));
            }
        }
        for (id, compaction) in &trace.compactions {
            for item in compaction
                .replacement_item_ids
                .iter()
                .chain(std::iter::once(&compaction.marker_item_id))
            {
                index.compaction_of.insert(&**item, id.as_str());
            }
        }
        index
    }
}

/// Something placed in a thread's steps by its seq, between calls.
enum Mark<'a> {
    Compaction(&'a str),
    Spawn(&'a str),
}

/// The steps of one thread being built.
struct Builder<'a, 'b> {
    trace: &'a RolloutTrace,
    index: &'b Index<'a>,
    payloads: &'b Payloads<'a>,
    files: &'b IndexMap<&'a str, String>,
    thread: &'a str,
    steps: Vec<Value>,
    /// Items a step already shows.
    seen: BTreeSet<&'a str>,
    /// Compactions a step already shows.
    compactions: BTreeSet<&'a str>,
    /// Assistant items carried into the thread, waiting for the next item
    /// of another kind to close their step.
    group: Vec<&'a ConversationItem>,
}

/// The ATIF steps of thread `thread`, numbered from 1.
pub(super) fn thread_steps<'a>(
    trace: &'a RolloutTrace,
    index: &Index<'a>,
    payloads: &Payloads<'a>,
    files: &IndexMap<&'a str, String>,
    thread: &'a str,
) -> Result<Vec<Value>> {
    let mut builder = Builder {
        trace,
        index,
        payloads,
        files,
        thread,
        steps: Vec::new(),
        seen: BTreeSet::new(),
        compactions: BTreeSet::new(),
        group: Vec::new(),
    };
    let calls = index.calls.get(thread).cloned().unwrap_or_default();
    let mut marks: Vec<(u64, Mark<'a>)> = index
        .compactions
        .get(thread)
        .into_iter()
        .flatten()
        .map(|(seq, id)| (*seq, Mark::Compaction(id)))
        .collect();
    if let Some(children) = index.orphans.get(thread) {
        marks.extend(
            children
                .iter()
                .map(|(seq, child)| (*seq, Mark::Spawn(child))),
        );
    }
    marks.sort_by_key(|(seq, _)| *seq);
    let mut marks = marks.into_iter().peekable();
    for (call_id, call) in calls {
        while let Some((_, mark)) = marks.next_if(|(seq, _)| *seq < call.execution.started_seq) {
            builder.mark(&mark);
        }
        for item in &call.request_item_ids {
            builder.request_item(item)?;
        }
        builder.flush_group()?;
        builder.call_step(call_id, call)?;
    }
    for (_, mark) in marks {
        builder.mark(&mark);
    }
    builder.flush_group()?;
    let mut steps = builder.steps;
    if steps.is_empty() {
        // ATIF needs a step; a thread with no model input has none of its own.
        let started = trace
            .threads
            .get(thread)
            .map(|t| t.execution.started_at_unix_ms);
        steps.push(step(
            "system",
            format!("thread {thread} recorded no model input"),
            started,
        ));
    }
    for (position, step) in steps.iter_mut().enumerate() {
        step["step_id"] = json!(position + 1);
    }
    Ok(steps)
}

/// A step with its id (numbered at the end), source, message and time.
fn step(source: &str, message: String, at_unix_ms: Option<i64>) -> Value {
    let mut step = json!({"step_id": 0});
    if let Some(at) = at_unix_ms.and_then(iso_8601) {
        step["timestamp"] = json!(at);
    }
    step["source"] = json!(source);
    step["message"] = json!(message);
    step
}

/// Unix milliseconds as an ISO 8601 timestamp (RFC 3339, UTC).
pub(crate) fn iso_8601(unix_ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(unix_ms)
        .ok()
        .map(|at| at.to_string())
}

/// `extra` holding tracefold's own fields.
fn extra(fields: Value) -> Value {
    json!({"tracefold": fields})
}

/// A message item's text: its parts, one after another.
fn message_text(item: &ConversationItem) -> String {
    crate::view::item_text(item)
}

/// A reasoning item's readable text (its summary and text parts; an
/// encrypted part has none).
fn reasoning_text(item: &ConversationItem) -> String {
    item.body
        .parts
        .iter()
        .filter_map(|part| match part {
            ConversationPart::Text { text } | ConversationPart::Summary { text } => {
                Some(text.as_str())
            }
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl<'a> Builder<'a, '_> {
    fn mark(&mut self, mark: &Mark<'a>) {
        match mark {
            Mark::Compaction(id) => self.compaction_step(id),
            Mark::Spawn(child) => {
                let started = self
                    .trace
                    .threads
                    .get(*child)
                    .map(|t| t.execution.started_at_unix_ms);
                let path = self
                    .trace
                    .threads
                    .get(*child)
                    .map_or("", |t| t.agent_path.as_str());
                let mut step = step("system", format!("sub-agent {path} started"), started);
                step["observation"] =
                    json!({"results": [{"subagent_trajectory_ref": [self.reference(child)]}]});
                step["extra"] = extra(json!({"spawned_thread_id": child}));
                self.steps.push(step);
            }
        }
    }

    /// The reference to child thread `child`'s trajectory file.
    fn reference(&self, child: &str) -> Value {
        let mut reference = json!({"trajectory_id": child});
        if let Some(file) = self.files.get(child) {
            reference["trajectory_path"] = json!(file);
        }
        reference
    }

    fn compaction_step(&mut self, id: &'a str) {
        if !self.compactions.insert(id) {
            return;
        }
        let Some(compaction) = self.trace.compactions.get(id) else {
            return;
        };
        self.seen.insert(&compaction.marker_item_id);
        let mode = match compaction.mode {
            crate::model::CompactionMode::Remote => "remote",
            crate::model::CompactionMode::Local => "local",
        };
        let mut step = step(
            "system",
            // How many items it replaced is in `extra` only: what an import
            // of this step counts as the history before it may differ.
            format!(
                "context compaction {id}: the history replaced by {} items",
                compaction.replacement_item_ids.len()
            ),
            Some(compaction.installed_at_unix_ms),
        );
        step["extra"] = extra(json!({
            "compaction_id": id,
            "mode": mode,
            "codex_turn_id": compaction.codex_turn_id,
            "installed_seq": compaction.installed_seq,
            "inference_call_id": compaction.inference_call_id,
            "replaced_items": compaction.input_item_ids.len(),
            "replacement_items": compaction.replacement_item_ids.len(),
        }));
        self.steps.push(step);
    }

    fn request_item(&mut self, item_id: &'a ItemId) -> Result<()> {
        if self.seen.contains(&**item_id) {
            return Ok(());
        }
        let Some(item) = self.trace.conversation_items.get(item_id) else {
            return Ok(());
        };
        match (item.kind, item.role) {
            (Kind::CompactionMarker, _) => {
                self.flush_group()?;
                self.seen.insert(item_id);
                if let Some(id) = self.index.compaction_of.get(&**item_id) {
                    self.compaction_step(id);
                }
            }
            (Kind::FunctionCallOutput | Kind::CustomToolCallOutput, _) | (_, Role::Tool) => {
                // Closing the group attaches the outputs of its calls.
                self.flush_group()?;
                if !self.seen.contains(&**item_id) {
                    self.orphan_output(item);
                }
            }
            (Kind::Reasoning | Kind::FunctionCall | Kind::CustomToolCall, _)
            | (_, Role::Assistant) => {
                self.seen.insert(item_id);
                self.group.push(item);
            }
            (_, Role::System | Role::Developer | Role::User) => {
                self.flush_group()?;
                self.seen.insert(item_id);
                let source = if item.role == Role::User {
                    "user"
                } else {
                    "system"
                };
                let mut step = step(source, message_text(item), Some(item.first_seen_at_unix_ms));
                let mut fields = json!({"item_id": item.item_id, "role": item.role});
                if let Some(compaction) = self.index.compaction_of.get(&*item.item_id) {
                    step["is_copied_context"] = json!(true);
                    fields["compaction_id"] = json!(compaction);
                }
                step["extra"] = extra(fields);
                self.steps.push(step);
            }
        }
        Ok(())
    }

    /// A tool output whose call no step shows: a `system` step with it as
    /// an observation (its call id in `extra`: ATIF's `source_call_id` must
    /// name a call of the same step).
    fn orphan_output(&mut self, item: &'a ConversationItem) {
        self.seen.insert(&item.item_id);
        let mut step = step(
            "system",
            "tool output".to_string(),
            Some(item.first_seen_at_unix_ms),
        );
        step["observation"] = json!({"results": [{
            "content": message_text(item),
            "extra": extra(json!({"item_id": item.item_id, "call_id": item.call_id})),
        }]});
        self.steps.push(step);
    }

    /// The assistant items carried into the thread, as one copied step.
    fn flush_group(&mut self) -> Result<()> {
        if self.group.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut self.group);
        let mut step = step("agent", String::new(), Some(items[0].first_seen_at_unix_ms));
        self.fill_agent_step(&mut step, &items, None)?;
        step["is_copied_context"] = json!(true);
        let mut fields = json!({
            "item_ids": items.iter().map(|item| &item.item_id).collect::<Vec<_>>(),
        });
        if let Some(compaction) = items
            .iter()
            .find_map(|item| self.index.compaction_of.get(&*item.item_id))
        {
            fields["compaction_id"] = json!(compaction);
        }
        step["extra"] = extra(fields);
        self.steps.push(step);
        Ok(())
    }

    fn call_step(&mut self, call_id: &str, call: &'a InferenceCall) -> Result<()> {
        let items: Vec<&'a ConversationItem> = call
            .response_item_ids
            .iter()
            .filter_map(|id| self.trace.conversation_items.get(id))
            .collect();
        for item in &items {
            self.seen.insert(&item.item_id);
        }
        let response = match &call.raw_response_payload_id {
            Some(id) => self.payloads.json(id)?,
            None => None,
        };
        let mut step = step(
            "agent",
            String::new(),
            Some(call.execution.started_at_unix_ms),
        );
        step["model_name"] = json!(call.model);
        self.fill_agent_step(&mut step, &items, response.as_ref())?;
        if let Some(usage) = &call.usage {
            step["metrics"] = json!({
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "cached_tokens": usage.cached_input_tokens,
                "extra": extra(json!({
                    "reasoning_output_tokens": usage.reasoning_output_tokens,
                    "cache_write_input_tokens": usage.cache_write_input_tokens,
                })),
            });
        }
        step["extra"] = extra(json!({
            "inference_call_id": call_id,
            "codex_turn_id": call.codex_turn_id,
            "provider_name": call.provider_name,
            "response_id": call.response_id,
            "status": call.execution.status.as_str(),
            "error": call.error,
            "started_seq": call.execution.started_seq,
            "ended_seq": call.execution.ended_seq,
            "ended_at": call.execution.ended_at_unix_ms.and_then(iso_8601),
            "response_item_ids": call.response_item_ids,
        }));
        self.steps.push(step);
        Ok(())
    }

    /// An agent step's message, reasoning, tool calls and their
    /// observations, from its items.
    fn fill_agent_step(
        &mut self,
        step: &mut Value,
        items: &[&'a ConversationItem],
        response: Option<&Value>,
    ) -> Result<()> {
        let texts: Vec<String> = items
            .iter()
            .filter(|item| item.kind == Kind::Message)
            .map(|item| message_text(item))
            .collect();
        step["message"] = json!(texts.join("\n\n"));
        let reasoning: Vec<String> = items
            .iter()
            .filter(|item| item.kind == Kind::Reasoning)
            .map(|item| reasoning_text(item))
            .filter(|text| !text.is_empty())
            .collect();
        if !reasoning.is_empty() {
            step["reasoning_content"] = json!(reasoning.join("\n\n"));
        }
        let mut calls = Vec::new();
        let mut results = Vec::new();
        for item in items
            .iter()
            .filter(|item| matches!(item.kind, Kind::FunctionCall | Kind::CustomToolCall))
        {
            let (call, call_results) = self.tool_call(item, response)?;
            calls.push(call);
            results.extend(call_results);
        }
        if !calls.is_empty() {
            step["tool_calls"] = Value::Array(calls);
        }
        if !results.is_empty() {
            step["observation"] = json!({"results": results});
        }
        Ok(())
    }

    /// One tool call of a step and the observation results that answer it.
    fn tool_call(
        &mut self,
        item: &'a ConversationItem,
        response: Option<&Value>,
    ) -> Result<(Value, Vec<Value>)> {
        let call_id = item.call_id.as_deref().unwrap_or(&item.item_id);
        let tool_id = self.index.tools.get(&(self.thread, call_id)).copied();
        let tool = tool_id.and_then(|id| self.trace.tool_calls.get(id));
        let cell_id = self.index.cells.get(&(self.thread, call_id)).copied();
        let cell = cell_id.and_then(|id| self.trace.code_cells.get(id));
        let (mut name, mut arguments) = response
            .and_then(|response| find_call(response, call_id))
            .unwrap_or((None, None));
        if let Some(id) = tool.and_then(|tool| tool.raw_invocation_payload_id.as_ref())
            && (name.is_none() || arguments.is_none())
            && let Some(invocation) = self.payloads.json(id)?
        {
            name = name.or_else(|| {
                invocation
                    .get("tool_name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            arguments = arguments.or_else(|| crate::reducer::invocation_arguments(&invocation));
        }
        if let Some(cell) = cell {
            name = name.or_else(|| Some("exec".to_string()));
            arguments = arguments.or_else(|| Some(json!({"code": cell.source_js})));
        }
        let name = name
            .or_else(|| tool.map(|tool| tool.kind.name()))
            .unwrap_or_else(|| "unknown".to_string());
        let arguments = as_object(arguments.unwrap_or_else(|| item_arguments(item)));
        let mut fields = json!({"item_id": item.item_id});
        if let Some(tool) = tool {
            fields["tool_call_id"] = json!(tool.tool_call_id);
            fields["kind"] = json!(tool.kind);
            fields["status"] = json!(tool.execution.status.as_str());
            fields["started_seq"] = json!(tool.execution.started_seq);
        }
        if let Some(cell) = cell {
            fields["code_cell_id"] = json!(cell.code_cell_id);
            fields["nested_tool_call_ids"] = json!(cell.nested_tool_call_ids);
        }
        let call = json!({
            "tool_call_id": call_id,
            "function_name": name,
            "arguments": arguments,
            "extra": extra(fields),
        });
        let mut results = Vec::new();
        let outputs = self
            .index
            .outputs
            .get(&(self.thread, call_id))
            .cloned()
            .unwrap_or_default();
        for output in outputs {
            let Some(output) = self.trace.conversation_items.get(output) else {
                continue;
            };
            self.seen.insert(&output.item_id);
            results.push(json!({
                "source_call_id": call_id,
                "content": message_text(output),
                "extra": extra(json!({"item_id": output.item_id})),
            }));
        }
        let children = tool_id
            .and_then(|id| self.index.spawned.get(id))
            .cloned()
            .unwrap_or_default();
        if !children.is_empty() {
            let refs: Vec<Value> = children.iter().map(|child| self.reference(child)).collect();
            match results.first_mut() {
                Some(first) => first["subagent_trajectory_ref"] = Value::Array(refs),
                None => results.push(json!({
                    "source_call_id": call_id,
                    "subagent_trajectory_ref": refs,
                })),
            }
        }
        Ok((call, results))
    }
}

/// The name and arguments the model gave call `call_id` in a response
/// payload of any shape: the object naming the call (`call_id` in
/// Responses items, `id` in Chat Completions tool calls and Anthropic
/// `tool_use` blocks) that also has a name. Searched with an explicit
/// stack, so a deep payload costs no recursion.
fn find_call(response: &Value, call_id: &str) -> Option<(Option<String>, Option<Value>)> {
    let mut stack = vec![response];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(values) => stack.extend(values.iter().rev()),
            Value::Object(object) => {
                let names_it = ["call_id", "id"]
                    .iter()
                    .any(|key| object.get(*key).and_then(Value::as_str) == Some(call_id));
                let function = object.get("function");
                let name = object
                    .get("name")
                    .or_else(|| function.and_then(|f| f.get("name")))
                    .and_then(Value::as_str);
                if names_it && let Some(name) = name {
                    let arguments = object
                        .get("arguments")
                        .or_else(|| function.and_then(|f| f.get("arguments")))
                        .or_else(|| object.get("input"))
                        .cloned();
                    return Some((Some(name.to_string()), arguments));
                }
                stack.extend(object.values().rev());
            }
            _ => {}
        }
    }
    None
}

/// A call item's arguments from its body alone: a JSON part's summary
/// (whole when it is short), a text, or code.
fn item_arguments(item: &ConversationItem) -> Value {
    match item.body.parts.first() {
        Some(ConversationPart::Json { summary, .. }) => serde_json::from_str(summary)
            .unwrap_or_else(|_| json!({"input": summary, "tracefold_truncated": true})),
        Some(ConversationPart::Code { source, .. }) => json!({"code": source}),
        Some(ConversationPart::Text { text }) => Value::String(text.clone()),
        _ => json!({}),
    }
}

/// ATIF's arguments are an object: a JSON text is parsed, and anything that
/// is still not an object goes under `input`.
fn as_object(arguments: Value) -> Value {
    let arguments = match arguments {
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        other => other,
    };
    match arguments {
        Value::Object(_) => arguments,
        Value::Null => Value::Object(Map::new()),
        other => json!({"input": other}),
    }
}
