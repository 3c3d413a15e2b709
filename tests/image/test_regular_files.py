"""Only regular files are read: a FIFO or a device named like an image is refused at once.

``open()`` on a FIFO blocks until a writer comes and ``/dev/zero`` never ends,
so without the check every entry point hung. Each case runs in a child process
whose timeout is only a hang guard.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_files import DEMO, HANG_GUARD, assert_refused, copy_demo, hang_guard, run_vmintro

import vmintro
from vmintro.backends.image import ImageError as BackendImageError
from vmintro.files import NotRegularFileError, open_regular
from vmintro.image.reader.core import CoreFile, ImageError
from vmintro.image.reader.debuginfo import DebugInfoError, load_vmlinux


def fifo_image(tmp_path: Path, which: str) -> Path:
    """A copy of the demo image whose ``fifo.vmcore`` or ``fifo.vmlinux`` is a FIFO."""
    base = copy_demo(tmp_path, "fifo")
    os.unlink(f"{base}.{which}")
    os.mkfifo(f"{base}.{which}")
    return base


@pytest.fixture
def fifo_core(tmp_path: Path) -> Path:
    return fifo_image(tmp_path, "vmcore")


@pytest.fixture
def fifo_vmlinux(tmp_path: Path) -> Path:
    return fifo_image(tmp_path, "vmlinux")


def test_open_regular_says_what_the_path_is(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    with hang_guard(), pytest.raises(NotRegularFileError, match="is a FIFO, not a regular file"):
        open_regular(tmp_path / "p")
    with pytest.raises(NotRegularFileError, match="is a directory, not a regular file"):
        open_regular(tmp_path)
    with pytest.raises(NotRegularFileError, match="is a character device, not a regular file"):
        open_regular("/dev/zero")
    with open_regular(f"{DEMO}.vmlinux") as f:
        assert f.read(4) == b"\x7fELF"


def test_library_refuses_a_fifo_core_and_vmlinux(fifo_core: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "k.vmlinux")
    with hang_guard():
        with pytest.raises(ImageError, match=r"^fifo\.vmcore: is a FIFO, not a regular file$"):
            CoreFile(f"{fifo_core}.vmcore")
        with pytest.raises(BackendImageError, match=r"^fifo\.vmcore: is a FIFO"):
            vmintro.open(fifo_core)
        with pytest.raises(DebugInfoError, match=r"^k\.vmlinux: is a FIFO, not a regular file$"):
            load_vmlinux(tmp_path / "k.vmlinux")


def test_vmlinux_that_is_a_device_is_refused() -> None:
    # reading /dev/zero never ends: in a child, under a memory limit
    proc = run_vmintro("--vmlinux", "/dev/zero", "-c", "vmlist", str(DEMO))
    assert_refused(proc, "zero: is a character device, not a regular file")


@pytest.mark.parametrize("which", ["vmcore", "vmlinux"])
def test_command_line_refuses_a_fifo(which: str, tmp_path: Path) -> None:
    base = fifo_image(tmp_path, which)
    proc = run_vmintro("-c", "vmlist", str(base))
    assert_refused(proc, f"fifo.{which}", "is a FIFO, not a regular file")


def test_check_batch_keeps_the_good_image(fifo_core: Path) -> None:
    proc = run_vmintro("check", "-j", "2", str(fifo_core), str(DEMO))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert f"{fifo_core}: error: fifo.vmcore: is a FIFO, not a regular file" in lines
    assert f"{DEMO}: clean" in lines


def test_root_directory_is_refused_without_a_traceback() -> None:
    proc = run_vmintro("-c", "vmlist", "/")
    assert_refused(proc, "is a directory, not a regular file")


_DRGN_VM = """
import sys
import drgn
from drgn.commands import run_command
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
run_command(prog, "vm vmlist")
"""


def test_drgn_plugin_leaves_a_fifo_vmlinux_alone(drgn_available: bool, fifo_vmlinux: Path) -> None:
    env = {**os.environ, "DRGN_USE_LIBKDUMPFILE_FOR_ELF": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _DRGN_VM, f"{fifo_vmlinux}.vmcore"],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "fifo.vmlinux: is a FIFO, not a regular file; not loading it" in proc.stderr
    assert proc.stderr.endswith("vm: fifo.vmlinux: is a FIFO, not a regular file\n")
