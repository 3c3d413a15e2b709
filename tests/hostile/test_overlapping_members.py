"""A struct whose members overlap, or come out of order, is refused when the vmlinux loads.

C lays a struct's members out at increasing offsets, each after the one before (bitfields
aside). A vmlinux whose DWARF puts ``zone_struct.pages_min`` at offset 5, over
``pages_low``, or makes ``free_area`` an array of 11 running into ``wait_table``, was
accepted; reading a zone then failed with "internal error: StreamError" in ``kmem -f``,
``check``, ``map --area`` and the library. Found by the fuzzer: seed 80, indexes 1769
and 261.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .bases import base_images
from .mutate import _splice_vmlinux, _uleb


def _zone_member(name: bytes, attribute: str) -> tuple[int, int]:
    """(file offset, length) of ``attribute`` of zone_struct's member ``name`` (or of the
    subrange of its array type)."""
    base = base_images()[0]
    attrs, _ = base.dwarf
    zone = next(
        a.die for a in attrs if a.tag == "DW_TAG_structure_type" and a.value == b"zone_struct"
    )
    member = next(
        a for a in attrs if a.parent == zone and a.name == "DW_AT_name" and a.value == name
    )
    if attribute == "DW_AT_data_member_location":
        target = member.die
    else:  # the subrange of the member's array type
        type_ref = next(a for a in attrs if a.die == member.die and a.name == "DW_AT_type")
        target = next(a.die for a in attrs if a.parent == type_ref.raw)
    found = next(a for a in attrs if a.die == target and a.name == attribute)
    return found.offset, found.length


@pytest.mark.parametrize(
    ("member", "attribute", "value", "words"),
    [
        (b"pages_min", "DW_AT_data_member_location", 5, "overlaps member pages_min"),
        (b"free_area", "DW_AT_upper_bound", 10, "overlaps member free_area"),
    ],
)
def test_refused_on_open(
    tmp_path: Path, member: bytes, attribute: str, value: int, words: str
) -> None:
    base = base_images()[0]
    offset, length = _zone_member(member, attribute)
    (tmp_path / "img.vmcore").write_bytes(base.core)
    (tmp_path / "img.vmlinux").write_bytes(_splice_vmlinux(base, [(offset, length, _uleb(value))]))
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", "kmem -f", str(tmp_path / "img")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("vmintro: img.vmlinux: ") and words in proc.stderr, proc.stderr
    assert "overlaps" in proc.stderr and proc.stderr.count("\n") == 1
