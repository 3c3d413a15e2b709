"""The recorded timeline against a second run of the same scenario.

The oracle is the simulator itself, run again without the write recorder: a
tracer hears where each entry begins and copies all of RAM there, so the RAM
right after entry ``n`` is known without any recorded write. Undoing the
recorded writes from the final RAM, newest first, must give exactly those
copies, entry by entry, in all three paging modes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmintro.arch.x86 import MachineConfig
from vmintro.image.format.timeline import Timeline, decode_timeline, encode_timeline
from vmintro.scenario.loader import parse_scenario
from vmintro.scenario.runner import run_scenario
from vmintro.sim.errors import CallResult, tracing
from vmintro.sim.physmem import PhysMem

MODES = {
    "2-level+PSE": MachineConfig(ram=24 << 20, highmem=False, pae=False, pse=True),
    "2-level": MachineConfig(ram=24 << 20, highmem=False, pae=False, pse=False),
    "PAE+HIGHMEM": MachineConfig(ram=1040 << 20, highmem=True, pae=True, pse=True),
}


def _ram(mem: PhysMem) -> dict[int, bytes]:
    """Every non-zero frame's bytes (PhysMem.stored_pfns, at C speed: a copy per entry)."""
    return {pfn: bytes(p) for pfn, p in mem._pages.items() if p.count(0) != len(p)}


class _Snapshots:
    """A tracer that copies RAM where each entry begins (after the one before it),
    and, told to at the end, after the last."""

    def __init__(self) -> None:
        self.mem: PhysMem | None = None
        self.after: list[dict[int, bytes]] = []  # RAM after entry n, n = 0 (boot) ...
        self.frames: list[dict[int, int]] = []  # the vmalloc page -> frame map, likewise
        self.vm = None

    def enter(self, call: str, args: tuple[tuple[str, int | str], ...]) -> None:
        self.take()

    def leave(self, result: CallResult) -> None:
        pass

    def take(self) -> None:
        assert self.mem is not None and self.vm is not None
        self.after.append(_ram(self.mem))
        self.frames.append(dict(self.vm.frames))


def _scenario(steps: list[str]):
    text = "".join(f"[[step]]\n{s}\n" for s in steps)
    return parse_scenario(text, "recorded.toml")


def _run_with_snapshots(scen, cfg: MachineConfig, seed: int) -> _Snapshots:
    """The scenario run again, unrecorded, RAM copied at each entry's start and at the end."""
    import vmintro.scenario.runner as runner

    snaps = _Snapshots()
    real_boot = runner.boot

    def boot(config, *args):  # noqa: ANN001, ANN002, ANN202
        k = real_boot(config, *args)
        snaps.mem, snaps.vm = k.mem, k.vmalloc
        return k

    runner.boot = boot
    try:
        with tracing(snaps):
            result = run_scenario(scen, cfg, seed)
    finally:
        runner.boot = real_boot
    snaps.take()
    assert result.kernel.mem.recorder is None
    return snaps


def _undo(ram: dict[int, bytearray], t: Timeline, entry: int) -> None:
    """Put back the old bytes of ``entry``'s writes, newest first."""
    e = t.entries[entry]
    w = t.writes
    for i in range(e.first_write + e.write_count - 1, e.first_write - 1, -1):
        pfn, off, n = int(w["pfn"][i]), int(w["offset"][i]), int(w["length"][i])
        page = ram.setdefault(pfn, bytearray(4096))
        assert page[off : off + n] == t.new_bytes(i), f"write {i} is not what RAM holds"
        page[off : off + n] = t.old_bytes(i)


def _nonzero(ram: dict[int, bytearray]) -> dict[int, bytes]:
    return {pfn: bytes(p) for pfn, p in ram.items() if p.count(0) != len(p)}


