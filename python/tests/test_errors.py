"""Bad input gets the named exception, and nothing already stored is lost."""

from __future__ import annotations

import logging
import shutil

import pytest

import tracefold
from conftest import SHARED


def record_one(store, rollout_id="r", recorder=None):
    recorder = recorder or tracefold.Recorder(store)
    with recorder.start_rollout(rollout_id, root_thread_id="root") as rollout:
        with rollout.root.turn("t") as turn:
            with turn.inference("gpt-5", request={"input": []}) as call:
                call.completed({"output_items": []})
    recorder.flush()
    return recorder


def test_a_closed_store_raises_and_keeps_what_it_holds(tmp_path):
    path = tmp_path / "store"
    store = tracefold.Store(path)
    recorder = record_one(store)
    store.close()
    store.close()  # twice is fine
    assert store.closed
    for call in (
        store.rollouts,
        store.stats,
        store.verify,
        lambda: store.events("r"),
        lambda: store.payload("0" * 64),
        lambda: store.import_path(tmp_path),
        lambda: tracefold.Recorder(store),
        lambda: tracefold.reduce(store, "r"),
    ):
        with pytest.raises(tracefold.StoreClosedError, match="is closed"):
            call()
    # The store's recorder was shut down with it: recording goes on without
    # raising, and what it loses is counted.
    rollout = recorder.start_rollout("late", root_thread_id="root")
    rollout.root.turn("t").end()
    assert recorder.stats()["events_dropped"] >= 2
    with tracefold.Store(path, create=False) as again:
        assert again.rollout_ids() == ["r"]
        assert again.verify() == []
        assert len(tracefold.reduce(again, "r").inference_calls) == 1


def test_a_second_opener_is_told_who_holds_the_lock(tmp_path):
    with tracefold.Store(tmp_path / "store"):
        with pytest.raises(tracefold.StoreLockedError, match="is locked by pid"):
            tracefold.Store(tmp_path / "store", lock_wait=0)


def test_no_store_where_one_is_required(tmp_path):
    with pytest.raises(tracefold.NoStoreError) as raised:
        tracefold.Store(tmp_path / "nothing", create=False)
    assert isinstance(raised.value, FileNotFoundError)
    assert "nothing" in str(raised.value)
    assert not (tmp_path / "nothing").exists()


def test_wrong_types_raise_type_errors_before_anything_is_recorded(store):
    with pytest.raises(TypeError):
        tracefold.Store(123)
    with pytest.raises(TypeError):
        tracefold.reduce(store, 5)
    with pytest.raises(TypeError):
        tracefold.reduce("not a store", "r")
    with pytest.raises(TypeError):
        tracefold.diff("a", "b")
    recorder = tracefold.Recorder(store, strict=True)
    with recorder.start_rollout("r", root_thread_id="root") as rollout:
        turn = rollout.root.turn("t")
        with pytest.raises(TypeError):
            turn.inference(None)
        with pytest.raises(ValueError, match="unknown status"):
            turn.end("done")
        with pytest.raises(tracefold.PayloadError, match="has no JSON form") as raised:
            turn.inference("gpt-5", request={"input": object()})
        assert isinstance(raised.value, TypeError)
        with pytest.raises(tracefold.PayloadError, match=r"type object has no JSON form at \$\.input\[0\]\.content"):
            turn.inference("gpt-5", request={"input": [{"content": object()}]})
        cyclic: dict = {}
        cyclic["self"] = cyclic
        with pytest.raises(tracefold.PayloadError, match="nested deeper than 256 levels"):
            turn.tool_call("exec_command", cyclic)
        with pytest.raises(tracefold.PayloadError, match="no NaN or infinity"):
            turn.tool_call("exec_command", {"x": float("nan")})
        with pytest.raises(tracefold.PayloadError, match="payload callable raised"):
            turn.tool_call("exec_command", lambda: 1 / 0)
        turn.end()
    recorder.shutdown()
    types = [e["payload"]["type"] for e in store.events("r")]
    assert "inference_started" not in types and "tool_call_started" not in types
    assert recorder.stats()["events_dropped"] == 0
    assert tracefold.reduce(store, "r").diagnostics == []


