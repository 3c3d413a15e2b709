"""``vm [-p] [PID | TASK ...]``: a task's memory areas, as crash's ``vm`` shows them
for a 2.4 kernel (crash's memory.c, ``cmd_vm`` and ``vm_area_dump``)::

    PID: 12       TASK: c1d2a000  CPU: 0    COMMAND: "hog"
       MM       PGD      RSS    TOTAL_VM
    c1d2f0c0  c1d31000   284k    1224k
      VMA       START      END    FLAGS  FILE
    c1d2e0c4   8048000   8049000    875
    ...

The header is crash's ``print_task_header``; MM and PGD are ``task->mm`` and
``mm->pgd``, RSS and TOTAL_VM ``mm->rss`` and ``mm->total_vm`` in KiB; one line per
area on ``mm->mmap`` (``vm_next`` order): the ``vm_area_struct``, ``vm_start``,
``vm_end``, ``vm_flags`` in hex and the file (anonymous areas have none). ``-p``
translates each page of each area through the task's page directory, as crash's
``vm_area_page_dump``: ``VIRTUAL  PHYSICAL`` or ``(not mapped)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.commands.builtin.ps import NO_TASKS, current_tasks, has_tasks, resolve_task
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.errors import FaultError, VmintroError
from vmintro.escape import escape_text
from vmintro.helpers import follow_pte, for_each_vma, init_task
from vmintro.helpers.fs import dentry_path
from vmintro.types.flags import VM_FLAGS

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["center", "paddr_width"]

MM_HEADER = "   MM       PGD      RSS    TOTAL_VM"
VMA_HEADER = "  VMA       START      END    FLAGS  FILE"
STAND_IN_NOTE = (
    "note: an executable area without a FILE: vmintro's simulated kernel maps a "
    "program's text and data as anonymous memory, where 2.4.20 maps its file"
)


def center(text: str, width: int, rjust: bool = False) -> str:
    """crash's ``mkstring(..., CENTER|LJUST)`` (or ``CENTER|RJUST``): ``text``
    centred in ``width``, the odd space to the right (to the left with ``rjust``)."""
    extra = width - len(text)
    if extra <= 0:
        return text
    left = extra // 2 + (extra % 2 if rjust else 0)
    return " " * left + text + " " * (extra - left)


def paddr_width(prog: Program) -> int:
    """crash's ``MAX(PADDR_PRLEN, strlen("PHYSICAL"))``: ``vt->paddr_prlen`` is the
    length in hex of the machine's highest physical address."""
    return max(len(f"{prog.ram_size:x}"), len("PHYSICAL"))


def task_header(task: Object) -> str:
    """crash's ``print_task_header``."""
    comm = escape_text(task.comm.string_(16))
    return (
        f"PID: {task.pid.value_():<7}  TASK: {task.value_():<8x}  "
        f'CPU: {task.processor.value_():<3}  COMMAND: "{comm}"'
    )


def _mm_text(row: Row) -> str:
    # crash's PRINT_VM_DATA: each value centred as its heading is
    mm, pgd, rss, total = (row[n] for n in ("mm", "pgd", "rss", "total_vm"))
    cells = (center(f"{mm:x}", 8), center(f"{pgd:x}", 8), center(f"{rss}k", 6))
    return "  ".join(cells) + "  " + center(f"{total}k", 8)


def _vma_text(row: Row) -> str:
    # crash's PRINT_VMA_DATA: "%s%s%s%s%s %6llx%s%s"
    vma, start, end, flags = (row[n] for n in ("vma", "start", "end", "flags"))
    return f"{center(f'{vma:x}', 8)}  {start:>8x}  {end:>8x} {flags:6x}  {row['file']}"


_MM_COLUMNS = [
    Column("text", MM_HEADER, text=_mm_text),
    *(Column(n) for n in ("pid", "task", "mm", "pgd", "rss", "total_vm")),
]
_VMA_COLUMNS = [
    Column("text", VMA_HEADER, text=_vma_text),
    *(Column(n) for n in ("vma", "start", "end", "flags", "file")),
]


