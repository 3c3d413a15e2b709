"""Resuming the simulator from an image: running steps 1..N, saving, resuming and running
N+1..M leaves the RAM and the truth that running 1..M does, byte for byte."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from core_edit import write_phys
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import vmintro
from vmintro.generate import generate
from vmintro.image.format.timeline import encode_timeline
from vmintro.image.writer.snapshot import snapshot
from vmintro.livekernel import extend_timeline
from vmintro.program import Program
from vmintro.scenario.loader import Scenario, parse_scenario
from vmintro.scenario.runner import RunResult, machine_config, run_scenario, run_truth
from vmintro.sim.resume import ResumeError, resume

# (ram, highmem, pae, pse): every paging mode, small enough to boot in a blink
MODES = [
    ("32M", False, False, True),
    ("32M", False, False, False),
    ("64M", True, False, True),
    ("64M", True, True, True),
]


_RAN: list[int] = []  # the examples that ran (a test below says they were not all skipped)


def _ram(result: RunResult) -> dict[int, bytes]:
    mem = result.kernel.mem
    return {pfn: mem.page(pfn) for pfn in mem.stored_pfns()}


def _truth(result: RunResult) -> dict:
    return snapshot(result.kernel, {}, run_truth(result)).truth


def _split_run(
    scen: Scenario, n: int, out: Path, drop_truth: bool = False
) -> tuple[RunResult, RunResult]:
    """(steps 1..M from boot, steps N+1..M resumed from an image saved after N)."""
    cfg, seed = machine_config(scen, {})
    whole = run_scenario(scen, cfg, seed, record=True)
    generate(out / "part", dataclasses.replace(scen, steps=scen.steps[:n]))
    if drop_truth:
        (out / "part.truth.json").unlink()
    resumed = resume(out / "part")
    return whole, run_scenario(scen, cfg, seed, record=True, resumed=resumed, first=n)


def _timelines(whole: RunResult, rest: RunResult, out: Path) -> tuple[bytes, bytes]:
    """The whole run's timeline and the saved image's followed by the resumed run's,
    encoded (the core they belong to left out)."""
    assert whole.recorder is not None and rest.recorder is not None
    part = vmintro.open(out / "part").timeline
    joined = extend_timeline(part, rest.recorder.timeline(bytes(32)))
    return (
        encode_timeline(dataclasses.replace(whole.recorder.timeline(bytes(32)))),
        encode_timeline(dataclasses.replace(joined, core_digest=bytes(32))),
    )


def _scenario(mode: tuple[str, bool, bool, bool], steps: list[str]) -> Scenario:
    ram, highmem, pae, pse = mode
    machine = f'ram = "{ram}"\nhighmem = {str(highmem).lower()}\npae = {str(pae).lower()}\n'
    machine += f"pse = {str(pse).lower()}\nseed = 7\n"
    body = "".join(f"[[step]]\n{s}\n" for s in steps)
    return parse_scenario(f'name = "t"\n[machine]\n{machine}{body}', "t.toml")


_STEP = st.one_of(
    st.builds(
        lambda op, pages, label: f'op = "{op}"\nsize = {pages * 4096}\nlabel = "{label}"',
        st.sampled_from(["vmalloc", "vmalloc_dma", "vmalloc_32"]),
        st.integers(1, 24),
        st.sampled_from("abcd"),
    ),
    st.builds(lambda label: f'op = "vfree"\nlabel = "{label}"', st.sampled_from("abcd")),
    st.builds(lambda n: f'op = "random"\ncount = {n}\nmax_size = "32K"', st.integers(1, 30)),
    st.builds(lambda i: f'op = "insmod"\nname = "mod{i}"\nsize = 9000', st.integers(0, 3)),
    st.builds(lambda i: f'op = "rmmod"\nname = "mod{i}"', st.integers(0, 3)),
    st.just('op = "swapon"\nsize = "8M"'),
    # processes: made, touching an area (the vmalloc fault in 2-level mode), exiting
    st.just('op = "spawn"\nname = "sh"'),
    st.just('op = "fork"'),
    st.builds(lambda label: f'op = "touch"\npid = 1\nlabel = "{label}"', st.sampled_from("abcd")),
    st.builds(lambda pid: f'op = "exit"\npid = {pid}', st.integers(7, 9)),
    # faults a kernel runs on from (the ground truth records them)
    st.builds(
        lambda kind: f'op = "fault"\nkind = "{kind}"',
        st.sampled_from(["zero_count", "missing_guard", "size_mismatch", "double_free"]),
    ),
)


def _runnable(mode: tuple[str, bool, bool, bool], steps: list[str]) -> Scenario | None:
    """The scenario when every step runs from boot (a vfree of a label no longer live,
    an rmmod of a module not loaded are refused by the runner), else None."""
    scen = _scenario(mode, steps)
    cfg, seed = machine_config(scen, {})
    try:
        run_scenario(scen, cfg, seed)
    except Exception:  # noqa: BLE001 - a scenario the runner refuses is no example
        return None
    return scen


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mode=st.sampled_from(MODES),
    steps=st.lists(_STEP, min_size=2, max_size=7),
    cut=st.integers(1, 6),
)
def test_resumed_run_ends_where_the_whole_run_does(
    tmp_path_factory: pytest.TempPathFactory, mode, steps, cut
) -> None:
    scen = _runnable(mode, steps)
    assume(scen is not None)
    assert scen is not None
    _RAN.append(len(steps))
    n = min(cut, len(steps) - 1)
    out = tmp_path_factory.mktemp("split")
    whole, rest = _split_run(scen, n, out)
    assert _ram(rest) == _ram(whole)
    assert _truth(rest) == _truth(whole)
    expected, joined = _timelines(whole, rest, out)
    assert joined == expected


def test_without_a_truth_file_the_ram_is_the_same_and_owners_are_absent(tmp_path: Path) -> None:
    steps = [
        'op = "vmalloc"\nsize = 40960',
        'op = "insmod"\nname = "ext3"\nsize = 71424',
        'op = "random"\ncount = 40\nmax_size = "64K"',
        'op = "rmmod"\nname = "ext3"',
        'op = "vmalloc_dma"\nsize = 8192',
    ]
    for mode in MODES:
        whole, rest = _split_run(_scenario(mode, steps), 3, tmp_path, drop_truth=True)
        assert _ram(rest) == _ram(whole), mode
        truth, expected = _truth(rest), _truth(whole)
        assert [(a["addr"], a["size"], a["pages"]) for a in truth["areas"]] == [
            (a["addr"], a["size"], a["pages"]) for a in expected["areas"]
        ]
        # who asked for the areas that were there before the image was saved: unknown
        before = [a for a in truth["areas"] if "owner" not in a]
        assert before and all("owner" in a for a in expected["areas"])
        assert truth["events"] == [e for e in expected["events"] if e["step"] > 3]


@pytest.mark.slow
def test_highmem_zone_split_run(tmp_path: Path) -> None:
    """A machine with a HighMem zone (1 GiB), 2-level and PAE."""
    steps = [
        'op = "swapon"\nsize = "64M"',
        'op = "random"\ncount = 60\nmax_size = "128K"',
        'op = "vmalloc"\nsize = 200000\nlabel = "x"',
        'op = "insmod"\nname = "e1000"\nsize = 88032',
        'op = "vfree"\nlabel = "x"',
    ]
    for pae in (False, True):
        scen = _scenario(("1G", True, pae, True), steps)
        whole, rest = _split_run(scen, 3, tmp_path)
        assert _ram(rest) == _ram(whole)
        assert _truth(rest) == _truth(whole)


def test_an_image_no_kernel_could_leave_is_refused_but_still_read(tmp_path: Path) -> None:
    generate(tmp_path / "img", "minimal", timeline=False)
    prog = Program.from_files(tmp_path / "img")
    addr = prog.symbol("max_mapnr").address - prog.page_offset
    write_phys(tmp_path / "img.vmcore", addr, (7).to_bytes(4, "little"))
    with pytest.raises(ResumeError) as e:
        resume(tmp_path / "img")
    message = str(e.value)
    assert "\n" not in message and "img.vmcore" in message and "max_mapnr" in message
    assert Program.from_files(tmp_path / "img")["max_mapnr"].value_() == 7


def test_a_vmlinux_of_another_layout_is_refused(tmp_path: Path) -> None:
    generate(tmp_path / "a", "minimal", timeline=False)
    generate(tmp_path / "b", "minimal", {"ram": 64 << 20, "highmem": True}, timeline=False)
    with pytest.raises(ResumeError) as e:
        resume(tmp_path / "a", tmp_path / "b.vmlinux")
    assert "\n" not in str(e.value)


def test_the_split_runs_above_ran() -> None:
    """The property above ran on examples it did not reject (when it ran in this session)."""
    if not _RAN:
        pytest.skip("the property test did not run in this session")
    assert len(_RAN) >= 3


def test_a_moment_resumes_as_the_kernel_was_then(image_with_moments: Path) -> None:
    """At entry 1 of minimal (vmalloc 16K) the next vmalloc of 8K goes where entry 2's did."""
    prog = vmintro.open(image_with_moments)
    entry = prog.timeline.entries[2]
    assert (entry.call, dict(entry.args)) == ("vmalloc", {"size": 8192})
    at1 = prog.at(1)
    k = at1.resume()
    mem = k.kernel.mem
    for pfn in mem.stored_pfns():
        assert mem.page(pfn) == at1.read(pfn * 4096, 4096, physical=True), pfn
    assert k.vmalloc(8192).value == entry.result.value
    assert [e.call for e in k.timeline.entries[1:]] == ["vmalloc", "vmalloc"]


@pytest.fixture(scope="module")
def image_with_moments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("moments") / "minimal"
    generate(out, "minimal")
    return out
