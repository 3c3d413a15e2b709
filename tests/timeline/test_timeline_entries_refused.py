"""Entries no simulated kernel could have recorded: a number beyond a 32-bit
register, an entry after a panic, an argument longer than any name a call takes, a
result text longer than the kernel prints on one line.
The timeline is refused in one line naming the file and the entry, by every
command that reads it, and the image is read as ever without it."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from generate_cli import one_line_failure, vmintro_cli_batch

from vmintro.errors import EXIT_FAILED

from .handmade import DEMO, copy_image

_HEADER = struct.Struct("<8sHHQ32sIIII8I32s")
Entries = list[list[Any]]


def _with_entries(raw: bytes, edit: Callable[[Entries], None]) -> bytes:
    """Timeline file ``raw`` with its entries section edited by ``edit``, its sizes and
    checksum made to agree, as a crafted file's would."""
    fields = list(_HEADER.unpack_from(raw))
    sizes, body = fields[9:17], raw[_HEADER.size :]
    stored, at = [], 0
    for i in range(4):
        stored.append(body[at : at + sizes[2 * i]])
        at += sizes[2 * i]
    entries = json.loads(zlib.decompress(stored[0]))
    edit(entries)
    inflated = json.dumps(entries, separators=(",", ":")).encode()
    stored[0] = zlib.compress(inflated)
    fields[9], fields[10] = len(stored[0]), len(inflated)
    head = _HEADER.pack(*fields[:17], bytes(32))[: _HEADER.size - 32]
    new_body = b"".join(stored)
    return head + hashlib.sha256(head + new_body).digest() + new_body


def _big_result(entries: Entries) -> None:
    entries[1][3] = ["int", 10**30, None]


def _panic_then_more(entries: Entries) -> None:
    entries[3][3] = ["panic", None, "Kernel panic: Out of memory and no killable processes..."]


def _long_argument(entries: Entries) -> None:
    entries[3][2] = [["name_user", "m" * (5 << 20)]]


def _long_result_text(entries: Entries) -> None:
    entries[2][3] = ["bug", None, "kernel BUG at vmalloc.c:1! " + "x" * (5 << 20)]


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_big_result, "entry 1: result (a 31-digit number) does not fit 32 bits"),
        (_panic_then_more, "entry 4 follows entry 3's panic, after which the machine runs nothing"),
        (
            _long_argument,
            f"entry 3: argument name_user of {5 << 20} characters is longer than any call takes",
        ),
        (
            _long_result_text,
            f"entry 2: a result text of {27 + (5 << 20)} characters is longer than any the "
            "kernel prints (5120)",
        ),
    ],
)
def test_history_and_goto_refuse_the_timeline_in_one_line(
    tmp_path: Path, edit: Callable[[Entries], None], words: str
) -> None:
    image = copy_image(DEMO, tmp_path, "demo")
    Path(f"{image}.timeline").write_bytes(
        _with_entries(Path(f"{DEMO}.timeline").read_bytes(), edit)
    )
    runs = vmintro_cli_batch(
        [(tmp_path, ["-q", "-c", command, str(image)]) for command in ("history vmlist", "goto 1")]
    )
    for command, run in zip(("history", "goto"), runs, strict=True):
        line = one_line_failure(run, EXIT_FAILED)
        assert line.startswith(f"{command}: {image}.timeline: {words}"), line
        assert run.stdout == ""
