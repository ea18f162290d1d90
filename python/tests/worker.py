"""A rollout worker as RL and eval code writes one: a root agent whose
model spawns sub-agents, each of which runs its own turn on its own Python
thread. Used by the tests and the benchmark."""

from __future__ import annotations

import json
import threading
from typing import Optional

import tracefold

TASK = "Check the parser module and report what fails."


def user(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant(text: str) -> dict:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def run_child(child: tracefold.Thread, index: int, answer: str, steps: int) -> None:
    """One sub-agent: a turn of `steps` model calls, each followed by a tool call."""
    history = [user(f"{TASK} (part {index})")]
    with child.turn(f"child-{index}-turn") as turn:
        for step in range(steps):
            call_id = f"call-{index}-{step}"
            with turn.inference(model="gpt-5-mini", request=lambda h=list(history): {"input": h}) as call:
                output = {
                    "type": "function_call",
                    "name": "exec_command",
                    "call_id": call_id,
                    "arguments": json.dumps({"cmd": f"pytest tests/test_part_{index}.py -k {step}"}),
                }
                call.completed(
                    {"output_items": [output], "usage": {"input_tokens": 100 + step, "output_tokens": 20}},
                    response_id=f"resp-{index}-{step}",
                )
            history.append(output)
            with turn.tool_call("exec_command", {"cmd": f"pytest -k {step}"}, call_id=call_id) as tool:
                result = {"exit_code": 0, "output": answer if step == steps - 1 else "ok"}
                tool.ended(result)
            history.append({"type": "function_call_output", "call_id": call_id, "output": json.dumps(result)})
    child.end()


def record_rollout(
    recorder: tracefold.Recorder,
    rollout_id: str,
    *,
    children: int = 8,
    steps: int = 3,
    answers: Optional[dict[int, str]] = None,
) -> None:
    """Records one rollout: the root's model asks for `children` helpers,
    the host spawns each from a `spawn_agent` tool call, and each helper
    runs on its own thread at once."""
    answers = answers or {}
    with recorder.start_rollout(rollout_id, root_thread_id=f"{rollout_id}-root") as rollout:
        root = rollout.root
        with root.turn(f"{rollout_id}-turn-1") as turn:
            calls = [
                {
                    "type": "function_call",
                    "name": "spawn_agent",
                    "call_id": f"spawn-{i}",
                    "arguments": json.dumps({"message": f"{TASK} (part {i})"}),
                }
                for i in range(children)
            ]
            with turn.inference(model="gpt-5", request={"input": [user("Split the review across helpers.")]}) as call:
                call.completed({"output_items": calls}, response_id=f"{rollout_id}-resp-root")
            threads = []
            for i in range(children):
                with turn.tool_call("spawn_agent", {"message": f"{TASK} (part {i})"}, call_id=f"spawn-{i}") as tool:
                    child = tool.spawn_child(
                        f"{rollout_id}-helper-{i}",
                        f"/root/helper_{i}",
                        prompt=f"{TASK} (part {i})",
                        model="gpt-5-mini",
                        reasoning_effort="low",
                    )
                    tool.ended({"agent_id": f"helper_{i}"})
                answer = answers.get(i, f"part {i}: all tests pass")
                threads.append(threading.Thread(target=run_child, args=(child, i, answer, steps)))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
