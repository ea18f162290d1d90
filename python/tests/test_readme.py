"""The README's Python example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Recording from Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the Python section has one Python example"
    return blocks[0]


def test_the_readme_example_runs_as_written(tmp_path):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 20
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        '<tracefold.Trace "run-1" completed: 1 threads, 1 turns, 1 inference calls, 1 tool calls>'
    )
    assert (tmp_path / "tracefold-store").is_dir()
    # A user who runs it twice gets the same answer (the rollouts are resumed).
    again = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
