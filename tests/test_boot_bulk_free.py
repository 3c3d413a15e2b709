"""The bulk boot-time free writes exactly the bytes the page-by-page buddy path writes."""

from __future__ import annotations

import pytest

import vmintro.sim.boot as boot_mod
from vmintro.arch.x86 import MachineConfig
from vmintro.sim.buddy import free_boot_pages


def _ram(k) -> dict[int, bytes]:  # noqa: ANN001
    return {pfn: k.mem.page(pfn) for pfn in k.mem.stored_pfns()}


@pytest.mark.parametrize(
    "cfg",
    [
        MachineConfig(ram=16 << 20),
        MachineConfig(ram=40 << 20, pse=False),
        # a second HIGHMEM machine of seconds: under -m slow (.ci/run runs it)
        pytest.param(MachineConfig(ram=960 << 20, highmem=True), marks=pytest.mark.slow),
        pytest.param(
            MachineConfig(ram=912 << 20 | 0x5000, highmem=True, pae=True), marks=pytest.mark.slow
        ),
    ],
    ids=["16M", "40M-nopse", "960M-highmem", "912M+20K-pae"],
)
def test_bulk_free_equals_page_by_page(cfg: MachineConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = boot_mod.boot(cfg)
    monkeypatch.setattr(
        boot_mod, "free_boot_pages_bulk", lambda k, buddy, seq: free_boot_pages(k, buddy, seq)
    )
    slow = boot_mod.boot(cfg)
    a, b = _ram(fast), _ram(slow)
    assert a.keys() == b.keys()
    differing = [pfn for pfn in a if a[pfn] != b[pfn]]
    assert differing == []