def _check(steps: list[str], mode: str, seed: int) -> Timeline:
    cfg, scen = MODES[mode], _scenario(steps)
    recorded = run_scenario(scen, cfg, seed, record=True)
    assert recorded.recorder is not None
    t = decode_timeline(encode_timeline(recorded.recorder.timeline(bytes(32))))
    snaps = _run_with_snapshots(scen, cfg, seed)
    final = _ram(recorded.kernel.mem)
    assert final == snaps.after[-1], "the two runs differ"
    assert len(snaps.after) == len(t.entries)  # boot's end, each later entry's
    ram = {pfn: bytearray(p) for pfn, p in final.items()}
    for n in range(len(t.entries) - 1, -1, -1):
        assert _nonzero(ram) == snaps.after[n], f"RAM after entry {n} ({t.entries[n].call})"
        _undo(ram, t, n)
    assert t.entries[0].write_count == 0
    _check_vmalloc_ptes(t, snaps)
    return t


def _check_vmalloc_ptes(t: Timeline, snaps: _Snapshots) -> None:
    """Each page a vmalloc maps has its PTE written by that entry, from
    ``... > alloc_area_pte > set_pte``, with the frame the simulator gave it."""
    w = t.writes
    for e in t.entries:
        if e.call not in ("vmalloc", "vmalloc_32", "vmalloc_dma") or e.result.kind != "address":
            continue
        addr, size = e.result.value, dict(e.args)["size"]
        assert isinstance(addr, int) and isinstance(size, int)
        pages = (size + 4095) // 4096
        ptes = [
            i
            for i in range(e.first_write, e.first_write + e.write_count)
            if t.paths[int(w["path"][i])][-2:] == ("alloc_area_pte", "set_pte")
        ]
        assert len(ptes) == pages
        for i in ptes:
            path = t.paths[int(w["path"][i])]
            assert path[: path.index("__vmalloc")] == (e.call,)
            assert path[path.index("__vmalloc") :] == (
                "__vmalloc",
                "vmalloc_area_pages",
                "alloc_area_pmd",
                "alloc_area_pte",
                "set_pte",
            )
        frames = snaps.frames[e.number]
        written = sorted(int.from_bytes(t.new_bytes(i), "little") >> 12 for i in ptes)
        assert written == sorted(frames[addr + 4096 * p] for p in range(pages))


_STEP = st.one_of(
    st.builds(lambda n: f"op = 'vmalloc'\nsize = {n * 4096}", st.integers(1, 24)),
    st.builds(lambda n: f"op = 'vmalloc_32'\nsize = {n * 4096}", st.integers(1, 8)),
    st.builds(
        lambda n, r: f"op = 'random'\ncount = {n}\nmax_size = '32K'\nfree_ratio = {r}",
        st.integers(1, 25),
        st.sampled_from([0.2, 0.5]),
    ),
    st.just("op = 'ioremap'\nphys = 0xE0000000\nsize = 8192"),
    st.builds(lambda n: f"op = 'insmod'\nname = 'm{n}'\nsize = 9000", st.integers(0, 3)),
    st.sampled_from(["op = 'fault'\nkind = 'zero_count'", "op = 'fault'\nkind = 'vmalloc_leak'"]),
)


