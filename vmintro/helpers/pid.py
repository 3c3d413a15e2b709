"""Process helpers (``include/linux/sched.h``, ``kernel/fork.c``): the task ring and the pid hash.

2.4.20 keeps every task on one ring, ``next_task``/``prev_task``, starting at
``init_task`` (``init_task_union.task``, the boot CPU's idle task, pid 0), and
hashes every task but that one into ``pidhash[PIDHASH_SZ]`` by ``pid_hashfn``.
drgn's helpers of the same names (``drgn.helpers.linux.pid``) walk 2.6's pid
namespaces, which 2.4 has not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.errors import CorruptionError, FaultError

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["find_task", "for_each_task", "init_task", "pid_hashfn"]

# include/linux/threads.h and include/linux/sched.h
PID_MAX = 0x8000
PIDHASH_SZ = 4096 >> 2
# Each task_struct heads its own 8 KiB task_union (two pages, the kernel stack above it)
TASK_UNION_SIZE = 8192


def init_task(prog: Program) -> Object:
    """``init_task``: ``&init_task_union.task``, the boot CPU's idle task (pid 0,
    ``swapper``), head of the task ring.

    :return: ``struct task_struct *``
    """
    return prog["init_task_union"].task.address_of_()


def _max_tasks(prog: Program) -> int:
    """More tasks than any image can hold: each has a pid below ``PID_MAX`` and an
    8 KiB ``task_union`` in RAM, so a longer ring is a corrupted one."""
    return min(PID_MAX, max(prog.ram_size, 1 << 20) // TASK_UNION_SIZE) + 1


def for_each_task(prog: Program, idle: bool = False) -> Iterator[Object]:
    """``for_each_task(p)``: every task on the ``next_task`` ring after ``init_task``,
    in ring order (newest last, as ``SET_LINKS`` puts each new task before
    ``init_task``). With ``idle``, ``init_task`` itself first (drgn's ``idle=True``;
    the kernel's macro skips it).

    Each step checks ``next->prev_task`` back to the task before it, as
    ``REMOVE_LINKS`` relies on; a ring that does not come back to ``init_task``
    (a cycle elsewhere), a broken back link, an unreadable task or more tasks
    than the machine can hold raise :class:`~vmintro.errors.CorruptionError`
    naming the task that holds the bad link.

    :return: iterator of ``struct task_struct *``
    """
    from vmintro.object import Object

    head = init_task(prog)
    ptr = head.type_
    task = prog.type("struct task_struct")
    o_next = task.offsetof("next_task")  # type: ignore[attr-defined]
    o_prev = task.offsetof("prev_task")  # type: ignore[attr-defined]
    first = int(head)
    if idle:
        yield head
    bound = _max_tasks(prog)
    seen = {first}
    prev = first
    try:
        node = prog.read_u32(first + o_next)
    except FaultError as e:
        raise CorruptionError(f"task ring: init_task cannot be read: {e}", first) from None
    while node != first:
        if node in seen:
            raise CorruptionError(
                f"task ring: cycle: task at {prev:#x} has next_task {node:#x}, "
                "which does not lead back to init_task",
                prev,
            )
        if len(seen) >= bound:
            raise CorruptionError(f"task ring: more than {bound - 1} tasks", prev)
        try:
            back = prog.read_u32(node + o_prev)
            nxt = prog.read_u32(node + o_next)
        except FaultError:
            raise CorruptionError(
                f"task ring: task at {prev:#x} has next_task {node:#x}, which cannot be read",
                prev,
            ) from None
        if back != prev:
            raise CorruptionError(
                f"task ring: task at {node:#x} has prev_task {back:#x}, expected {prev:#x}", node
            )
        seen.add(node)
        yield Object(prog, ptr, node)
        prev, node = node, nxt


def pid_hashfn(pid: int) -> int:
    """``pid_hashfn``: the ``pidhash`` slot of ``pid``."""
    return ((pid >> 8) ^ pid) & (PIDHASH_SZ - 1)


def find_task(prog: Program, pid: int) -> Object | None:
    """``find_task_by_pid``: the task of ``pid`` from its ``pidhash`` chain
    (``pidhash_next``), or None (NULL) when no task has it. As in the kernel,
    ``init_task`` (pid 0) is never hashed: ``find_task(prog, 0)`` is None, and
    :func:`init_task` is the idle task.

    A chain longer than the tasks a machine can hold, or with a cycle, raises
    :class:`~vmintro.errors.CorruptionError`.

    :return: ``struct task_struct *`` or None
    """
    from vmintro.helpers.list import singly_linked
    from vmintro.object import Object

    if not 0 <= pid < 1 << 31:
        return None
    task = prog.type("struct task_struct")
    o_pid = task.offsetof("pid")  # type: ignore[attr-defined]
    o_hnext = task.offsetof("pidhash_next")  # type: ignore[attr-defined]
    chain = f"pidhash[{pid_hashfn(pid)}]"
    first = prog["pidhash"][pid_hashfn(pid)].value_()
    for node in singly_linked(prog, first, o_hnext, chain, _max_tasks(prog)):
        try:
            found = prog.read_u32(node + o_pid)
        except FaultError:
            raise CorruptionError(
                f"{chain}: task {node:#x} on the chain cannot be read", node
            ) from None
        if found == pid:
            return Object(prog, prog.type("struct task_struct *"), node)
    return None
