//! ATIF trajectories as wire events, checked as they are read.
//!
//! The root trajectory starts the rollout; each trajectory is a thread (a
//! sub-agent's metadata names the thread that spawned it), its events
//! after its parent's. Steps, in order:
//!
//! - a `user` step starts a turn (unless the agent step after it names the
//!   turn already open, as a tracefold export does in `extra`); its message
//!   joins the conversation;
//! - a `system` step's message joins the conversation as a system message;
//!   one naming a compaction in `extra.tracefold.compaction_id` (a
//!   tracefold export's) starts a local compaction whose replacement is the
//!   `is_copied_context` steps after it;
//! - an `agent` step is one inference call (none for `llm_call_count: 0`
//!   or a copied step, whose message only joins the conversation): its
//!   request the conversation so far as Chat Completions `messages`
//!   (incremental after the first call, naming the previous response), its
//!   response a Chat Completions response with the step's message,
//!   reasoning and tool calls, usage from `metrics` (and the metrics
//!   verbatim under `atif`); then each tool call starts and ends, its
//!   result the observation result naming it by `source_call_id`, or, when
//!   no result names a call and as many results name none, the results in
//!   order (as Harbor's terminal agents write them). Other results join the
//!   conversation as user messages;
//! - a sub-agent reference in a tool call's result makes that call a
//!   `spawn_agent` whose runtime end names the sub-agent's thread; one in a
//!   result of no tool call makes a spawn call of its own
//!   (`{thread}:step:{n}:subagents`, no model-visible call id).
//!
//! Ids a tracefold export wrote in `extra.tracefold` (thread, rollout,
//! call, tool call, turn, response) are kept when free, so an export
//! imports back under its own ids; foreign files get ids from their
//! trajectory and step ids. Every error names the file and JSON path.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{Doc, Node, Tree};
use crate::error::Result;
use crate::ingest::emit::{Emitter, text_ref, unix_ms};

/// A tree converted: its rollout's identity and wire events (JSONL).
pub(crate) struct Conversion {
    pub(crate) rollout_id: String,
    pub(crate) trace_id: String,
    pub(crate) root_thread_id: String,
    pub(crate) started_at_unix_ms: i64,
    pub(crate) events: Vec<u8>,
    /// References kept unresolved, one line each.
    pub(crate) warnings: Vec<String>,
}

/// Ids taken in the rollout.
#[derive(Default)]
struct Ids(BTreeSet<String>);

impl Ids {
    /// `preferred` when given and free, else `fallback` (made free).
    fn fresh(&mut self, preferred: Option<&str>, fallback: String) -> String {
        if let Some(preferred) = preferred.filter(|id| !id.is_empty())
            && self.0.insert(preferred.to_string())
        {
            return preferred.to_string();
        }
        let mut id = fallback;
        let base = id.clone();
        let mut n = 2;
        while !self.0.insert(id.clone()) {
            id = format!("{base}#{n}");
            n += 1;
        }
        id
    }
}

/// `extra.tracefold.{key}` of a value, as text.
fn ours<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get("extra")?.get("tracefold")?.get(key)?.as_str()
}

/// A thread's id and agent path.
struct Thread {
    id: String,
    path: String,
}

impl Conversion {
    /// Converts `tree`, checking every trajectory. `taken` holds the
    /// rollout ids of the trees converted before it in the same import: a
    /// rollout id already taken gets a `#2` (or later) suffix.
    pub(crate) fn of(tree: &Tree, taken: &mut BTreeSet<String>) -> Result<Conversion> {
        let root = &tree.nodes[0].doc;
        let stem = std::path::Path::new(&root.file)
            .file_stem()
            .map_or_else(|| "atif".to_string(), |s| s.to_string_lossy().into_owned());
        let text = |key: &str| root.value.get(key).and_then(Value::as_str);
        let rollout_id = ours(&root.value, "rollout_id")
            .or(text("session_id"))
            .or(text("trajectory_id"))
            .unwrap_or(&stem)
            .to_string();
        let mut rollouts = Ids(std::mem::take(taken));
        let rollout_id = rollouts.fresh(None, rollout_id);
        *taken = rollouts.0;
        let trace_id = ours(&root.value, "trace_id")
            .unwrap_or(&rollout_id)
            .to_string();
        let mut ids = Ids::default();
        let threads = threads(tree, &stem, &mut ids);
        let started = tree
            .nodes
            .iter()
            .flat_map(|node| node.doc.value.get("steps").and_then(Value::as_array))
            .flatten()
            .find_map(|step| {
                step.get("timestamp")
                    .and_then(Value::as_str)
                    .and_then(unix_ms)
            })
            .unwrap_or(0);
        let mut emit = Emitter::new(&rollout_id, 1);
        emit.wall_time = started;
        emit.emit(
            None,
            None,
            json!({"type": "rollout_started", "trace_id": trace_id,
                   "root_thread_id": threads[0].id}),
        );
        let mut warnings = Vec::new();
        for position in 0..tree.nodes.len() {
            let mut thread = ThreadConversion {
                tree,
                threads: &threads,
                me: position,
                turn: None,
                turns: 0,
                history: Vec::new(),
                chain: None,
                compaction: None,
                warnings: &mut warnings,
            };
            thread.run(&mut emit, &mut ids)?;
        }
        emit.emit(
            None,
            None,
            json!({"type": "rollout_ended", "status": "completed"}),
        );
        Ok(Conversion {
            rollout_id,
            trace_id,
            root_thread_id: threads[0].id.clone(),
            started_at_unix_ms: started,
            events: emit.out,
            warnings,
        })
    }
}

