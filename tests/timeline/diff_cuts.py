"""Images of one scenario cut at different steps, for the diff tests: each with its
.truth.json and the simulator's own count of its buddy lists, generated once a session.

The free blocks per zone and order, and each zone's ``free_pages``, are counted in
the simulator's RAM by a walk written here (after running the same steps again),
not by the reader's helpers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from vmintro.arch.x86 import PAGE_OFFSET
from vmintro.generate import generate
from vmintro.scenario.loader import Scenario, parse_scenario
from vmintro.scenario.runner import machine_config, run_scenario
from vmintro.types.flags import MAX_ORDER, ZONE_NAMES

SCENARIO = """
[machine]
ram = "64M"
seed = 7

[[step]]
op = "swapon"
size = "8M"
label = "s0"

[[step]]
op = "insmod"
name = "ext3"
size = 71424

[[step]]
op = "vmalloc"
size = "40K"
label = "a"

[[step]]
op = "ioremap"
phys = 0xe0000000
size = "64K"
label = "io"

[[step]]
op = "random"
count = 40
max_size = "32K"
free_ratio = 0.4

[[step]]
op = "vfree"
label = "a"

[[step]]
op = "insmod"
name = "jbd"
size = 49952

[[step]]
op = "rmmod"
name = "ext3"

[[step]]
op = "swapoff"
label = "s0"

[[step]]
op = "iounmap"
label = "io"

[[step]]
op = "random"
count = 60
max_size = "64K"
free_ratio = 0.5
"""
# Where the scenario is cut: before anything, after the first random step, at its end
CUTS = (0, 5, 11)
MACHINES: dict[str, dict[str, Any]] = {"2level": {}, "pae": {"pae": True}}
# Behind the slow marker: 1 GiB, more than the kernel maps, so vmalloc takes HighMem frames
# and lowmem mapped by 4 KiB page tables (no PSE), which diff reads only where they changed
SLOW_MACHINES: dict[str, dict[str, Any]] = {
    "highmem": {"ram": 1 << 30, "highmem": True},
    "nopse": {"ram": 128 << 20, "pse": False},
}
VM_ALLOC, VM_IOREMAP = 0x2, 0x1


@dataclasses.dataclass
class Cut:
    image: Path
    truth: dict[str, Any]
    # (zone name, order) -> free blocks; zone name -> free_pages: from the simulator
    blocks: dict[tuple[str, int], int]
    free_pages: dict[str, int]


def scenario_steps(steps: int) -> Scenario:
    scen = parse_scenario(SCENARIO, "diff.toml")
    return dataclasses.replace(scen, steps=scen.steps[:steps])


def _buddy_counts(scen: Scenario, overrides: dict[str, Any]) -> tuple[dict, dict]:
    """The simulator's free lists after the same steps, counted in its RAM here."""
    cfg, seed = machine_config(scen, overrides)
    k = run_scenario(scen, cfg, seed).kernel
    b = k.buddy

    def r32(vaddr: int) -> int:
        return k.mem.read_u32(vaddr - PAGE_OFFSET)

    o_size = k.types.offsetof("zone_t", "size")
    blocks: dict[tuple[str, int], int] = {}
    free_pages: dict[str, int] = {}
    for j, zone in enumerate(b.zones):
        free_pages[ZONE_NAMES[j]] = r32(zone + b.o_free_pages)
        if not r32(zone + o_size):
            continue
        for order in range(MAX_ORDER):
            head = b.free_list(zone, order)
            count, node = 0, r32(head)
            while node != head:
                count += 1
                node = r32(node)
            blocks[(ZONE_NAMES[j], order)] = count
    return blocks, free_pages


_MADE: dict[tuple[str, int], Cut] = {}
_OUT: list[Path] = []


def make_cuts(
    tmp_path_factory: pytest.TempPathFactory, machines: tuple[str, ...] = tuple(MACHINES)
) -> dict[tuple[str, int], Cut]:
    """The (machine, steps) images of :data:`CUTS` on ``machines`` (of :data:`MACHINES`
    and :data:`SLOW_MACHINES`), each made once a session."""
    if not _OUT:
        _OUT.append(tmp_path_factory.mktemp("diff"))
    for machine in machines:
        overrides = {**MACHINES, **SLOW_MACHINES}[machine]
        for steps in CUTS:
            if (machine != "2level" and steps == 0) or (machine, steps) in _MADE:
                continue
            scen = scenario_steps(steps)
            base = _OUT[0] / f"{machine}{steps}"
            generate(base, scen, overrides)
            truth = json.loads(base.with_suffix(".truth.json").read_text())
            blocks, free_pages = _buddy_counts(scen, overrides)
            _MADE[(machine, steps)] = Cut(base, truth, blocks, free_pages)
    return _MADE
