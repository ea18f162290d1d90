//! Property tests of the reducer's laws: deterministic replay, prefix fold
//! (save/resume), duplicate-start rejection, compaction boundaries and
//! robustness on arbitrary input.
//!
//! Generators build valid rollouts of random shape from a list of steps, then
//! mutate them. `PROPTEST_CASES` sets the number of cases (default 64).

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Value, json};

use super::test_support::{Log, custom_output, exec_call, function_call, function_output, message};
use super::{MemoryPayloads, Reducer, reduce, state_to_json};
use crate::event::{
    CodeCellRuntimeStatus, Event, EventPayload, ExecutionStatus, PayloadKind, PayloadRef,
    RawToolCallRequester, ToolCallKind,
};

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/reducer.txt",
        ))),
        ..Config::default()
    }
}

#[derive(Debug, Clone)]
enum Output {
    Message,
    Reasoning,
    ExecTool,
    McpTool,
    CodeCell { fast: bool },
}

#[derive(Debug, Clone)]
enum Step {
    Turn {
        thread: usize,
        cancel_previous: bool,
    },
    Infer {
        thread: usize,
        incremental: bool,
        users: u8,
        outputs: Vec<Output>,
        fail: bool,
    },
    Compact {
        thread: usize,
        remote: bool,
    },
    Spawn {
        deliver: bool,
    },
}

fn output() -> impl Strategy<Value = Output> {
    prop_oneof![
        3 => Just(Output::Message),
        1 => Just(Output::Reasoning),
        2 => Just(Output::ExecTool),
        1 => Just(Output::McpTool),
        2 => any::<bool>().prop_map(|fast| Output::CodeCell { fast }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..3usize, any::<bool>()).prop_map(|(thread, cancel_previous)| Step::Turn { thread, cancel_previous }),
        6 => (0..3usize, any::<bool>(), 0..3u8, prop::collection::vec(output(), 0..3), prop::bool::weighted(0.1))
            .prop_map(|(thread, incremental, users, outputs, fail)| Step::Infer { thread, incremental, users, outputs, fail }),
        1 => (0..3usize, any::<bool>()).prop_map(|(thread, remote)| Step::Compact { thread, remote }),
        1 => any::<bool>().prop_map(|deliver| Step::Spawn { deliver }),
    ]
}

struct ThreadState {
    id: String,
    path: String,
    turn: Option<String>,
    history: Vec<Value>,
    last_response: Option<String>,
    inbox: Vec<Value>,
}

/// Turns steps into a valid log.
struct Builder {
    log: Log,
    threads: Vec<ThreadState>,
    counter: u64,
}

