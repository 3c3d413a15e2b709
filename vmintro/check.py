"""Post-mortem consistency checks of vmlist, the vmalloc page tables, mem_map, the buddy lists
and the processes' page directories against init_mm's.

Each invariant the 2.4.20 kernel keeps is checked from the image alone; each
violation becomes one :class:`Finding` that names what is wrong and the
addresses involved (the ``vm_struct``, the PTE's address and value, the frame,
the free list it sits on).
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.check_globals import Trusted, check_globals, check_swap
from vmintro.errors import CorruptionError, FaultError, VmintroError
from vmintro.escape import escape_text
from vmintro.helpers.buddy import MAX_ORDER, for_each_zone
from vmintro.helpers.list import list_for_each, singly_linked
from vmintro.helpers.mm import follow_pte
from vmintro.helpers.module import for_each_module
from vmintro.helpers.pid import for_each_task
from vmintro.helpers.vmalloc import VM_ALLOC, VM_IOREMAP, max_vm_areas, vm_area_nr_pages
from vmintro.pgdsync import DIFFERS, STALE, STALE_REASON, compare_walks, vmalloc_spans
from vmintro.types.flags import PAGE_FLAGS

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["FAULT_FINDINGS", "Finding", "check_program"]

PG_reserved = 1 << PAGE_FLAGS["PG_reserved"]


# The finding(s) each kind of injected fault shows up as (vmintro.sim.faults).
FAULT_FINDINGS: dict[str, tuple[str, ...]] = {
    "vmalloc_leak": ("vmalloc_leak",),
    "use_after_vfree": ("use_after_vfree",),
    "double_free": ("mapped_page_free",),
    "vmlist_cycle": ("vmlist_cycle",),
    "wild_next": ("vmlist_wild_pointer",),
    "overlap": ("area_overlap",),
    "missing_guard": ("guard_page_mapped",),
    "size_mismatch": ("area_unmapped_pages",),
    "bad_pte_frame": ("pte_reserved_frame", "pte_nonexistent_frame"),
    "zero_count": ("mapped_page_count_zero",),
    "buddy_corrupt": ("buddy_list_corrupt",),
    # kfree writes through a free page's buddy-list neighbours (its default target)
    "kfree_non_slab": ("buddy_list_corrupt", "buddy_count_mismatch", "buddy_bitmap_unreadable"),
}


@dataclass
class Finding:
    """One violated invariant: a stable ``kind``, a one-line explanation, the addresses.

    ``legal``: a state 2.4.20 itself leaves (a process's stale copy of a vmalloc
    page-directory entry): reported, and said so, but no corruption: it does not
    fail the check's exit status.
    """

    kind: str
    message: str
    where: dict[str, int] = field(default_factory=dict)
    legal: bool = False

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Area:
    vm_struct: int
    addr: int
    size: int
    flags: int
    # False for a size no area can have (larger than the vmalloc range)
    possible: bool = True
    # True for an area overlapping one before it: its pages are (partly) the other's
    overlaps: bool = False

    @property
    def pages_checked(self) -> bool:
        """Whether its pages are checked one by one: not for an area of impossible
        size or one that overlaps another (both are findings already, and either
        would check the same pages again for every such area).
        """
        return self.possible and not self.overlaps


class _Checker:
    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self.findings: list[Finding] = []
        vm = prog.type("struct vm_struct")
        self.o_next = vm.offsetof("next")  # type: ignore[attr-defined]
        self.vm_size = vm.size
        self.vm_fields = [
            (vm.offsetof(m), vm.member(m).type.size)  # type: ignore[attr-defined]
            for m in ("flags", "addr", "size")
        ]
        self.max_mapnr = 0  # until globals() has bounded it
        self.free = np.zeros(0, dtype=np.int8)  # pfn -> order + 1 of a free block, 0 if not
        self.trusted = Trusted(max_mapnr=0)
        self.vmlist_complete = False
        self.loaded: set[int] | None = None  # the modules on module_list, once read
        self.mem_map = prog["mem_map"].value_()
        page = prog.type("struct page")
        self.page_size = page.size
        self.o_count = page.offsetof("count")  # type: ignore[attr-defined]
        self.o_flags = page.offsetof("flags")  # type: ignore[attr-defined]
        self.o_list = page.offsetof("list")  # type: ignore[attr-defined]
        self.o_mm_pgd = prog.type("struct mm_struct").offsetof("pgd")  # type: ignore[attr-defined]

    def globals(self) -> Trusted:
        """The globals every other part trusts (:mod:`vmintro.check_globals`); the
        free-frame map is sized by the bounded ``max_mapnr`` from here on, whatever
        part stops early.
        """
        trusted = check_globals(self.prog, self.add)
        self.max_mapnr = trusted.max_mapnr
        self.trusted = trusted
        self.free = np.zeros(self.max_mapnr, dtype=np.int8)
        return trusted

    def add(self, kind: str, message: str, **where: int) -> None:
        self.findings.append(Finding(kind, message, where))

    # -- processes' page directories ---------------------------------------------------

    def processes(self) -> None:
        """Each process page directory's entries for the vmalloc range against
        ``init_mm``'s (:mod:`vmintro.pgdsync`): a missing one (not faulted in yet) is
        normal, a stale one legal in 2.4 (said so), one pointing at another table
        corruption; a page directory outside the direct map is corruption too.
        """
        prog = self.prog
        if "init_task_union" not in prog:
            return  # an image written before its kernel kept tasks
        init_mm = prog["init_mm"].address_
        seen: set[int] = {init_mm}  # type: ignore[arg-type]
        reported: set[int] = set()  # entries already reported (one covers several spans)
        spans = list(vmalloc_spans(prog))
        # the top-level entries for the range, read at once: only a process entry that
        # differs from init_mm's needs its walks compared (an equal one leads to
        # init_mm's own tables, as under PAE the one kernel pgd entry always does)
        top, size = prog.paging.levels[0], prog.paging.entry_size
        first, count = top.index(spans[0]), top.index(spans[-1]) - top.index(spans[0]) + 1
        swapper = prog.symbol("swapper_pg_dir").address
        reference = prog.read(swapper + first * size, count * size)
        for task in for_each_task(prog, idle=True):
            mm = task.mm.value_()
            if not mm or mm in seen:
                continue  # a kernel thread, or an mm another task shares
            seen.add(mm)
            pid = task.pid.value_()
            try:
                pgd = prog.read_u32(mm + self.o_mm_pgd)
            except FaultError as e:
                self.add(
                    "process_pgd_corrupt",
                    f"pid {pid}: task {int(task):#x} has mm {mm:#x}, which cannot be read: {e}",
                    task=int(task),
                    mm=mm,
                )
                continue
            try:
                follow_pte(prog, pgd, spans[0])  # refuses what no pgd_alloc returns
                table = prog.read(pgd + first * size, count * size)
            except (ValueError, FaultError):
                self.add(
                    "process_pgd_corrupt",
                    f"pid {pid}: mm {mm:#x} has pgd {pgd:#x}, no page directory pgd_alloc "
                    "could have made (outside the direct map, misaligned or unreadable)",
                    task=int(task),
                    mm=mm,
                    pgd=pgd,
                )
                continue
            differing = {
                first + i
                for i in range(count)
                if table[i * size : (i + 1) * size] != reference[i * size : (i + 1) * size]
            }
            for vaddr in spans:
                if top.index(vaddr) not in differing:
                    continue
                walk = follow_pte(prog, pgd, vaddr)
                for step, ref, status in compare_walks(walk, prog.follow_pte(vaddr)):
                    if status in (STALE, DIFFERS) and step.entry_paddr not in reported:
                        reported.add(step.entry_paddr)
                        self._pgd_finding(status, pid, int(task), vaddr, step, ref)

    def _pgd_finding(
        self, status: str, pid: int, task: int, vaddr: int, step: Any, ref: Any
    ) -> None:
        entry = step.entry_vaddr if step.entry_vaddr is not None else step.entry_paddr
        stale = status == STALE
        what = (
            f"stale ({STALE_REASON})"
            if stale
            else f"corrupted: init_mm's is {ref.value:#x}, another table"
        )
        self.findings.append(
            Finding(
                "process_pgd_stale" if stale else "process_pgd_corrupt",
                f"pid {pid}: {step.level} entry {step.index} for {vaddr:#x} at {entry:#x} is "
                f"{step.value:#x}, {what}",
                {"task": task, "vaddr": vaddr, "entry": entry, "value": step.value},
                legal=stale,
            )
        )

    def page_field(self, pfn: int, offset: int) -> int:
        return self.prog.read_u32(self.mem_map + pfn * self.page_size + offset)

    # -- vmlist -----------------------------------------------------------------------

    def vmlist(self) -> list[_Area]:
        prog = self.prog
        areas = []
        first = prog["vmlist"].value_()
        try:
            bound = max_vm_areas(prog)
            for node in singly_linked(prog, first, self.o_next, "vmlist", bound):
                raw = prog.read(node, self.vm_size)
                flags, addr, size = (
                    int.from_bytes(raw[o : o + n], "little") for o, n in self.vm_fields
                )
                areas.append(_Area(node, addr, size, flags))
            self.vmlist_complete = True
        except CorruptionError as e:
            holder = e.address or 0
            try:
                target = prog.read_u32(holder + self.o_next) if holder else first
            except FaultError:
                target = 0
            if "cycle" in e.message:
                self.add(
                    "vmlist_cycle",
                    f"vm_struct {holder:#x} has next {target:#x}, which is already on vmlist: "
                    "the list never ends",
                    vm_struct=holder,
                    next=target,
                )
            else:
                self.add(
                    "vmlist_wild_pointer",
                    f"vm_struct {holder:#x} has next {target:#x}, which is not readable kernel "
                    "memory: the rest of vmlist is lost",
                    vm_struct=holder,
                    next=target,
                )
        start, end = prog.vmalloc_start, prog.vmalloc_end
        for prev, cur in zip([None, *areas], areas, strict=False):
            try:
                vm_area_nr_pages(prog, cur.vm_struct, cur.addr, cur.size)
            except CorruptionError as e:
                self.add("area_impossible_size", e.message, vm_struct=cur.vm_struct)
                cur.possible = False
            if cur.flags & ~(VM_ALLOC | VM_IOREMAP) or not cur.flags:
                self.add(
                    "area_bad_flags",
                    f"vm_struct {cur.vm_struct:#x} has flags {cur.flags:#x}, "
                    "neither VM_ALLOC nor VM_IOREMAP",
                    vm_struct=cur.vm_struct,
                )
            if cur.possible:  # an impossible size is said once, above
                self._area_extent(cur, start, end)
            if prev is not None and cur.addr < prev.addr:
                self.add(
                    "vmlist_unsorted",
                    f"vm_struct {cur.vm_struct:#x} (addr {cur.addr:#x}) follows "
                    f"vm_struct {prev.vm_struct:#x} (addr {prev.addr:#x}): vmlist must be "
                    "sorted by address",
                    vm_struct=cur.vm_struct,
                )
        reach: _Area | None = None  # the area reaching furthest so far, in address order
        possible = [a for a in areas if a.possible]
        for cur in sorted(possible, key=lambda a: (a.addr, a.vm_struct)):
            if reach is not None and cur.addr < reach.addr + reach.size:
                cur.overlaps = True
                self.add(
                    "area_overlap",
                    f"vm_struct {cur.vm_struct:#x} ({cur.addr:#x}-{cur.addr + cur.size:#x}) "
                    f"overlaps vm_struct {reach.vm_struct:#x} "
                    f"({reach.addr:#x}-{reach.addr + reach.size:#x})",
                    vm_struct=cur.vm_struct,
                    other=reach.vm_struct,
                )
            if reach is None or cur.addr + cur.size > reach.addr + reach.size:
                reach = cur
        return areas

    def _area_extent(self, cur: _Area, start: int, end: int) -> None:
        if cur.size % PAGE_SIZE or cur.size < 2 * PAGE_SIZE or cur.addr % PAGE_SIZE:
            self.add(
                "area_bad_size",
                f"vm_struct {cur.vm_struct:#x}: addr {cur.addr:#x} size {cur.size:#x} "
                "is not whole pages plus a guard page",
                vm_struct=cur.vm_struct,
            )
        if not (start <= cur.addr and cur.addr + cur.size <= end + PAGE_SIZE):
            self.add(
                "area_outside_vmalloc",
                f"vm_struct {cur.vm_struct:#x} covers {cur.addr:#x}-"
                f"{cur.addr + cur.size:#x}, outside VMALLOC_START-VMALLOC_END "
                f"({start:#x}-{end:#x})",
                vm_struct=cur.vm_struct,
            )

    # -- buddy allocator --------------------------------------------------------------

    def buddy(self) -> None:
        """Walk every free list, filling :attr:`free` (pfn -> order + 1 of a free block)."""
        prog = self.prog
        free = self.free
        for j, zone in enumerate(for_each_zone(prog)):
            size = zone.size.value_()
            if not size:
                continue
            name = self.trusted.zone_labels[j]
            if j in self.trusted.bad_zones:
                self.add(
                    "check_incomplete",
                    f"the buddy check of zone {name} needs its zone_t, which is not sound: "
                    f"{self.trusted.bad_zones[j]}",
                    zone=zone.value_(),
                )
                continue
            base = zone.zone_start_mapnr.value_()
            counted = 0
            expected_bits: list[set[int]] = [set() for _ in range(MAX_ORDER)]
            for order in range(MAX_ORDER):
                head = zone.free_area[order].free_list.address_
                assert head is not None  # a member of a zone in memory is in memory
                what = f"zone {name} free_area[{order}]"
                try:
                    entries = list(list_for_each(prog, head, what, (size >> order) + 1))
                except CorruptionError as e:
                    self.add(
                        "buddy_list_corrupt",
                        f"{e.message}; free list head at {head:#x}",
                        head=head,
                        entry=e.address or 0,
                    )
                    continue
                for entry in entries:
                    page = entry - self.o_list
                    pfn, rem = divmod(page - self.mem_map, self.page_size)
                    idx = pfn - base
                    if rem or not 0 <= idx < size:
                        self.add(
                            "buddy_foreign_entry",
                            f"{what} holds {entry:#x}, not the list of a struct page of "
                            f"zone {name}",
                            head=head,
                            entry=entry,
                        )
                        continue
                    if idx % (1 << order):
                        self.add(
                            "buddy_misaligned",
                            f"{what} holds pfn {pfn:#x}, not aligned to its order",
                            pfn=pfn,
                            head=head,
                        )
                    count = self.page_field(pfn, self.o_count)
                    flags = self.page_field(pfn, self.o_flags)
                    if count or flags & PG_reserved:
                        self.add(
                            "free_page_in_use",
                            f"pfn {pfn:#x} is on {what} but has count {count} and flags {flags:#x}",
                            pfn=pfn,
                            head=head,
                        )
                    end = min(pfn + (1 << order), self.max_mapnr)
                    if free[pfn:end].any():
                        self.add(
                            "buddy_double_listed",
                            f"pfn {pfn:#x} ({what}) overlaps another free block",
                            pfn=pfn,
                            head=head,
                        )
                    free[pfn:end] = order + 1
                    counted += 1 << order
                    if order < MAX_ORDER - 1:
                        expected_bits[order] ^= {idx >> (order + 1)}
            free_pages = zone.free_pages.value_()
            if counted != free_pages:
                self.add(
                    "buddy_count_mismatch",
                    f"zone {name}: free lists hold {counted} pages, free_pages says {free_pages}",
                    zone=zone.value_(),
                )
            self._bitmaps(zone, name, size, expected_bits)

    def _bitmaps(self, zone: Any, name: str, size: int, expected: list[set[int]]) -> None:
        for order in range(MAX_ORDER - 1):
            bitmap = zone.free_area[order].map.value_()
            nbytes = ((size - 1) >> (order + 4)) + 1
            try:
                raw = np.frombuffer(self.prog.read(bitmap, nbytes), dtype=np.uint8)
            except FaultError:
                self.add(
                    "buddy_bitmap_unreadable",
                    f"zone {name} free_area[{order}].map {bitmap:#x} cannot be read",
                    zone=zone.value_(),
                )
                continue
            have = np.unpackbits(raw, bitorder="little").astype(bool)
            want = np.zeros(len(have), dtype=bool)
            want[sorted(expected[order])] = True  # bits of pairs in the zone: all < len(have)
            for bit in np.flatnonzero(have != want)[:1].tolist():
                self.add(
                    "buddy_bitmap_mismatch",
                    f"zone {name} free_area[{order}].map bit {bit} is {int(have[bit])}, "
                    f"but the free lists say {int(want[bit])}",
                    zone=zone.value_(),
                    bitmap=bitmap,
                )

    # -- vmalloc page tables and the frames behind them ---------------------------------

    def mappings(self, areas: list[_Area]) -> None:
        """Each page of the vmalloc range: mapped inside an area as the area says,
        and never mapped outside every area. The work is one pass over the range:
        areas of impossible size and overlapping ones give no page checks.
        """
        prog = self.prog
        free = self.free
        start, end = prog.vmalloc_start, prog.vmalloc_end
        pages = np.arange(start, end, PAGE_SIZE, dtype=np.int64)
        phys = prog.translate_many(pages)
        # Pages some area covers: +1 where one starts, -1 past its end. An area of
        # impossible size covers at most what get_vm_area could have given it, up
        # to the next area.
        starts = sorted(a.addr for a in areas if a.possible)
        edges = np.zeros(len(pages) + 1, dtype=np.int64)
        for a in areas:
            stop = a.addr + a.size
            if not a.possible:
                after = bisect.bisect_right(starts, a.addr)
                stop = starts[after] if after < len(starts) else end
            lo = min(max(0, (a.addr - start) // PAGE_SIZE), len(pages))
            hi = min(max(0, (stop - start) // PAGE_SIZE), len(pages))
            edges[lo] += 1
            edges[hi] -= 1
        covered = np.cumsum(edges[:-1]) > 0
        for a in areas:
            if a.pages_checked:
                self._area(a, pages, phys, start)
        orphans = np.nonzero(~covered & (phys >= 0))[0]
        for j in orphans.tolist():
            vaddr = int(pages[j])
            pfn = int(phys[j]) >> 12
            pte, value = self._pte(vaddr)
            if pfn < self.max_mapnr and free[pfn]:
                self.add(
                    "use_after_vfree",
                    f"{vaddr:#x} is in no vm area but its PTE {value:#x} at {pte:#x} still "
                    f"maps pfn {pfn:#x}, which is on a free list",
                    vaddr=vaddr,
                    pte=pte,
                    pfn=pfn,
                )
            else:
                self.add(
                    "orphan_pte",
                    f"{vaddr:#x} is in no vm area but its PTE {value:#x} at {pte:#x} "
                    f"maps pfn {pfn:#x}",
                    vaddr=vaddr,
                    pte=pte,
                    pfn=pfn,
                )

    def _pte(self, vaddr: int) -> tuple[int, int]:
        """(address, value) of the last entry the walk read: the PTE, or a large-page entry."""
        step = self.prog.follow_pte(vaddr).steps[-1]
        addr = step.entry_vaddr if step.entry_vaddr is not None else step.entry_paddr
        return addr, step.value

    def _area(self, a: _Area, pages: np.ndarray, phys: np.ndarray, start: int) -> None:
        free = self.free
        first = (a.addr - start) // PAGE_SIZE
        count = a.size // PAGE_SIZE
        if first < 0 or first + count > len(pages) or count < 1:
            return
        guard = first + count - 1
        if phys[guard] >= 0:
            pte, value = self._pte(int(pages[guard]))
            self.add(
                "guard_page_mapped",
                f"vm_struct {a.vm_struct:#x}: guard page {int(pages[guard]):#x} is mapped "
                f"(PTE {value:#x} at {pte:#x})",
                vm_struct=a.vm_struct,
                pte=pte,
            )
        unmapped = first + np.flatnonzero(phys[first:guard] < 0)
        if len(unmapped):
            self.add(
                "area_unmapped_pages",
                f"vm_struct {a.vm_struct:#x} says size {a.size:#x} but {len(unmapped)} of its "
                f"{count - 1} pages are not mapped (first {int(pages[unmapped[0]]):#x})",
                vm_struct=a.vm_struct,
                vaddr=int(pages[unmapped[0]]),
            )
        if not a.flags & VM_ALLOC:
            return
        self._maybe_leaked_module(a)
        for j in (first + np.flatnonzero(phys[first:guard] >= 0)).tolist():
            vaddr, pfn = int(pages[j]), int(phys[j]) >> 12
            if pfn >= self.max_mapnr:
                self._frame_finding(
                    "pte_nonexistent_frame",
                    a,
                    vaddr,
                    pfn,
                    f"beyond max_mapnr {self.max_mapnr:#x}",
                )
                continue
            flags = self.page_field(pfn, self.o_flags)
            count = self.page_field(pfn, self.o_count)
            if flags & PG_reserved:
                self._frame_finding("pte_reserved_frame", a, vaddr, pfn, "which is reserved")
            elif free[pfn]:
                self._frame_finding(
                    "mapped_page_free",
                    a,
                    vaddr,
                    pfn,
                    f"which is on the order-{free[pfn] - 1} free list",
                )
            elif count == 0:
                self.add(
                    "mapped_page_count_zero",
                    f"vm_struct {a.vm_struct:#x}: {vaddr:#x} maps pfn {pfn:#x}, whose page->count "
                    f"is 0 (struct page at {self.mem_map + pfn * self.page_size:#x})",
                    vm_struct=a.vm_struct,
                    pfn=pfn,
                )

    def _frame_finding(self, kind: str, a: _Area, vaddr: int, pfn: int, why: str) -> None:
        pte, value = self._pte(vaddr)
        self.add(
            kind,
            f"vm_struct {a.vm_struct:#x}: {vaddr:#x} maps pfn {pfn:#x} (PTE {value:#x} at "
            f"{pte:#x}), {why}",
            vm_struct=a.vm_struct,
            pte=pte,
            pfn=pfn,
        )

    # -- modules ------------------------------------------------------------------------

    def modules(self) -> set[int]:
        prog = self.prog
        mod_t = prog.type("struct module")
        self.mod_size = mod_t.size
        self.o_mod_name = mod_t.offsetof("name")  # type: ignore[attr-defined]
        self.o_mod_size = mod_t.offsetof("size")  # type: ignore[attr-defined]
        self.o_mod_sizeof = mod_t.offsetof("size_of_struct")  # type: ignore[attr-defined]
        loaded: set[int] = set()
        try:
            for mod in for_each_module(prog, include_kernel=True):
                loaded.add(mod.value_())
        except CorruptionError as e:
            self.add("module_list_corrupt", e.message, module=e.address or 0)
        self.loaded = loaded
        return loaded

    def _maybe_leaked_module(self, a: _Area) -> None:
        """An area that starts with a live-looking ``struct module`` no list reaches."""
        if self.loaded is None or a.addr in self.loaded:
            return  # None: the modules part stopped (and said so), nothing to compare with
        try:
            raw = self.prog.read(a.addr, self.mod_size)
        except FaultError:
            return

        def word(off: int) -> int:
            return int.from_bytes(raw[off : off + 4], "little")

        size = word(self.o_mod_size)
        name = word(self.o_mod_name)
        mapped = a.size - PAGE_SIZE
        if (
            word(self.o_mod_sizeof) == self.mod_size
            and mapped - PAGE_SIZE < size <= mapped
            and a.addr + self.mod_size <= name < a.addr + size
        ):
            try:
                text = escape_text(self.prog.read(name, 64).split(b"\0")[0])
            except FaultError:
                text = "?"
            self.add(
                "vmalloc_leak",
                f"vm_struct {a.vm_struct:#x}: area {a.addr:#x} holds module '{text}' "
                f"({size} bytes) that is not on module_list: unloaded but never vfree'd",
                vm_struct=a.vm_struct,
                module=a.addr,
            )


def check_program(prog: Program) -> list[Finding]:
    """Every finding for one image, in a stable order (globals, vmlist, swap, modules,
    buddy, mappings, processes). A part that cannot go on (a global pointing nowhere) says so in a
    finding of its own and the others still run.
    """
    c = _Checker(prog)
    try:
        broken = c.globals().broken
    except VmintroError as e:
        c.add("check_incomplete", f"the globals check stopped: {e}")
        broken = {"mem_map", "high_memory"}  # nothing sized by them can be trusted
    areas: list[_Area] = []
    # What each part trusts: a part whose global is broken would only report noise.
    needs = {
        "buddy": {"mem_map"},
        "mappings": {"mem_map", "high_memory"},
        "processes": {"high_memory"},
    }
    for part in ("vmlist", "swap", "modules", "buddy", "mappings", "processes"):
        missing = needs.get(part, set()) & broken
        if missing:
            c.add(
                "check_incomplete",
                f"the {part} check needs {' and '.join(sorted(missing))}, which is not sound",
            )
            continue
        try:
            if part == "vmlist":
                areas = c.vmlist()
            elif part == "swap":
                starts = {a.addr: (a.vm_struct, a.size) for a in areas}
                check_swap(prog, c.add, starts if c.vmlist_complete else None)
            elif part == "modules":
                c.modules()
            elif part == "buddy":
                c.buddy()
            elif part == "mappings":
                c.mappings(areas)
            else:
                c.processes()
        except VmintroError as e:
            c.add("check_incomplete", f"the {part} check stopped: {e}")
    return c.findings
