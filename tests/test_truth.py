"""The library against the generator's ground truth, over generated scenarios and all paging modes.

The truth is what the simulator recorded while it ran (area owners, the frame it
gave each page); the library only ever reads the image files.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vmintro
from vmintro.errors import FaultError
from vmintro.generate import generate
from vmintro.helpers import (
    find_vm_area,
    for_each_vm_area,
    page_count,
    vmalloc_area_pages,
    vmalloc_area_pfns,
    vmalloc_to_page,
    vmalloc_to_pfn,
)
from vmintro.scenario.loader import parse_scenario

MODES = {
    "2level-pse": {"ram": 24 << 20},
    "2level-4k": {"ram": 24 << 20, "pse": False},
    "highmem": {"ram": 24 << 20, "highmem": True},
    "pae": {"ram": 24 << 20, "pae": True},
}

op = st.one_of(
    st.tuples(st.just("vmalloc"), st.integers(1, 24 * 4096)),
    st.tuples(st.just("vmalloc_32"), st.integers(1, 8 * 4096)),
    st.tuples(st.just("vfree"), st.integers(0, 50)),
    st.tuples(st.just("ioremap"), st.integers(1, 64 * 1024)),
    st.tuples(st.just("insmod"), st.integers(200, 40000)),
)


def _scenario_text(ops: list[tuple[str, int]]) -> str:
    lines: list[str] = []
    live: list[str] = []
    for i, (name, arg) in enumerate(ops):
        if name == "vfree":
            if not live:
                continue
            label = live.pop(arg % len(live))
            lines += ["[[step]]", "op = 'vfree'", f"label = '{label}'"]
        elif name == "ioremap":
            lines += ["[[step]]", "op = 'ioremap'", f"phys = {0xE0000000 + i * 0x100000}"]
            lines += [f"size = {arg}", "allow_bug = true"]  # 2.4.20 BUG()s on some sizes
        elif name == "insmod":
            lines += ["[[step]]", "op = 'insmod'", f"name = 'mod{i}'", f"size = {arg}"]
        else:
            label = f"a{i}"
            live.append(label)
            lines += ["[[step]]", f"op = '{name}'", f"size = {arg}", f"label = '{label}'"]
    return "\n".join(lines) + "\n"


def check_against_truth(base: Path) -> None:
    truth = json.loads(base.with_name(base.name + ".truth.json").read_text())
    prog = vmintro.open(base.with_name(base.name + ".vmcore"))
    areas = list(for_each_vm_area(prog))
    assert [(a.value_(), a.addr.value_(), a.size.value_(), a.flags.value_()) for a in areas] == [
        (t["vm_struct"], t["addr"], t["size"], t["flags"]) for t in truth["areas"]
    ]
    assert prog.vmalloc_start == truth["vmalloc_start"]
    assert prog.vmalloc_end == truth["vmalloc_end"]
    expected_pfns = []
    for area, t in zip(areas, truth["areas"], strict=True):
        frames = vmalloc_area_pages(area)
        assert len(frames) == t["size"] // 4096 - 1  # every page but the guard
        if t["flags"] & 2:  # VM_ALLOC: the frames the simulator gave, in order
            assert frames == t["pages"]
        for i, pfn in enumerate(t["pages"]):
            addr = t["addr"] + i * 4096
            if t["flags"] & 2:  # VM_ALLOC: every page maps a frame the simulator chose
                assert vmalloc_to_pfn(prog, addr) == pfn
                page = vmalloc_to_page(prog, addr)
                assert page_count(page[0]) >= 1
            expected_pfns.append(pfn if pfn is not None else vmalloc_to_pfn(prog, addr))
        guard = t["addr"] + t["size"] - 4096
        with pytest.raises(FaultError):
            prog.translate(guard)
        assert find_vm_area(prog, t["addr"] + t["size"] - 1).value_() == area.value_()
    assert vmalloc_area_pfns(prog).tolist() == expected_pfns
    live = {(t["addr"] + i * 4096) for t in truth["areas"] for i in range(t["size"] // 4096)}
    for freed in truth["freed"]:
        for off in range(0, freed["size"], 4096):
            addr = freed["addr"] + off
            if addr not in live:
                with pytest.raises(FaultError):
                    prog.translate(addr)


@pytest.mark.parametrize(
    "mode",
    # 4 KiB tables and HIGHMEM with the slow tests; PSE and PAE stay in the default suite
    [
        pytest.param(m, marks=pytest.mark.slow) if m in ("2level-4k", "highmem") else m
        for m in sorted(MODES)
    ],
)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=14), seed=st.integers(0, 3))
def test_generated_scenarios_match_truth(mode: str, ops: list[tuple[str, int]], seed: int) -> None:
    scen = parse_scenario(_scenario_text(ops), "generated.toml")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "img"
        generate(base, scen, {**MODES[mode], "seed": seed})
        check_against_truth(base)


def test_bundled_demo_matches_truth() -> None:
    check_against_truth(Path(__file__).resolve().parent.parent / "images" / "demo")


@pytest.fixture(scope="module", params=["highmem", "pae"])
def big_image(request: pytest.FixtureRequest, demo_on: Callable[..., Path]) -> Path:
    """A machine above 896 MiB, so that vmalloc pages come from ZONE_HIGHMEM (the
    session's one image of each, ``demo_on``)."""
    return demo_on("img", ram=1024 << 20, **{request.param: True})


def test_highmem_frames_match_truth(big_image: Path) -> None:
    check_against_truth(big_image)
    truth = json.loads(big_image.with_name(big_image.name + ".truth.json").read_text())
    high = [p for t in truth["areas"] for p in t["pages"] if p is not None and p >= 229376]
    assert high, "vmalloc should have drawn frames from ZONE_HIGHMEM"