impl Builder {
    fn new() -> Builder {
        let mut log = Log::new();
        log.rollout("t0");
        log.thread("t0", "/root");
        Builder {
            log,
            threads: vec![ThreadState {
                id: "t0".into(),
                path: "/root".into(),
                turn: None,
                history: Vec::new(),
                last_response: None,
                inbox: Vec::new(),
            }],
            counter: 0,
        }
    }

    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}", self.counter)
    }

    fn ensure_turn(&mut self, index: usize) -> (String, String) {
        if self.threads[index].turn.is_none() {
            let turn = self.next("turn");
            let thread = self.threads[index].id.clone();
            self.log.turn(&thread, &turn);
            self.threads[index].turn = Some(turn);
        }
        let state = &self.threads[index];
        (state.id.clone(), state.turn.clone().unwrap_or_default())
    }

    fn apply(&mut self, step: &Step) {
        match step {
            Step::Turn {
                thread,
                cancel_previous,
            } => {
                let Some(state) = self.threads.get(*thread) else {
                    return;
                };
                if let Some(turn) = state.turn.clone() {
                    let id = state.id.clone();
                    let status = if *cancel_previous {
                        ExecutionStatus::Cancelled
                    } else {
                        ExecutionStatus::Completed
                    };
                    self.log.end_turn(&id, &turn, status);
                    self.threads[*thread].turn = None;
                }
                self.ensure_turn(*thread);
            }
            Step::Infer {
                thread,
                incremental,
                users,
                outputs,
                fail,
            } => {
                if *thread >= self.threads.len() {
                    return;
                }
                let (id, turn) = self.ensure_turn(*thread);
                let mut fresh: Vec<Value> = std::mem::take(&mut self.threads[*thread].inbox);
                for _ in 0..*users {
                    let text = self.next("user");
                    fresh.push(message("user", &text));
                }
                let call = self.next("inf");
                let state = &self.threads[*thread];
                let request = match (&state.last_response, incremental) {
                    (Some(previous), true) => {
                        json!({"previous_response_id": previous, "input": fresh})
                    }
                    _ => {
                        let mut input = state.history.clone();
                        input.extend(fresh.iter().cloned());
                        json!({"input": input})
                    }
                };
                self.threads[*thread].history.extend(fresh);
                self.log.inference_request(&id, &turn, &call, &request);
                if *fail {
                    self.log.push(
                        Some(&id),
                        Some(&turn),
                        EventPayload::InferenceFailed {
                            inference_call_id: call,
                            upstream_request_id: None,
                            error: "boom".into(),
                            partial_response_payload: None,
                        },
                    );
                    self.threads[*thread].last_response = None;
                    return;
                }
                let mut items = Vec::new();
                let mut after = Vec::new();
                for out in outputs {
                    let call_id = self.next("call");
                    match out {
                        Output::Message => items.push(message("assistant", &call_id)),
                        Output::Reasoning => items.push(json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}], "encrypted_content": call_id})),
                        Output::ExecTool | Output::McpTool => {
                            items.push(function_call(&call_id, "exec_command", "{\"cmd\":\"ls\"}"));
                            after.push((out.clone(), call_id));
                        }
                        Output::CodeCell { fast } => {
                            items.push(exec_call(&call_id, "await tools.x()"));
                            if *fast {
                                self.code_cell(&id, &turn, &call_id);
                            } else {
                                after.push((out.clone(), call_id));
                            }
                        }
                    }
                }
                let response = self.next("resp");
                self.log
                    .complete(&id, &turn, &call, &response, items.clone());
                self.threads[*thread].history.extend(items);
                self.threads[*thread].last_response = Some(response);
                for (out, call_id) in after {
                    match out {
                        Output::CodeCell { .. } => self.code_cell(&id, &turn, &call_id),
                        Output::ExecTool => {
                            let tool = self.next("tool");
                            self.log.tool_start(
                                &id,
                                &turn,
                                &tool,
                                Some(&call_id),
                                RawToolCallRequester::Model,
                                ToolCallKind::ExecCommand,
                                None,
                            );
                            let pty = self.next("pty");
                            self.log.tool_runtime(
                                &id,
                                &turn,
                                &tool,
                                true,
                                &json!({"process_id": pty, "command": ["ls"], "cwd": "/"}),
                            );
                            self.log.tool_runtime(
                                &id,
                                &turn,
                                &tool,
                                false,
                                &json!({"process_id": pty, "stdout": "a", "exit_code": 0}),
                            );
                            self.log.tool_end(&id, &turn, &tool, None);
                            self.threads[*thread]
                                .inbox
                                .push(function_output(&call_id, "a"));
                        }
                        _ => {
                            let tool = self.next("tool");
                            self.log.tool_start(
                                &id,
                                &turn,
                                &tool,
                                Some(&call_id),
                                RawToolCallRequester::Model,
                                ToolCallKind::Mcp {
                                    server: "s".into(),
                                    tool: "t".into(),
                                },
                                None,
                            );
                            self.log.push(
                                None,
                                None,
                                EventPayload::McpToolCallCorrelationAssigned {
                                    tool_call_id: tool.clone(),
                                    mcp_call_id: format!("mcp-{tool}"),
                                },
                            );
                            self.log.tool_end(&id, &turn, &tool, None);
                            self.threads[*thread]
                                .inbox
                                .push(function_output(&call_id, "r"));
                        }
                    }
                }
            }
            Step::Compact { thread, remote } => {
                if *thread >= self.threads.len() {
                    return;
                }
                let (id, turn) = self.ensure_turn(*thread);
                let compaction = self.next("cmp");
                if *remote {
                    let request = self.next("creq");
                    let payload = self
                        .log
                        .payload(PayloadKind::CompactionRequest, &json!({"input": []}));
                    self.log.push(
                        Some(&id),
                        Some(&turn),
                        EventPayload::CompactionRequestStarted {
                            compaction_id: compaction.clone(),
                            compaction_request_id: request.clone(),
                            thread_id: id.clone(),
                            codex_turn_id: turn.clone(),
                            model: "m".into(),
                            provider_name: "p".into(),
                            request_payload: payload,
                        },
                    );
                    let response = self.log.payload(
                        PayloadKind::CompactionResponse,
                        &json!({"output_items": []}),
                    );
                    self.log.push(
                        Some(&id),
                        Some(&turn),
                        EventPayload::CompactionRequestCompleted {
                            compaction_id: compaction.clone(),
                            compaction_request_id: request,
                            response_payload: response,
                        },
                    );
                }
                let summary = self.next("summary");
                let replacement = vec![
                    message("user", &summary),
                    json!({"type": "compaction", "encrypted_content": summary}),
                ];
                let input = self.threads[*thread].history.clone();
                self.log
                    .checkpoint(&id, &turn, &compaction, input, replacement.clone());
                self.threads[*thread].history = replacement;
                self.threads[*thread].last_response = None;
            }
            Step::Spawn { deliver } => {
                if self.threads.len() >= 3 {
                    return;
                }
                let (parent, turn) = self.ensure_turn(0);
                let child = self.next("child");
                let path = format!("/root/{child}");
                let tool = self.next("tool");
                self.log.tool_start(
                    &parent,
                    &turn,
                    &tool,
                    None,
                    RawToolCallRequester::Model,
                    ToolCallKind::SpawnAgent,
                    None,
                );
                self.log.child_thread(&child, &path, &parent);
                let prompt = self.next("task");
                self.log.tool_runtime(
                    &parent,
                    &turn,
                    &tool,
                    false,
                    &json!({"sender_thread_id": parent, "new_thread_id": child, "prompt": prompt}),
                );
                self.log.tool_end(&parent, &turn, &tool, None);
                let inbox = if *deliver {
                    vec![
                        json!({"type": "agent_message", "author": "/root", "recipient": path, "content": [{"type": "input_text", "text": prompt}]}),
                    ]
                } else {
                    Vec::new()
                };
                self.threads.push(ThreadState {
                    id: child,
                    path,
                    turn: None,
                    history: Vec::new(),
                    last_response: None,
                    inbox,
                });
            }
        }
    }

    fn code_cell(&mut self, thread: &str, turn: &str, call_id: &str) {
        let runtime = self.next("cell");
        self.log.push(
            Some(thread),
            Some(turn),
            EventPayload::CodeCellStarted {
                runtime_cell_id: runtime.clone(),
                model_visible_call_id: call_id.to_string(),
                source_js: "await tools.x()".into(),
            },
        );
        let tool = self.next("exec");
        self.log.tool_start(
            thread,
            turn,
            &tool,
            None,
            RawToolCallRequester::CodeCell {
                runtime_cell_id: runtime.clone(),
            },
            ToolCallKind::Web,
            None,
        );
        self.log.tool_end(thread, turn, &tool, None);
        self.log.push(
            Some(thread),
            Some(turn),
            EventPayload::CodeCellEnded {
                runtime_cell_id: runtime,
                status: CodeCellRuntimeStatus::Completed,
                response_payload: None,
            },
        );
        let index = self
            .threads
            .iter()
            .position(|state| state.id == thread)
            .unwrap_or(0);
        self.threads[index]
            .inbox
            .push(custom_output(call_id, "done"));
    }
}

