"""prog.at(n) of generated images against the simulator itself.

For each entry of a scenario, the image's ``prog.at(n)`` must read byte for byte
the RAM the simulator had just after entry ``n`` (:mod:`truth_run` runs the
scenario again and snapshots it there), and the vm areas and mapped frames the
simulator recorded then must be what the helpers read at that moment. Blame is
checked against the ground truth: each vmalloc PTE was last written by the
``alloc_area_pte`` of the entry that returned its area, each PTE of a freed area
by the ``vfree`` of it, each byte a fault scribbled by the fault's entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vmintro
from vmintro.generate import generate
from vmintro.helpers import for_each_vm_area, vmalloc_to_pfn
from vmintro.program import Program
from vmintro.scenario.loader import parse_scenario

from .truth_run import PAGE, Moments, run_moments

MODES = {
    "2-level": {"ram": 64 << 20, "highmem": False, "pae": False, "seed": 5},
    "highmem": {"ram": 64 << 20, "highmem": True, "pae": False, "seed": 6},
    "pae": {"ram": 64 << 20, "highmem": True, "pae": True, "seed": 7},
}

SMALL = """
name = "timeline-small"
[[step]]
op = "vmalloc"
size = "16K"
label = "a"
[[step]]
op = "vmalloc"
size = "8K"
label = "b"
[[step]]
op = "random"
count = 6
max_size = "32K"
[[step]]
op = "vfree"
label = "a"
[[step]]
op = "vmalloc_32"
size = "4K"
[[step]]
op = "fault"
kind = "zero_count"
[[step]]
op = "fault"
kind = "bad_pte_frame"
"""


def _generated(tmp: Path, text: str, overrides: dict[str, Any]) -> Path:
    base = tmp / "img"
    generate(base, parse_scenario(text, "timeline-test.toml"), overrides)
    return base


@pytest.fixture(scope="session", params=sorted(MODES))
def small(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    mode = request.param
    return _generated(tmp_path_factory.mktemp(f"small-{mode}"), SMALL, MODES[mode]), mode


def _compare(prog: Program, moments: Moments, every: int = 1) -> None:
    """Each moment of ``prog``'s timeline against the simulator's (every ``every``-th)."""
    timeline = prog.timeline
    assert timeline is not None and len(timeline.entries) == moments.count
    pfns = sorted(moments.frames)
    for n in [*range(0, moments.count, every), moments.count - 1]:
        at = prog.at(n)
        for pfn in pfns:
            assert at.read(pfn * PAGE, PAGE, physical=True) == moments.page(pfn, n), (n, pfn)
        try:
            areas = sorted((a.addr.value_(), a.size.value_()) for a in for_each_vm_area(at))
        except vmintro.CorruptionError:
            continue  # a fault left vmlist unwalkable: the frames above still compared
        assert areas == moments.areas[n], n
        for vaddr, pfn in moments.mapped[n].items():
            assert vmalloc_to_pfn(at, vaddr) == pfn, (n, hex(vaddr))


def test_every_moment_is_the_simulators(
    small: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, mode = small
    moments = run_moments(monkeypatch, parse_scenario(SMALL, "timeline-test.toml"), MODES[mode])
    _compare(vmintro.open(base), moments)


def _pte(prog: Program, vaddr: int) -> int:
    """The physical address of the PTE mapping ``vaddr``."""
    last = prog.follow_pte(vaddr).steps[-1]
    assert last.level == "pte"
    return last.entry_paddr


def _from_a_step(owner: str) -> bool:
    """Whether the runner's vmalloc steps made the area of ``owner`` (a label, a
    ``random`` step's, or ``vmalloc step N``), not a fault nor a module load."""
    return owner in ("a", "b", "random") or owner.split(" step ")[0] in VMALLOCS


VMALLOCS = ("vmalloc", "vmalloc_32", "vmalloc_dma")


