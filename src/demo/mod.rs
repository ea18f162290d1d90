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
//!
//! `mod.rs` holds the public entry points and the turn loop; `script.rs` the
//! seeded script and the items it is made of; `inference.rs` the model's
//! calls (scripted or replayed) and compaction; `tools.rs` shell commands,
//! exec cells and tool calls; `agents.rs` the agents and the sub-agent
//! tools.

mod agents;
mod inference;
mod script;
mod tools;

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::codemode::CodeModeService;
use crate::event::{ExecutionStatus, RolloutStatus};
use crate::recorder::{Recorder, RolloutStart, ThreadStart};
use crate::replay::ReplaySource;
use agents::Agent;
use script::{Rng, SYSTEM_PROMPT, message};
use tools::ScriptedTools;

/// How big a demo run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoConfig {
    /// Turns of the root agent.
    pub turns: u32,
    /// Child agents the root spawns (each gets a task, a message, returns a
    /// result and is closed).
    pub agents: u32,
    /// Seeds the script's generator (the tasks, messages and outputs and
    /// their lengths): the same seed and sizes give the same script, while
    /// generated ids and wall times differ from run to run.
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
    /// The recorded rollout's id (a new UUID each run), as stored.
    pub rollout_id: String,
    /// The root agent's thread id (a new UUID each run).
    pub root_thread_id: String,
    /// `(agent path, thread id)` of every thread, root first.
    pub threads: Vec<(String, String)>,
    /// Turns of every agent, the root's and its children's (the interrupted
    /// one included).
    pub turns: u64,
    /// Inference calls of every agent, the interrupted (cancelled) one
    /// included; compaction requests are not inference calls.
    pub inference_calls: u64,
    /// Tool calls the model made and the host answered (shell commands,
    /// sub-agent tools, waits on code cells); not the exec calls
    /// themselves (`code_cells`) nor the tool calls code cells made.
    pub tool_calls: u64,
    /// JavaScript exec cells run on the code-mode runtime.
    pub code_cells: u64,
    /// Shell commands run as terminal operations.
    pub terminal_commands: u64,
    /// Remote compactions of the root's conversation.
    pub compactions: u64,
    /// Turns the user interrupted (at most one per run).
    pub interrupted_turns: u64,
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
}