fn build(steps: &[Step]) -> Log {
    let mut builder = Builder::new();
    for step in steps {
        builder.apply(step);
    }
    let _ = &builder.threads[0].path;
    builder.log
}

fn rollout() -> impl Strategy<Value = Log> {
    prop::collection::vec(step(), 1..24).prop_map(|steps| build(&steps))
}

fn json_of(events: &[Event], payloads: &MemoryPayloads) -> String {
    match reduce("r", events, payloads) {
        Ok(state) => state_to_json(&state),
        Err(err) => format!("error: {err}"),
    }
}

fn is_start(payload: &EventPayload<PayloadRef>) -> bool {
    matches!(
        payload,
        EventPayload::ThreadStarted { .. }
            | EventPayload::CodexTurnStarted { .. }
            | EventPayload::InferenceStarted { .. }
            | EventPayload::ToolCallStarted { .. }
            | EventPayload::CodeCellStarted { .. }
            | EventPayload::CompactionRequestStarted { .. }
            | EventPayload::CompactionInstalled { .. }
    )
}

/// Renumbers seqs from 1 in order.
fn renumber(events: &mut [Event]) {
    for (index, event) in events.iter_mut().enumerate() {
        event.seq = index as u64 + 1;
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_rollouts_reduce_and_replay_deterministically(log in rollout()) {
        let first = reduce("r", &log.events, &log.payloads);
        prop_assert!(first.is_ok(), "valid rollout failed: {:?}", first.err());
        let a = json_of(&log.events, &log.payloads);
        let b = json_of(&log.events, &log.payloads);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn prefix_fold_equals_one_pass(log in rollout()) {
        let whole = json_of(&log.events, &log.payloads);
        for split in 0..=log.events.len() {
            let mut reducer = Reducer::new("r");
            for event in &log.events[..split] {
                reducer.apply(event, &log.payloads).expect("prefix");
            }
            let mut resumed = Reducer::resume(&reducer.save()).expect("resume");
            for event in &log.events[split..] {
                resumed.apply(event, &log.payloads).expect("suffix");
            }
            prop_assert_eq!(&state_to_json(&resumed.finish()), &whole, "split at {}", split);
        }
    }

    #[test]
    fn duplicated_start_events_are_rejected_with_their_seq(log in rollout(), pick in any::<prop::sample::Index>()) {
        let starts: Vec<usize> = log.events.iter().enumerate().filter(|(_, e)| is_start(&e.payload)).map(|(i, _)| i).collect();
        prop_assume!(!starts.is_empty());
        let at = starts[pick.index(starts.len())];
        let mut events = log.events.clone();
        events.insert(at + 1, events[at].clone());
        renumber(&mut events);
        let duplicate_seq = at as u64 + 2;
        match reduce("r", &events, &log.payloads) {
            Ok(_) => prop_assert!(false, "duplicate start at seq {} was accepted", duplicate_seq),
            Err(err) => {
                let text = err.to_string();
                prop_assert!(text.starts_with(&format!("seq {duplicate_seq}: duplicate")), "{}", text);
            }
        }
    }

    #[test]
    fn compaction_installs_replace_live_history(log in rollout()) {
        let state = reduce("r", &log.events, &log.payloads).expect("valid");
        for compaction in state.compactions.values() {
            let marker_ordinal = &compaction.marker_item_id;
            for id in &compaction.replacement_item_ids {
                // Replacement items are new, created right after the marker.
                prop_assert!(id > marker_ordinal);
                prop_assert_eq!(&state.conversation_items[id].first_seen_seq, &compaction.installed_seq);
            }
            let next = state.inference_calls.values().find(|call| {
                call.thread_id == compaction.thread_id && call.execution.started_seq > compaction.installed_seq
            });
            let later_install = next.is_some_and(|next| state.compactions.values().any(|other| {
                other.thread_id == compaction.thread_id
                    && other.installed_seq > compaction.installed_seq
                    && other.installed_seq < next.execution.started_seq
            }));
            if let Some(next) = next.filter(|_| !later_install) {
                prop_assert!(next.request_item_ids.starts_with(&compaction.replacement_item_ids));
                for id in &next.request_item_ids {
                    let item = &state.conversation_items[id];
                    // No pre-boundary item comes back under its old id.
                    prop_assert!(item.first_seen_seq >= compaction.installed_seq, "{} reappeared", id);
                }
            }
        }
        // Requests before a boundary keep their items: reducing only the
        // prefix up to each install gives the same request lists.
        for compaction in state.compactions.values() {
            let prefix = &log.events[..compaction.installed_seq as usize - 1];
            let before = reduce("r", prefix, &log.payloads).expect("prefix");
            for (id, call) in &before.inference_calls {
                prop_assert_eq!(&state.inference_calls[id].request_item_ids, &call.request_item_ids);
            }
        }
    }

    #[test]
    fn mutated_rollouts_never_panic(log in rollout(), cuts in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8), 1..6)) {
        let mut events = log.events.clone();
        for (index, op) in cuts {
            if events.is_empty() {
                break;
            }
            let at = index.index(events.len());
            match op {
                0 => { events.remove(at); }
                1 => { let copy = events[at].clone(); events.insert(at, copy); }
                _ => { let other = (at + 1) % events.len(); events.swap(at, other); }
            }
        }
        renumber(&mut events);
        let _ = reduce("r", &events, &log.payloads);
    }

    #[test]
    fn arbitrary_event_soup_never_panics(raw in prop::collection::vec((0..12u8, 0..3u8, 0..3u8, ".{0,12}"), 0..40)) {
        let ids = ["a", "b", "c"];
        let mut log = Log::new();
        for (kind, x, y, text) in raw {
            let (x, y) = (ids[x as usize], ids[y as usize]);
            let value = match serde_json::from_str::<Value>(&text) { Ok(v) => v, Err(_) => json!({"input": [message("user", &text)], "output_items": [{"type": text}]}) };
            let payload = log.payload(PayloadKind::InferenceRequest, &value);
            let event = match kind {
                0 => EventPayload::ThreadStarted { thread_id: x.into(), agent_path: y.into(), metadata_payload: Some(payload) },
                1 => EventPayload::CodexTurnStarted { codex_turn_id: y.into(), thread_id: x.into() },
                2 => EventPayload::InferenceStarted { inference_call_id: y.into(), thread_id: x.into(), codex_turn_id: y.into(), model: text.clone(), provider_name: text, request_input_mode: None, request_payload: payload },
                3 => EventPayload::InferenceCompleted { inference_call_id: y.into(), response_id: Some(x.into()), upstream_request_id: None, response_payload: payload },
                4 => EventPayload::ToolCallStarted { tool_call_id: y.into(), model_visible_call_id: Some(x.into()), code_mode_runtime_tool_id: None, requester: RawToolCallRequester::CodeCell { runtime_cell_id: x.into() }, kind: ToolCallKind::from_tool_name(&text), summary: crate::event::ToolCallSummary::generic(text), invocation_payload: Some(payload) },
                5 => EventPayload::ToolCallRuntimeStarted { tool_call_id: y.into(), runtime_payload: payload },
                6 => EventPayload::ToolCallRuntimeEnded { tool_call_id: y.into(), status: ExecutionStatus::Completed, runtime_payload: payload },
                7 => EventPayload::CodeCellStarted { runtime_cell_id: x.into(), model_visible_call_id: y.into(), source_js: text },
                8 => EventPayload::CompactionInstalled { compaction_id: y.into(), checkpoint_payload: payload },
                9 => EventPayload::CodexTurnEnded { codex_turn_id: y.into(), status: ExecutionStatus::Failed },
                10 => EventPayload::AgentResultObserved { edge_id: text.clone(), child_thread_id: x.into(), child_codex_turn_id: y.into(), parent_thread_id: y.into(), message: text, carried_payload: None },
                _ => EventPayload::EventsDropped { count: 1, reason: text },
            };
            log.push(Some(x), Some(y), event);
        }
        let _ = log.reduce();
    }
}

