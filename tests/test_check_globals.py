"""check: globals every walk trusts, damaged in the core, are findings, not a crashed check."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

import vmintro
from vmintro.check import check_program
from vmintro.image.reader import CoreFile

DEMO = Path(__file__).resolve().parent.parent / "images" / "demo"


def _damaged(tmp_path: Path, symbol: str, value: int) -> Path:
    """A copy of the demo image with the 32-bit global ``symbol`` set to ``value``."""
    base = tmp_path / "img"
    shutil.copy(f"{DEMO}.vmlinux", f"{base}.vmlinux")
    paddr = vmintro.open(DEMO).symbol(symbol).address - 0xC0000000
    with CoreFile(f"{DEMO}.vmcore") as core:
        (offset,) = [off + paddr - p for p, size, off in core.segments if p <= paddr < p + size]
    data = bytearray(Path(f"{DEMO}.vmcore").read_bytes())
    data[offset : offset + 4] = struct.pack("<I", value)
    Path(f"{base}.vmcore").write_bytes(bytes(data))
    return base


@pytest.mark.parametrize(
    ("symbol", "value", "expected"),
    [
        ("mem_map", 0, ["global_inconsistent", "check_incomplete", "check_incomplete"]),
        ("high_memory", 0, ["global_inconsistent", "check_incomplete"]),
        ("max_mapnr", 0xFFFFFFFF, ["global_inconsistent"]),
    ],
)
def test_damaged_global_is_named(tmp_path: Path, symbol: str, value: int, expected: list) -> None:
    findings = check_program(vmintro.open(_damaged(tmp_path, symbol, value)))
    assert [f.kind for f in findings] == expected
    assert f"{symbol} is {value:#x}" in findings[0].message
