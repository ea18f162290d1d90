"""The GIL is released while a call waits in Rust, and recording from many
Python threads loses nothing."""

from __future__ import annotations

import threading

import pytest

import tracefold
from worker import record_rollout


def test_a_store_open_waiting_for_the_lock_lets_other_threads_run(tmp_path):
    # The waiter blocks in Rust on the lock file for up to 60 s. Only if it
    # released the GIL can this thread go on to close the holder, after
    # which the waiter opens the store; with the GIL held it would wait
    # out its lock_wait and raise StoreLockedError instead.
    holder = tracefold.Store(tmp_path / "store")
    opened = []
    started = threading.Event()

    def wait_for_the_lock():
        started.set()
        with tracefold.Store(tmp_path / "store", lock_wait=60) as store:
            opened.append(store.rollout_ids())

    waiter = threading.Thread(target=wait_for_the_lock)
    waiter.start()
    assert started.wait(30)
    holder.close()
    waiter.join(90)
    assert opened == [[]]


@pytest.mark.parametrize("workers", [8])
def test_rollouts_recorded_from_many_threads_at_once_all_land(store, workers):
    recorder = tracefold.Recorder(store, strict=True)
    threads = [
        threading.Thread(target=record_rollout, args=(recorder, f"worker-{i}"), kwargs={"children": 2, "steps": 2})
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.shutdown()
    assert recorder.stats()["events_dropped"] == 0
    traces = [tracefold.reduce(store, f"worker-{i}") for i in range(workers)]
    for trace in traces:
        assert trace.status == "completed" and trace.diagnostics == []
        assert len(trace.threads) == 3 and len(trace.inference_calls) == 1 + 2 * 2
    for trace in traces[1:]:
        tracefold.assert_replay_equivalent(traces[0], trace)
