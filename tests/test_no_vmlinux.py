"""Without the vmlinux, symbols come from the core's VMCOREINFO; typed access says why it fails."""

from __future__ import annotations

import shutil
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
    with pytest.raises(vmintro.image_backend.ImageError):
        vmintro.open(f"{DEMO}.vmcore", tmp_path / "missing.vmlinux")


def test_raw_commands_work_without_types(tmp_path: Path) -> None:
    import subprocess
    import sys

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
