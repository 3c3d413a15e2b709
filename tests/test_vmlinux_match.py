"""A vmlinux must belong to its core: another build's, or another machine's, is refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vmintro
from vmintro.backends.image import ImageError
from vmintro.generate import generate

DEMO = Path(__file__).resolve().parent.parent / "images" / "demo"


def test_vmlinux_of_another_build_is_refused(tmp_path: Path) -> None:
    generate(tmp_path / "pae", "minimal", {"pae": True})
    shutil.copy(f"{DEMO}.vmcore", tmp_path / "x.vmcore")
    shutil.copy(tmp_path / "pae.vmlinux", tmp_path / "x.vmlinux")
    with pytest.raises(ImageError, match=r"x.vmlinux does not belong to x.vmcore: sizeof"):
        vmintro.open(tmp_path / "x")


def test_vmlinux_of_the_same_build_is_accepted(tmp_path: Path) -> None:
    """Another image of the same kernel build has the same vmlinux: it fits."""
    generate(tmp_path / "other", "minimal", {})
    shutil.copy(f"{DEMO}.vmcore", tmp_path / "x.vmcore")
    shutil.copy(tmp_path / "other.vmlinux", tmp_path / "x.vmlinux")
    prog = vmintro.open(tmp_path / "x")
    assert prog["vmlist"].value_() == vmintro.open(DEMO)["vmlist"].value_()


def test_non_i386_vmlinux_is_refused(tmp_path: Path) -> None:
    data = bytearray(Path(f"{DEMO}.vmlinux").read_bytes())
    data[18] = 62  # EM_X86_64
    (tmp_path / "y.vmlinux").write_bytes(bytes(data))
    shutil.copy(f"{DEMO}.vmcore", tmp_path / "y.vmcore")
    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.cli", "-c", "vmlist", str(tmp_path / "y")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr == "vmintro: y.vmlinux: not an i386 kernel (e_machine 62, expected 3)\n"