def test_the_default_recorder_never_raises_for_a_bad_payload(store, caplog):
    recorder = tracefold.Recorder(store)  # lenient
    with caplog.at_level(logging.WARNING, logger="tracefold"):
        with recorder.start_rollout("r", root_thread_id="root", metadata={"x": object()}) as rollout:
            with rollout.root.turn("t") as turn:
                with turn.inference("gpt-5", request={"input": object()}) as call:
                    call.completed(lambda: 1 / 0)
    recorder.shutdown()
    assert recorder.stats()["payload_errors"] == 3
    assert any("has no JSON form" in r.getMessage() for r in caplog.records)
    # The events are all there, with a marker where the payload would be; a
    # request without its input is one the reducer refuses, so keep_going
    # reduces past it with a diagnostic.
    trace = tracefold.reduce(store, "r", keep_going=True)
    assert trace.diagnostics and trace.codex_turns["t"]["execution"]["status"] == "completed"
    started = next(e for e in store.events("r", inline_payloads=True) if e["payload"]["type"] == "inference_started")
    marker = started["payload"]["request_payload"]["inline"]
    assert "has no JSON form" in marker["tracefold_payload_error"]


def test_a_payload_over_the_limit_raises_in_strict_mode_and_is_counted_otherwise(tmp_path):
    with tracefold.Store(tmp_path / "store", max_payload_bytes=1000) as store:
        assert store.max_payload_bytes == 1000
        big = {"input": [{"type": "message", "role": "user", "content": "x" * 2000}]}
        strict = tracefold.Recorder(store, strict=True)
        with strict.start_rollout("strict", root_thread_id="root") as rollout:
            with rollout.root.turn("t") as turn:
                with pytest.raises(tracefold.PayloadTooLargeError, match="over the store's limit of 1000 bytes") as raised:
                    turn.inference("gpt-5", request=big)
                assert isinstance(raised.value, ValueError)
                with pytest.raises(tracefold.PayloadTooLargeError):
                    turn.tool_call("apply_patch", b"p" * 1001)
        strict.shutdown()
        assert strict.stats()["events_dropped"] == 0

        lenient = tracefold.Recorder(store)
        with lenient.start_rollout("lenient", root_thread_id="root") as rollout:
            with rollout.root.turn("t") as turn:
                with turn.tool_call("apply_patch", b"p" * 1001) as tool:
                    tool.ended({"ok": True})
        lenient.shutdown()
        assert lenient.stats()["events_dropped"] == 1
        types = [e["payload"]["type"] for e in store.events("lenient")]
        assert "events_dropped" in types
        assert store.verify() == []
        assert set(store.rollout_ids()) == {"strict", "lenient"}
        assert tracefold.reduce(store, "strict").diagnostics == []


def test_a_malformed_import_names_its_file_and_line_and_keeps_the_store(store, tmp_path, shared):
    record_one(store, "kept").shutdown()
    bundle = next(p for p in sorted((SHARED / "conformance" / "reference-tests").iterdir()) if (p / "reference-state.json").exists())
    lines = (bundle / "trace.jsonl").read_text().splitlines()
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "trace.jsonl").write_text("\n".join([lines[0], '{"schema_version": 1, "seq": 2,', *lines[2:]]) + "\n")
    with pytest.raises(tracefold.InvalidInputError) as raised:
        store.import_path(broken)
    assert "trace.jsonl:2" in str(raised.value)
    with pytest.raises(OSError, match="does-not-exist: No such file"):
        store.import_path(tmp_path / "does-not-exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(tracefold.InvalidInputError, match="no importable file"):
        store.import_path(tmp_path / "empty")
    assert "kept" in store.rollout_ids()
    assert store.verify() == []


def test_unknown_ids_and_hashes(store):
    with pytest.raises(tracefold.UnknownRolloutError, match="rollout nope not found") as raised:
        tracefold.reduce(store, "nope")
    assert isinstance(raised.value, KeyError)
    assert str(raised.value) == "rollout nope not found"
    with pytest.raises(tracefold.UnknownPayloadError):
        store.payload("ab" * 32)
    with pytest.raises(tracefold.InvalidInputError, match="not a BLAKE3 hash"):
        store.payload("xyz")