/// The log written to a store and read back (events re-encoded, payloads
/// chunked, compressed and reassembled) reduces to the same bytes.
fn store_round_trip_json(log: &Log) -> String {
    use crate::reducer::PayloadSource;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::store::Store::open(dir.path(), crate::store::StoreOptions::default())
        .expect("store");
    let mut writes = store.writes().expect("writes");
    let num = writes.rollout("r", true).expect("rollout");
    for event in &log.events {
        let payload = event
            .payload
            .clone()
            .try_map_refs(|r| {
                let bytes = log.payloads.read_payload(&r).expect("payload");
                writes.put_payload_bytes(r.kind, &bytes)
            })
            .expect("payloads store");
        writes
            .append(
                num,
                event.wall_time_unix_ms,
                event.thread_id.clone(),
                event.codex_turn_id.clone(),
                payload,
            )
            .expect("append");
    }
    writes.commit(true).expect("commit");
    let state = crate::export::reduce_stored(&store, "r").expect("reduces from the store");
    state_to_json(&state)
}

proptest! {
    #![proptest_config(Config { cases: config().cases.min(16), ..config() })]

    #[test]
    fn generated_rollouts_reduce_to_the_same_bytes_after_a_store_round_trip(log in rollout()) {
        let in_memory = json_of(&log.events, &log.payloads);
        prop_assert_eq!(store_round_trip_json(&log), in_memory);
    }
}

