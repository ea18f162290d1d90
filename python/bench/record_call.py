"""The cost of one Python record call, against what a worker does without
tracefold: `json.dumps` of the event and an append to a JSONL file.

Each sample times one call with `time.perf_counter_ns`: recording one event
with a ~700-byte JSON payload (`ToolCall.runtime_started`, which queues the
event for the writer thread), the same call on `Recorder.disabled()`, and
the baseline. Prints the median and the 99th percentile of each, and their
ratios, from one run. Usage (after `pip install ./python`):

    python python/bench/record_call.py [EVENTS]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import tracefold

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
WARMUP = 1_000


def payload(i: int) -> dict:
    # About 700 bytes of JSON, different each time (so the writer hashes and stores each).
    return {
        "type": "exec_command_begin",
        "call_id": f"call-{i}",
        "command": ["bash", "-lc", f"pytest tests/test_module_{i % 97}.py -k case_{i}"],
        "cwd": "/workspace/project",
        "env": {f"VAR_{k}": f"value-{k}-{i}" for k in range(24)},
    }


def percentiles(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def time_calls(call, n: int) -> list[int]:
    for i in range(WARMUP):
        call(i)
    out = []
    clock = time.perf_counter_ns
    for i in range(n):
        start = clock()
        call(WARMUP + i)
        out.append(clock() - start)
    return out


def main() -> None:
    payloads = [payload(i) for i in range(WARMUP + EVENTS)]
    with tempfile.TemporaryDirectory() as tmp:
        with tracefold.Store(Path(tmp) / "store") as store:
            recorder = tracefold.Recorder(store)
            rollout = recorder.start_rollout("bench", root_thread_id="root")
            tool = rollout.root.turn("t").tool_call("exec_command", {"cmd": "pytest"})
            recorded = time_calls(lambda i: tool.runtime_started(payloads[i]), EVENTS)
            recorder.shutdown()
            stats = recorder.stats()

        off = tracefold.Recorder.disabled().start_rollout("off", root_thread_id="root")
        off_tool = off.root.turn("t").tool_call("exec_command")
        disabled = time_calls(lambda i: off_tool.runtime_started(payloads[i]), EVENTS)

        with open(Path(tmp) / "events.jsonl", "a") as log:
            def append(i: int) -> None:
                event = {"seq": i, "type": "tool_call_runtime_started", "payload": payloads[i]}
                log.write(json.dumps(event) + "\n")

            baseline = time_calls(append, EVENTS)

    base_median, base_p99 = percentiles(baseline)
    print(f"{EVENTS} events of about {len(json.dumps(payloads[0]))} bytes of JSON each, one run")
    print(f"{'call':<44} {'median us':>10} {'p99 us':>10} {'median / baseline':>18}")
    rows = [
        ("json.dumps + append to a JSONL file", baseline),
        ("tracefold record call (runtime_started)", recorded),
        ("tracefold record call, disabled recorder", disabled),
    ]
    for name, samples in rows:
        median, p99 = percentiles(samples)
        print(f"{name:<44} {median:>10.2f} {p99:>10.2f} {median / base_median:>18.2f}")
    print(f"events written {stats['events_written']}, dropped {stats['events_dropped']}")


if __name__ == "__main__":
    main()