def _page_columns(width: int) -> list[Column]:
    def text(row: Row) -> str:
        phys = row["physical"]
        where = "(not mapped)" if phys is None else f"{phys:x}".rjust(width)
        return f"{row['virtual']:<8x}  {where}"

    heading = f"{'VIRTUAL':<8}  {'PHYSICAL':<{width}}"
    return [Column("text", heading, text=text), Column("virtual"), Column("physical")]


def _vm_parts(prog: Program, task: Object, pages: bool, blank: bool) -> Iterator[Part]:
    """One task's header, its mm line and its areas (with ``pages``, each area's
    pages after it); ``blank``: a blank line first, as crash's before a later task."""
    data = {"pid": task.pid.value_()}
    yield Text(task_header(task), name="vm_task", data=data, blank_before=blank)
    mm = task.mm
    pid, addr = task.pid.value_(), task.value_()
    if not mm.value_():  # a kernel thread: crash's get_task_mem_usage leaves all 0
        row = Row(pid=pid, task=addr, mm=0, pgd=0, rss=0, total_vm=0)
        yield Table(_MM_COLUMNS, [row], name="vm_mm", sep="")
        return
    pgd = mm.pgd
    yield Table(
        _MM_COLUMNS,
        [
            Row(
                pid=pid,
                task=addr,
                mm=mm.value_(),
                pgd=pgd.value_(),
                rss=mm.rss.value_() * PAGE_SIZE // 1024,
                total_vm=mm.total_vm.value_() * PAGE_SIZE // 1024,
            )
        ],
        name="vm_mm",
        sep="",
    )
    rows = [
        Row(
            vma=vma.value_(),
            start=vma.vm_start.value_(),
            end=vma.vm_end.value_(),
            flags=vma.vm_flags.value_(),
            file=_file_of(vma),
        )
        for vma in for_each_vma(mm)
    ]
    # An exec'd program's text is a file mapping in 2.4.20; this simulator maps it
    # anonymously, and the user must see that, not only read it in the docs.
    stand_in = any(r["flags"] & VM_FLAGS["VM_EXEC"] and not r["file"] for r in rows)
    if not pages:
        yield Table(_VMA_COLUMNS, rows, name="vm_areas", sep="")
        if stand_in:
            yield Text(STAND_IN_NOTE, name="vm_note", data={"note": STAND_IN_NOTE})
        return
    columns = _page_columns(paddr_width(prog))
    shown = 0
    for row in rows:  # crash's PHYSADDR: the VMA heading again before each area
        yield Table(_VMA_COLUMNS, [row], name="vm_areas", sep="")
        yield Table(columns, list(_page_rows(prog, pgd, row, shown)), name="vm_pages", sep="")
        shown = max(shown, row["end"])


def _file_of(vma: Object) -> str:
    """crash's FILE column: the path of ``vm_file->f_dentry`` (escaped), or nothing for
    an anonymous area."""
    file = vma.vm_file
    if not file.value_():
        return ""
    try:
        return escape_text(dentry_path(file.f_dentry))
    except (FaultError, VmintroError):
        return f"(file {file.value_():x}: unreadable dentry)"


def _page_rows(prog: Program, pgd: Object, vma: Row, shown: int) -> Iterator[Row]:
    """crash's ``vm_area_page_dump``: each page of the area through ``uvtop``.
    Only pages below ``TASK_SIZE`` and above ``shown`` (the end of the areas
    before, which a sound list never overlaps): a corrupted list costs no more
    walks than the user address space has pages."""
    for virtual in range(max(vma["start"], shown), min(vma["end"], PAGE_OFFSET), PAGE_SIZE):
        walk = follow_pte(prog, pgd, virtual)
        yield Row(virtual=virtual, physical=walk.paddr)


