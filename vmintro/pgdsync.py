"""How a process's page directory compares with ``init_mm``'s in the kernel's half: 2.4's lazy sync.

``vmalloc`` writes only ``init_mm``'s tables (``swapper_pg_dir``). A process got a
copy of the kernel's pgd entries when ``pgd_alloc`` made its page directory
(``get_pgd_slow``); an entry ``init_mm`` gained later reaches it only when a
kernel-mode access from that process faults and ``do_page_fault``'s
``vmalloc_fault:`` path copies ``init_mm``'s entry (``set_pgd``, then ``set_pmd``).
Under PAE the copied pgd entry points at ``init_mm``'s own kernel pmd page, so
nothing below it can differ. ``vfree`` clears PTEs in ``init_mm``'s tables and,
for a bad entry, the entry itself there, never a process's copy.

Each entry of a process's walk above the page is one of :data:`STATUSES` against
the same entry of ``init_mm``'s walk (:func:`compare_walks`); ``vtop -c`` shows
them and ``check`` reports the stale and the differing ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmintro.pagewalk import Walk, WalkStep
    from vmintro.program import Program

__all__ = [
    "ABSENT",
    "DIFFERS",
    "MISSING",
    "SAME",
    "SHARED",
    "STALE",
    "STATUSES",
    "compare_entry",
    "compare_walks",
    "explain",
    "vmalloc_spans",
]

SHARED = "shared"  # the very entry init_mm has: the table holding it is init_mm's own
SAME = "same"  # a copy with init_mm's value (pgd_alloc's, or the vmalloc fault's)
MISSING = "missing"  # not present here, present in init_mm: not faulted in yet (normal)
STALE = "stale"  # present here, not in init_mm: init_mm's was cleared (legal in 2.4)
DIFFERS = "differs"  # both present, pointing at other tables: no 2.4 code writes that
ABSENT = "absent"  # present in neither: an access oopses
STATUSES = (SHARED, SAME, MISSING, STALE, DIFFERS, ABSENT)

# Why a process may keep an entry init_mm lost, as check and vtop -c say it: 2.4.20
# clears a kernel page-directory entry only in init_mm (vfree's free_area_pmd and
# free_area_pte, pgd_clear/pmd_clear of an entry they find bad) and never in the
# copies pgd_alloc and the vmalloc fault made.
STALE_REASON = (
    "legal in 2.4: the kernel clears a kernel entry only in init_mm (vfree's "
    "pgd_clear/pmd_clear of an entry it finds bad), never the copies in process page directories"
)


def compare_entry(step: WalkStep, init: WalkStep) -> str:
    """How a process's entry compares with ``init_mm``'s at the same level and index:
    one of :data:`STATUSES`."""
    if step.entry_paddr == init.entry_paddr:
        return SHARED
    if step.value == init.value:
        return SAME
    if not step.present:
        return MISSING if init.present else ABSENT
    return STALE if not init.present else DIFFERS


def compare_walks(walk: Walk, init: Walk) -> list[tuple[WalkStep, WalkStep, str]]:
    """Each entry of ``walk`` above the page (a process's) beside ``init_mm``'s walk of
    the same address, with its status; it stops where the tables below can no longer
    differ (a shared entry: init_mm's tables; a missing or absent one: none) or
    where the two walks go to other tables."""
    levels = len(walk.steps) if walk.paddr is None else len(walk.steps) - 1
    out = []
    for step, ref in zip(walk.steps[:levels], init.steps, strict=False):
        status = compare_entry(step, ref)
        out.append((step, ref, status))
        if status != SAME:
            break
    return out


def explain(status: str, step: WalkStep, who: str) -> str:
    """One sentence on what ``status`` of ``step`` means, ``who`` being the process."""
    level = step.level.upper()
    return {
        SHARED: f"{level} entry {step.index} is init_mm's own: {who} runs on swapper_pg_dir itself"
        if step.level == "pgd"
        else f"{level} entry {step.index} is init_mm's own: {who} shares the table "
        "holding it (pgd_alloc copied the entry above it)",
        SAME: f"{level} entry {step.index} is the same as init_mm's (copied by pgd_alloc "
        "when the page directory was made, or by the vmalloc fault since)",
        MISSING: f"{level} entry {step.index} is missing in {who}'s page directory, "
        "present in init_mm's: the first kernel-mode access from this process takes "
        "the vmalloc fault (do_page_fault's vmalloc_fault:), which copies it",
        STALE: f"{level} entry {step.index} is stale: present in {who}'s page directory, "
        f"not in init_mm's ({STALE_REASON})",
        DIFFERS: f"{level} entry {step.index} differs from init_mm's: both present, other "
        "tables; no 2.4 code path writes that (corrupted)",
        ABSENT: f"{level} entry {step.index} is present neither in {who}'s page directory "
        "nor in init_mm's: an access there oopses (no_context)",
    }[status]


def vmalloc_spans(prog: Program) -> Iterator[int]:
    """The first address of each span of the vmalloc range one entry of the level
    above the PTEs covers (4 MiB: a pgd entry; PAE 2 MiB: a pmd entry)."""
    span = prog.paging.levels[-2].size
    start, end = prog.vmalloc_start, prog.vmalloc_end
    yield from range(start & ~(span - 1), end, span)
