"""``vmintro generate`` of a machine whose boot cannot hold the page cache asked for.

With HIGHMEM the page cache's pages lie in highmem but their buffer heads in
lowmem (896 MiB at most); ``--page-cache 0.9`` of 4 GiB fills lowmem with them
and the boot's OOM killer, finding no process to kill, panics. That is the user's
choice of machine, not a fault of vmintro: one line saying which machine and
why, exit 2, and no file, as a step's panic is reported.
"""

from __future__ import annotations

from pathlib import Path

from generate_cli import one_line_failure, vmintro_cli

from vmintro.errors import EXIT_USAGE


def test_a_boot_that_panics_is_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "pc"
    args = ("--ram", "4G", "--highmem", "--page-cache", "0.9", "--scenario", "minimal")
    proc = vmintro_cli("generate", *args, "-q", "-o", str(out), address_space=6 << 30)
    line = one_line_failure(proc, EXIT_USAGE)
    assert "page_cache 0.9" in line and "4096 MiB (HIGHMEM, lowmem 896 MiB)" in line, line
    assert "Kernel panic: Out of memory" in line, line
    assert not list(tmp_path.iterdir())
