"""Fixtures of the command-layer tests: the demo image, its ground truth, a runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import vmintro
from vmintro.commands import run
from vmintro.commands.render import render_text
from vmintro.program import Program

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"


@pytest.fixture(scope="module")
def prog() -> Program:
    return vmintro.open(DEMO)


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    return json.loads(DEMO.with_suffix(".truth.json").read_text())


def text_of(prog: Program, line: str) -> str:
    """What the command prints, as the REPL would show it."""
    return "\n".join(render_text(run(prog, line)))


@pytest.fixture
def show(prog: Program):
    """``show(line)``: the text a command line prints on the demo image."""
    return lambda line: text_of(prog, line)