/// Each trajectory's thread id and agent path, parents first.
fn threads(tree: &Tree, stem: &str, ids: &mut Ids) -> Vec<Thread> {
    let mut threads: Vec<Thread> = Vec::with_capacity(tree.nodes.len());
    let mut paths = BTreeSet::new();
    let root_session = tree.nodes[0]
        .doc
        .value
        .get("session_id")
        .and_then(Value::as_str);
    for (position, node) in tree.nodes.iter().enumerate() {
        let value = &node.doc.value;
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        let session = text("session_id").filter(|s| position == 0 || Some(*s) != root_session);
        let fallback = match node.parent {
            None => stem.to_string(),
            Some(_) => format!("{}:subagent:{position}", threads[0].id),
        };
        let id = ids.fresh(
            ours(value, "thread_id")
                .or(text("trajectory_id"))
                .or(session),
            fallback,
        );
        let path = match (ours(value, "agent_path"), node.parent) {
            (Some(path), _) if path.starts_with('/') => path.to_string(),
            (_, None) => "/root".to_string(),
            (_, Some(parent)) => {
                let name: String = value
                    .pointer("/agent/name")
                    .and_then(Value::as_str)
                    .unwrap_or("subagent")
                    .chars()
                    .map(|c| if c == '/' { '_' } else { c })
                    .collect();
                format!("{}/{name}", threads[parent].path)
            }
        };
        let path = if paths.insert(path.clone()) {
            path
        } else {
            let unique = format!("{path}-{position}");
            paths.insert(unique.clone());
            unique
        };
        threads.push(Thread { id, path });
    }
    threads
}

/// One tool call of a step, checked.
struct Call {
    id: String,
    name: String,
    arguments: Map<String, Value>,
    /// The call as the file has it.
    value: Value,
}

/// One observation result of a step, checked.
struct Outcome {
    /// Its position in the step's results.
    index: usize,
    source_call_id: Option<String>,
    content: Option<Value>,
    refs: usize,
    value: Value,
}

/// One trajectory being converted.
struct ThreadConversion<'t> {
    tree: &'t Tree,
    threads: &'t [Thread],
    me: usize,
    turn: Option<String>,
    turns: u64,
    /// The conversation so far: Chat Completions messages as JSON text.
    history: Vec<String>,
    /// The last call's response id and the history's length after it.
    chain: Option<(String, usize)>,
    /// A compaction being read: its id, the history it replaces, and the
    /// copied steps that replace it.
    compaction: Option<(String, Vec<String>, Vec<String>)>,
    warnings: &'t mut Vec<String>,
}

