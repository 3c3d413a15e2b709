"""Fixtures of the interface tests: the demo image, its truth, a REPL process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from replkit import DEMO, Repl, spawn_repl

import vmintro
from vmintro.commands.discovery import unload_plugins
from vmintro.program import Program


@pytest.fixture(scope="module", autouse=True)
def _no_plugins_left() -> Iterator[None]:
    """The sessions these tests run in-process (``main``) load the shipped plugins: forget
    them after each module, so that tests elsewhere see only the commands they load."""
    yield
    unload_plugins()


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
