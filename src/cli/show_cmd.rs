//! `tracefold show`: a rollout in the terminal, as the agent tree, the edges
//! between agents, a timeline per thread and the diagnostics (the
//! library's [`RolloutView`]). Colour on a terminal, plain when piped or
//! under `NO_COLOR`; `--json` writes the view itself. A rollout is reduced
//! past the events the reducer cannot take, so a damaged one still shows,
//! with what went wrong listed.

use std::io::{IsTerminal, Write};

use super::diff_cmd::{load, store_for};
use super::output::stdout;
use super::show_call::Calls;
use super::terminal::escape;
use super::{Cli, EXIT_OK, format_unix_ms};
use crate::view::{LaneEntry, LaneKind, RolloutView, ThreadNode};

/// What `show` is asked for besides its source.
pub(super) struct ShowArgs<'a> {
    pub thread: Option<&'a str>,
    pub turn: Option<&'a str>,
    pub call: Option<&'a str>,
    pub full: bool,
    pub json: bool,
}

pub(super) fn show(cli: &Cli, source: &str, args: &ShowArgs<'_>) -> anyhow::Result<i32> {
    let ShowArgs { thread, json, .. } = *args;
    let store = store_for(cli, &[source])?;
    let loaded = load(source, store.as_ref(), cli.max_payload_bytes, true)?;
    let view = RolloutView::of(loaded.trace());
    let only = match thread {
        None => None,
        Some(name) => Some(view.thread(name).ok_or_else(|| {
            let known: Vec<&str> = view.threads.iter().map(|t| t.agent_path.as_str()).collect();
            anyhow::anyhow!(
                "no thread {name:?} in rollout {}: its threads are {}",
                view.rollout_id,
                known.join(", ")
            )
        })?),
    };
    let mut out = stdout();
    if args.call.is_some() || args.turn.is_some() {
        let calls = Calls {
            trace: loaded.trace(),
            view: &view,
            payloads: loaded.payloads(store.as_ref()),
            full: args.full,
        };
        one_call_or_turn(&calls, only, args, &mut out)?;
        out.flush()?;
        return Ok(EXIT_OK);
    }
    if json {
        match only {
            Some(node) => serde_json::to_writer_pretty(&mut out, node)?,
            None => serde_json::to_writer_pretty(&mut out, &view)?,
        }
        writeln!(out)?;
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let text = Text { colour };
        text.render(&view, only, &mut out)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// `--call ID` or `--turn N` (within `--thread`, by default the root).
fn one_call_or_turn(
    calls: &Calls<'_>,
    only: Option<&ThreadNode>,
    args: &ShowArgs<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let rollout = &calls.view.rollout_id;
    if let Some(id) = args.call {
        let missing = || {
            anyhow::anyhow!(
                "no call {id:?} in rollout {rollout}: give an inference call, tool call, code cell, \
                 terminal operation or compaction id (`show --json` lists them in each lane)"
            )
        };
        if args.json {
            let value = calls.call_json(id).ok_or_else(missing)?;
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)?;
        } else {
            calls.call(id, out).ok_or_else(missing)??;
        }
        return Ok(());
    }
    let Some(name) = args.turn else {
        return Ok(());
    };
    let thread = only
        .or_else(|| calls.view.threads.first())
        .ok_or_else(|| anyhow::anyhow!("rollout {rollout} has no thread"))?;
    let turn_id = calls.find_turn(name, &thread.thread_id).ok_or_else(|| {
        anyhow::anyhow!(
            "no turn {name:?} in {} of rollout {rollout}: give a turn id or a number from 1 to {}",
            thread.agent_path,
            thread.turns
        )
    })?;
    if args.json {
        let value = calls
            .turn_json(&turn_id)
            .ok_or_else(|| anyhow::anyhow!("turn {turn_id} vanished"))?;
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
    } else {
        calls.turn(&turn_id, out)?;
    }
    Ok(())
}

/// Plain or coloured text.
struct Text {
    colour: bool,
}

impl Text {
    fn status(&self, status: &str) -> String {
        if !self.colour {
            return status.to_string();
        }
        let code = match status {
            "completed" => "32",
            "running" => "33",
            "cancelled" => "35",
            _ => "31",
        };
        format!("\x1b[{code}m{status}\x1b[0m")
    }

    fn bold(&self, text: &str) -> String {
        if self.colour {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn render(
        &self,
        view: &RolloutView,
        only: Option<&ThreadNode>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let sum = |f: fn(&ThreadNode) -> usize| view.threads.iter().map(f).sum::<usize>();
        writeln!(
            out,
            "{} {} {}{}",
            self.bold("rollout"),
            escape(&view.rollout_id),
            self.status(view.status),
            view.started_at_unix_ms
                .map(|ms| format!(", started {}", format_unix_ms(ms)))
                .unwrap_or_default(),
        )?;
        writeln!(
            out,
            "  {} threads, {} turns, {} inference calls, {} tool calls, {} compactions, {} diagnostics",
            view.threads.len(),
            sum(|t| t.turns),
            sum(|t| t.inference_calls),
            sum(|t| t.tool_calls),
            sum(|t| t.compactions),
            view.diagnostics.len()
        )?;
        let threads: Vec<&ThreadNode> = match only {
            Some(node) => vec![node],
            None => view.threads.iter().collect(),
        };
        writeln!(out, "{}", self.bold("threads"))?;
        for node in &threads {
            self.thread_line(node, only.is_some(), out)?;
        }
        let path_of = |id: &str| -> String {
            view.threads
                .iter()
                .find(|t| t.thread_id == id)
                .map_or_else(|| id.to_string(), |t| t.agent_path.clone())
        };
        let edges: Vec<_> = view
            .edges
            .iter()
            .filter(|e| {
                only.is_none_or(|n| {
                    n.thread_id == e.from_thread_id || n.thread_id == e.to_thread_id
                })
            })
            .collect();
        if !edges.is_empty() {
            writeln!(out, "{}", self.bold("edges"))?;
            for edge in edges {
                writeln!(
                    out,
                    "  {} {} -> {}",
                    edge.kind,
                    escape(&path_of(&edge.from_thread_id)),
                    escape(&path_of(&edge.to_thread_id))
                )?;
            }
        }
        for node in &threads {
            writeln!(
                out,
                "{} {}",
                self.bold("timeline"),
                escape(&node.agent_path)
            )?;
            for entry in &node.lane {
                self.lane_line(entry, out)?;
            }
        }
        if !view.diagnostics.is_empty() {
            writeln!(
                out,
                "{} ({})",
                self.bold("diagnostics"),
                view.diagnostics.len()
            )?;
            for line in &view.diagnostics {
                writeln!(out, "  {}", escape(line))?;
            }
        }
        Ok(())
    }

    fn thread_line(
        &self,
        node: &ThreadNode,
        flat: bool,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let indent = if flat { 0 } else { node.depth };
        let lead = format!(
            "  {}{}",
            "  ".repeat(indent),
            if indent > 0 { "└ " } else { "" }
        );
        let nickname = node
            .nickname
            .as_deref()
            .map(|n| format!(" ({})", escape(n)))
            .unwrap_or_default();
        writeln!(
            out,
            "{lead}{}{nickname} {} {}",
            escape(&node.agent_path),
            self.status(node.status),
            escape(&node.thread_id)
        )?;
        let usage = &node.usage;
        writeln!(
            out,
            "{}  {} turns, {} inference calls, {} tool calls, {} compactions; tokens {} in ({} cached), {} out",
            " ".repeat(lead.chars().count()),
            node.turns,
            node.inference_calls,
            node.tool_calls,
            node.compactions,
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens
        )
    }

    fn lane_line(&self, entry: &LaneEntry, out: &mut dyn Write) -> std::io::Result<()> {
        let seqs = match entry.ended_seq {
            Some(end) if end != entry.started_seq => format!("{}-{end}", entry.started_seq),
            _ => entry.started_seq.to_string(),
        };
        let indent = match entry.kind {
            LaneKind::Turn => "",
            LaneKind::Terminal => "    ",
            _ => "  ",
        };
        let kind = entry.kind.name();
        writeln!(
            out,
            "  {indent}seq {seqs:<12} {kind:<10} {} {}",
            self.status(entry.status),
            escape(&entry.label)
        )
    }
}
