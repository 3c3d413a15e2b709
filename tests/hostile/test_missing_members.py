"""A vmlinux whose struct lacks a member a command reads: one line, never "internal error".

The core's VMCOREINFO lists the members of a few types only (page, vm_struct, zone, ...);
a vmlinux whose ``struct swap_info_struct`` has lost ``prio`` (its name points at another
string) opens, and ``swapinfo`` reaches for the member through Python's attribute access.
Found by the fuzzer: seed 30, index 285.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

import vmintro
from vmintro.errors import VmintroError

from .bases import base_images


@pytest.fixture(scope="module")
def without_prio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo image with ``swap_info_struct.prio`` renamed ``flags`` in the DWARF."""
    base = base_images()[0]
    attrs, _ = base.dwarf
    names = [a for a in attrs if a.name == "DW_AT_name" and a.tag == "DW_TAG_member"]
    prio = next(a for a in names if a.value == b"prio")
    other = next(a for a in names if a.value == b"lowest_bit")
    vmlinux = bytearray(base.vmlinux)
    struct.pack_into("<I", vmlinux, prio.offset, other.raw)
    stem = tmp_path_factory.mktemp("no-prio") / "demo"
    Path(f"{stem}.vmcore").write_bytes(base.core)
    Path(f"{stem}.vmlinux").write_bytes(vmlinux)
    return stem


def test_a_command_says_which_member_is_missing(without_prio: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", "swapinfo", str(without_prio)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr == "swapinfo: 'struct swap_info_struct' has no member 'prio'\n"


def test_the_library_still_raises_attribute_error(without_prio: Path) -> None:
    """As drgn does: ``hasattr`` and ``getattr(obj, name, default)`` keep working."""
    prog = vmintro.open(str(without_prio))
    si = prog["swap_info"][0]
    assert not hasattr(si, "prio")
    assert getattr(si, "prio", None) is None
    with pytest.raises(AttributeError, match="has no member 'prio'"):
        si.prio  # noqa: B018
    with pytest.raises(VmintroError):
        prog["nr_swapfiles"].counter  # noqa: B018 - not a structure at all
