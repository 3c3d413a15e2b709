"""``ps [-k | -u] [PID | TASK | COMMAND ...]``: the task list, as crash's ``ps`` shows it::

      PID    PPID  CPU   TASK    ST  %MEM      VSZ      RSS  COMM
        0       0   0  c0298000  RU   0.0        0        0  [swapper]
        1       0   0  c3ff4000  IN   0.1     1184      160  init

One line per task of the ``next_task`` ring, ``init_task`` (pid 0) included, by pid
as crash sorts them; ``>`` marks the task each CPU runs (``cpu_curr(cpu)``,
``aligned_data[cpu].schedule_data.curr``, where the image has it: a uniprocessor
2.4 never resets ``cpus_runnable``, so ``task_has_cpu`` says nothing there).
ST is crash's state: RU, IN, UN, ZO, ST.
VSZ and RSS (KiB) are ``mm->total_vm`` and ``mm->rss``, %MEM the rss against
crash's divisor (the pages below ``high_memory``, at most ``num_physpages``);
a kernel thread's COMM is bracketed.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.commands.argtypes import parse_address
from vmintro.commands.registry import CommandError, arg, command, one_of
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.errors import FaultError, VmintroError
from vmintro.escape import escape_text
from vmintro.helpers.pid import for_each_task
from vmintro.types.model import Array, strip_typedefs

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = [
    "NO_TASKS",
    "TaskInfo",
    "current_tasks",
    "has_tasks",
    "resolve_task",
    "task_infos",
    "task_state_string",
]

NO_TASKS = "ps: this image has no init_task_union (its kernel kept no task list in memory)"

# include/linux/sched.h: the states, as crash's task_state_string names them
_STATES = ((1, "IN"), (2, "UN"), (4, "ZO"), (8, "ST"))
TASK_ZOMBIE = 4
PF_EXITING = 0x00000004
MAX_CPUS = 32  # NR_CPUS: aligned_data has no more entries


def task_state_string(state: int) -> str:
    """crash's two letters for ``task->state``: RU for TASK_RUNNING, else the last of
    IN, UN, ZO, ST whose bit is set (crash's order), ?? for none."""
    if state == 0:
        return "RU"
    found = "??"
    for bit, name in _STATES:
        if state & bit:
            found = name
    return found


@dataclass
class TaskInfo:
    """What ``ps`` shows of one task."""

    task: int
    pid: int
    ppid: int
    cpu: int
    state: str
    active: bool
    kernel_thread: bool
    pct_mem: float
    vsz: int  # KiB
    rss: int  # KiB
    comm: str


def has_tasks(prog: Program) -> bool:
    """Whether the image's kernel keeps a task list (``init_task_union``)."""
    return "init_task_union" in prog


def _total_pages(prog: Program) -> int:
    """crash's divisor for %MEM (memory.c, ``get_task_mem_usage``): MIN of
    ``vt->total_pages``, the pages below ``high_memory`` (``BTOP(VTOP(high_memory))``,
    lowmem only on a HIGHMEM machine), and ``num_physpages``."""
    total = (prog["high_memory"].value_() - PAGE_OFFSET) // PAGE_SIZE
    physpages = prog["num_physpages"].value_()
    return min(total, physpages) if physpages else total


def current_tasks(prog: Program) -> set[int]:
    """The task each CPU runs, ``cpu_curr(cpu)`` of kernel/sched.c
    (``aligned_data[cpu].schedule_data.curr``); none where the image lacks it."""
    if "aligned_data" not in prog:
        return set()
    cpus = prog["aligned_data"]
    count = strip_typedefs(cpus.type_)
    n = min(count.count, MAX_CPUS) if isinstance(count, Array) else 0
    return {cpus[i].schedule_data.curr.value_() for i in range(n)} - {0}


def _info(task: Object, total: int, current: set[int]) -> TaskInfo:
    pid = task.pid.value_()
    state = task.state.value_() & 0xFFFFFFFF
    mm = task.mm.value_()
    zombie = bool(state & TASK_ZOMBIE)
    # crash's is_kernel_thread on a 2.4 kernel: pid 0, or no mm (a zombie or an
    # exiting task has dropped its mm and is none)
    kthread = pid == 0 or (not mm and not zombie and not task.flags.value_() & PF_EXITING)
    rss = vm = 0
    if mm and not zombie:
        rss, vm = task.mm.rss.value_(), task.mm.total_vm.value_()
    return TaskInfo(
        task=int(task),
        pid=pid,
        ppid=task.p_pptr.pid.value_(),
        cpu=task.processor.value_(),
        state=task_state_string(state),
        active=int(task) in current,
        kernel_thread=kthread,
        pct_mem=rss * 100 / total if total else 0.0,
        vsz=vm * PAGE_SIZE // 1024,
        rss=rss * PAGE_SIZE // 1024,
        comm=escape_text(task.comm.string_(16)),
    )


def task_infos(prog: Program) -> list[TaskInfo]:
    """Every task, ``init_task`` included, by pid as crash lists them."""
    total, current = _total_pages(prog), current_tasks(prog)
    infos = []
    for task in for_each_task(prog, idle=True):
        try:
            infos.append(_info(task, total, current))
        except FaultError as e:  # a pointer of the task (mm, p_pptr) leads nowhere
            raise CommandError(f"ps: task {int(task):#x}: {e}") from None
    return sorted(infos, key=lambda i: i.pid)


def resolve_task(prog: Program, word: str, what: str) -> Object:
    """The task ``word`` names, as crash's ``-c`` and ``set`` take it: a decimal pid
    (0 is ``init_task``) or a ``task_struct`` address (hex) on the task ring.

    :raises CommandError: (``what``: the command's prefix) when no task matches.
    """
    if not has_tasks(prog):
        raise CommandError(NO_TASKS.replace("ps:", f"{what}:", 1))
    tasks = list(for_each_task(prog, idle=True))
    if word.isdigit():
        pid = int(word)
        match = [t for t in tasks if t.pid.value_() == pid]
        if match:
            return match[0]
    try:
        addr = parse_address(prog, word)
    except CommandError:
        addr = None
    match = [t for t in tasks if int(t) == addr]
    if not match:
        raise CommandError(f"{what}: {word}: no task has that pid or task_struct address")
    return match[0]


def _mem(row: Row) -> str:
    # crash: "%.1f", a three-character value right-justified in four
    return f"{row['pct_mem']:.1f}".rjust(4) + " "


_COLUMNS = [
    Column("mark", "", width=2, text=lambda r: "> " if r["active"] else "  "),
    Column("pid_text", "PID", width=7, align=">", text=lambda r: str(r["pid"])),
    Column("ppid_text", "PPID", width=8, align=">", text=lambda r: str(r["ppid"])),
    Column("cpu_text", "  CPU ", width=6, text=lambda r: f" {r['cpu']:>3}  "),
    Column("task_text", "  TASK  ", width=8, text=lambda r: f"{r['task']:08x}"),
    Column("st_text", "  ST  ", width=6, text=lambda r: f" {r['state']:>3}  "),
    Column("mem_text", "%MEM ", width=5, text=_mem),
    Column("vsz_text", "     VSZ ", width=9, text=lambda r: f"{r['vsz']:8d} "),
    Column("rss_text", "     RSS  ", width=10, text=lambda r: f"{r['rss']:8d}  "),
    Column(
        "comm_text",
        "COMM",
        text=lambda r: f"[{r['comm']}]" if r["kernel_thread"] else r["comm"],
    ),
    *(
        Column(name)
        for name in "pid ppid cpu task state pct_mem vsz rss comm active kernel_thread".split()
    ),
]


def _row(info: TaskInfo) -> Row:
    return Row(**vars(info))


def _selected(prog: Program, infos: list[TaskInfo], words: list[str]) -> list[TaskInfo]:
    """The tasks each word names (a pid, a task address, or a command), in pid order."""
    chosen: set[int] = set()
    for word in words:
        match = {i.task for i in infos if word.isdigit() and i.pid == int(word)}
        if not match:
            try:
                addr = parse_address(prog, word)
            except CommandError:
                addr = None
            match = {i.task for i in infos if i.task == addr}
        match = match or {i.task for i in infos if i.comm == word}
        if not match:
            raise CommandError(f"ps: {word}: no task has that pid, task address or command")
        chosen |= match
    return [i for i in infos if i.task in chosen]


_PS_PY = """\
from vmintro.commands.builtin.ps import current_tasks, task_state_string
from vmintro.escape import escape_text
from vmintro.helpers import for_each_task

# crash's divisor: the pages below high_memory, at most num_physpages
total = min((prog["high_memory"].value_() - 0xC0000000) // 4096, prog["num_physpages"].value_())
running = current_tasks(prog)  # cpu_curr(cpu) of each CPU: aligned_data
rows = []
for task in for_each_task(prog, idle=True):  # the next_task ring from init_task
    pid, mm = task.pid.value_(), task.mm  # mm is NULL for a kernel thread
    state = task.state.value_() & 0xFFFFFFFF
    zombie = bool(state & 4)  # TASK_ZOMBIE
    kthread = pid == 0 or (not mm and not zombie and not task.flags.value_() & 4)  # PF_EXITING
    rss, vm = (mm.rss.value_(), mm.total_vm.value_()) if mm and not zombie else (0, 0)
    comm = escape_text(task.comm.string_())
    rows.append((
        pid,
        "> " if task.value_() in running else "  ",
        task.p_pptr.pid.value_(),
        task.processor.value_(),
        task.value_(),
        task_state_string(state),
        rss * 100 / total,
        vm * 4,  # KiB: pages of 4 KiB
        rss * 4,
        "[" + comm + "]" if kthread else comm,
        kthread,
    ))
for pid, mark, ppid, cpu, addr, st, mem, vsz, rss, comm, kthread in sorted(rows):{filter}
    print(f"{{mark}}{{pid:7}} {{ppid:7}} {{cpu:3}}  {{addr:08x}} {{st:>3}}  "
          f"{{mem:4.1f}} {{vsz:8}} {{rss:8}}  {{comm}}")
"""


def _ps_py(prog: Program, args: argparse.Namespace) -> str:
    if not has_tasks(prog):
        return f"print({NO_TASKS!r})  # no init_task_union: no task ring to walk\n"
    tests = []
    if args.target:  # the tasks the words name, by pid
        pids = tuple(i.pid for i in _selected(prog, task_infos(prog), args.target))
        tests.append(f"pid in {pids!r}")
    if args.kernel or args.user:
        tests.append("kthread" if args.kernel else "not kthread")
    extra = "".join(f"\n    if not ({t}):\n        continue" for t in tests)
    return _PS_PY.format(filter=extra)


@command(
    "ps",
    crash="`ps`",
    gdb="`lx-ps` of Linux's gdb scripts (4.0 and later; 2.4 has none)",
    help="the task list: pid, parent, cpu, task_struct, state, memory, command (crash's ps)",
    args=[
        one_of(
            arg("-k", "--kernel", action="store_true", help="kernel threads only"),
            arg("-u", "--user", action="store_true", help="user tasks only"),
        ),
        arg("target", nargs="*", help="pid (decimal), task_struct address (hex) or command"),
    ],
    py=_ps_py,
)
def ps(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """One line per task on the next_task ring from init_task (pid 0, the idle
    task crash calls swapper, included), by pid, in crash's layout: PID, the
    parent's pid (p_pptr), the CPU (processor), the task_struct address, the
    state (RU running, IN interruptible, UN uninterruptible, ZO zombie, ST
    stopped), %MEM (mm->rss of the pages below high_memory, as crash divides), VSZ and RSS in KiB
    (mm->total_vm, mm->rss) and the command; a kernel thread's (no mm of its
    own) is in brackets. ">" marks the task a CPU runs (aligned_data's
    schedule_data.curr, where the image has it).
    -k shows only kernel threads, -u only user tasks; PID, TASK or COMMAND
    words choose tasks. An image whose kernel kept no task list says so.
    """
    if not has_tasks(prog):
        yield Text(NO_TASKS, name="ps_empty", data={"tasks": 0})
        return
    try:
        infos = task_infos(prog)
    except CommandError:
        raise
    except VmintroError as e:  # a broken ring
        raise CommandError(f"ps: {e}") from None
    if args.target:
        infos = _selected(prog, infos, args.target)
    if args.kernel:
        infos = [i for i in infos if i.kernel_thread]
    elif args.user:
        infos = [i for i in infos if not i.kernel_thread]
    yield Table(_COLUMNS, [_row(i) for i in infos], name="ps", sep="")
