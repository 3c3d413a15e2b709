"""The exercises: each solved with the library alone and verified right (wrong and
neighbouring answers wrong); no allowed command prints an answer; every hint runs;
the answer spaces outlast a day of guessing at the hash's cost."""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vmintro
from vmintro.arch.x86 import MachineConfig
from vmintro.errors import EXIT_FAILED, EXIT_OK
from vmintro.exercises.build import build_exercise
from vmintro.exercises.build import main as build_main
from vmintro.exercises.catalog import EXERCISES, LEVELS, Hint, by_name
from vmintro.exercises.keys import fresh_key
from vmintro.exercises.leaks import probe_lines, shows
from vmintro.exercises.location import CHECKOUT_DIR
from vmintro.exercises.session import ExerciseRunner, Policy
from vmintro.exercises.verify import (
    SCRYPT,
    SECONDS_PER_GUESS,
    AnswerError,
    Part,
    canonical,
    verify_answer,
)
from vmintro.helpers import (
    VM_IOREMAP,
    find_vm_area,
    for_each_free_area,
    for_each_module,
    for_each_vm_area,
    for_each_zone,
    module_name,
    page_count,
    page_flag_names,
    page_to_pfn,
    pfn_to_page,
    vm_area_pages,
)
from vmintro.program import Program

ROOT = CHECKOUT_DIR
SHIPPED = [e.name for e in EXERCISES if e.shipped]
# in the default suite; every other shipped exercise runs with the slow tests
REPRESENTATIVE = (
    "why-oops",
    "vmlist-cycle",
    "why-vmalloc",
)
EACH = [pytest.param(n, marks=() if n in REPRESENTATIVE else pytest.mark.slow) for n in SHIPPED]
DAY = 24 * 3600


