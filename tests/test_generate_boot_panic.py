"""``vmintro generate`` of a machine whose boot cannot hold the page cache asked for.

With HIGHMEM the page cache's pages lie in highmem but their buffer heads in
lowmem (896 MiB at most); ``--page-cache 0.9`` of 4 GiB fills lowmem with them
and the boot's OOM killer, finding no process to kill, panics. That is the user's
choice of machine, not a fault of vmintro: one line saying which machine and
why, exit 2, and no file, as a step's panic is reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from generate_cli import one_line_failure, vmintro_cli

from vmintro.cli import main
from vmintro.errors import EXIT_USAGE


def test_a_boot_that_panics_is_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "pc"
    args = ("--ram", "4G", "--highmem", "--page-cache", "0.9", "--scenario", "minimal")
    proc = vmintro_cli("generate", *args, "-q", "-o", str(out), address_space=6 << 30)
    line = one_line_failure(proc, EXIT_USAGE)
    assert "page_cache 0.9" in line and "4096 MiB (HIGHMEM, lowmem 896 MiB)" in line, line
    assert "Kernel panic: Out of memory" in line, line
    assert not list(tmp_path.iterdir())


def test_running_out_of_host_memory_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # four random steps of 100,000 calls reached 3.5 GB and ended in a MemoryError
    # traceback; the host's limit is simulated here, the handling is what is tested
    import vmintro.generate

    def generate(*_: object, **__: object) -> None:
        raise MemoryError

    monkeypatch.setattr(vmintro.generate, "generate", generate)
    out = tmp_path / "big"
    assert main(["generate", "--scenario", "minimal", "-q", "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"vmintro: {out}: this host ran out of memory")
    assert list(tmp_path.iterdir()) == []


def test_a_run_whose_timeline_cannot_be_recorded_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # an entry no kernel call makes (a simulator fault, as a 33-bit address was): the
    # encoder refuses it, and generate says so rather than ending in a traceback
    import vmintro.generate

    def refuse(*_: object) -> None:
        raise ValueError("entry 4: argument addr 4294967296 does not fit 32 bits")

    monkeypatch.setattr(vmintro.generate, "timeline_encoder", refuse)
    out = tmp_path / "img"
    assert main(["generate", "--scenario", "minimal", "-q", "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "the run's timeline cannot be recorded (entry 4: argument addr" in err
    assert err.rstrip().endswith("--no-timeline writes the image without it")
    assert list(tmp_path.iterdir()) == []
    assert main(["generate", "--scenario", "minimal", "-q", "--no-timeline", "-o", str(out)]) == 0
