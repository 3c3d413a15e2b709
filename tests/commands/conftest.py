"""Fixtures of the command-layer tests: the demo image, its ground truth, a runner."""

from __future__ import annotations

import json
import re
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


@pytest.fixture
def at_symbols(prog: Program):
    """``at_symbols(line)``: the line with each ``{symbol}`` or ``{symbol+offset}`` (decimal
    offset) replaced by that address in hex without ``0x``, from the demo's symbol table: a
    test names an address this way rather than pasting the one a layout happens to give it."""

    def address(match: re.Match[str]) -> str:
        offset = int(match[2]) if match[2] else 0
        return f"{prog.symbol(match[1]).address + offset:x}"

    return lambda line: re.sub(r"\{(\w+)(?:\+(\d+))?\}", address, line)


def text_of(prog: Program, line: str) -> str:
    """What the command prints, as the REPL would show it."""
    return "\n".join(render_text(run(prog, line)))


@pytest.fixture
def show(prog: Program):
    """``show(line)``: the text a command line prints on the demo image."""
    return lambda line: text_of(prog, line)


def results_of(prog: Program, line: str) -> list[tuple[str, Any]]:
    """Every row and text a command line gives, in order: (part name, row or text).

    Tables are taken apart row by row, so that two values giving one table of two
    rows compare equal to each giving a table of one.
    """
    out: list[tuple[str, Any]] = []
    for part in run(prog, line):
        rows = getattr(part, "rows", None)
        if rows is not None:
            out += [(part.name, dict(r)) for r in rows]
        else:
            out.append((part.name, part.text))
    return out


@pytest.fixture
def results(prog: Program):
    """``results(line)``: :func:`results_of` on the demo image."""
    return lambda line: results_of(prog, line)