def _meta(name: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((ROOT / name / "exercise.json").read_text())
    return meta


def _open(name: str) -> Program:
    return vmintro.open(ROOT / name / name)


def _question(name: str) -> str:
    return str(_meta(name)["question"])


def _areas(prog: Program) -> list[tuple[int, int, int, int]]:
    """(vm_struct, addr, size, flags) of each area, in list order."""
    return [
        (a.value_(), a.addr.value_(), a.size.value_(), a.flags.value_())
        for a in for_each_vm_area(prog)
    ]


def _pfns(prog: Program, vm_struct: int) -> list[int]:
    area = vmintro.Object(prog, "struct vm_struct *", value=vm_struct)
    return [pfn for _, pfn in vm_area_pages(area) if pfn is not None]


def _hexes(pfns: list[int]) -> str:
    return " ".join(f"{p:x}" for p in pfns)


def _area_holding(prog: Program, addr: int) -> tuple[int, int, int, int]:
    return next(a for a in _areas(prog) if a[1] <= addr < a[1] + a[2])


# ------------------------------------------------------------------ the solvers


def vmalloc_start(prog: Program) -> str:
    def start(high_memory: int) -> int:
        return (high_memory + 2 * (8 << 20) - 1) & ~((8 << 20) - 1)

    mib = [int(m) for m in re.findall(r"(\d+) MiB", _question("vmalloc-start"))]
    here = start(prog["high_memory"].value_())
    other = [start(0xC0000000 + (min(m, 896) << 20)) for m in mib[1:]]
    return " ".join(f"{a:x}" for a in [here, *other])


def why_oops(prog: Program) -> str:
    addr = int(re.search(r"`([0-9a-f]+)`", _question("why-oops")).group(1), 16)
    vm = find_vm_area(prog, addr).value_()
    return f"{vm:x} {_hexes(_pfns(prog, vm))}"


def swap_map_frames(prog: Program) -> str:
    area = find_vm_area(prog, prog["swap_info"][0].swap_map.value_())
    return _hexes(_pfns(prog, area.value_()))


def module_frames(prog: Program) -> str:
    name = re.search(r"Module `([^`]+)`", _question("module-frames")).group(1)
    mod = next(m for m in for_each_module(prog) if module_name(m) == name)
    vm = find_vm_area(prog, mod.value_()).value_()
    return f"{vm:x} {_hexes(_pfns(prog, vm))}"


def ioremap_phys(prog: Program) -> str:
    vm, addr, _, _ = next(a for a in _areas(prog) if a[3] & VM_IOREMAP)
    return f"{vm:x} {prog.translate(addr):x}"


def area_size(prog: Program) -> str:
    vm, _, size, _ = max(_areas(prog), key=lambda a: a[1])  # no holes: the newest is the last
    return f"{size} {_hexes(_pfns(prog, vm))}"


def _buddy_alloc(free: dict[int, list[int]], order: int = 0) -> int:
    """2.4.20's rmqueue and expand on free lists read from the image (pfns, list order)."""
    current = next(o for o in range(order, 10) if free[o])
    pfn = free[current].pop(0)  # head->next
    while current > order:  # expand: the lower half stays free, the upper is split on
        current -= 1
        free[current].insert(0, pfn)  # list_add: at the head
        pfn += 1 << current
    return pfn


def first_fit(prog: Program) -> str:
    want = int(re.search(r"vmalloc\((\d+)\)", _question("first-fit")).group(1))
    size = want + 4096  # get_vm_area adds the guard page
    addr = prog.vmalloc_start
    for _, a, s, _ in sorted(_areas(prog), key=lambda a: a[1]):
        if size + addr <= a:
            break
        addr = a + s
    zone = next(z for z in for_each_zone(prog) if z.size.value_())
    free: dict[int, list[int]] = {o: [] for o in range(10)}
    for order, page in for_each_free_area(prog, zone):
        free[order].append(page_to_pfn(page))
    pfns = [_buddy_alloc(free) for _ in range(want // 4096)]
    return f"{addr:x} {_hexes(pfns)}"


def largest_hole(prog: Program) -> str:
    areas = sorted(_areas(prog), key=lambda a: a[1])
    holes = [(b[1] - (a[1] + a[2]), a, b) for a, b in zip(areas, areas[1:], strict=False)]
    size, before, after = max(holes, key=lambda h: h[0])
    first = [_pfns(prog, before[0])[0], _pfns(prog, after[0])[0]]
    return f"{before[1] + before[2]:x} {size} {_hexes(first)}"


def dma_spill(prog: Program) -> str:
    vm = max(_areas(prog), key=lambda a: a[2])[0]
    dma = [p for p in _pfns(prog, vm) if p < 4096]
    return f"{len(dma)} {dma[0]:x} {dma[-1]:x}"


def dma_zone(prog: Program) -> str:
    # GFP_DMA: every frame below 16 MiB; on 64 MiB, vmalloc and vmalloc_32 take Normal's
    vm = next(a[0] for a in _areas(prog) if all(p < 4096 for p in _pfns(prog, a[0])))
    return f"{vm:x} {_hexes(_pfns(prog, vm))}"


def _mapped_pages(prog: Program) -> list[tuple[int, int, int]]:
    return [
        (vm, va, pfn)
        for vm, addr, _, _ in _areas(prog)
        for va, pfn in vm_area_pages(vmintro.Object(prog, "struct vm_struct *", value=vm))
        if pfn is not None
    ]


def zero_count(prog: Program) -> str:
    for vm, _, pfn in _mapped_pages(prog):
        page = pfn_to_page(prog, pfn)
        if page_count(page[0]) == 0:
            return f"{page.value_():x} {_hexes(_pfns(prog, vm))}"
    raise AssertionError("every mapped page is held")


def double_free(prog: Program) -> str:
    free = set()
    for zone in for_each_zone(prog):
        for order, page in for_each_free_area(prog, zone):
            free.update(range(page_to_pfn(page), page_to_pfn(page) + (1 << order)))
    for vm, va, pfn in _mapped_pages(prog):
        if pfn in free:
            return f"{va:x} {_hexes(_pfns(prog, vm))}"
    raise AssertionError("no double free")


def vmlist_cycle(prog: Program) -> str:
    seen, node = set(), prog["vmlist"].value_()
    off = prog.type("struct vm_struct").offsetof("next")
    while node not in seen:
        seen.add(node)
        last, node = node, prog.read_u32(node + off)
    return f"{last:x} {node:x} {_hexes(_pfns(prog, last) + _pfns(prog, node))}"


def find_leaked_module(prog: Program) -> str:
    loaded = {m.value_() for m in for_each_module(prog)}
    for vm, addr, size, _ in _areas(prog):
        if addr in loaded:
            continue
        m = vmintro.Object(prog, "struct module", address=addr)
        name = m.name.value_()
        if m.size_of_struct.value_() == m.type_.size and addr < name < addr + size:
            text = prog.read(name, 32).split(b"\0")[0].decode()
            return f"{text} {vm:x} {_hexes(_pfns(prog, vm))}"
    raise AssertionError("no leaked module")


def _below(prog: Program, addr: int) -> int:
    """The vm_struct of the area just below ``addr``."""
    return max((a for a in _areas(prog) if a[1] < addr), key=lambda a: a[1])[0]


def size_mismatch(prog: Program) -> str:
    for vm, addr, _size, _ in _areas(prog):
        area = vmintro.Object(prog, "struct vm_struct *", value=vm)
        pages = list(vm_area_pages(area))
        holes = [va for va, pfn in pages if pfn is None]
        if holes:
            pfns = _pfns(prog, vm) + _pfns(prog, _below(prog, addr))
            return f"{vm:x} {holes[0]:x} {_hexes(pfns)}"
    raise AssertionError("every area fully mapped")


def missing_guard(prog: Program) -> str:
    for vm, addr, size, _ in _areas(prog):
        guard = addr + size - 4096
        try:
            pfn = prog.translate(guard) >> 12
        except vmintro.FaultError:
            continue
        return f"{vm:x} {pfn:x} {_pfns(prog, vm)[0]:x}"
    raise AssertionError("every guard page unmapped")


def use_after_vfree(prog: Program) -> str:
    pages = np.arange(prog.vmalloc_start, prog.vmalloc_end, 4096, dtype=np.int64)
    phys = prog.translate_many(pages)
    mapped = phys >= 0
    live = _areas(prog)
    for _, addr, size, _ in live:
        mapped[(pages >= addr) & (pages < addr + size)] = False
    stale = np.flatnonzero(mapped)
    first = int(pages[stale[0]])
    # the freed vm_struct: an object of a live one's slab page whose addr is the stale one
    addr_at = prog.type("struct vm_struct").offsetof("addr")
    freed = next(
        obj
        for page in sorted({vm & ~0xFFF for vm, _, _, _ in live})
        for obj in range(page, page + 4096, 32)
        if obj not in {a[0] for a in live} and prog.read_u32(obj + addr_at) == first
    )
    return f"{first:x} {freed:x} {_hexes([int(phys[i]) >> 12 for i in stale])}"


def bad_pte_frame(prog: Program) -> str:
    limit = prog["max_mapnr"].value_()
    for vm, va, pfn in _mapped_pages(prog):
        first = _pfns(prog, vm)[0]
        if pfn >= limit:
            return f"{va:x} {pfn:x} nonexistent {first:x}"
        if "PG_reserved" in page_flag_names(pfn_to_page(prog, pfn).flags.value_()):
            return f"{va:x} {pfn:x} reserved {first:x}"
    raise AssertionError("no bad frame")


def overlap(prog: Program) -> str:
    areas = sorted(_areas(prog), key=lambda a: a[1])
    for a, b in zip(areas, areas[1:], strict=False):
        if b[1] < a[1] + a[2]:  # b moved back into a: its pages lie past a's end
            va = a[1] + a[2]
            while True:
                try:
                    prog.translate(va)
                    break
                except vmintro.FaultError:
                    va += 4096
            own = [prog.translate(p) >> 12 for p in range(va, va + b[2] - 4096, 4096)]
            return f"{b[0]:x} {va:x} {_hexes(_pfns(prog, a[0]) + own)}"
    raise AssertionError("no overlap")


def _entry(prog: Program, table: int, index: int, size: int) -> int:
    """Entry ``index`` of the page table at physical ``table``."""
    raw = prog.read(table + index * size, size, physical=True)
    return int.from_bytes(raw, "little")


def pae_walk(prog: Program) -> str:
    addr = int(re.search(r"`([0-9a-f]+)`", _question("pae-walk")).group(1), 16)
    pgd = prog.symbol("swapper_pg_dir").address - 0xC0000000
    frame = 0xFFFFFF000  # bits 12-35 of a PAE entry
    pmd_page = _entry(prog, pgd, addr >> 30, 8) & frame
    pmd_entry = pmd_page + ((addr >> 21) & 511) * 8
    pte = (_entry(prog, pmd_entry, 0, 8) & frame) + ((addr >> 12) & 511) * 8
    pfn = _entry(prog, pte, 0, 8) >> 12 & 0xFFFFFF
    return f"{pmd_entry:x} {pte:x} {pfn:x}"


def page_tables(prog: Program) -> str:
    pgd = prog.symbol("swapper_pg_dir").address - 0xC0000000
    ioremaps = [a for a in _areas(prog) if a[3] & VM_IOREMAP]
    (_, fb, fb_size, _), buf = ioremaps[-1], max(_areas(prog), key=lambda a: a[1])
    # the framebuffer's spans no earlier area had touched: they got their page table then
    spans = {
        s
        for _, a, size, _ in _areas(prog)
        if a < fb
        for s in range(a >> 22, (a + size - 4097 >> 22) + 1)
    }
    new = set(range(fb >> 22, (fb + fb_size - 4097 >> 22) + 1)) - spans
    last = _entry(prog, pgd, (fb + fb_size - 8192) >> 22, 4) & ~0xFFF
    table = _entry(prog, pgd, buf[1] >> 22, 4) & ~0xFFF
    pfn = _entry(prog, table, (buf[1] >> 12) & 1023, 4) >> 12
    return f"{len(new)} {last >> 12:x} {pfn:x}"


def why_vmalloc(prog: Program) -> str:
    zone = next(z for z in for_each_zone(prog) if z.size.value_())
    heads: dict[int, int] = {}
    for order, page in for_each_free_area(prog, zone):
        heads.setdefault(order, page_to_pfn(page))  # each list's first: what rmqueue takes
    high = max(heads)
    first = _buddy_alloc({o: [heads[o]] if o in heads else [] for o in range(10)})
    return f"{high} {first:x} {heads[high]:x}"


def vmalloc_fault(prog: Program) -> str:
    addr = int(re.search(r"`([0-9a-f]+)`", _question("vmalloc-fault")).group(1), 16)
    kernel = prog.read_u32(prog.symbol("swapper_pg_dir").address + (addr >> 22) * 4)
    init = prog["init_task_union"].task
    lagging, task = [], init.next_task
    while task.value_() != init.address_:  # for_each_task: the ring after the idle task
        mm = task.mm
        if mm.value_() and prog.read_u32(mm.pgd.value_() + (addr >> 22) * 4) != kernel:
            lagging.append(task.pid.value_())
        task = task.next_task
    pte = _entry(prog, kernel & ~0xFFF, (addr >> 12) & 1023, 4)
    return f"{kernel >> 12:x} {pte >> 12:x} {' '.join(map(str, sorted(lagging)))}"


def who_broke_vmlist(prog: Program) -> str:
    from vmintro.timeline.history import blame

    node = prog["vmlist"]
    while True:  # to the node whose next leads nowhere
        try:
            node.next[0].addr.value_()
        except vmintro.FaultError:
            break
        node = node.next
    write = blame(prog, node.next.address_)
    assert write is not None and prog.timeline is not None
    step = prog.timeline.entries[write.entry].step
    old = int.from_bytes(write.old, "little")
    pfns = _pfns(prog, node.value_()) + (_pfns(prog, old) if old else [])
    return f"{step} {node.value_():x} {old:x} {_hexes(pfns)}"


def who_leaked(prog: Program) -> str:
    from vmintro.timeline.history import blame

    name, vm, *pfns = find_leaked_module(prog).split()
    # the unload set MOD_DELETED in the leaked module's flags: the last write there
    addr = vmintro.Object(prog, "struct vm_struct *", value=int(vm, 16)).addr.value_()
    write = blame(prog, vmintro.Object(prog, "struct module", address=addr).flags.address_)
    assert write is not None and prog.timeline is not None
    step = prog.timeline.entries[write.entry].step
    return f"{step} {name} {vm} {' '.join(pfns)}"


def highmem_frames(prog: Program) -> str:
    ((vm, _, _, _),) = _areas(prog)  # its one area
    pfns = _pfns(prog, vm)
    high = sum(1 for p in pfns if p >= prog["max_low_pfn"].value_())
    return f"{high} {pfns[0]:x} {pfns[-1]:x}"


SOLVERS: dict[str, Callable[[Program], str]] = {
    "vmalloc-fault": vmalloc_fault,
    "why-vmalloc": why_vmalloc,
    "pae-walk": pae_walk,
    "page-tables": page_tables,
    "highmem-frames": highmem_frames,
    "who-broke-vmlist": who_broke_vmlist,
    "who-leaked": who_leaked,
    "vmalloc-start": vmalloc_start,
    "why-oops": why_oops,
    "swap-map-frames": swap_map_frames,
    "module-frames": module_frames,
    "ioremap-phys": ioremap_phys,
    "area-size": area_size,
    "first-fit": first_fit,
    "largest-hole": largest_hole,
    "dma-spill": dma_spill,
    "dma-zone": dma_zone,
    "zero-count": zero_count,
    "double-free": double_free,
    "vmlist-cycle": vmlist_cycle,
    "find-leaked-module": find_leaked_module,
    "size-mismatch": size_mismatch,
    "missing-guard": missing_guard,
    "use-after-vfree": use_after_vfree,
    "bad-pte-frame": bad_pte_frame,
    "overlap": overlap,
}


class _Answers(dict[str, str]):
    """The library's answer of each exercise, solved when first asked for."""

    def __missing__(self, name: str) -> str:
        self[name] = SOLVERS[name](_open(name))
        return self[name]


@pytest.fixture(scope="module")
def answers() -> dict[str, str]:
    return _Answers()


def _neighbour(answer: str, form: str = "hex") -> str:
    """The same answer with its last number one more (in the last part's base)."""
    words = answer.split()
    last = words[-1]
    try:
        words[-1] = f"{int(last, 16) + 1:x}" if form.startswith("hex") else str(int(last) + 1)
    except ValueError:
        words[-1] = last + "x"
    return " ".join(words)


# ------------------------------------------------------------------ the catalog


def test_twenty_exercises_over_every_level_each_solved() -> None:
    assert len(EXERCISES) >= 20
    assert {e.level for e in EXERCISES} == set(LEVELS)
    assert len({e.name for e in EXERCISES}) == len(EXERCISES)
    assert set(SOLVERS) == {e.name for e in EXERCISES}
    shipped = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
    assert shipped == sorted(SHIPPED)


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_guessing_the_answer_space_takes_more_than_a_day(ex: Any) -> None:
    # scrypt's cost as set: one guess of this N and r took 0.25-0.30 s on the 2-core
    # machine (benchmarks/bench_exercises.py), SECONDS_PER_GUESS a lower bound of it
    assert SCRYPT["n"] * SCRYPT["r"] >= (1 << 16) * 8 and SECONDS_PER_GUESS >= 0.1
    assert ex.space * SECONDS_PER_GUESS > DAY, f"{ex.space} answers"
    for part in ex.parts:
        assert part.space >= 2


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_answer_is_a_slow_hash_only(name: str) -> None:
    record = json.loads((ROOT / name / "answer.json").read_text())
    assert set(record) == {"forms", "kdf", "n", "r", "p", "salt", "hash"}
    assert record["kdf"] == "scrypt" and {k: record[k] for k in SCRYPT} == SCRYPT
    files = ["README.md", "answer.json", "exercise.json", f"{name}.vmcore", f"{name}.vmlinux"]
    if by_name(name).timeline:  # the exercises about which call broke the kernel
        files.append(f"{name}.timeline")
    assert sorted(f.name for f in (ROOT / name).iterdir()) == sorted(files)


@pytest.mark.parametrize("name", EACH)
def test_solution_from_the_library_is_right(name: str, answers: dict[str, str]) -> None:
    assert verify_answer(ROOT / name, by_name(name).parts, answers[name])


@pytest.mark.parametrize("name", EACH)
def test_wrong_and_neighbouring_answers_are_other_answers(
    name: str, answers: dict[str, str]
) -> None:
    # what verify hashes differs from the right answer's: the last number one more, and
    # another exercise's number in the last part (each is one slow hash less than verify;
    # the hash itself is checked with a wrong answer below)
    parts = by_name(name).parts
    right = canonical(parts, answers[name])
    assert canonical(parts, _neighbour(answers[name], parts[-1].form)) != right
    other = answers["why-oops" if name != "why-oops" else "swap-map-frames"].split()
    swapped = " ".join([*answers[name].split()[:-1], other[-1]])
    try:
        assert canonical(parts, swapped) != right
    except AnswerError:  # not even in the form the part wants
        pass


def effective_space(ex: Any, answer: str) -> int:
    """What the hidden parts of a solved ``answer`` leave to guess when frames near one
    another count as runs (:meth:`Exercise.guesses`; the space the catalog states
    assumes scattered frames)."""
    values: list[Any] = []
    for part, text in zip(ex.parts, canonical(ex.parts, answer).split(";"), strict=True):
        numbers = [int(w, 16) for w in text.split(",")] if part.form != "word" else [text]
        values.append(numbers if part.is_list else numbers[0])
    return int(ex.guesses(values))


@pytest.mark.parametrize("name", EACH)
def test_hidden_frames_are_scattered_enough(name: str, answers: dict[str, str]) -> None:
    # the stated space counts each frame of a list; a run of neighbouring frames would
    # leave a guesser far less: the solved answer's frames must outlast a day too
    ex = by_name(name)
    assert effective_space(ex, answers[name]) * SECONDS_PER_GUESS > DAY, answers[name]


def test_neighbouring_answer_is_wrong(answers: dict[str, str]) -> None:
    assert not verify_answer(
        ROOT / "why-oops", by_name("why-oops").parts, _neighbour(answers["why-oops"])
    )


# ------------------------------------------------------------------ how answers are read


def test_numbers_as_vmintro_prints_them() -> None:
    parts = (Part("addr", "hex", 2), Part("count", "dec", 2), Part("pfns", "hex-list", 2))
    want = canonical(parts, [0xC009C240, 10, [0x150, 0x130, 0x1F]])
    assert canonical(parts, "c009c240 10 150 130 1f") == want  # bare hex, all digits too
    assert canonical(parts, "0xC009C240 0xa 0x150,0x130,1F") == want  # 0x either way
    assert canonical(parts, "c009c240\n10\n150\n130\n1f\n") == want  # pasted from a column
    assert canonical(parts, "c009c240, 10, 150, 130, 1f") == want
    assert canonical(parts, "c009c240 16 150 130 1f") != want  # a count is decimal
    with pytest.raises(AnswerError, match="'the' is not a hex number"):
        canonical(parts, "the third one")
    with pytest.raises(AnswerError, match="expected ADDR COUNT PFNS"):
        canonical(parts, "c009c240 10")
    assert canonical((Part("name", "word", 2),), "JBD") == canonical((Part("n", "word", 2),), "jbd")


def test_verify_reads_bare_hex_from_another_directory(
    answers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmintro.cli import main

    monkeypatch.chdir(tmp_path)
    column = answers["why-oops"].replace(" ", "\n")
    assert main(["exercise", "verify", "why-oops", column]) == 0
    assert main(["exercise", "verify", "why-oops", "the", "third", "one"]) == 2


# ------------------------------------------------------------------ nothing prints the answer


def _run(name: str, line: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    runner = ExerciseRunner(_open(name), Policy.of(ROOT / name), out=out, err=err)
    status = runner.run_line(line)
    return status, out.getvalue() + err.getvalue()


def _lines(name: str) -> list[str]:
    """What a student is sure to run (:func:`probe_lines`), from the built exercise's hints."""
    hints = [Hint(h["text"], tuple(h["commands"])) for h in _meta(name)["hints"]]
    return probe_lines(by_name(name), hints)


def _in_words(part: Part, canonical_part: str, text: str) -> bool:
    """The test's own reading of "the output shows the part", beside the builder's
    (:func:`shows`): the output cut into words of letters and digits, each word a
    number if it reads as one (hex with or without 0x, or decimal), the part shown when
    every value of it is one of them."""
    words = re.split(r"[^0-9A-Za-z]+", text)
    if part.form.startswith("hex"):
        found = {int(w, 16) for w in words if re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", w)}
    elif part.form.startswith("dec"):
        found = {int(w) for w in words if w.isascii() and w.isdigit()}
    else:
        return all(v in {w.lower() for w in words} for v in canonical_part.split(","))
    return all(int(v, 16) in found for v in canonical_part.split(","))


@pytest.mark.parametrize("name", EACH)
def test_no_allowed_command_prints_the_answer(name: str, answers: dict[str, str]) -> None:
    ex = by_name(name)
    from vmintro.commands.discovery import load_plugins

    load_plugins([])
    parts = canonical(ex.parts, answers[name]).split(";")
    for line in _lines(name):
        _, text = _run(name, line)
        for reading in (shows, _in_words):  # the builder's, and the test's own
            shown = [reading(p, v, text) for p, v in zip(ex.parts, parts, strict=True)]
            for i in ex.hidden:
                assert not shown[i], f"'{line}' prints part {i + 1} ({ex.parts[i].label})"
            assert not all(shown), f"'{line}' prints the whole answer"


def _blame_listings(root: Path, name: str) -> None:
    """Every allowed command of blame exercise ``name`` (built in ``root``), run bare,
    names each call of the culprit's step (found as a student would: blame and history,
    the solver's) no fewer than three times, or not at all: the listing alone does not
    single it out, and no entry is the injected fault's own."""
    from vmintro.commands.discovery import load_plugins

    load_plugins([])
    ex = by_name(name)
    prog = vmintro.open(root / name / name)
    assert prog.timeline is not None
    step = int(SOLVERS[name](prog).split()[0])
    calls = {e.call for e in prog.timeline.entries if e.step == step}
    for command in (c for c in ex.allowed if c != "quit"):
        out, err = io.StringIO(), io.StringIO()
        runner = ExerciseRunner(prog, Policy.of(root / name), out=out, err=err)
        runner.run_line(command)
        text = out.getvalue() + err.getvalue()
        assert not re.search(r"\bfault\(", text), f"'{command}' lists the fault as a call"
        for call in calls:
            n = len(re.findall(rf"\b{re.escape(call)}\(", text))
            assert n in (0,) or n >= 3, f"'{command}' names {call} {n} times: the culprit's"


def test_a_fault_recorded_under_an_unknown_call_is_refused() -> None:
    from vmintro.scenario.loader import ScenarioError, parse_scenario

    text = '[[step]]\nop = "fault"\nkind = "wild_next"\ncall = "sys_ioctl"\n'
    with pytest.raises(ScenarioError, match=r"f.toml:1: step 1 \(fault\): unknown call"):
        parse_scenario(text, "f.toml")
    parse_scenario(text.replace("sys_ioctl", "sys_init_module"), "f.toml")


def test_who_broke_vmlists_timeline_does_not_single_out_the_culprit() -> None:
    _blame_listings(ROOT, "who-broke-vmlist")


def _timeline_listing(prog: Program, name: str) -> str:
    """What ``timeline`` shows a student of exercise ``name``."""
    from vmintro.commands.discovery import load_plugins

    load_plugins([])
    out, err = io.StringIO(), io.StringIO()
    runner = ExerciseRunner(prog, Policy(name, by_name(name).allowed), out=out, err=err)
    assert runner.run_line("timeline") == EXIT_OK, err.getvalue()
    return out.getvalue()


def _module_writes(listing: str) -> dict[str, tuple[int, int, int]]:
    """Of each module a ``timeline`` listing unloads: (its unload's scenario step, the
    WRITES of its sys_create_module, the WRITES of its sys_delete_module), by name."""
    row = r"^.\s*\d+\s+(\d+)\s+sys_{}_module\(name_user=\"([^\"]+)\".*\)\s+\S+\s+(\d+)$"
    created = {m: int(w) for _, m, w in re.findall(row.format("create"), listing, re.M)}
    deleted = re.findall(row.format("delete"), listing, re.M)
    return {m: (int(step), created[m], int(w)) for step, m, w in deleted}


def _sized_alike(listing: str) -> list[str]:
    """The modules a ``timeline`` listing creates whose pages as many as some
    ``vmalloc(size=...)`` call's: a driver's buffer the size of its module."""
    pages = {-(-int(size) // 4096) for size in re.findall(r"vmalloc\(size=(\d+)\)", listing)}
    created = re.findall(r'sys_create_module\(name_user="([^"]+)", size=(\d+)\)', listing)
    return sorted({m for m, size in created if -(-int(size) // 4096) in pages})


@pytest.mark.slow  # a dozen generated variants: 2-5 s
def test_who_leakeds_unload_writes_do_not_tell_the_culprit(tmp_path: Path) -> None:
    """The unload that leaked does the work another does (its driver's cleanup vfrees
    a buffer of its module's pages before free_module skips module_unmap): over a
    dozen variants, no rule on the WRITES of the unloads (the fewest, the most, the
    one in between, the one furthest from its module's sys_create_module), nor the one
    module whose pages a vmalloc call's size matches, names the culprit's in more than
    half of them."""
    from vmintro.exercises.build import realise

    ex = by_name("who-leaked")
    named = {"fewest": 0, "most": 0, "between": 0, "off its create": 0, "a vmalloc its size": 0}
    variants = 12
    for seed in range(variants):
        image = tmp_path / f"{ex.name}-{seed}"
        variant = realise(ex, seed, image)
        listing = _timeline_listing(vmintro.open(image), ex.name)
        modules = _module_writes(listing)
        unloaded = sorted(modules)
        alike = [m for m in _sized_alike(listing) if m in unloaded]
        # the sizes narrow the guess to fewer than the three, the culprit among them
        named["a vmalloc its size"] += variant.answer[1] in alike and len(alike) < 3
        assert len(modules) == 3, modules
        step, created, culprit = modules.pop(variant.answer[1])  # the generator's truth
        assert step == variant.answer[0]
        others = sorted(deleted for _, _, deleted in modules.values())
        named["fewest"] += culprit < others[0]
        named["most"] += culprit > others[-1]
        named["between"] += others[0] < culprit < others[-1]
        strays = [abs(deleted - made) for _, made, deleted in modules.values()]
        named["off its create"] += abs(culprit - created) > max(strays)
    assert max(named.values()) <= variants // 2, named


@pytest.mark.slow
def test_who_leakeds_timeline_does_not_single_out_the_culprit(tmp_path: Path) -> None:
    build_exercise(by_name("who-leaked"), tmp_path, fresh_key())
    _blame_listings(tmp_path, "who-leaked")


def _ran(status: int, text: str) -> bool:
    """A hint's command ran: it succeeded, or found what the exercise is about (``list``
    stops at a loop that does not come back to its start with 'duplicate list entry',
    crash's finding, status 1), but no error (a link it cannot read, a bad argument)."""
    return status == EXIT_OK or (status == EXIT_FAILED and "duplicate list entry" in text)


@pytest.mark.parametrize("name", EACH)
def test_every_hint_runs(name: str) -> None:
    from vmintro.commands.discovery import load_plugins

    load_plugins([])
    hints = _meta(name)["hints"]
    assert len(hints) >= 2
    for hint in hints:
        for line in hint["commands"]:
            status, text = _run(name, line)
            assert _ran(status, text), f"{line}: {text}"


@pytest.mark.slow
def test_exercises_built_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answers: dict[str, str]
) -> None:
    # solved, verified, no allowed command printing the answer, every hint running: as
    # the shipped ones, on a build of its own
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    from vmintro.commands.discovery import load_plugins

    load_plugins([])
    for ex in (e for e in EXERCISES if not e.shipped):
        # a key of its own per exercise, the same every run (a build draws again where an
        # allowed command prints a hidden part: test_a_printed_draw_is_drawn_again)
        build_exercise(ex, tmp_path, hashlib.sha256(f"first use {ex.name}".encode()).digest())
        answer = SOLVERS[ex.name](_open(ex.name))
        assert verify_answer(tmp_path / ex.name, ex.parts, answer)
        assert not verify_answer(
            tmp_path / ex.name, ex.parts, _neighbour(answer, ex.parts[-1].form)
        )
        assert effective_space(ex, answer) * SECONDS_PER_GUESS > DAY, answer
        parts = canonical(ex.parts, answer).split(";")
        for line in _lines(ex.name):
            _, text = _run(ex.name, line)
            for reading in (shows, _in_words):  # the builder's drew it: the test's own too
                shown = [reading(p, v, text) for p, v in zip(ex.parts, parts, strict=True)]
                assert not any(shown[i] for i in ex.hidden) and not all(shown), line
        for hint in _meta(ex.name)["hints"]:
            for line in hint["commands"]:
                assert _ran(*_run(ex.name, line)), line


def test_vmlist_cycle_hint_walks_the_list() -> None:
    status, text = _run("vmlist-cycle", "list -o vm_struct.next -s vm_struct.addr,size *vmlist")
    assert _ran(status, text) and text.count("addr = ") >= 3, text


# ------------------------------------------------------------------ the restriction


def test_hints_are_progressive(capsys: pytest.CaptureFixture[str]) -> None:
    from vmintro.cli import main

    assert main(["exercise", "hint", "why-oops"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("1. ") and "2. " not in first and "hint why-oops 2" in first
    assert main(["exercise", "hint", "why-oops", "3"]) == 0
    assert "3. " in capsys.readouterr().out
    assert main(["exercise", "hint", "why-oops", "9"]) == 2


def test_readmes_name_no_checkout_path() -> None:
    for name in SHIPPED:
        text = (ROOT / name / "README.md").read_text()
        assert "images/" not in text
        assert f"vmintro exercise open {name}" in text


# ------------------------------------------------------------------ building


def test_installed_without_images_builds_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmintro.exercises import location

    monkeypatch.setattr(location, "CHECKOUT_DIR", tmp_path / "no-images")
    monkeypatch.setenv("VMINTRO_CACHE_DIR", str(tmp_path / "cache"))
    path = location.exercise_dir("swap-map-frames")
    assert path.is_relative_to(tmp_path / "cache")
    # from a fresh key, not kept: a variant of its own, not the shipped one
    core = "swap-map-frames.vmcore"
    assert (path / core).read_bytes() != (ROOT / "swap-map-frames" / core).read_bytes()
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["README.md", "answer.json", "exercise.json", core, "swap-map-frames.vmlinux"]
    )
    answer = swap_map_frames(vmintro.open(path / "swap-map-frames"))
    assert verify_answer(path, by_name("swap-map-frames").parts, answer)
    assert location.exercise_dir("swap-map-frames") == path  # built once


def test_vmalloc_start_answers_match_booted_machines() -> None:
    # the other machines of the question, booted: their VMALLOC_START is the answer
    from vmintro.exercises.build import realise
    from vmintro.exercises.keys import variant_seed

    ex = by_name("vmalloc-start")
    variant = realise(ex, variant_seed(b"a test practice key", "", ex.name), None)
    mib = [int(m) for m in re.findall(r"(\d+) MiB", variant.question)]
    booted = [MachineConfig(ram=m << 20, highmem=m > 896).layout.vmalloc_start for m in mib]
    assert variant.answer == booted


def test_build_help_builds_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_main(["--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m vmintro.exercises.build")
    assert list(tmp_path.iterdir()) == []


def test_build_into_an_unwritable_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert build_main([str(blocker / "exercises")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vmintro: {blocker}")
