"""Without the vmlinux, symbols come from the core's VMCOREINFO; typed access says why it fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vmintro
from vmintro.errors import ObjectNotFoundError

DEMO = Path(__file__).resolve().parent.parent / "images" / "demo"


def test_symbols_from_vmcoreinfo(tmp_path: Path) -> None:
    shutil.copy(f"{DEMO}.vmcore", tmp_path / "demo.vmcore")
    bare = vmintro.open(tmp_path / "demo")
    full = vmintro.open(DEMO)
    for name in ("vmlist", "mem_map", "swapper_pg_dir", "contig_page_data"):
        assert bare.symbol(name).address == full.symbol(name).address
    vmlist = bare.symbol("vmlist").address
    assert bare.read_u32(vmlist) == full["vmlist"].value_()
    assert bare.translate(full["vmlist"].addr.value_()) == full.translate(
        full["vmlist"].addr.value_()
    )
    with pytest.raises(ObjectNotFoundError):
        bare["vmlist"]


def test_a_named_vmlinux_must_exist(tmp_path: Path) -> None:
    with pytest.raises(vmintro.backends.image.ImageError):
        vmintro.open(f"{DEMO}.vmcore", tmp_path / "missing.vmlinux")


def test_raw_commands_work_without_types(tmp_path: Path) -> None:
    shutil.copy(f"{DEMO}.vmcore", tmp_path / "demo.vmcore")
    full = vmintro.open(DEMO)
    area = full["vmlist"].addr.value_()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vmintro.cli",
            "-c",
            f"rd {area:x} 4; sym vmlist",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    words = full.read(area, 16)
    first = int.from_bytes(words[:4], "little")
    assert proc.stdout.startswith(f"{area:x}:  {first:08x}")
    assert f"{full.symbol('vmlist').address:x} (B) vmlist" in proc.stdout


def _vmintro(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmintro.cli", *words], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def bare_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's core alone in a directory of its own: no vmlinux beside it."""
    out = tmp_path_factory.mktemp("bare")
    shutil.copy(f"{DEMO}.vmcore", out / "demo.vmcore")
    return out / "demo"


NEEDS_TYPES = [
    "p vmlist",
    "p *vmlist",
    "whatis vmlist",
    "ptype struct vm_struct",
    "struct vm_struct c4800000",
    "p (struct page *)0xc1000000",
    "vmlist",
    "kmem -f",
    "page 10b4",
    "map",
    "check",
    "meminfo",
    "vmallocinfo",
]


def test_what_needs_types_says_no_vmlinux_is_loaded(bare_core: Path) -> None:
    # one session, each command failing in turn with its one line
    proc = _vmintro("-c", "; ".join(NEEDS_TYPES), str(bare_core))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    errors = proc.stderr.splitlines()
    assert [e.split(":")[0] for e in errors] == [line.split()[0] for line in NEEDS_TYPES]
    for error in errors:
        assert "no vmlinux is loaded" in error and "--vmlinux FILE" in error, error
    assert "could not find type" not in proc.stderr


def test_p_of_a_symbol_never_prints_its_address_as_its_value(bare_core: Path) -> None:
    truth = json.loads(DEMO.with_suffix(".truth.json").read_text())
    address = vmintro.open(DEMO).symbol("vmlist").address
    proc = _vmintro("-c", "p vmlist", str(bare_core))
    assert str(address) not in proc.stdout and f"{address:x}" not in proc.stdout
    # as in gdb, a cast gives the symbol's memory a type: vmlist's value, the first area
    proc = _vmintro("-c", "p (unsigned long)vmlist; p &vmlist", str(bare_core))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"$1 = {truth['areas'][0]['vm_struct']}",
        f"$2 = (void *) {address:#x} <vmlist>",
    ]


def test_a_vmlinux_named_by_option_gives_the_types(bare_core: Path) -> None:
    proc = _vmintro("-c", "p vmlist->size", "--vmlinux", f"{DEMO}.vmlinux", str(bare_core))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("$1 = ")


def test_vtop_prints_the_walk_and_says_the_page_needs_the_vmlinux(bare_core: Path) -> None:
    truth = json.loads(DEMO.with_suffix(".truth.json").read_text())
    area = next(a for a in truth["areas"] if a["pages"])
    vaddr, pfn = area["addr"] + 4096, area["pages"][1]
    bare = _vmintro("-c", f"vtop {vaddr:x}", str(bare_core))
    assert (bare.returncode, bare.stderr) == (0, "")
    walk, _, note = bare.stdout.rstrip("\n").rpartition("\n\n")
    assert walk.splitlines()[:2] == ["VIRTUAL   PHYSICAL", f"{vaddr:x}  {pfn << 12:x}"]
    # the walk and the PTE as with the vmlinux; in place of the struct page, one line
    full = _vmintro("-c", f"vtop {vaddr:x}", str(DEMO)).stdout
    assert full.startswith(f"{walk}\n\n") and "PAGE   PHYSICAL    MAPPING" in full
    assert note == (
        f"no vmlinux is loaded, so the struct page of pfn {pfn:#x} is unknown "
        "(give one with --vmlinux FILE)"
    )