def _vm_py(prog: Program, args: argparse.Namespace) -> str:
    pids = [t.pid.value_() for t in _tasks(prog, args.target)]
    pages = bool(args.physical)
    return f"""\
from vmintro.commands.builtin.vm import center, paddr_width
from vmintro.helpers import find_task, follow_pte, for_each_task, for_each_vma

width = paddr_width(prog)  # crash's PADDR_PRLEN: the highest physical address in hex
for pid in {pids!r}:
    task = next(t for t in for_each_task(prog, idle=True) if t.pid.value_() == pid)
    mm = task.mm  # NULL for a kernel thread: crash shows zeros
    user = bool(mm.value_())
    pgd = mm.pgd.value_() if user else 0
    rss = mm.rss.value_() * 4 if user else 0  # KiB: pages of 4 KiB
    vm = mm.total_vm.value_() * 4 if user else 0
    print(f"{{center(f'{{mm.value_():x}}', 8)}}  {{center(f'{{pgd:x}}', 8)}}  "
          f"{{center(f'{{rss}}k', 6)}}  {{center(f'{{vm}}k', 8)}}")
    if not user:
        continue
    shown = 0  # the end of the areas before: a corrupted list's overlaps are walked once
    for vma in for_each_vma(mm):  # mm->mmap, then vm_next
        start, end = vma.vm_start.value_(), vma.vm_end.value_()
        print(f"{{center(f'{{vma.value_():x}}', 8)}}  {{start:>8x}}  {{end:>8x}} "
              f"{{vma.vm_flags.value_():6x}}  ")
        if not {pages!r}:
            continue
        first, shown = max(start, shown), max(shown, end)
        for virtual in range(first, min(end, 0xC0000000), 4096):  # below TASK_SIZE
            paddr = follow_pte(prog, mm.pgd, virtual).paddr  # the task's page tables
            where = "(not mapped)" if paddr is None else f"{{paddr:x}}".rjust(width)
            print(f"{{virtual:<8x}}  {{where}}")
"""


def _tasks(prog: Program, words: list[str]) -> list[Object]:
    """The tasks the words name; none: the task the first CPU runs (crash's current
    context on a dump; ``init_task`` where the image does not say)."""
    if not has_tasks(prog):
        raise CommandError(NO_TASKS.replace("ps:", "vm:", 1))
    if words:
        return [resolve_task(prog, w, "vm") for w in words]
    running = sorted(current_tasks(prog))
    if not running:  # an image without aligned_data: the boot CPU's idle task
        return [init_task(prog)]
    return [resolve_task(prog, f"{running[0]:x}", "vm")]


@command(
    "vm",
    crash="`vm`",
    gdb="none: gdb has no view of a process's address space in a kernel core",
    help="a task's memory areas: mm, pgd, rss, total_vm and each VMA (crash's vm)",
    args=[
        arg("-p", "--physical", action="store_true", help="translate each page of each area"),
        arg("target", nargs="*", help="pid (decimal) or task_struct address (hex)"),
    ],
    py=_vm_py,
)
def vm(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """For each task named (by pid, or task_struct address; none: the task the
    first CPU runs, or the idle task where the image does not say), crash's
    task header (PID, TASK, CPU, COMMAND), then MM (task->mm), PGD (mm->pgd),
    RSS and TOTAL_VM (mm->rss, mm->total_vm, in KiB), then one line per area
    on mm->mmap in vm_next (address) order: the vm_area_struct, vm_start,
    vm_end, vm_flags in hex and the file (the path of vm_file's dentry; the
    simulated kernel maps a program's text and data anonymously, which a note
    under the areas says). A kernel thread has no mm: crash shows zeros and
    no areas, and so does vm.
    -p: each page of each area translated through the task's page directory
    (VIRTUAL PHYSICAL), "(not mapped)" where no page table or pte maps it.
    A list of areas that does not end (a cycle, an unreadable vm_next) stops
    with the area holding the bad link.
    """
    for i, task in enumerate(_tasks(prog, args.target)):
        try:
            yield from _vm_parts(prog, task, args.physical, i > 0)
        except (FaultError, VmintroError) as e:
            raise CommandError(f"vm: task {task.value_():#x}: {e}") from None
