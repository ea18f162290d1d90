"""Fixtures of the Python suite: a fresh store per test (in pytest's
temporary directory, never the machine's own files) and the shared
corpus and conformance bundles next to the repository (`../shared`)."""

from __future__ import annotations

import pathlib

import pytest

import tracefold

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


@pytest.fixture
def store(tmp_path: pathlib.Path):
    with tracefold.Store(tmp_path / "store") as store:
        yield store


@pytest.fixture
def shared() -> pathlib.Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared corpus is missing: {SHARED} (CI checks it out next to the repository)")
    return SHARED