def test_blame_names_who_mapped_unmapped_and_scribbled(small: tuple[Path, str]) -> None:
    base, _ = small
    prog = vmintro.open(base)
    truth = json.loads(Path(f"{base}.truth.json").read_text())
    timeline = prog.timeline
    assert timeline is not None
    size = prog.paging.entry_size
    returned = {
        e.result.value: e.number
        for e in timeline.entries
        if e.call in VMALLOCS and e.result.kind == "address"
    }
    checked = 0
    for area in truth["areas"]:
        if not _from_a_step(area["owner"]):
            continue  # made inside another entry (a fault's victim)
        entry = returned[area["addr"]]  # the last vmalloc that returned it
        for i, pfn in enumerate(area["pages"]):
            w = vmintro.blame(prog, _pte(prog, area["addr"] + i * PAGE), size, physical=True)
            assert w is not None and w.entry == entry, (hex(area["addr"]), i)
            assert "alloc_area_pte" in w.path and w.path[-1] == "set_pte"
            assert (int.from_bytes(w.new, "little") >> 12) & 0xFFFFFF == pfn
            checked += 1
    assert checked
    live = [(a["addr"], a["addr"] + a["size"]) for a in truth["areas"]]
    vfrees = {e.args[0][1]: e.number for e in timeline.entries if e.call == "vfree"}
    last_freed: dict[int, int] = {}  # page -> the area freed last over it
    for freed in truth["freed"]:
        for va in range(freed["addr"], freed["addr"] + freed["size"] - PAGE, PAGE):
            last_freed[va] = freed["addr"]
    for va, addr in last_freed.items():
        if any(lo <= va < hi for lo, hi in live):
            continue  # mapped again since
        w = vmintro.blame(prog, _pte(prog, va), size, physical=True)
        assert w is not None and w.entry == vfrees[addr] and w.call == "vfree", hex(va)
        assert w.new == bytes(len(w.new)) and "free_area_pte" in w.path
    faults = {e.step: e.number for e in timeline.entries if e.call == "fault"}
    for fault in truth["faults"]:
        if fault["kind"] == "zero_count":
            count = prog.type("struct page").offsetof("count")
            w = vmintro.blame(prog, fault["page"] + count)
            assert w is not None and w.entry == faults[fault["step"]]
            assert w.path[0] == "fault" and w.new == bytes(4)
        if fault["kind"] == "bad_pte_frame":
            w = vmintro.blame(prog, fault["pte"], size)
            assert w is not None and w.entry == faults[fault["step"]] and w.call == "fault"
            assert int.from_bytes(w.new, "little") >> 12 == fault["pfn"]


def _scenario(steps: list[tuple[str, int]]) -> str:
    """A scenario of vmalloc, vfree (of the oldest live label) and random steps."""
    out = ['name = "timeline-hypothesis"']
    live: list[str] = []
    for i, (op, n) in enumerate(steps):
        if op == "vfree" and live:
            out += ["[[step]]", 'op = "vfree"', f'label = "{live.pop(0)}"']
        elif op == "random":
            out += ["[[step]]", 'op = "random"', f"count = {n}", 'max_size = "64K"']
        else:
            out += ["[[step]]", 'op = "vmalloc"', f"size = {n * PAGE}", f'label = "l{i}"']
            live.append(f"l{i}")
    return "\n".join(out) + "\n"


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["vmalloc", "vfree", "random"]), st.integers(1, 12)),
        min_size=1,
        max_size=8,
    ),
    mode=st.sampled_from(sorted(MODES)),
    seed=st.integers(0, 2**32),
)
def test_hypothesis_scenarios_every_moment(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    steps: list[tuple[str, int]],
    mode: str,
    seed: int,
) -> None:
    text = _scenario(steps)
    overrides = {**MODES[mode], "seed": seed}
    base = _generated(tmp_path_factory.mktemp("hyp"), text, overrides)
    moments = run_moments(monkeypatch, parse_scenario(text, "timeline-test.toml"), overrides)
    _compare(vmintro.open(base), moments)