def _unique_modules(steps: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for s in steps:
        if "insmod" in s:
            if s in seen:
                continue
            seen.add(s)
        out.append(s)
    return out


_SCENARIOS = {"steps": st.lists(_STEP, min_size=1, max_size=5), "seed": st.integers(0, 2**32)}
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@pytest.mark.parametrize("mode", ["2-level+PSE", "2-level"])
@settings(max_examples=2, deadline=None, suppress_health_check=_SLOW_OK)
@given(**_SCENARIOS)
def test_undoing_the_writes_gives_the_ram_after_each_entry(
    mode: str, steps: list[str], seed: int
) -> None:
    _check(_unique_modules(steps), mode, seed)


@settings(max_examples=1, deadline=None, suppress_health_check=_SLOW_OK)
@given(**_SCENARIOS)
def test_undoing_the_writes_with_pae_and_highmem(steps: list[str], seed: int) -> None:
    """As above on a PAE machine with HIGHMEM: one scenario, as it boots a 1 GiB machine
    twice (the slow test below runs more)."""
    _check(_unique_modules(steps), "PAE+HIGHMEM", seed)


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
@settings(max_examples=4, deadline=None, suppress_health_check=_SLOW_OK)
@given(**_SCENARIOS)
def test_undoing_the_writes_of_more_scenarios(mode: str, steps: list[str], seed: int) -> None:
    _check(_unique_modules(steps), mode, seed)


def test_every_call_of_a_random_step_is_an_entry_and_a_fault_is_one() -> None:
    steps = [
        "op = 'swapon'\nsize = '16M'",
        "op = 'random'\ncount = 30\nmax_size = '16K'",
        "op = 'fault'\nkind = 'zero_count'",
    ]
    t = _check(steps, "2-level+PSE", 5)
    calls = [e.call for e in t.entries]
    assert calls[:2] == ["start_kernel", "sys_swapon"]
    mix = [e for e in t.entries if e.step == 2]
    assert len(mix) == 30 and {e.call for e in mix} <= {"vmalloc", "vfree"}
    assert calls[-1] == "fault" and t.entries[-1].args == (("kind", "zero_count"),)
    assert t.entries[-1].write_count > 0
    paths = {t.paths[int(p)] for p in t.writes["path"]}
    assert ("sys_swapon", "vmalloc", "__vmalloc", "vmalloc_area_pages", "alloc_area_pmd",
            "alloc_area_pte", "set_pte") in paths  # fmt: skip
    freed = [e for e in mix if e.call == "vfree"]
    assert freed and all(e.result.kind == "void" for e in freed)
    cleared = {
        t.paths[int(t.writes["path"][i])]
        for e in freed
        for i in range(e.first_write, e.first_write + e.write_count)
    }
    assert (
        "vfree", "vmfree_area_pages", "free_area_pmd", "free_area_pte", "ptep_get_and_clear"
    ) in cleared  # fmt: skip


def test_a_bug_is_the_result_of_its_entry() -> None:
    """__vmalloc's BUG() for a request larger than RAM, allowed: an entry of result
    'bug' with the kernel's words, and the oops report it prints is written in it."""
    steps = ["op = 'vmalloc'\nsize = '1G'\nallow_bug = true", "op = 'vmalloc'\nsize = 4096"]
    t = _check(steps, "2-level", 1)
    bug = t.entries[1]
    assert (bug.call, bug.result.kind) == ("vmalloc", "bug")
    assert bug.result.text == (
        "kernel BUG at vmalloc.c:242! (__vmalloc: !size || (size >> PAGE_SHIFT) > num_physpages)"
    )
    span = range(bug.first_write, bug.first_write + bug.write_count)
    assert {t.paths[int(t.writes["path"][i])] for i in span} == {("printk",)}
    assert t.entries[2].result.kind == "address"


@pytest.mark.parametrize(
    ("fault", "kind", "text"),
    [
        ("vmlist_cycle", "hang", "kernel hang in get_vm_area(): vmlist loops back from "),
        ("wild_next", "oops", "kernel oops in get_vm_area(): Unable to handle kernel paging"),
    ],
)
def test_a_hang_or_an_oops_is_the_result_of_its_entry(fault: str, kind: str, text: str) -> None:
    """The call that loops for ever or oopses ends its entry with what the kernel
    said; the fault that caused it is the entry before, with the fault's writes."""
    steps = [*["op = 'vmalloc'\nsize = '8K'"] * 3, f"op = 'fault'\nkind = '{fault}'"]
    t = _check([*steps, "op = 'vmalloc'\nsize = '8K'\nallow_bug = true"], "2-level", 2)
    injected, stopped = t.entries[-2], t.entries[-1]
    assert (injected.call, injected.args, injected.result.kind) == (
        "fault",
        (("kind", fault),),
        "void",
    )
    assert injected.write_count > 0
    assert {t.paths[int(t.writes["path"][i])][0] for i in range(injected.first_write,
            injected.first_write + injected.write_count)} == {"fault"}  # fmt: skip
    assert (stopped.call, stopped.result.kind) == ("vmalloc", kind)
    assert stopped.result.text is not None and stopped.result.text.startswith(text)
