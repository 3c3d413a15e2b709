"""Fixtures of the interface tests: the demo image, its truth, a REPL process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from replkit import DEMO, Repl, spawn_repl

import vmintro
from vmintro.program import Program


@pytest.fixture(scope="module")
def prog() -> Program:
    return vmintro.open(DEMO)


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    return json.loads(DEMO.with_suffix(".truth.json").read_text())


@pytest.fixture
def repl(tmp_path: Path) -> Iterator[Repl]:
    session = spawn_repl(tmp_path / "history")
    session.prompt()
    yield session
    session.child.close(force=True)
