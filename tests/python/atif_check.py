"""Validates ATIF trajectory files with two independent implementations of
the schema: Harbor's reference models (`harbor.models.trajectories`) and the
`atif` package (bolu61's pydantic models). Either rejecting a file is a
failure (exit 1, the validation error on stderr).

Prints a JSON summary for the Rust test to compare with the reduced state:
per file its schema version, trajectory id, step count, agent steps with
metrics, the token sums of its steps' metrics, its final metrics and the
sub-agent references of its steps.

Usage: atif_check.py FILE...
"""

import json
import sys

from atif import Trajectory as AtifTrajectory
from harbor.models.trajectories import Trajectory as HarborTrajectory


def summary(document):
    steps = document["steps"]
    tokens = {"prompt": 0, "completion": 0, "cached": 0}
    refs = []
    for step in steps:
        metrics = step.get("metrics") or {}
        tokens["prompt"] += metrics.get("prompt_tokens") or 0
        tokens["completion"] += metrics.get("completion_tokens") or 0
        tokens["cached"] += metrics.get("cached_tokens") or 0
        for result in (step.get("observation") or {}).get("results", []):
            for ref in result.get("subagent_trajectory_ref") or []:
                refs.append(
                    {
                        "step_id": step["step_id"],
                        "trajectory_id": ref.get("trajectory_id"),
                        "trajectory_path": ref.get("trajectory_path"),
                    }
                )
    return {
        "schema_version": document["schema_version"],
        "trajectory_id": document.get("trajectory_id"),
        "steps": len(steps),
        "agent_steps": sum(1 for s in steps if s["source"] == "agent"),
        "tokens": tokens,
        "final_metrics": document.get("final_metrics"),
        "refs": refs,
    }


def main(paths):
    out = {}
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        for name, model in (("harbor", HarborTrajectory), ("atif", AtifTrajectory)):
            try:
                model.model_validate(document)
            except Exception as err:  # pydantic's ValidationError, or any other
                print(f"{path}: {name} rejects it: {err}", file=sys.stderr)
                failed = True
        out[path] = summary(document)
    print(json.dumps(out, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
