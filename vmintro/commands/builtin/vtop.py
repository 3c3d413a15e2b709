"""``vtop [-c PID|TASK] ADDR...``: the page-table walk of kernel virtual addresses, as crash
shows it (``-c``: through that task's page directory, compared with ``init_mm``'s)::

VIRTUAL   PHYSICAL
c4800000  10b4000

PAGE DIRECTORY: c0101000
  PGD: c0101c48 => 10b5067
  PTE: c10b5000 => 10b4163
 PAGE: 10b4000

   PTE  PHYSICAL  FLAGS
10b4163   10b4000  (PRESENT|RW|ACCESSED|DIRTY|GLOBAL)

    PAGE  PHYSICAL   MAPPING     INDEX CNT FLAGS
c100e7bc   10b4000         0         0   1 0
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT
from vmintro.commands.argtypes import parse_addresses
from vmintro.commands.builtin._pages import PAGE_ROW_PY, page_table
from vmintro.commands.builtin.ps import resolve_task
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.commands.showcode import hexlits
from vmintro.errors import FaultError, NoDebugInfoError
from vmintro.helpers import follow_pte, pfn_valid, task_pgd
from vmintro.pgdsync import compare_walks, explain

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.pagewalk import Walk
    from vmintro.program import Program

__all__ = ["vtop_parts"]

_SIZES = {1 << 12: "4KB", 1 << 21: "2MB", 1 << 22: "4MB"}


def _physical(row: Row) -> str:
    return "(not mapped)" if row["physical"] is None else f"{row['physical']:x}"


def _walk_text(walk: Walk) -> Text:
    """The entry-by-entry lines, with the walk as JSON data."""
    lines = [f"PAGE DIRECTORY: {PAGE_OFFSET + walk.pgd:x}"]
    steps = []
    for s in walk.steps:
        where = f"{s.entry_vaddr:x}" if s.entry_vaddr is not None else f"{s.entry_paddr:x} (phys)"
        lines.append(f"  {s.level.upper()}: {where} => {s.value:x}")
        steps.append(
            {
                "level": s.level,
                "index": s.index,
                "entry_vaddr": s.entry_vaddr,
                "entry_paddr": s.entry_paddr,
                "value": s.value,
                "flags": list(s.bits),
                "large": s.large,
            }
        )
    page = None
    if walk.paddr is not None:
        page = walk.paddr & ~(walk.page_size - 1)
        size = f"  ({_SIZES.get(walk.page_size, hex(walk.page_size))})" if walk.large else ""
        lines.append(f" PAGE: {page:x}{size}")
    data = {
        "virtual": walk.vaddr,
        "page_directory": walk.pgd,
        "steps": steps,
        "page": page,
        "page_size": walk.page_size,
        "fault": str(walk.fault) if walk.fault is not None else None,
    }
    return Text("\n".join(lines), name="walk", data=data, blank_before=True)


def vtop_parts(
    prog: Program, vaddr: int, blank_before: bool = False, walk: Walk | None = None
) -> Iterator[Part]:
    """The parts ``vtop`` prints for ``vaddr`` (``blank_before``: after another's), from
    ``walk`` when given (another page directory's), else the walk of ``swapper_pg_dir``."""
    if walk is None:
        walk = prog.follow_pte(vaddr)
    yield Table(
        [
            Column("virtual", "VIRTUAL", "x", 8),
            Column("physical", "PHYSICAL", text=_physical, json=True),
        ],
        [Row(virtual=vaddr, physical=walk.paddr)],
        name="vtop",
        blank_before=blank_before,
    )
    yield _walk_text(walk)
    if walk.paddr is None:
        return
    yield from _page_parts(prog, walk)


def _page_parts(prog: Program, walk: Walk) -> Iterator[Part]:
    """The PTE and the struct page of the frame ``walk`` reached."""
    assert walk.paddr is not None
    last = walk.steps[-1]
    yield Table(
        [
            Column("entry", "PTE", "x", 8, ">"),
            Column("physical", "PHYSICAL", "x", 9, ">"),
            Column("flags", "FLAGS", lambda bits: "(" + "|".join(bits) + ")"),
        ],
        [Row(entry=last.value, physical=walk.paddr & ~(walk.page_size - 1), flags=list(last.bits))],
        name="pte",
        blank_before=True,
    )
    pfn = walk.paddr >> PAGE_SHIFT
    if not prog.has_debuginfo:
        # the walk needs no types; the struct page does (and max_mapnr's, to find it)
        what = f"the struct page of pfn {pfn:#x} is unknown"
        yield Text(str(NoDebugInfoError(what)), name="note", blank_before=True)
    elif pfn_valid(prog, pfn):
        yield page_table(prog, [pfn], blank_before=True)
    else:
        yield Text(
            f"(pfn {pfn:#x} is beyond max_mapnr: device memory, no struct page)",
            name="note",
            blank_before=True,
        )


def _page_directory(task: Object) -> Object:
    """``task_pgd(task)``, or why a task has none."""
    try:
        pgd = task_pgd(task)
        if pgd is not None:
            int(pgd)  # mm->pgd read here: a wild mm is this error, not the walk's
    except FaultError as e:
        raise CommandError(
            f"vtop: pid {task.pid.value_()} (task {int(task):#x}): its mm cannot be read: {e}"
        ) from None
    if pgd is None:
        raise CommandError(
            f"vtop: pid {task.pid.value_()} is a kernel thread that is not running: no mm, "
            "and no active_mm since schedule() switched away from it (it runs on the page "
            "directory of the task before it); vtop -c 0 walks init_mm's"
        )
    return pgd


def process_parts(
    prog: Program, task: Object, vaddr: int, blank_before: bool = False
) -> Iterator[Part]:
    """What ``vtop -c`` prints for ``vaddr``: the walk of ``task``'s page directory
    (``task_pgd``), then each entry above the page compared with ``init_mm``'s."""
    pgd = _page_directory(task)
    pid = task.pid.value_()
    try:
        walk = follow_pte(prog, pgd, vaddr)
    except ValueError as e:
        raise CommandError(f"vtop: pid {pid}: {e}") from None
    init = prog.follow_pte(vaddr)
    kthread = not task.mm.value_()
    yield from vtop_parts(prog, vaddr, blank_before, walk)
    source = "active_mm->pgd (a kernel thread: the mm it borrowed)" if kthread else "mm->pgd"
    lines = [
        f"TASK: {int(task):x}  PID: {pid}  PAGE DIRECTORY: {int(pgd):x} ({source})",
        f"INIT_MM PAGE DIRECTORY: {PAGE_OFFSET + init.pgd:x} (swapper_pg_dir)",
    ]
    compared = []
    for step, ref, status in compare_walks(walk, init):
        where = f"{ref.entry_vaddr:x}" if ref.entry_vaddr is not None else f"{ref.entry_paddr:x}"
        lines.append(f"  {ref.level.upper()}: {where} => {ref.value:x}")
        lines.append(f"  {explain(status, step, f'pid {pid}')}")
        compared.append(
            {
                "level": step.level,
                "index": step.index,
                "process": step.value,
                "init_mm": ref.value,
                "process_entry": step.entry_paddr,
                "init_mm_entry": ref.entry_paddr,
                "status": status,
            }
        )
    data = {
        "task": int(task),
        "pid": pid,
        "page_directory": int(pgd),
        "kernel_thread": kthread,
        "init_mm_page_directory": PAGE_OFFSET + init.pgd,
        "init_mm_physical": init.paddr,
        "entries": compared,
    }
    yield Text("\n".join(lines), name="init_mm", data=data, blank_before=True)


def _vtop_py(prog: Program, args: argparse.Namespace) -> str:
    if args.context is not None:
        return _vtop_context_py(prog, args)
    listed = hexlits(parse_addresses(prog, args.address))
    code = f"""\
        from vmintro.helpers import page_count, page_flag_names, pfn_to_page

        for vaddr in {listed}:
            walk = prog.follow_pte(vaddr)  # every level of the walk of swapper_pg_dir
            print(f"{{vaddr:x}}  {{walk.paddr:x}}" if walk.paddr is not None else f"{{vaddr:x}}")
            if walk.paddr is None:
                print(walk.fault)
                continue
            last = walk.steps[-1]  # the entry that maps the page
            frame = walk.paddr & ~(walk.page_size - 1)
            print(f"{{last.value:x}}  {{frame:x}}  ({{'|'.join(last.bits)}})")
            pfn = walk.paddr >> 12
        """
    return textwrap.dedent(code) + PAGE_ROW_PY


_CONTEXT_PY = """\
from vmintro.helpers import {finder}, follow_pte, task_pgd
from vmintro.pgdsync import compare_walks

task = {find}
pgd = task_pgd(task)  # mm->pgd, or active_mm->pgd for a kernel thread
for vaddr in {listed}:
    walk = follow_pte(prog, pgd, vaddr)  # the MMU's walk from this task's CR3
    init = prog.follow_pte(vaddr)  # init_mm's: swapper_pg_dir
    print(f"{{vaddr:x}}  {{walk.paddr:x}}" if walk.paddr is not None else f"{{vaddr:x}}")
    for step, ref, status in compare_walks(walk, init):  # the entries above the page
        level = step.level.upper()  # status: shared, same, missing, stale, differs, absent
        print(f"{{level}} {{step.index}}: {{step.value:x}}  init_mm {{ref.value:x}}  {{status}}")
"""


def _vtop_context_py(prog: Program, args: argparse.Namespace) -> str:
    task = resolve_task(prog, args.context, "vtop")
    _page_directory(task)  # a task without one: the command's error, not a script
    pid = task.pid.value_()
    if pid == 0:
        finder, find = "init_task", "init_task(prog)  # pid 0, swapper"
    else:
        finder, find = "find_task", f"find_task(prog, {pid})  # find_task_by_pid: pidhash"
    listed = hexlits(parse_addresses(prog, args.address))
    return _CONTEXT_PY.format(finder=finder, find=find, listed=listed)


@command(
    "vtop",
    crash="`vtop`",
    gdb="none: gdb shows no page-table walk (and cannot read vmalloc addresses of these cores)",
    help="virtual to physical: every level of the page-table walk",
    expressions=("address",),
    args=[
        arg(
            "-c",
            "--context",
            metavar="PID|TASK",
            help="walk this task's page directory (decimal pid or task_struct address)",
        ),
        arg("address", nargs="+", help="kernel virtual address (hex), symbol or expression"),
    ],
    py=_vtop_py,
)
def vtop(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """Translate each kernel virtual address through swapper_pg_dir, as the MMU
    does, showing each entry read (its address and value), the page and the
    physical address, the PTE flags and the struct page of the frame (which
    needs the vmlinux's types: without one, a line says so instead).
    Addresses are hex, with or without 0x (c4800000); what vtop prints can be
    given as it is to ptov (PHYSICAL), page (PAGE, PHYSICAL) and rd -p.
    -c PID|TASK walks that task's page directory instead (mm->pgd, or a kernel
    thread's active_mm->pgd), as its CR3 makes the MMU do, and compares each
    entry with init_mm's (swapper_pg_dir): a vmalloc area made after the
    process was forked is missing from its pgd (PAE: nothing is, the kernel
    pmd is shared) until a kernel-mode access takes the vmalloc fault and
    copies init_mm's entry; vtop -c says which.
    """
    addresses = parse_addresses(prog, args.address)
    task = None if args.context is None else resolve_task(prog, args.context, "vtop")
    for i, vaddr in enumerate(addresses):
        if task is None:
            yield from vtop_parts(prog, vaddr, blank_before=i > 0)
        else:
            yield from process_parts(prog, task, vaddr, blank_before=i > 0)
