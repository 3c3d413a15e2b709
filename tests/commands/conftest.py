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


def demo_addresses(prog: Program, truth: dict[str, Any]) -> dict[str, int]:
    """Addresses the command tests name that no symbol holds, from the demo's truth file:
    ``area`` the first vmalloc area (vmlist's), ``area_struct`` its vm_struct, ``area_guard``
    its guard page, ``area_pfn`` and ``area_frame`` the frame number and physical address of
    its first page, ``area_page`` that frame's struct page; ``free_block`` the first block of
    the Normal zone's highest non-empty free list; ``vmlist_page`` the page vmlist lies in."""
    [first] = [a for a in truth["areas"] if a["vm_struct"] == prog["vmlist"].value_()]
    pfn = first["pages"][0]
    [normal] = [f for f in truth["free_lists"] if f["zone"] == 1]
    free_pfn = next(h for h in reversed(normal["heads"]) if h is not None)
    return {
        "area": first["addr"],
        "area_struct": first["vm_struct"],
        "area_guard": first["addr"] + first["size"] - 0x1000,
        "area_pfn": pfn,
        "area_frame": pfn << 12,
        "area_page": truth["mem_map"] + pfn * truth["sizeof_page"],
        "free_block": truth["page_offset"] + (free_pfn << 12),
        "vmlist_page": prog.symbol("vmlist").address & ~0xFFF,
    }


@pytest.fixture
def at_symbols(prog: Program, truth: dict[str, Any]):
    """``at_symbols(line)``: the line with each ``{symbol}`` or ``{symbol+offset}`` (decimal
    offset) replaced by that address in hex without ``0x``, from the demo's symbol table, or
    for the names of :func:`demo_addresses` from its truth file: a test names an address this
    way rather than pasting the one a layout happens to give it."""
    named = demo_addresses(prog, truth)

    def address(match: re.Match[str]) -> str:
        offset = int(match[2]) if match[2] else 0
        base = named[match[1]] if match[1] in named else prog.symbol(match[1]).address
        return f"{base + offset:x}"

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
