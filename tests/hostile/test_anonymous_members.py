"""A struct with an unnamed member (the vmlinux's DWARF gives it no name) reads whole.

The reader accepts anonymous members; reading the struct's value went through
construct, which keeps no value for a member without a name, and failed with
"internal error: KeyError: ''" in ``kmem -f``, ``p``, check, map --area and the library.
Found by the fuzzer: seed 50, index 427.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

import vmintro

from .bases import base_images


@pytest.fixture(scope="module")
def unnamed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo image with ``zone_struct.pages_low`` named "" (the NUL ending another
    name in .debug_str)."""
    base = base_images()[0]
    attrs, _ = base.dwarf
    names = [a for a in attrs if a.name == "DW_AT_name" and a.tag == "DW_TAG_member"]
    member = next(a for a in names if a.value == b"pages_low")
    empty = member.raw + len(b"pages_low")  # its own terminating NUL
    vmlinux = bytearray(base.vmlinux)
    struct.pack_into("<I", vmlinux, member.offset, empty)
    stem = tmp_path_factory.mktemp("unnamed") / "demo"
    Path(f"{stem}.vmcore").write_bytes(base.core)
    Path(f"{stem}.vmlinux").write_bytes(vmlinux)
    return stem


def test_commands_read_the_struct(unnamed: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", "p contig_page_data.node_zones[1]; kmem -f"]
        + [str(unnamed)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "pages_low" not in proc.stdout and "pages_high = " in proc.stdout


def test_the_value_has_every_member(unnamed: Path) -> None:
    zone = vmintro.open(str(unnamed))["contig_page_data"].node_zones[1]
    value = zone.value_()
    demo = base_images()[0].prog["contig_page_data"].node_zones[1]
    assert value[""] == demo.pages_low.value_()  # the unnamed member is its bytes
    assert value["pages_high"] == zone.pages_high.value_() == demo.pages_high.value_()
