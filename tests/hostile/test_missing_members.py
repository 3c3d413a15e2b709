"""A vmlinux whose struct lacks a member a command reads: one line, never "internal error".

The core's VMCOREINFO lists the members of a few types only (page, vm_struct, zone, ...);
a vmlinux whose ``struct swap_info_struct`` has lost ``prio``, or ``struct swap_list_t``
``head`` (their names point at other strings), opens, and ``swapinfo`` reaches for the
member through Python's attribute access, ``check`` through ``member_``. Found by the
fuzzer: seed 30 index 285, seed 50 index 446.
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


def _renamed(directory: Path, member: bytes, to: bytes, of: bytes | None = None) -> Path:
    """The demo image with the member named ``member`` (of struct ``of``, else the first
    of that name) named ``to`` in the DWARF."""
    base = base_images()[0]
    attrs, _ = base.dwarf
    names = [a for a in attrs if a.name == "DW_AT_name" and a.tag == "DW_TAG_member"]
    structs = {a.die for a in attrs if a.tag == "DW_TAG_structure_type" and a.value == of}
    renamed = next(a for a in names if a.value == member and (of is None or a.parent in structs))
    other = next(a for a in names if a.value == to)
    vmlinux = bytearray(base.vmlinux)
    struct.pack_into("<I", vmlinux, renamed.offset, other.raw)
    stem = directory / "demo"
    Path(f"{stem}.vmcore").write_bytes(base.core)
    Path(f"{stem}.vmlinux").write_bytes(vmlinux)
    return stem


@pytest.fixture(scope="module")
def without_prio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _renamed(tmp_path_factory.mktemp("no-prio"), b"prio", b"lowest_bit")


def _run(image: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", command, str(image)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_says_which_member_is_missing(without_prio: Path) -> None:
    proc = _run(without_prio, "swapinfo")
    assert (proc.returncode, proc.stderr) == (
        1,
        "swapinfo: 'struct swap_info_struct' has no member 'prio'\n",
    )


def test_a_helper_says_which_member_is_missing(tmp_path: Path) -> None:
    """modules walks module_list through the type's own offsetof (seed 80, index 1854)."""
    proc = _run(_renamed(tmp_path, b"next", b"flags", of=b"module"), "modules")
    assert proc.returncode == 1
    assert "internal error" not in proc.stderr
    assert proc.stderr.startswith("modules: ") and "has no member named 'next'" in proc.stderr


@pytest.mark.parametrize(
    ("member", "of", "stopped"),
    [
        (
            b"head",
            b"swap_list_t",
            "the swap check stopped: 'struct swap_list_t' has no member 'head'",
        ),
        # the later parts went on to use what the modules part never set (seed 2, index 87)
        (b"name", b"module", "the modules check stopped: struct module has no member named 'name'"),
    ],
)
def test_check_says_where_it_stopped(
    tmp_path: Path, member: bytes, of: bytes, stopped: str
) -> None:
    """check goes on past a part it cannot do, and says which and why."""
    proc = _run(_renamed(tmp_path, member, b"next", of=of), "check")
    assert "internal error" not in proc.stdout + proc.stderr
    assert stopped in proc.stdout


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
    with pytest.raises(LookupError, match="has no member 'prio'") as raised:
        si.member_("prio")  # a LookupError, as drgn's member_ raises
    assert isinstance(raised.value, VmintroError)
