"""tracefold: record what an AI agent does, reduce it back into a rollout
graph, and assert that a rerun is replay-equivalent.

>>> import tracefold
>>> with tracefold.Store("./tracefold-store") as store:  # doctest: +SKIP
...     recorder = tracefold.Recorder(store)
...     with recorder.start_rollout("r-1", root_thread_id="root") as rollout:
...         with rollout.root.turn("turn-1") as turn:
...             with turn.inference(model="gpt-5", request={"input": []}) as call:
...                 call.completed({"output_items": []}, response_id="resp-1")
...     recorder.shutdown()
...     trace = tracefold.reduce(store, "r-1")

Recording is best effort: it never raises for what happens at run time and
never blocks longer than the configured wait; ``Recorder.stats()`` counts
what was lost. Store, reduce and diff calls raise the exceptions of
:mod:`tracefold.errors`.
"""

from __future__ import annotations

import atexit as _atexit

from . import errors
from ._native import (
    SAVED_STATE_VERSION,
    Compaction,
    CompactionRequest,
    DiffReport,
    EventIterator,
    Inference,
    Recorder,
    Rollout,
    Store,
    Thread,
    ToolCall,
    Trace,
    Turn,
    diff,
    reduce,
)
from ._native import shutdown_all as _shutdown_all
from .errors import *  # noqa: F403

__all__ = [
    "SAVED_STATE_VERSION",
    "Compaction",
    "CompactionRequest",
    "DiffReport",
    "EventIterator",
    "Inference",
    "Recorder",
    "Rollout",
    "Store",
    "Thread",
    "ToolCall",
    "Trace",
    "Turn",
    "assert_replay_equivalent",
    "diff",
    "errors",
    "reduce",
    *errors.__all__,
]


def assert_replay_equivalent(a: Trace, b: Trace, *, payloads: bool = True) -> None:
    """Raises ``AssertionError`` unless ``a`` and ``b`` are replay-equivalent.

    The message names both rollouts, the first divergence as ``tracefold
    diff`` prints it, and how many differences follow, so a failing pytest
    says where a rerun went another way.
    """
    report = diff(a, b, payloads=payloads)
    if not report.equivalent:
        raise AssertionError(report.message)


# What recorders queued is made durable when the interpreter exits.
_atexit.register(_shutdown_all)