/// `events` with the events at `failed` seqs replaced by what a skipped
/// event still does: cite its payloads (one `protocol_event_observed` per
/// cited payload, same seq), which registers them in the same order.
fn with_only_citations_of(events: &[Event], failed: &[u64]) -> Vec<Event> {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        if !failed.contains(&event.seq) {
            out.push(event.clone());
            continue;
        }
        for cited in event.payload.payload_refs() {
            out.push(Event {
                seq: event.seq,
                wall_time_unix_ms: event.wall_time_unix_ms,
                thread_id: None,
                codex_turn_id: None,
                payload: EventPayload::ProtocolEventObserved {
                    event_type: "skipped".to_string(),
                    event_payload: cited.clone(),
                },
            });
        }
    }
    out
}

/// Removes, duplicates or swaps events, or inserts after an inference start
/// a request in the same turn that creates items and then fails (a call id
/// reused with other arguments) and its completion; renumbers the seqs.
fn mutate(log: &mut Log, cuts: &[(prop::sample::Index, u8)]) {
    for (n, (index, op)) in cuts.iter().enumerate() {
        if log.events.is_empty() {
            break;
        }
        let at = index.index(log.events.len());
        match op {
            0 => {
                log.events.remove(at);
            }
            1 => {
                let copy = log.events[at].clone();
                log.events.insert(at, copy);
            }
            2 => {
                let other = (at + 1) % log.events.len();
                log.events.swap(at, other);
            }
            _ => {
                let Some(start) = log.events[at..]
                    .iter()
                    .position(|e| matches!(e.payload, EventPayload::InferenceStarted { .. }))
                else {
                    continue;
                };
                let EventPayload::InferenceStarted {
                    thread_id,
                    codex_turn_id,
                    ..
                } = log.events[at + start].payload.clone()
                else {
                    continue;
                };
                let id = format!("inference-poison-{n}");
                let call = format!("call-poison-{n}");
                let request = log.payload(
                    PayloadKind::InferenceRequest,
                    &json!({"input": [
                        message("user", &format!("poison {n}")),
                        function_call(&call, "shell", "{\"cmd\":\"ls\"}"),
                        function_call(&call, "shell", "{\"cmd\":\"rm\"}"),
                    ]}),
                );
                let response = log.payload(
                    PayloadKind::InferenceResponse,
                    &json!({"output_items": [message("assistant", "never")]}),
                );
                let envelope = |payload| Event {
                    seq: 0,
                    wall_time_unix_ms: 0,
                    thread_id: Some(thread_id.clone()),
                    codex_turn_id: Some(codex_turn_id.clone()),
                    payload,
                };
                let started = envelope(EventPayload::InferenceStarted {
                    inference_call_id: id.clone(),
                    thread_id: thread_id.clone(),
                    codex_turn_id: codex_turn_id.clone(),
                    model: "m".into(),
                    provider_name: "p".into(),
                    request_input_mode: None,
                    request_payload: request,
                });
                let completed = envelope(EventPayload::InferenceCompleted {
                    inference_call_id: id,
                    response_id: Some(format!("resp-poison-{n}")),
                    upstream_request_id: None,
                    response_payload: response,
                });
                let after = at + start + 1;
                log.events.insert(after, completed);
                log.events.insert(after, started);
            }
        }
    }
    renumber(&mut log.events);
}

