"""Imports of logs others wrote (the reference crate's own test bundles, a
real Codex session), reduced from Python as the CLI reduces them."""

from __future__ import annotations

import json

import pytest

import tracefold


def bundles(shared):
    return sorted(p for p in (shared / "conformance" / "reference-tests").iterdir() if p.is_dir())


def test_reference_bundles_reduce_as_the_reference_did(tmp_path, shared):
    checked = errors = 0
    for bundle in bundles(shared):
        # The bundles share their rollout id: one store each.
        with tracefold.Store(tmp_path / bundle.name) as store:
            checked, errors = check_bundle(store, bundle, checked, errors)
    assert checked >= 30 and errors >= 5


def check_bundle(store, bundle, checked, errors):
    manifest = json.loads((bundle / "manifest.json").read_text())
    report = store.import_path(bundle)
    assert report["files"] == 1, bundle.name
    (rollout_id,) = report["rollout_ids"]
    if (bundle / "reference-error.txt").exists():
        with pytest.raises(tracefold.ReduceError, match="seq"):
            tracefold.reduce(store, rollout_id)
        partial = tracefold.reduce(store, rollout_id, keep_going=True)
        assert partial.diagnostics, bundle.name
        errors += 1
    else:
        reference = json.loads((bundle / "reference-state.json").read_text())
        trace = tracefold.reduce(store, rollout_id)
        for collection in ("threads", "codex_turns", "inference_calls", "tool_calls", "interaction_edges"):
            assert len(getattr(trace, collection)) == len(reference[collection]), (bundle.name, collection)
        assert trace.status == reference["status"], bundle.name
        checked += 1
    assert rollout_id == manifest["rollout_id"]
    assert store.verify() == []
    return checked, errors


def test_a_codex_session_imports_once_and_reduces(store, shared):
    session = sorted((shared / "corpus" / "codex-sessions").glob("rollout-*.jsonl"))[0]
    first = store.import_path(session)
    assert first["events"] > 0 and first["rollouts"][0]["created"]
    again = store.import_path(session)
    assert again["events"] == 0 and again["rollouts"][0]["appended"] == 0
    (rollout_id,) = first["rollout_ids"]
    trace = tracefold.reduce(store, rollout_id)
    assert trace.inference_calls
    (manifest,) = [m for m in store.rollouts() if m["rollout_id"] == rollout_id]
    assert manifest["event_count"] == len(list(store.events(rollout_id)))
    stats = store.stats()
    assert stats["rollouts"] == 1 and stats["events"] == manifest["event_count"]
    assert store.verify() == []
