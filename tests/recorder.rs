//! Integration tests: recorder.
//!
//! A host that is not Codex records sub-agents through the public API alone
//! (issue 14, point 3): the recorder writes the spawn origin and the spawn
//! runtime observations the reducer reads, so the host never writes Codex's
//! `session_source.subagent.thread_spawn` or protocol events by hand.

use serde_json::{Value, json};
use tracefold::event::{
    ExecutionStatus, RawToolCallRequester, RolloutStatus, ToolCallKind, ToolCallSummary,
};
use tracefold::model::{AgentOrigin, InteractionEdgeKind, RolloutTrace, TraceAnchor};
use tracefold::{
    ChildSpawn, Recorder, RecorderConfig, RolloutStart, Store, StoreOptions, ThreadStart,
    ToolCallStart, TurnRecorder, reduce_stored,
};

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn assistant(text: &str) -> Value {
    json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
}

fn agent_message(author: &str, recipient: &str, text: &str) -> Value {
    json!({"type": "agent_message", "author": author, "recipient": recipient,
           "content": [{"type": "input_text", "text": text}]})
}

/// One inference call whose request is `input` (a full snapshot) and whose
/// response is `output`.
fn infer(turn: &TurnRecorder, response_id: &str, input: &[Value], output: &[Value]) {
    let call = turn.start_inference("model", "provider", || json!({"input": input}));
    call.completed(Some(response_id), None, || json!({"output_items": output}));
}

fn spawn_tool_start(call_id: &str) -> ToolCallStart {
    ToolCallStart {
        tool_call_id: Some(call_id.to_string()),
        model_visible_call_id: Some(call_id.to_string()),
        code_mode_runtime_tool_id: None,
        requester: RawToolCallRequester::Model,
        kind: ToolCallKind::SpawnAgent,
        summary: ToolCallSummary::generic("spawn_agent"),
    }
}

fn spawn_call(call_id: &str, task: &str) -> Value {
    json!({"type": "function_call", "name": "spawn_agent", "call_id": call_id,
           "arguments": json!({"message": task}).to_string()})
}

fn spawned_from(state: &RolloutTrace, child: &str) -> (String, String) {
    match &state.threads[child].origin {
        AgentOrigin::Spawned {
            parent_thread_id,
            spawn_edge_id,
            ..
        } => (parent_thread_id.clone(), spawn_edge_id.clone()),
        AgentOrigin::Root => panic!("thread {child} has a root origin"),
    }
}

