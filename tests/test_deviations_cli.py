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


def test_swapon_bad_page_out_of_range_is_einval_and_null_stand_ins(small: Path) -> None:
    commands = "sim swapon 1M 5 300; p swap_info[0].flags; p least_priority; "
    commands += "sim swapon 1M 5; p swap_info[0].swap_file; p swap_info[0].pages"
    out = _run(small, commands)
    assert out[0] == "sys_swapon(size=1048576) = -EINVAL"
    assert "$1 = 0" in out and "least_priority = $2 = 0" in out  # bad_swap gave it back
    assert "sys_swapon(size=1048576) = 0" in out
    assert any(line.startswith("note: swap_file and swap_vfsmnt are NULL") for line in out)
    assert out[-2:] == ["$3 = (struct dentry *) 0x0", "$4 = 253"]


@pytest.mark.slow  # the sim command's test covers it in the default suite
def test_scenario_bad_pages(tmp_path: Path) -> None:
    scen = tmp_path / "s.toml"
    scen.write_text('[[step]]\nop = "swapon"\nsize = "1M"\nbad_pages = [3, 256]\n')
    proc = vmintro_cli("generate", "-q", "--scenario", str(scen), "--ram", "16M",
                       "-o", str(tmp_path / "x"))  # fmt: skip
    assert "swapon: -EINVAL (bad page 256 out of range)" in one_line_failure(proc)


def test_ioremap_bug_leaves_its_area_and_kfree_checks_nothing(small: Path) -> None:
    """ioremap's BUG() leaves its area on vmlist; kfree without DEBUG has no CHECK_PAGE:
    the kernel image's page is taken for cache and slab alike until list_add follows
    its NULL mapping."""
    out = _run(small, "sim ioremap 0xe0000000 1; sim kfree 0xc0100000")
    assert out[:2] == [
        "ioremap(offset=0xe0000000, size=1) = BUG()",
        "kernel BUG at ioremap.c:73! (remap_area_pages: address >= end)",
    ]
    changed = [line for line in out if line.startswith("changed: ")]
    assert changed[0].startswith("changed: areas +1 (") and changed[0].endswith(" 4K)")
    kfree = out.index("kfree(objp=0xc0100000) = oops")
    assert "virtual address 00000004" in out[kfree + 1]


def test_out_of_memory_with_nothing_to_kill_panics(small: Path) -> None:
    """The page cache is reclaimed first; then no swap and no process with memory to
    kill: panic, and the kernel takes no more calls."""
    proc = vmintro_cli(f"{small}.vmcore", "-c", "sim vmalloc 15M; sim kmalloc 32")
    out = proc.stdout.splitlines()
    assert out[:2] == [
        "vmalloc(size=15728640) = panic",
        "Kernel panic: Out of memory and no killable processes...",
    ]
    assert "printk: In idle task - not syncing" in out
    assert any(line.startswith("note: out_of_memory() acted on the tenth") for line in out)
    assert proc.stderr.startswith("sim: kmalloc: the kernel is stuck in panic()")


@pytest.mark.slow  # the sim command's test covers it in the default suite
def test_pae_ioremap_takes_an_unsigned_long(tmp_path: Path) -> None:
    """ioremap(unsigned long phys_addr, ...) is 32 bits under PAE too: a wider address is
    a scenario error in one line, before anything runs."""
    scen = tmp_path / "io.toml"
    scen.write_text('[[step]]\nop = "ioremap"\nphys = 0x100000000\nsize = "4K"\n')
    proc = vmintro_cli("generate", "-q", "--scenario", str(scen), "--ram", "64M", "--pae",
                       "-o", str(tmp_path / "x"))  # fmt: skip
    line = one_line_failure(proc)
    assert "phys" in line and "0xffffffff (an unsigned long)" in line
