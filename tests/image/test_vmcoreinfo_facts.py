"""VMCOREINFO that no i386 2.4 kernel could write is refused, in one line naming the key.

Before, ``CONFIG_X86_PAE=y`` added to a non-PAE core made every vmalloc
address "not mapped" (exit 0) and ``check`` call every area corrupt; a
5000-digit E820 end gave a traceback in the banner and ``map -o``; 2^64 bytes
of RAM were accepted.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_files import DEMO, HANG_GUARD, assert_refused, copy_demo, edit_vmcoreinfo, run_vmintro

import vmintro
from vmintro.backends.image import ImageError
from vmintro.image.reader.core import CoreFile
from vmintro.image.reader.vmcoreinfo import VmcoreinfoError, check_vmcoreinfo

RAM_LINE = "E820(3)=usable 0x100000-0x4000000"


@functools.cache
def _demo_note() -> tuple[tuple[str, str], ...]:
    with CoreFile(f"{DEMO}.vmcore") as core:
        return tuple(core.vmcoreinfo.items())


def demo_note() -> dict[str, str]:
    """The demo core's VMCOREINFO, a fresh dict to change."""
    return dict(_demo_note())


def _pae(ram_end: int) -> dict[str, str]:
    note = {**demo_note(), "CONFIG_X86_PAE": "y", "CONFIG_HIGHMEM": "y"}
    note.update({f"SIZE({t})": "8" for t in ("pgd_t", "pmd_t", "pte_t")})
    note["E820(3)"] = f"usable 0x100000-{ram_end:#x}"
    return note


def _e820(*ranges: str) -> dict[str, str]:
    note = {k: v for k, v in demo_note().items() if not k.startswith("E820(")}
    note.update({f"E820({i})": r for i, r in enumerate(ranges)})
    return note