#[test]
fn a_host_records_a_sub_agent_with_the_public_api_and_gets_its_origin_spawn_edge_and_result_edge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rollout = recorder.start_rollout(RolloutStart {
        rollout_id: Some("host".into()),
        trace_id: None,
        root: ThreadStart {
            thread_id: "parent".into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    });
    let parent = rollout.root();
    let task = "Check the parser.";
    let result = "The parser is fine.";

    // The parent's model asks for two workers; the host spawns them.
    let turn = parent.start_turn("t1");
    let ask = user("Get two workers on it.");
    let calls = [spawn_call("call-a", task), spawn_call("call-b", "Idle.")];
    infer(&turn, "resp-1", std::slice::from_ref(&ask), &calls);
    let tool = turn.start_tool_call(spawn_tool_start("call-a"), || {
        Some(json!({"tool_name": "spawn_agent", "arguments": {"message": task}}))
    });
    let worker = tool.spawn_child(
        ThreadStart {
            thread_id: "worker".into(),
            agent_path: "/root/worker".into(),
            metadata: None,
        },
        ChildSpawn {
            prompt: task.into(),
            model: "small-model".into(),
            reasoning_effort: "low".into(),
        },
    );
    tool.ended(ExecutionStatus::Completed, || {
        Some(json!({"agent_id": "worker"}))
    });
    // The second worker never gets a request with its task in it.
    let tool = turn.start_tool_call(spawn_tool_start("call-b"), || None::<Value>);
    let idle = tool.spawn_child(
        ThreadStart {
            thread_id: "idle".into(),
            agent_path: "/root/idle".into(),
            metadata: Some(json!({"nickname": "Ada", "agent_role": "tester"})),
        },
        ChildSpawn {
            prompt: "Idle.".into(),
            model: "small-model".into(),
            reasoning_effort: "low".into(),
        },
    );
    tool.ended(ExecutionStatus::Completed, || None::<Value>);
    turn.end(ExecutionStatus::Completed);

    // The worker's model sees its task, answers, and the host delivers the
    // answer to the parent.
    let child_turn = worker.start_turn("w1");
    let delivered_task = agent_message("/root", "/root/worker", task);
    infer(
        &child_turn,
        "resp-w",
        &[delivered_task],
        &[assistant(result)],
    );
    let notification = agent_message("/root/worker", "/root", result);
    let mut parent_inbox = Vec::new();
    let delivered: Result<(), String> = child_turn.deliver_agent_result(
        "parent",
        result,
        || Some(json!({"child_agent_path": "/root/worker", "message": result, "status": {"completed": result}})),
        || {
            parent_inbox.push(notification.clone());
            Ok(())
        },
    );
    delivered.expect("delivered");
    child_turn.end(ExecutionStatus::Completed);
    worker.end(RolloutStatus::Completed);
    idle.end(RolloutStatus::Completed);

    // The parent's next request carries the delivered result.
    let turn = parent.start_turn("t2");
    let mut history = vec![ask];
    history.extend(calls);
    history.extend(parent_inbox);
    infer(&turn, "resp-2", &history, &[assistant("Done.")]);
    turn.end(ExecutionStatus::Completed);
    rollout.end(RolloutStatus::Completed);
    recorder.shutdown().expect("shutdown");
    assert_eq!(recorder.stats().events_dropped, 0);

    let state = reduce_stored(&store, "host").expect("reduces");
    assert!(state.diagnostics.is_empty(), "{:?}", state.diagnostics);
    // Origins, from metadata the recorder wrote.
    assert_eq!(
        spawned_from(&state, "worker"),
        ("parent".to_string(), "edge:spawn:parent:worker".to_string())
    );
    assert_eq!(
        spawned_from(&state, "idle"),
        ("parent".to_string(), "edge:spawn:parent:idle".to_string())
    );
    let AgentOrigin::Spawned { agent_role, .. } = &state.threads["idle"].origin else {
        unreachable!();
    };
    assert_eq!(agent_role, "tester");
    assert_eq!(
        state.threads["worker"].default_model.as_deref(),
        Some("small-model")
    );
    // The worker's spawn edge: from the spawn tool call to the item that
    // delivered the task in the worker's conversation.
    let edge = &state.interaction_edges["edge:spawn:parent:worker"];
    assert_eq!(edge.kind, InteractionEdgeKind::SpawnAgent);
    assert_eq!(
        edge.source,
        TraceAnchor::ToolCall {
            tool_call_id: "call-a".into()
        }
    );
    let TraceAnchor::ConversationItem { item_id } = &edge.target else {
        panic!("spawn edge target {:?}", edge.target);
    };
    let item = &state.conversation_items[item_id.as_ref()];
    assert_eq!(item.thread_id, "worker");
    // The idle worker's spawn edge falls back to its thread.
    let edge = &state.interaction_edges["edge:spawn:parent:idle"];
    assert_eq!(
        edge.target,
        TraceAnchor::Thread {
            thread_id: "idle".into()
        }
    );
    // The result edge: delivered, since the parent's later request carried it.
    let edge = &state.interaction_edges["edge:agent_result:worker:w1:parent"];
    assert_eq!(edge.kind, InteractionEdgeKind::AgentResult);
    let TraceAnchor::ConversationItem { item_id } = &edge.target else {
        panic!("result edge target {:?}", edge.target);
    };
    assert_eq!(
        state.conversation_items[item_id.as_ref()].thread_id,
        "parent"
    );
}

#[test]
fn spawn_child_alone_writes_the_spawn_origin_at_every_depth_and_keeps_a_hosts_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let rollout = recorder.start_rollout(RolloutStart {
        rollout_id: Some("tree".into()),
        trace_id: None,
        root: ThreadStart {
            thread_id: "root".into(),
            agent_path: "/root".into(),
            metadata: None,
        },
    });
    let child = rollout.root().spawn_child(ThreadStart {
        thread_id: "child".into(),
        agent_path: "/root/child".into(),
        metadata: Some(json!({"nickname": "Ada", "session_source": "cli"})),
    });
    let grandchild = child.spawn_child(ThreadStart {
        thread_id: "grandchild".into(),
        agent_path: "/root/child/grandchild".into(),
        metadata: None,
    });
    // A host that writes Codex's shape itself keeps it.
    let own = rollout.root().spawn_child(ThreadStart {
        thread_id: "own".into(),
        agent_path: "/root/own".into(),
        metadata: Some(json!({"session_source": {"subagent": {"thread_spawn": {
            "parent_thread_id": "child", "depth": 7}}}})),
    });
    for thread in [&grandchild, &child, &own] {
        thread.end(RolloutStatus::Completed);
    }
    rollout.end(RolloutStatus::Completed);
    recorder.shutdown().expect("shutdown");

    let state = reduce_stored(&store, "tree").expect("reduces");
    assert_eq!(spawned_from(&state, "child").0, "root");
    assert_eq!(spawned_from(&state, "grandchild").0, "child");
    assert_eq!(spawned_from(&state, "own").0, "child");
    assert_eq!(state.threads["child"].nickname.as_deref(), Some("Ada"));
    // The origin only: with no spawning tool call, no edge (as the reference).
    assert!(state.interaction_edges.is_empty());
    // The metadata says how deep each thread is.
    let depth = |thread: &str| -> Value {
        let id = state.threads[thread]
            .raw_metadata_payload_id
            .clone()
            .expect("metadata");
        let hash = state.raw_payloads[id.as_str()].blake3;
        let metadata: Value =
            serde_json::from_slice(&store.read_payload(&hash).expect("payload")).expect("json");
        metadata["session_source"]["subagent"]["thread_spawn"]["depth"].clone()
    };
    assert_eq!(depth("child"), json!(1));
    assert_eq!(depth("grandchild"), json!(2));
    assert_eq!(depth("own"), json!(7));
}
