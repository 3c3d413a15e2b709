"""Kernel calls that 2.4.20 answers in its own way, driven as a user types them
(``vmintro IMAGE -c 'sim ...'``, ``vmintro generate`` of a scenario)."""

from __future__ import annotations

from pathlib import Path

import pytest
from generate_cli import one_line_failure, vmintro_cli

from vmintro.generate import generate


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("dev") / "m16"
    generate(base, "minimal", {"ram": 16 << 20})
    return base


def _run(base: Path, commands: str) -> list[str]:
    proc = vmintro_cli(f"{base}.vmcore", "-c", commands)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout.splitlines()


def test_swapon_bad_page_out_of_range_is_einval(small: Path) -> None:
    out = _run(small, "sim swapon 1M 5 300; p swap_info[0].flags; p least_priority")
    assert out[0] == "sys_swapon(size=1048576) = -EINVAL"
    assert out[-2:] == ["$1 = 0", "least_priority = $2 = 0"]  # bad_swap gave it back


def test_swapon_says_what_it_leaves_null(small: Path) -> None:
    out = _run(small, "sim swapon 1M 5; p swap_info[0].swap_file; p swap_info[0].pages")
    assert out[0] == "sys_swapon(size=1048576) = 0"
    assert any(line.startswith("note: swap_file and swap_vfsmnt are NULL") for line in out)
    assert out[-2:] == ["$1 = (struct dentry *) 0x0", "$2 = 253"]


def test_scenario_bad_pages(tmp_path: Path) -> None:
    scen = tmp_path / "s.toml"
    scen.write_text('[[step]]\nop = "swapon"\nsize = "1M"\nbad_pages = [3, 256]\n')
    proc = vmintro_cli("generate", "-q", "--scenario", str(scen), "--ram", "16M",
                       "-o", str(tmp_path / "x"))  # fmt: skip
    assert "swapon: -EINVAL (bad page 256 out of range)" in one_line_failure(proc)


def test_ioremap_bug_leaves_its_area(small: Path) -> None:
    out = _run(small, "sim ioremap 0xe0000000 1")
    assert out[:2] == [
        "ioremap(offset=0xe0000000, size=1) = BUG()",
        "kernel BUG at ioremap.c:73! (remap_area_pages: address >= end)",
    ]
    assert out[-1].startswith("changed: areas +1 (") and out[-1].endswith(" 4K)")
