"""The simulator's own RAM and vm areas after every entry of a run: the oracle of
``prog.at(n)``.

:func:`run_moments` runs a scenario again as the generator does (the same
machine and seed) but without the write recorder, and each time the workload
enters the kernel -- just before entry ``n + 1`` begins, which is just after
entry ``n`` ended, and once more at the end -- it snapshots the simulated RAM and the simulator's
records of the vm areas and the frames mapped in them. RAM is compared page by
page with the previous snapshot, so only frames that changed are copied; no
use is made of the write records the timeline is built from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from vmintro.scenario import runner
from vmintro.scenario.loader import Scenario
from vmintro.sim.errors import CallResult, tracing

PAGE = 4096
_ZERO = bytes(PAGE)


@dataclass
class Moments:
    """RAM, vm areas and mapped frames after each entry of a run."""

    # pfn -> [(first entry it holds these bytes after, the bytes)], in entry order
    frames: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
    # per entry: sorted (addr, size) of the simulator's vm area records
    areas: list[list[tuple[int, int]]] = field(default_factory=list)
    # per entry: every vmalloc'ed page's virtual address -> its frame
    mapped: list[dict[int, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.areas)

    def page(self, pfn: int, n: int) -> bytes:
        """Frame ``pfn`` just after entry ``n``."""
        held = _ZERO
        for since, data in self.frames.get(pfn, []):
            if since > n:
                break
            held = data
        return held


class _Snapshots:
    def __init__(self) -> None:
        self.moments = Moments()
        self.last: dict[int, bytes] = {}
        self.kernel: Any = None

    def take(self) -> None:
        n = len(self.moments.areas)
        k = self.kernel
        # the simulator's sparse pages, read directly: every frame RAM holds
        now = {pfn: bytes(page) for pfn, page in k.mem._pages.items()}
        for pfn in now.keys() | self.last.keys():
            data = now.get(pfn, _ZERO)
            if self.last.get(pfn, _ZERO) != data:
                self.moments.frames.setdefault(pfn, []).append((n, data))
        self.last = now
        vm = k.vmalloc
        self.moments.areas.append(sorted((a, int(r["size"])) for a, r in vm.records.items()))
        self.moments.mapped.append(dict(vm.frames))


class _EntryTracer:
    """Hears each entry point the workload calls (vmintro.sim.errors.tracing)."""

    def __init__(self, snaps: _Snapshots) -> None:
        self.snaps = snaps

    def enter(self, call: str, args: tuple[tuple[str, int | str], ...]) -> None:
        self.snaps.take()  # the moment just after the entry before this one

    def leave(self, result: CallResult) -> None:
        pass


def run_moments(
    monkeypatch: pytest.MonkeyPatch, scen: Scenario, overrides: dict[str, Any]
) -> Moments:
    """Run ``scen`` on the machine of ``overrides`` without the write recorder, and
    keep every moment."""
    snaps = _Snapshots()
    boot = runner.boot

    def booted(cfg: Any, *args: Any) -> Any:
        snaps.kernel = boot(cfg, *args)
        return snaps.kernel

    with monkeypatch.context() as m, tracing(_EntryTracer(snaps)):
        m.setattr(runner, "boot", booted)
        cfg, seed = runner.machine_config(scen, overrides)
        runner.run_scenario(scen, cfg, seed)
    snaps.take()  # after the last entry
    return snaps.moments
