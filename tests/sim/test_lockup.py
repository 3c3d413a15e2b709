"""A kernel list walk that never ends, or that follows a pointer into nothing.

2.4.20 would spin forever in ``get_vm_area`` (or ``vfree``, ``find_module``,
``sys_swapon``) once the list it walks is a cycle, and would oops on a pointer
into unmapped memory. The simulator follows the list as it is in memory, notices
the loop, stops and says what the kernel would have done; the generator names
the step, and with ``allow_bug = true`` writes the image of that moment.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from generate_cli import one_line_failure, vmintro_cli
from rawmem import machine

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.generate import generate
from vmintro.scenario.loader import ScenarioError, parse_scenario
from vmintro.sim.errors import KernelHang
from vmintro.sim.module import insmod
from vmintro.sim.swap import swapon

VM = "struct vm_struct"


class _Hung(Exception):
    pass


@contextlib.contextmanager
def hang_guard(seconds: int = 60) -> Iterator[None]:
    """Turn a walk that never ends into a test failure (a guard, not a timed assertion)."""

    def stop(signum: int, frame: object) -> None:
        raise _Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _areas(k, n: int) -> list[int]:  # noqa: ANN001
    """``n`` fresh one-page areas; their vm_structs in list (address) order."""
    for _ in range(n):
        assert k.vmalloc.vmalloc(PAGE_SIZE) is not None
    return [rec["vm_struct"] for _, rec in sorted(k.vmalloc.records.items())]


# -- the simulator ------------------------------------------------------------------------


def test_get_vm_area_spins_on_a_cycle_with_no_gap() -> None:
    k = machine(16)
    first, _, last = _areas(k, 3)
    k.set(last, VM, "next", first)
    with hang_guard(), pytest.raises(KernelHang) as info:
        k.vmalloc.vmalloc(2 * PAGE_SIZE)
    message = str(info.value)
    assert message.startswith("kernel hang in get_vm_area(): ")
    assert f"{last:#x}" in message and f"{first:#x}" in message
    assert "vmlist_lock" in message and "\n" not in message


def test_get_vm_area_leaves_a_cycle_through_a_gap() -> None:
    """The walk follows the list as memory has it: a cycle it leaves through a gap
    on its second lap is no hang. The list is N -> T -> H -> T: N ends high, H low,
    so the first lap finds no room in front of T and the second one does."""
    k = machine(16)
    start = k.config.vmalloc_start
    n, t, h = _areas(k, 3)
    k.set(n, VM, "size", 100 * PAGE_SIZE)
    k.set_many(t, VM, addr=start + 50 * PAGE_SIZE, size=2 * PAGE_SIZE)
    k.set_many(h, VM, addr=start + 10 * PAGE_SIZE, size=2 * PAGE_SIZE)
    k.set(h, VM, "next", t)
    with hang_guard():
        addr = k.vmalloc.vmalloc(4 * PAGE_SIZE)
    assert addr == start + 12 * PAGE_SIZE  # right after H, in front of T
    new = k.get(h, VM, "next")
    assert k.get(new, VM, "addr") == addr and k.get(new, VM, "next") == t


def test_vfree_spins_on_a_cycle_that_lacks_its_area() -> None:
    k = machine(16)
    first, middle, last = _areas(k, 3)
    k.set(last, VM, "next", middle)
    target = k.get(first, VM, "addr")
    with hang_guard():
        assert k.vmalloc.vfree(target)  # found before the loop: vfree ends
        with pytest.raises(KernelHang) as info:
            k.vmalloc.vfree(0xDEAD0000)
    assert str(info.value).startswith("kernel hang in vfree(): ")


def test_find_module_spins_on_a_cyclic_module_list() -> None:
    k = machine(16)
    rng = random.Random(1)
    a = insmod(k, "a", 8192, rng)
    insmod(k, "b", 8192, rng)
    k.set(a, "struct module", "next", k.r32(k.sym("module_list")))  # a -> b -> a
    with hang_guard(), pytest.raises(KernelHang) as info:
        insmod(k, "c", 8192, rng)
    assert str(info.value).startswith("kernel hang in find_module(): ")


def test_swapon_spins_on_a_cyclic_swap_list() -> None:
    k = machine(16)
    first = swapon(k, 0x0302, 2048)
    second = swapon(k, 0x0303, 2048)
    info_struct = "struct swap_info_struct"
    base, size = k.sym("swap_info"), k.types.sizeof(info_struct)
    k.set(base + second * size, info_struct, "next", first)  # first -> second -> first
    with hang_guard(), pytest.raises(KernelHang) as info:
        swapon(k, 0x0304, 2048)
    assert str(info.value).startswith("kernel hang in sys_swapon(): ")


# -- the generator ------------------------------------------------------------------------

_CYCLE = """\
[[step]]
op = "vmalloc"
size = "8K"

[[step]]
op = "vmalloc"
size = "8K"

[[step]]
op = "vmalloc"
size = "8K"

[[step]]
op = "fault"
kind = "vmlist_cycle"

[[step]]
op = "vmalloc"
size = "8K"
{allow}
[[step]]
op = "vmalloc"
size = "8K"
label = "after"
"""


def _generate(scenario: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return vmintro_cli("generate", "-q", "--ram=16M", f"--scenario={scenario}", "-o", str(out))


def test_generate_stops_at_the_step_that_would_hang(tmp_path: Path) -> None:
    scenario = tmp_path / "cycle.toml"
    scenario.write_text(_CYCLE.format(allow=""))
    out = tmp_path / "out"
    proc = _generate(scenario, out)
    line = one_line_failure(proc, 2)  # the status a BUG() stops generation with
    assert f"{scenario}:17: step 5 (vmalloc): kernel hang in get_vm_area(): vmlist " in line
    assert "forever" in line
    assert list(tmp_path.iterdir()) == [scenario]


def test_generate_with_allow_bug_writes_the_moment_of_the_hang(tmp_path: Path) -> None:
    scenario = tmp_path / "cycle.toml"
    scenario.write_text(_CYCLE.format(allow="allow_bug = true\n"))
    out = tmp_path / "out"
    proc = _generate(scenario, out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "step 5 (vmalloc): kernel hang in get_vm_area()" in proc.stderr
    assert "step 6 was not run" in proc.stderr
    truth = json.loads((tmp_path / "out.truth.json").read_text())
    assert [e for e in truth["events"] if "hang" in e][0]["step"] == 5
    assert "after" not in {a["owner"] for a in truth["areas"]}
    check = vmintro_cli("check", str(out))
    assert check.returncode == 1, check.stdout + check.stderr  # the cycle is a finding
    assert "Traceback" not in check.stderr


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("wild_next", "kernel oops in get_vm_area(): Unable to handle kernel paging request at "),
        ("buddy_corrupt", "kernel oops in rmqueue(): Unable to handle kernel "),
    ],
)
def test_a_walk_into_unmapped_memory_is_an_oops(tmp_path: Path, fault: str, message: str) -> None:
    steps = "".join("[[step]]\nop = 'vmalloc'\nsize = '8K'\n" for _ in range(3))
    text = f"{steps}[[step]]\nop = 'fault'\nkind = '{fault}'\n[[step]]\nop = 'random'\ncount = 60\n"
    scen = parse_scenario(text, "oops.toml")
    for seed in range(4):  # buddy_corrupt writes poison or a self-loop: see both
        with pytest.raises(ScenarioError) as info:
            generate(tmp_path / "o", scen, {"ram": 16 << 20, "seed": seed})
        assert "oops.toml:13: step 5 (random): " + message in str(info.value)
    assert not list(tmp_path.iterdir())
