"""Every exercise solved with the library alone; verify accepts the answer and rejects others."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import vmintro
from vmintro.errors import CorruptionError
from vmintro.exercises.build import build_exercise
from vmintro.exercises.catalog import EXERCISES
from vmintro.exercises.verify import AnswerError, verify_answer
from vmintro.helpers import (
    VM_ALLOC,
    VM_IOREMAP,
    find_vm_area,
    for_each_free_page,
    for_each_vm_area,
    page_count,
    page_zone_index,
    pfn_to_page,
    vm_area_pages,
)
from vmintro.program import Program

ROOT = Path(__file__).resolve().parent.parent / "images" / "exercises"


def _open(name: str) -> Program:
    return vmintro.open(ROOT / name / name)


def _areas(prog: Program) -> list[tuple[int, int, int, int]]:
    return [
        (a.value_(), a.addr.value_(), a.size.value_(), a.flags.value_())
        for a in for_each_vm_area(prog)
    ]


def swap_map_frames(prog: Program) -> str:
    area = find_vm_area(prog, prog["swap_info"][0].swap_map.value_())
    return ",".join(str(pfn) for _, pfn in vm_area_pages(area))


def find_leaked_module(prog: Program) -> str:
    loaded, mod = set(), prog["module_list"].value_()
    while mod:
        loaded.add(mod)
        mod = prog.read_u32(mod + prog.type("struct module").offsetof("next"))
    for _, addr, size, flags in _areas(prog):
        if flags & VM_ALLOC and addr not in loaded:
            m = vmintro.Object(prog, "struct module", address=addr)
            name = m.name.value_()
            if m.size_of_struct.value_() == m.type_.size and addr < name < addr + size:
                return prog.read(name, 32).split(b"\0")[0].decode()
    raise AssertionError("no leaked module")


def why_oops(prog: Program) -> str:
    text = (ROOT / "why-oops" / "README.md").read_text()
    addr = int(re.search(r"`(0x[0-9a-f]+)`", text).group(1), 16)
    return hex(find_vm_area(prog, addr).value_())


def use_after_vfree(prog: Program) -> str:
    pages = np.arange(prog.vmalloc_start, prog.vmalloc_end, 4096, dtype=np.int64)
    mapped = prog.translate_many(pages) >= 0
    for _, addr, size, _ in _areas(prog):
        mapped[(pages >= addr) & (pages < addr + size)] = False
    return hex(int(pages[np.argmax(mapped)]))


def double_free(prog: Program) -> str:
    free = set()
    for _, order, pfn in for_each_free_page(prog):
        free.update(range(pfn, pfn + (1 << order)))
    for _, addr, _size, flags in _areas(prog):
        if flags & VM_ALLOC:
            for _, pfn in vm_area_pages(find_vm_area(prog, addr)):
                if pfn in free:
                    return str(pfn)
    raise AssertionError("no double free")


def vmlist_cycle(prog: Program) -> str:
    seen, node = set(), prog["vmlist"].value_()
    off = prog.type("struct vm_struct").offsetof("next")
    while node:
        seen.add(node)
        nxt = prog.read_u32(node + off)
        if nxt in seen:
            return hex(node)
        node = nxt
    raise AssertionError("vmlist ends")


def largest_hole(prog: Program) -> str:
    areas = sorted(_areas(prog), key=lambda a: a[1])
    return str(max(b[1] - (a[1] + a[2]) for a, b in zip(areas, areas[1:], strict=False)))


def dma_spill(prog: Program) -> str:
    big = max(_areas(prog), key=lambda a: a[2])
    area = find_vm_area(prog, big[1])
    return str(
        sum(1 for _, pfn in vm_area_pages(area) if page_zone_index(pfn_to_page(prog, pfn)) == 0)
    )


def ioremap_phys(prog: Program) -> str:
    addr = next(a[1] for a in _areas(prog) if a[3] & VM_IOREMAP)
    return hex(prog.translate(addr))


def zero_count(prog: Program) -> str:
    for _, addr, _, flags in _areas(prog):
        if flags & VM_ALLOC:
            for _, pfn in vm_area_pages(find_vm_area(prog, addr)):
                page = pfn_to_page(prog, pfn)
                if page_count(page[0]) == 0:
                    return hex(page.value_())
    raise AssertionError("every mapped page is held")


SOLVERS: dict[str, Callable[[Program], str]] = {
    "swap-map-frames": swap_map_frames,
    "find-leaked-module": find_leaked_module,
    "why-oops": why_oops,
    "use-after-vfree": use_after_vfree,
    "double-free": double_free,
    "vmlist-cycle": vmlist_cycle,
    "largest-hole": largest_hole,
    "dma-spill": dma_spill,
    "ioremap-phys": ioremap_phys,
    "zero-count": zero_count,
}


def _wrong(answer: str) -> str:
    if "," in answer:
        first, rest = answer.split(",", 1)
        return f"{rest},{first}"
    try:
        return hex(int(answer, 0) + 1)
    except ValueError:
        return answer + "x"


def test_at_least_eight_exercises_all_solved() -> None:
    assert len(EXERCISES) >= 8
    assert set(SOLVERS) == {e.name for e in EXERCISES}
    assert sorted(p.name for p in ROOT.iterdir()) == sorted(SOLVERS)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_solution_is_accepted_and_wrong_answers_rejected(name: str) -> None:
    try:
        answer = SOLVERS[name](_open(name))
    except CorruptionError as e:  # a broken list is part of some puzzles, not the answer
        pytest.fail(f"solver stopped on corrupted data: {e}")
    assert verify_answer(ROOT / name, answer)
    assert not verify_answer(ROOT / name, _wrong(answer))


def test_answers_are_normalised() -> None:
    answer = why_oops(_open("why-oops"))
    assert verify_answer(ROOT / "why-oops", answer.upper().replace("0X", "0x"))
    assert verify_answer(ROOT / "why-oops", str(int(answer, 16)))
    with pytest.raises(AnswerError):
        verify_answer(ROOT / "why-oops", "the third one")


@pytest.mark.parametrize("name", ["why-oops", "dma-spill"])
def test_exercise_rebuilds_identically(tmp_path: Path, name: str) -> None:
    ex = next(e for e in EXERCISES if e.name == name)
    (tmp_path / name).mkdir()
    shutil.copy(ROOT / name / "answer.json", tmp_path / name / "answer.json")  # same salt
    out = build_exercise(ex, tmp_path)
    for f in sorted(p.name for p in (ROOT / name).iterdir()):
        assert (out / f).read_bytes() == (ROOT / name / f).read_bytes(), f


def test_build_help_builds_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "vmintro.exercises.build", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m vmintro.exercises.build [-h] [DIR]")
    assert list(tmp_path.iterdir()) == []


def test_build_directory_defaults_to_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vmintro.exercises import build
    from vmintro.exercises.location import CHECKOUT_DIR

    roots: list[Path] = []
    monkeypatch.setattr(build, "build_all", lambda root: roots.append(root) or [root / "x"])
    monkeypatch.chdir(tmp_path)  # not relative to where it runs
    assert build.main([]) == 0
    assert build.main(["elsewhere"]) == 0
    assert roots == [CHECKOUT_DIR, Path("elsewhere")]
    assert CHECKOUT_DIR == Path(build.__file__).resolve().parents[2] / "images" / "exercises"
    with pytest.raises(SystemExit) as info:
        build.main(["--nope"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "vmintro: unrecognized arguments: --nope\n"


def test_build_into_an_unwritable_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vmintro.exercises import build

    blocker = tmp_path / "file"
    blocker.write_text("")
    assert build.main([str(blocker / "exercises")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vmintro: {blocker}")