impl ThreadConversion<'_> {
    fn node(&self) -> &Node {
        &self.tree.nodes[self.me]
    }

    fn doc(&self) -> &Doc {
        &self.node().doc
    }

    fn thread(&self) -> &str {
        &self.threads[self.me].id
    }

    fn run(&mut self, emit: &mut Emitter, ids: &mut Ids) -> Result<()> {
        let tree = self.tree;
        let doc = &tree.nodes[self.me].doc;
        let value = &doc.value;
        let agent = match value.get("agent") {
            Some(Value::Object(agent)) => agent,
            Some(_) => return Err(doc.error("agent", "not an object")),
            None => return Err(doc.error("agent", "missing")),
        };
        for key in ["name", "version"] {
            if !agent.get(key).is_some_and(Value::is_string) {
                return Err(doc.error(&format!("agent.{key}"), "missing or not a string"));
            }
        }
        let steps = match value.get("steps") {
            Some(Value::Array(steps)) if !steps.is_empty() => steps,
            Some(Value::Array(_)) => return Err(doc.error("steps", "empty (ATIF needs a step)")),
            Some(_) => return Err(doc.error("steps", "not an array")),
            None => return Err(doc.error("steps", "missing")),
        };
        self.start(emit, agent);
        for (position, step) in steps.iter().enumerate() {
            self.step(position, step, steps, emit, ids)?;
        }
        self.finish_compaction(steps, steps.len(), emit, ids);
        self.end_turn(emit);
        let status = ours(value, "status").unwrap_or("completed");
        if matches!(status, "completed" | "failed" | "aborted") {
            let thread = self.thread().to_string();
            emit.emit(
                Some(&thread),
                None,
                json!({"type": "thread_ended", "thread_id": thread, "status": status}),
            );
        }
        Ok(())
    }

    /// The thread's start, its metadata the trajectory's own fields.
    fn start(&mut self, emit: &mut Emitter, agent: &Map<String, Value>) {
        let doc = self.doc();
        let value = &doc.value;
        let Thread { id, path } = &self.threads[self.me];
        let mut atif = Map::new();
        for key in [
            "schema_version",
            "session_id",
            "trajectory_id",
            "notes",
            "final_metrics",
            "continued_trajectory_ref",
            "extra",
        ] {
            if let Some(field) = value.get(key) {
                atif.insert(key.to_string(), field.clone());
            }
        }
        atif.insert("agent".to_string(), Value::Object(agent.clone()));
        atif.insert("file".to_string(), json!(doc.file));
        if !doc.at.is_empty() {
            atif.insert("at".to_string(), json!(doc.at));
        }
        let mut metadata = json!({
            "thread_id": id, "agent_path": path, "source": "atif",
            "nickname": agent.get("name"), "cli_version": agent.get("version"),
            "model": agent.get("model_name"), "atif": atif,
        });
        if let Some(parent) = self.node().parent {
            let depth = std::iter::successors(Some(parent), |p| self.tree.nodes[*p].parent).count();
            metadata["session_source"] = json!({"subagent": {"thread_spawn": {
                "parent_thread_id": self.threads[parent].id, "depth": depth,
                "agent_path": path, "agent_role": "subagent"}}});
        }
        if let Some(at) = value.pointer("/steps/0/timestamp").and_then(Value::as_str) {
            emit.at(Some(at));
        }
        emit.emit(
            None,
            None,
            json!({"type": "thread_started", "thread_id": id, "agent_path": path,
                   "metadata_payload": text_ref("session_metadata", &metadata.to_string())}),
        );
    }

    fn in_thread(&self, emit: &mut Emitter, payload: Value) {
        emit.emit(Some(self.thread()), self.turn.as_deref(), payload);
    }

    fn start_turn(&mut self, hint: Option<&str>, emit: &mut Emitter, ids: &mut Ids) {
        self.end_turn(emit);
        self.turns += 1;
        let turn = ids.fresh(hint, format!("{}:turn:{}", self.thread(), self.turns));
        self.turn = Some(turn.clone());
        let thread = self.thread().to_string();
        emit.emit(
            Some(&thread),
            Some(&turn),
            json!({"type": "codex_turn_started", "codex_turn_id": turn, "thread_id": thread}),
        );
    }

    fn end_turn(&mut self, emit: &mut Emitter) {
        if let Some(turn) = self.turn.take() {
            emit.emit(
                Some(self.thread()),
                Some(&turn),
                json!({"type": "codex_turn_ended", "codex_turn_id": turn, "status": "completed"}),
            );
        }
    }

    /// The turn an agent step from `position` on (before the next user
    /// step) names in `extra.tracefold.codex_turn_id`.
    fn turn_hint(steps: &[Value], position: usize) -> Option<&str> {
        steps
            .iter()
            .skip(position)
            .enumerate()
            .take_while(|(n, step)| {
                *n == 0 || step.get("source").and_then(Value::as_str) != Some("user")
            })
            .find_map(|(_, step)| ours(step, "codex_turn_id"))
    }

    /// A turn for work at step `position`: the open one, unless the step's
    /// hint names another.
    fn ensure_turn(&mut self, steps: &[Value], position: usize, emit: &mut Emitter, ids: &mut Ids) {
        let hint = Self::turn_hint(steps, position);
        let open = self.turn.is_some() && (hint.is_none() || hint == self.turn.as_deref());
        if !open {
            self.start_turn(hint, emit, ids);
        }
    }

    /// Installs the compaction being read, before step `position` (or at
    /// the end): what the copied steps held replaces the history.
    fn finish_compaction(
        &mut self,
        steps: &[Value],
        position: usize,
        emit: &mut Emitter,
        ids: &mut Ids,
    ) {
        let Some((id, input, replacement)) = self.compaction.take() else {
            return;
        };
        if self.turn.is_none() {
            self.ensure_turn(
                steps,
                position.min(steps.len().saturating_sub(1)),
                emit,
                ids,
            );
        }
        let id = ids.fresh(Some(&id), format!("{}:compaction", self.thread()));
        let checkpoint = format!(
            "{{\"input_history\":[{}],\"replacement_history\":[{}]}}",
            input.join(","),
            replacement.join(",")
        );
        self.in_thread(
            emit,
            json!({"type": "local_compaction_installed", "compaction_id": id,
                   "inference_call_id": null,
                   "checkpoint_payload": text_ref("compaction_checkpoint", &checkpoint)}),
        );
        self.history = replacement;
        self.chain = None;
    }

    /// A message joins the conversation (or, while a compaction is read,
    /// its replacement).
    fn remember(&mut self, message: Value, copied: bool) {
        let text = message.to_string();
        match (&mut self.compaction, copied) {
            (Some((_, _, replacement)), true) => replacement.push(text),
            _ => self.history.push(text),
        }
    }
}

mod step;
