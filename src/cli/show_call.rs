//! `tracefold show --call ID` and `--turn N`: one call, or one turn, in
//! the terminal. An inference call prints the conversation as its model saw
//! it (items the thread's previous call did not send marked `+` and shown
//! in full, the rest one line each) and what it answered; a tool call its
//! input and output payloads; a code cell its source, nested calls and
//! output; a terminal operation its command and output; a compaction what
//! it kept and what it replaced. A turn prints its work and, for each of
//! its inference calls, the new items and the answer.

use std::io::Write;

use serde_json::json;

use super::terminal::escape;
use crate::event::PayloadRef;
use crate::model::{RolloutTrace, TerminalRequest};
use crate::reducer::PayloadSource;
use crate::view::{RolloutView, conversation, item_text};

/// Characters of a body shown before it is cut (unless `--full`).
const BODY_CHARS: usize = 2000;
/// Characters of an item shown on its one line.
const BRIEF_CHARS: usize = 100;

/// What the call and turn printers read.
pub(super) struct Calls<'a> {
    pub trace: &'a RolloutTrace,
    pub view: &'a RolloutView,
    pub payloads: Option<&'a dyn PayloadSource>,
    pub full: bool,
}

impl Calls<'_> {
    /// `--call ID` as text, or `None` when no object has that id.
    pub fn call(&self, id: &str, out: &mut dyn Write) -> Option<std::io::Result<()>> {
        let t = self.trace;
        if t.inference_calls.contains_key(id) {
            Some(self.inference(id, false, out))
        } else if t.tool_calls.contains_key(id) {
            Some(self.tool(id, out))
        } else if t.code_cells.contains_key(id) {
            Some(self.cell(id, out))
        } else if t.terminal_operations.get(id).is_some() {
            Some(self.terminal(id, out))
        } else if t.compactions.contains_key(id) {
            Some(self.compaction(id, out))
        } else {
            None
        }
    }

    /// `--call ID --json`: an inference call's conversation, or the state
    /// object of any other call.
    pub fn call_json(&self, id: &str) -> Option<serde_json::Value> {
        let t = self.trace;
        let value = if let Some(found) = conversation(t, id) {
            serde_json::to_value(found)
        } else if let Some(call) = t.tool_calls.get(id) {
            serde_json::to_value(json!({"kind": "tool_call", "tool_call": call}))
        } else if let Some(cell) = t.code_cells.get(id) {
            serde_json::to_value(json!({"kind": "code_cell", "code_cell": cell}))
        } else if let Some(op) = t.terminal_operations.get(id) {
            serde_json::to_value(json!({"kind": "terminal_operation", "terminal_operation": op}))
        } else if let Some(compaction) = t.compactions.get(id) {
            serde_json::to_value(json!({"kind": "compaction", "compaction": compaction}))
        } else {
            return None;
        };
        value.ok()
    }

    /// `--turn N --json`: the turn and the conversation of each of its
    /// inference calls.
    pub fn turn_json(&self, turn_id: &str) -> Option<serde_json::Value> {
        let turn = self.trace.codex_turns.get(turn_id)?;
        let calls: Vec<_> = self
            .trace
            .inference_calls
            .iter()
            .filter(|(_, call)| call.codex_turn_id == turn_id)
            .filter_map(|(id, _)| conversation(self.trace, id))
            .collect();
        serde_json::to_value(json!({"turn": turn, "inference_calls": calls})).ok()
    }

    /// One turn: its lane entries, then each inference call's new items
    /// and answer.
    pub fn turn(&self, turn_id: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let turn = &self.trace.codex_turns[turn_id];
        writeln!(
            out,
            "turn {} {} in {}, seq {}",
            escape(turn_id),
            turn.execution.status.as_str(),
            escape(&self.path(&turn.thread_id)),
            seqs(turn.execution.started_seq, turn.execution.ended_seq)
        )?;
        for item in &turn.input_item_ids {
            self.item_line(item, "  input ", out)?;
        }
        let entries = self
            .view
            .threads
            .iter()
            .flat_map(|thread| thread.lane.iter())
            .filter(|entry| entry.codex_turn_id.as_deref() == Some(turn_id));
        for entry in entries {
            let id = entry.id.as_str();
            if self.trace.inference_calls.contains_key(id) {
                writeln!(out)?;
                self.inference(id, true, out)?;
            } else if entry.kind != crate::view::LaneKind::Turn {
                writeln!(
                    out,
                    "{} {} {}: {}",
                    entry.kind.name(),
                    escape(id),
                    entry.status,
                    escape(&entry.label)
                )?;
            }
        }
        Ok(())
    }

    /// The turn `--turn N` names: a turn id, or the Nth turn (from 1) of
    /// `thread_id`.
    pub fn find_turn(&self, name: &str, thread_id: &str) -> Option<String> {
        if self.trace.codex_turns.contains_key(name) {
            return Some(name.to_string());
        }
        let n: usize = name.parse().ok()?;
        let thread = self
            .view
            .threads
            .iter()
            .find(|t| t.thread_id == thread_id)?;
        thread
            .lane
            .iter()
            .filter(|entry| entry.kind == crate::view::LaneKind::Turn)
            .nth(n.checked_sub(1)?)
            .map(|entry| entry.id.clone())
    }

    fn path(&self, thread_id: &str) -> String {
        self.trace
            .threads
            .get(thread_id)
            .map_or_else(|| thread_id.to_string(), |t| t.agent_path.clone())
    }

    fn inference(&self, id: &str, only_new: bool, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(found) = conversation(self.trace, id) else {
            return Ok(());
        };
        let call = found.call;
        writeln!(
            out,
            "inference call {} {} {} in {}, turn {}, seq {}",
            escape(id),
            escape(&call.model),
            call.execution.status.as_str(),
            escape(&self.path(&call.thread_id)),
            escape(&call.codex_turn_id),
            seqs(call.execution.started_seq, call.execution.ended_seq)
        )?;
        if let Some(usage) = &call.usage {
            writeln!(
                out,
                "  tokens {} in ({} cached), {} out ({} reasoning)",
                usage.input_tokens,
                usage.cached_input_tokens,
                usage.output_tokens,
                usage.reasoning_output_tokens
            )?;
        }
        if let Some(error) = &call.error {
            writeln!(out, "  error: {}", escape(error))?;
        }
        writeln!(
            out,
            "request: {} items, {} new since the thread's previous call{}",
            found.request.len(),
            found.new_items(),
            found
                .previous_call_id
                .map(|p| format!(" ({})", escape(p)))
                .unwrap_or_default()
        )?;
        for seen in &found.request {
            if seen.new {
                self.item_full(seen.item_id, "+ ", out)?;
            } else if !only_new {
                self.item_line(seen.item_id, "  ", out)?;
            }
        }
        let n = found.response.len();
        writeln!(out, "response: {n} item{}", if n == 1 { "" } else { "s" })?;
        for seen in &found.response {
            self.item_full(seen.item_id, "  ", out)?;
        }
        if !call.tool_call_ids_started_by_response.is_empty() {
            writeln!(
                out,
                "tool calls started: {}",
                escape(&call.tool_call_ids_started_by_response.join(", "))
            )?;
        }
        Ok(())
    }

    fn tool(&self, id: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let call = &self.trace.tool_calls[id];
        writeln!(
            out,
            "tool call {} {} {} in {}, seq {}",
            escape(id),
            escape(&call.kind.name()),
            call.execution.status.as_str(),
            escape(&self.path(&call.thread_id)),
            seqs(call.execution.started_seq, call.execution.ended_seq)
        )?;
        self.payload("invocation", call.raw_invocation_payload_id.as_deref(), out)?;
        for item in &call.model_visible_call_item_ids {
            self.item_full(item, "  ", out)?;
        }
        self.payload("result", call.raw_result_payload_id.as_deref(), out)?;
        for item in &call.model_visible_output_item_ids {
            self.item_full(item, "  ", out)?;
        }
        if let Some(op) = &call.terminal_operation_id {
            writeln!(out, "terminal operation {}", escape(op))?;
        }
        Ok(())
    }

    fn cell(&self, id: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let cell = &self.trace.code_cells[id];
        writeln!(
            out,
            "code cell {} {} in {}, seq {}",
            escape(id),
            cell.execution.status.as_str(),
            escape(&self.path(&cell.thread_id)),
            seqs(cell.execution.started_seq, cell.execution.ended_seq)
        )?;
        writeln!(out, "source:")?;
        self.block(&cell.source_js, "  ", out)?;
        for (what, ids) in [
            ("nested tool call", &cell.nested_tool_call_ids),
            ("wait", &cell.wait_tool_call_ids),
        ] {
            for tool in ids {
                let status = self
                    .trace
                    .tool_calls
                    .get(tool)
                    .map_or("unknown", |t| t.execution.status.as_str());
                writeln!(out, "{what} {} {status}", escape(tool))?;
            }
        }
        writeln!(out, "output:")?;
        for item in &cell.output_item_ids {
            self.item_full(item, "  ", out)?;
        }
        Ok(())
    }

    fn terminal(&self, id: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(op) = self.trace.terminal_operations.get(id) else {
            return Ok(());
        };
        writeln!(
            out,
            "terminal operation {} {} for tool call {}, seq {}",
            escape(id),
            op.execution.status.as_str(),
            escape(&op.tool_call_id),
            seqs(op.execution.started_seq, op.execution.ended_seq)
        )?;
        match &op.request {
            TerminalRequest::ExecCommand {
                display_command,
                cwd,
                ..
            } => writeln!(out, "$ {}  (in {})", escape(display_command), escape(cwd))?,
            TerminalRequest::WriteStdin { stdin, .. } => {
                writeln!(out, "stdin:")?;
                self.block(stdin, "  ", out)?;
            }
        }
        if let Some(result) = &op.result {
            if let Some(code) = result.exit_code {
                writeln!(out, "exit code {code}")?;
            }
            for (name, text) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
                if !text.is_empty() {
                    writeln!(out, "{name}:")?;
                    self.block(text, "  ", out)?;
                }
            }
        }
        Ok(())
    }

    fn compaction(&self, id: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let compaction = &self.trace.compactions[id];
        writeln!(
            out,
            "compaction {} in {}, turn {}, installed at seq {}",
            escape(id),
            escape(&self.path(&compaction.thread_id)),
            escape(&compaction.codex_turn_id),
            compaction.installed_seq
        )?;
        writeln!(
            out,
            "kept (the replacement): {} items",
            compaction.replacement_item_ids.len()
        )?;
        for item in &compaction.replacement_item_ids {
            self.item_full(item, "  ", out)?;
        }
        writeln!(out, "replaced: {} items", compaction.input_item_ids.len())?;
        for item in &compaction.input_item_ids {
            self.item_line(item, "  ", out)?;
        }
        Ok(())
    }

    fn payload(&self, label: &str, id: Option<&str>, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(entry) = id.and_then(|id| self.trace.raw_payloads.get(id)) else {
            return writeln!(out, "{label}: none recorded");
        };
        writeln!(
            out,
            "{label} ({}, {} bytes, blake3 {}):",
            escape(&entry.raw_payload_id),
            entry.size_bytes,
            entry.blake3
        )?;
        let reference = PayloadRef {
            kind: entry.kind.clone(),
            hash: entry.blake3,
            size_bytes: entry.size_bytes,
        };
        let text = match self.payloads.map(|p| p.read_payload(&reference)) {
            None => "(no payloads: the source is a state JSON)".to_string(),
            Some(Err(why)) => format!("(unreadable: {why})"),
            Some(Ok(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => pretty(text),
                Err(_) => format!("({} bytes, not UTF-8)", bytes.len()),
            },
        };
        self.block(&text, "  ", out)
    }

    /// An item on one line: role, kind and the start of its text.
    fn item_line(&self, id: &str, lead: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(item) = self.trace.conversation_items.get(id) else {
            return writeln!(out, "{lead}{} (not in the state)", escape(id));
        };
        let text: String = item_text(item)
            .chars()
            .map(|ch| if ch.is_control() { ' ' } else { ch })
            .collect();
        let cut: String = text.chars().take(BRIEF_CHARS).collect();
        let more = if cut.len() < text.len() { "…" } else { "" };
        writeln!(
            out,
            "{lead}{} {}: {}{more}",
            item_role(item),
            item_kind(item),
            escape(&cut)
        )
    }

    /// An item in full (cut at `BODY_CHARS` unless `--full`).
    fn item_full(&self, id: &str, lead: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(item) = self.trace.conversation_items.get(id) else {
            return writeln!(out, "{lead}{} (not in the state)", escape(id));
        };
        writeln!(out, "{lead}{} {}:", item_role(item), item_kind(item))?;
        self.block(&item_text(item), "    ", out)
    }

    /// Lines of `text`, each escaped and indented, cut unless `--full`.
    fn block(&self, text: &str, indent: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let total = text.chars().count();
        let shown: String = if self.full || total <= BODY_CHARS {
            text.to_string()
        } else {
            text.chars().take(BODY_CHARS).collect()
        };
        for line in shown.lines() {
            writeln!(out, "{indent}{}", escape(line))?;
        }
        if shown.len() < text.len() {
            writeln!(
                out,
                "{indent}… {} more characters (--full shows them)",
                total - BODY_CHARS
            )?;
        }
        Ok(())
    }
}

fn item_role(item: &crate::model::ConversationItem) -> String {
    let role = serde_json::to_value(item.role).unwrap_or_default();
    let role = role.as_str().unwrap_or("?").to_string();
    match &item.agent_message {
        Some(message) => format!(
            "{role} ({} -> {})",
            escape(&message.author),
            escape(&message.recipient)
        ),
        None => role,
    }
}

fn item_kind(item: &crate::model::ConversationItem) -> String {
    let kind = serde_json::to_value(item.kind).unwrap_or_default();
    kind.as_str().unwrap_or("?").replace('_', " ")
}

/// JSON payloads indented; anything else as it is.
fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| text.to_string())
}

fn seqs(start: u64, end: Option<u64>) -> String {
    match end {
        Some(end) if end != start => format!("{start}-{end}"),
        Some(_) => start.to_string(),
        None => format!("{start}- (open)"),
    }
}
