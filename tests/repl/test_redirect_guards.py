"""``> FILE`` and ``>> FILE`` inside a session: never over the image the session reads
(its core is mapped: writing it pulls the memory from under the session), a full disk
said in one line, and what is typed quoted escaped in every error line."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from replkit import DEMO

import vmintro
from vmintro.cmdline.runner import Runner
from vmintro.errors import EXIT_FAILED


@pytest.fixture
def own(tmp_path: Path) -> Path:
    """A copy of the demo image the session reads (and may be asked to write over)."""
    for f in DEMO.parent.glob(f"{DEMO.name}.*"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / DEMO.name


def _run(prog: vmintro.Program, line: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = Runner(prog, out=out, err=err).run_line(line)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("suffix", [".vmcore", ".vmlinux", ".timeline", ".truth.json"])
@pytest.mark.parametrize("append", [False, True])
def test_no_redirection_over_the_image_read(own: Path, suffix: str, append: bool) -> None:
    target = own.parent / f"{own.name}{suffix}"
    before = target.read_bytes()
    prog = vmintro.open(own)
    line = f"vmlist {'>>' if append else '>'} {target}; vtop c4800000"
    status, out, err = _run(prog, line)
    assert status == EXIT_FAILED
    assert err == f"vmintro: {target} is a file of the image itself; nothing was written\n"
    assert "c4800000" in out  # the next command ran, on the image as it was
    assert target.read_bytes() == before


def test_no_redirection_over_the_image_from_a_moment_of_its_timeline(own: Path) -> None:
    prog = vmintro.open(own)
    core = own.parent / f"{own.name}.vmcore"
    status, _, err = _run(prog, f"goto 5; vmlist > {core}")
    assert status == EXIT_FAILED and "is a file of the image itself" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_disk_is_one_line_and_the_next_command_runs() -> None:
    prog = vmintro.open(DEMO)
    status, out, err = _run(prog, "vmlist > /dev/full; vtop c4800000")
    assert status == EXIT_FAILED
    assert err == "vmintro: /dev/full: No space left on device\n"
    assert "c4800000" in out


def test_what_is_typed_is_escaped_in_error_lines() -> None:
    prog = vmintro.open(DEMO)
    _, _, err = _run(prog, "\x1b[31mfoo\x07; vmlist \x1b[2J")
    assert "\x1b" not in err and "\x07" not in err
    assert err.splitlines() == [
        "\\x1b[31mfoo\\x07: command not found",
        "vmlist: syntax error at '\\x1b[2J'",
    ]
