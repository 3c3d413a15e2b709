"""swapinfo reads swap_map entries of the size the vmlinux gives ``unsigned short``.

It read ``max * sizeof(unsigned short)`` bytes, as the image's types say, but decoded
them as 2-byte numbers whatever that size: a vmlinux whose ``unsigned short`` is 1 byte
gave "internal error: ValueError: bytes length not a multiple of item size". Found by
the fuzzer: seed 60, index 101.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .bases import base_images
from .mutate import _splice_vmlinux, _uleb


def test_swapinfo_with_one_byte_unsigned_short(tmp_path: Path) -> None:
    base = base_images()[0]
    attrs, _ = base.dwarf
    die = next(a.die for a in attrs if a.name == "DW_AT_name" and a.value == b"unsigned short")
    size = next(a for a in attrs if a.die == die and a.name == "DW_AT_byte_size")
    (tmp_path / "img.vmcore").write_bytes(base.core)
    (tmp_path / "img.vmlinux").write_bytes(
        _splice_vmlinux(base, [(size.offset, size.length, _uleb(1))])
    )
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "--json", "-c", "swapinfo", str(tmp_path / "img")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    (table,) = [p for p in json.loads(proc.stdout)["results"] if p["type"] == "table"]
    (row,) = table["rows"]
    assert row["max"] == base.prog["swap_info"][0].max.value_()
    assert 0 <= row["used"] + row["bad"] <= row["max"]
