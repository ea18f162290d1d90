"""Recording from Python threads, reducing to Python objects, and
replay-equivalence of two runs."""

from __future__ import annotations

import json

import pytest

import tracefold
from worker import record_rollout


def test_a_worker_records_a_rollout_with_sub_agents_from_eight_threads(store):
    recorder = tracefold.Recorder(store, strict=True)
    record_rollout(recorder, "run-a", children=8, steps=3)
    recorder.shutdown()
    stats = recorder.stats()
    assert stats["events_dropped"] == 0
    assert stats["payload_errors"] == 0
    assert stats["events_written"] == len(list(store.events("run-a")))

    trace = tracefold.reduce(store, "run-a")
    assert trace.status == "completed"
    assert trace.diagnostics == []
    assert len(trace.threads) == 9
    assert len(trace.inference_calls) == 1 + 8 * 3
    assert len(trace.tool_calls) == 8 + 8 * 3
    spawns = [e for e in trace.interaction_edges.values() if e["kind"] == "spawn_agent"]
    assert len(spawns) == 8
    helper = trace.threads["run-a-helper-3"]
    assert helper["agent_path"] == "/root/helper_3"
    assert helper["origin"]["parent_thread_id"] == "run-a-root"
    models = {call["model"] for call in trace.inference_calls.values()}
    assert models == {"gpt-5", "gpt-5-mini"}
    # Each helper's calls are in its own order, whatever the interleaving.
    for i in range(8):
        turn = trace.codex_turns[f"child-{i}-turn"]
        assert turn["thread_id"] == f"run-a-helper-{i}"
    # The state is the state JSON `tracefold reduce` writes.
    assert json.loads(trace.to_json()) == trace.state
    assert store.verify() == []


def test_two_runs_are_replay_equivalent_and_a_changed_answer_is_named(store):
    recorder = tracefold.Recorder(store, strict=True)
    record_rollout(recorder, "run-a", children=8, steps=2)
    record_rollout(recorder, "run-b", children=8, steps=2)
    record_rollout(recorder, "run-c", children=8, steps=2, answers={5: "part 5: 2 tests FAIL"})
    recorder.shutdown()
    a, b, c = (tracefold.reduce(store, r) for r in ("run-a", "run-b", "run-c"))

    report = tracefold.diff(a, b)
    assert report.equivalent, str(report)
    assert bool(report) and str(report) == "equivalent"
    tracefold.assert_replay_equivalent(a, b)

    report = tracefold.diff(a, c)
    assert not report.equivalent
    assert "/root/helper_5" in report.first
    assert "output" in report.first  # the differing JSON field of the tool result
    with pytest.raises(AssertionError) as raised:
        tracefold.assert_replay_equivalent(a, c)
    message = str(raised.value)
    assert message.startswith("rollouts are not replay-equivalent")
    assert "A: rollout run-a" in message and "B: rollout run-c" in message
    assert f"first divergence: {report.first}" in message
    assert report.to_dict()["equivalent"] is False

    # By hash only, the divergence is still found.
    assert not tracefold.diff(a, c, payloads=False).equivalent


def test_lazy_payloads_are_called_once_and_never_when_disabled(store):
    calls = []

    def request():
        calls.append("request")
        return {"input": []}

    disabled = tracefold.Recorder.disabled()
    assert not disabled.enabled
    with disabled.start_rollout("off", root_thread_id="root") as rollout:
        assert not rollout.enabled
        with rollout.root.turn() as turn:
            with turn.inference("gpt-5", request=request) as call:
                call.completed(lambda: calls.append("response"))
            with turn.tool_call("exec_command", lambda: calls.append("invocation")) as tool:
                tool.ended(lambda: calls.append("result"))
    assert calls == []
    assert disabled.stats()["events_written"] == 0

    recorder = tracefold.Recorder(store)
    with recorder.start_rollout("on", root_thread_id="root") as rollout:
        with rollout.root.turn("t") as turn:
            with turn.inference("gpt-5", request=request) as call:
                call.completed(lambda: {"output_items": []})
    recorder.shutdown()
    assert calls == ["request"]
    assert "on" in store.rollout_ids() and "off" not in store.rollout_ids()


def test_with_blocks_record_what_the_block_did(store):
    recorder = tracefold.Recorder(store)
    with pytest.raises(RuntimeError):
        with recorder.start_rollout("r", root_thread_id="root") as rollout:
            with rollout.root.turn("t1") as turn:
                with turn.inference("gpt-5", request={"input": []}):
                    raise RuntimeError("upstream 503")
    recorder.shutdown()
    trace = tracefold.reduce(store, "r")
    assert trace.status == "failed"
    (call,) = trace.inference_calls.values()
    assert call["execution"]["status"] == "failed"
    assert trace.codex_turns["t1"]["execution"]["status"] == "failed"
    errors = [e for e in store.events("r") if e["payload"]["type"] == "inference_failed"]
    assert errors[0]["payload"]["error"] == "RuntimeError: upstream 503"


def test_payload_kinds_round_trip_through_the_store(store):
    recorder = tracefold.Recorder(store, strict=True)
    with recorder.start_rollout("r", root_thread_id="root") as rollout:
        with rollout.root.turn("t") as turn:
            with turn.tool_call("apply_patch", b"*** Begin Patch\n\xff\x00") as tool:
                tool.runtime_started(bytearray(b"runtime"))
                tool.runtime_ended(memoryview(b"done"))
                tool.ended("plain text result")
    recorder.shutdown()
    events = list(store.events("r"))
    refs = {}
    for event in events:
        for key, value in event["payload"].items():
            if isinstance(value, dict) and "blake3" in value:
                refs[(event["payload"]["type"], key)] = value
    invocation = refs[("tool_call_started", "invocation_payload")]
    assert store.payload(invocation["blake3"]) == b"*** Begin Patch\n\xff\x00"
    assert store.payload("blake3:" + refs[("tool_call_ended", "result_payload")]["blake3"]) == b"plain text result"
    inline = [e for e in store.events("r", inline_payloads=True) if e["payload"]["type"] == "tool_call_runtime_ended"]
    assert inline[0]["payload"]["runtime_payload"]["inline_text"] == "done"
    tool = next(iter(tracefold.reduce(store, "r").tool_calls.values()))
    assert tool["kind"]["type"] == "apply_patch"


def test_a_stored_rollout_is_resumed_in_a_later_session(tmp_path):
    path = tmp_path / "store"
    with tracefold.Store(path) as store:
        with tracefold.Recorder(store) as recorder:
            with recorder.start_rollout("r", root_thread_id="root") as rollout:
                rollout.root.turn("turn-1").end()
    with tracefold.Store(path, create=False) as store:
        with tracefold.Recorder(store) as recorder:
            rollout = recorder.attach_rollout("r", "root")
            thread = rollout.resume_thread("root", "/root")
            thread.turn("turn-2").end()
            rollout.end()
        trace = tracefold.reduce(store, "r")
        assert list(trace.codex_turns) == ["turn-1", "turn-2"]
        assert len(trace.threads["root"]["resumed_at_seqs"]) == 1
