"""The post-mortem checker: every injected fault is found and named; clean images give nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vmintro
from vmintro.check import FAULT_FINDINGS, check_program
from vmintro.generate import generate
from vmintro.scenario.loader import parse_scenario
from vmintro.sim.faults import FAULTS

MODES = [{}, {"pse": False}, {"highmem": True}, {"pae": True}]
RAMS = [16 << 20, 24 << 20, 48 << 20, 64 << 20, 128 << 20]
# Machines above the 896 MiB the kernel maps directly: a HighMem zone with frames in it.
HIGHMEM_MACHINES = [
    {"ram": 1 << 30, "highmem": True},
    {"ram": 1 << 30, "pae": True},
    {"ram": 960 << 20, "highmem": True},
    {"ram": 2 << 30, "pae": True},
]
# Every 22nd clean image is one of those. 22, not 20: len(RAMS) * len(MODES) is 20,
# so every 20th would take all the runs of one small machine; these take at most one each.
HIGHMEM_EVERY = 22
SCENARIOS = ["demo", "busy", "minimal"]

PRELUDE = """
[[step]]
op = "swapon"
size = "32M"

[[step]]
op = "insmod"
name = "ext3"
size = 30000

[[step]]
op = "random"
count = 12
max_size = "24K"
"""


def _truth(base: Path) -> dict:
    return json.loads(base.with_name(base.name + ".truth.json").read_text())


def test_every_fault_kind_has_an_expected_finding() -> None:
    assert set(FAULT_FINDINGS) == set(FAULTS)


@pytest.mark.parametrize("mode", range(len(MODES)))
@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_injected_fault_is_found_and_named(tmp_path: Path, kind: str, mode: int) -> None:
    text = PRELUDE + f'\n[[step]]\nop = "fault"\nkind = "{kind}"\n'
    base = tmp_path / "img"
    generate(
        base, parse_scenario(text, f"{kind}.toml"), {"ram": 32 << 20, "seed": mode, **MODES[mode]}
    )
    (fault,) = _truth(base)["faults"]
    findings = check_program(vmintro.open(base))
    kinds = {f.kind for f in findings}
    assert kinds & set(FAULT_FINDINGS[kind]), [str(f) for f in findings]
    named = [f for f in findings if f.kind in FAULT_FINDINGS[kind]]
    # The finding points at the structure the fault damaged.
    for key in ("vm_struct", "pte", "pfn"):
        if key in fault and any(key in f.where for f in named):
            assert any(f.where.get(key) == fault[key] for f in named), (key, fault, named)
    assert all("\n" not in str(f) for f in findings)


# Every tenth image in the default suite; the whole sweep under -m slow (.ci/run runs it).
@pytest.mark.parametrize(
    "n", [n if n % 10 == 0 else pytest.param(n, marks=pytest.mark.slow) for n in range(200)]
)
def test_clean_images_have_no_findings(tmp_path: Path, n: int) -> None:
    big = n % HIGHMEM_EVERY == 0
    if big:
        machine = HIGHMEM_MACHINES[(n // HIGHMEM_EVERY) % len(HIGHMEM_MACHINES)]
    else:
        machine = {"ram": RAMS[n % len(RAMS)], **MODES[(n // len(RAMS)) % len(MODES)]}
    base = tmp_path / "img"
    generate(base, SCENARIOS[n % len(SCENARIOS)], {**machine, "seed": n})
    prog = vmintro.open(base)
    if big:
        assert prog["contig_page_data"].node_zones[2].size.value_() > 0
    findings = check_program(prog)
    assert findings == [], [str(f) for f in findings]