REFUSED = {
    "PAE added": (
        {**demo_note(), "CONFIG_X86_PAE": "y"},
        "SIZE(pte_t)=4 contradicts CONFIG_X86_PAE=y",
    ),
    "PAE entries without PAE": (
        {**demo_note(), "SIZE(pte_t)": "8"},
        "SIZE(pte_t)=8 contradicts no CONFIG_X86_PAE: its page-table entries are 4 bytes",
    ),
    "PAE without HIGHMEM": (
        {**_pae(1 << 30), "CONFIG_HIGHMEM": "n"},
        "CONFIG_HIGHMEM=n: a build option is 'y' or absent",
    ),
    "PAE, HIGHMEM removed": (
        {k: v for k, v in _pae(1 << 30).items() if k != "CONFIG_HIGHMEM"},
        "CONFIG_X86_PAE=y without CONFIG_HIGHMEM=y",
    ),
    "page size": ({**demo_note(), "PAGESIZE": "8192"}, "PAGESIZE=8192: i386 pages are 4096"),
    "huge size": (
        {**demo_note(), "SIZE(page)": "9" * 40},
        "SIZE(page)=" + "9" * 40 + ": not a 32-bit decimal number",
    ),
    "symbol": ({**demo_note(), "SYMBOL(vmlist)": "1c0212345"}, "SYMBOL(vmlist)=1c0212345: not a"),
    "5000-digit E820 end": (
        _e820("usable 0x0-0x9fc00", "usable 0x100000-0x" + "f" * 5000),
        "E820(1): an address of more than 16 hex digits (5000)",
    ),
    "2^64 bytes of RAM": (
        _e820("usable 0x0-0x9fc00", "usable 0x100000-0xffffffffffffffff"),
        "E820(1)=usable 0x100000-0xffffffffffffffff: ends past 4 GiB",
    ),
    "RAM past 4 GiB": (
        _e820("usable 0x0-0x9fc00", "usable 0x100000-0x100001000"),
        "ends past 4 GiB, beyond a 32-bit physical address space",
    ),
    "PAE RAM past 64 GiB": (_pae(0x1000001000), "ends past 64 GiB, beyond PAE's 36-bit"),
    "overlap": (
        _e820("usable 0x0-0x9fc00", "reserved 0x9f000-0xa0000"),
        "E820(1)=reserved 0x9f000-0xa0000: overlaps or precedes E820(0)",
    ),
    "no RAM": (_e820("reserved 0x0-0x1000"), "has no usable E820 range"),
    "33 entries": (
        _e820(*(f"usable {i << 16:#x}-{(i << 16) + 0x1000:#x}" for i in range(33))),
        "more than E820MAX (32) E820 entries",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_impossible_notes_are_refused_naming_the_key(case: str) -> None:
    note, message = REFUSED[case]
    with pytest.raises(VmcoreinfoError) as info:
        check_vmcoreinfo(note)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_what_kernels_write_passes() -> None:
    assert check_vmcoreinfo(demo_note())[-1] == (0x100000, 0x4000000, "usable")
    assert check_vmcoreinfo(_pae(16 << 30))[-1][1] == 16 << 30  # PAE reaches past 4 GiB


@pytest.fixture
def pae_added(tmp_path: Path) -> Path:
    """The demo image with ``CONFIG_X86_PAE=y`` added to its non-PAE core."""
    base = copy_demo(tmp_path, "paeadd")
    edit_vmcoreinfo(Path(f"{base}.vmcore"), lambda text: text + "CONFIG_X86_PAE=y\n")
    return base


@pytest.fixture
def huge_e820(tmp_path: Path) -> Path:
    """The demo image whose RAM ends at a 5000-digit address."""
    base = copy_demo(tmp_path, "e820")
    edit_vmcoreinfo(
        Path(f"{base}.vmcore"),
        lambda text: text.replace(RAM_LINE, RAM_LINE.replace("0x4000000", "0x" + "f" * 5000)),
    )
    return base


ENTRY_POINTS = [
    ["-c", "vtop c4800000", "{base}"],
    ["check", "{base}"],
    ["map", "{base}", "-o", "{out}"],
    ["{base}"],  # the REPL's banner, commands from standard input
]


@pytest.mark.parametrize("args", ENTRY_POINTS, ids=["vtop", "check", "map", "banner"])
@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("pae_added", "paeadd.vmcore: VMCOREINFO SIZE(pte_t)=4 contradicts CONFIG_X86_PAE=y"),
        ("huge_e820", "e820.vmcore: VMCOREINFO E820(3): an address of more than 16 hex digits"),
    ],
)
def test_entry_points_refuse(
    image: str, message: str, args: list[str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    base = request.getfixturevalue(image)
    out = tmp_path / "out.svg"
    proc = run_vmintro(*(a.format(base=base, out=out) for a in args))
    assert_refused(proc, message)
    assert not out.exists()


def test_library_refuses_pae_added(pae_added: Path) -> None:
    with pytest.raises(ImageError, match=r"^paeadd\.vmcore: VMCOREINFO SIZE\(pte_t\)=4 contra"):
        vmintro.open(pae_added)


def test_a_vmlinux_of_another_layout_names_the_key(tmp_path: Path) -> None:
    base = copy_demo(tmp_path, "layout")
    edit_vmcoreinfo(
        Path(f"{base}.vmcore"), lambda t: t.replace("SIZE(vm_struct)=16", "SIZE(vm_struct)=24")
    )
    proc = run_vmintro("-c", "vmlist", str(base))
    assert_refused(
        proc,
        "layout.vmlinux does not belong to layout.vmcore: sizeof(struct vm_struct) is 16 in "
        "the vmlinux, the core's SIZE(vm_struct)=24",
    )


_DRGN_VM = """
import sys
import drgn
from drgn.commands import run_command
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
run_command(prog, "vm vmlist")
"""


def test_drgn_vm_refuses_pae_added(drgn_available: bool, pae_added: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _DRGN_VM, f"{pae_added}.vmcore"],
        capture_output=True, text=True, timeout=HANG_GUARD, stdin=subprocess.DEVNULL,
        env={**os.environ, "DRGN_USE_LIBKDUMPFILE_FOR_ELF": "1"},
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "vm: paeadd.vmcore: VMCOREINFO SIZE(pte_t)=4 contradicts CONFIG_X86_PAE=y" in (
        proc.stderr
    )