proptest! {
    #![proptest_config(config())]

    /// Keep-going is atomic per event: its state is the strict state of the
    /// log in which each skipped event only cites its payloads, plus one
    /// `reduce_error` diagnostic per skipped event; the first of them is
    /// where the strict reduction stops; a log the strict reduction accepts
    /// gives the same bytes.
    #[test]
    fn keep_going_equals_the_strict_fold_without_the_skipped_events(
        log in rollout(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), 0..4u8), 0..6),
    ) {
        let mut log = log;
        mutate(&mut log, &cuts);
        let options = super::ReduceOptions::keep_going();
        let kept = super::reduce_with("r", &log.events, &log.payloads, options)
            .expect("keep-going never fails on an in-memory log");
        let skipped: Vec<u64> = kept
            .diagnostics
            .iter()
            .filter(|d| d.is_reduce_error())
            .filter_map(|d| d.seq)
            .collect();
        prop_assert!(skipped.windows(2).all(|w| w[0] < w[1]), "{:?}", skipped);
        match reduce("r", &log.events, &log.payloads) {
            Ok(strict) => {
                prop_assert!(skipped.is_empty());
                prop_assert_eq!(state_to_json(&kept), state_to_json(&strict));
            }
            Err(err) => prop_assert_eq!(skipped.first().copied(), err.seq()),
        }
        let rest = with_only_citations_of(&log.events, &skipped);
        let expected = reduce("r", &rest, &log.payloads);
        prop_assert!(expected.is_ok(), "the events kept fail strictly: {:?}", expected.err());
        let mut kept = kept;
        kept.diagnostics.retain(|d| !d.is_reduce_error());
        prop_assert_eq!(state_to_json(&kept), state_to_json(&expected.expect("checked")));
    }
}
