"""The out-of-memory killer (``mm/oom_kill.c``) and ``panic`` (``kernel/panic.c``).

``__alloc_pages`` reaches :func:`out_of_memory` through ``try_to_free_pages_zone``
when reclaim found nothing. The tasks are the ring 2.4.20 keeps from
``init_task_union.task`` through ``next_task``, read from the kernel's memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from vmintro.sim.errors import KernelPanic, LoopGuard, kernel_function
from vmintro.sim.kernel import KERN_EMERG, KERN_ERR, KernelMemory

__all__ = ["OOM_FAILURES", "badness", "out_of_memory", "select_bad_process"]

TASK = "struct task_struct"
INIT_TASK = "init_task_union"  # union task_union { struct task_struct task; ... }: at offset 0
SHIFT_HZ = 7  # HZ = 100 (include/linux/timex.h)
HZ = 100
PF_MEMALLOC = 0x800
PF_MEMDIE = 0x1000
CAP_SYS_RAWIO, CAP_SYS_ADMIN = 17, 21
SIGKILL, SIGTERM = 9, 15
MASK32 = 0xFFFFFFFF
NO_KILLABLE = "Out of memory and no killable processes..."
OOM_FAILURES = 10  # out_of_memory: "if (++count < 10) return;"


def init_task(k: KernelMemory) -> int:
    """``&init_task``: the task_struct at the start of ``init_task_union``."""
    return k.sym(INIT_TASK)


def current(k: KernelMemory) -> int:
    """``current``: the simulator makes its calls as the task on the CPU; with no
    other task running that is ``init_task`` (the idle task, pid 0)."""
    return init_task(k)


def for_each_task(k: KernelMemory) -> Iterator[int]:
    """``for_each_task(p)``: from ``init_task.next_task`` round to ``init_task``,
    which it leaves out. A ring that does not come back is the hang it would be."""
    first = init_task(k)
    guard = LoopGuard("select_bad_process", "the task ring", "tasklist_lock held")
    p = k.get(first, TASK, "next_task")
    while p != first:
        guard.visit(p)
        yield p
        p = k.get(p, TASK, "next_task")


def int_sqrt(x: int) -> int:
    """``int_sqrt``: oom_kill.c's rough square root, never 0."""
    out = x
    while x & ~1:
        x >>= 2
        out >>= 1
    if x:
        out -= out >> 2
    return out or 1


def _jiffies(k: KernelMemory) -> int:
    # a kernel without a clock has been up for no time at all
    return k.r32(k.sym("jiffies")) if "jiffies" in k.layout.symbols else 0


def _capable(k: KernelMemory, p: int, cap: int) -> bool:
    return bool(k.get(p, TASK, "cap_effective") >> cap & 1)


@kernel_function("badness", inline=True)
def badness(k: KernelMemory, p: int) -> int:
    """``badness``: the mm's size, less for long-running, root and raw-I/O tasks."""
    mm = k.get(p, TASK, "mm")
    if not mm:
        return 0
    points = k.get(mm, "struct mm_struct", "total_vm")
    points = points - (1 << 32) if points & 0x80000000 else points  # int points
    cpu = (k.get(p, TASK, "times.tms_utime") + k.get(p, TASK, "times.tms_stime")) & MASK32
    run = (_jiffies(k) - k.get(p, TASK, "start_time")) & MASK32
    points = int(points / int_sqrt(cpu >> (SHIFT_HZ + 3)))  # C division truncates
    points = int(points / int_sqrt(int_sqrt(run >> (SHIFT_HZ + 10))))
    nice = k.get(p, TASK, "nice")
    if nice and not nice & 0x80000000:
        points *= 2
    if _capable(k, p, CAP_SYS_ADMIN) or k.get(p, TASK, "uid") == 0 or k.get(p, TASK, "euid") == 0:
        points = int(points / 4)
    if _capable(k, p, CAP_SYS_RAWIO):
        points = int(points / 4)
    return points


@kernel_function("select_bad_process", inline=True)
def select_bad_process(k: KernelMemory) -> int | None:
    """``select_bad_process``: the task of most points, pid 0 never."""
    maxpoints, chosen = 0, None
    for p in for_each_task(k):
        if k.get(p, TASK, "pid"):
            points = badness(k, p)
            if points > maxpoints:
                chosen, maxpoints = p, points
    return chosen


def _comm(k: KernelMemory, p: int) -> str:
    raw = k.read(p + k.types.offsetof(TASK, "comm"), 16).split(b"\0", 1)[0]
    return raw.decode("latin-1")


@kernel_function("oom_kill_task")
def oom_kill_task(k: KernelMemory, p: int) -> None:
    """``oom_kill_task``: the kernel's message, a long timeslice, PF_MEMALLOC |
    PF_MEMDIE, and SIGKILL (SIGTERM with CAP_SYS_RAWIO) made pending.

    ``force_sig`` also queues a ``struct sigqueue`` when ``sigqueue_cachep`` has
    one to give; this kernel has no such cache, so only the pending bit is set.
    """
    k.printk(KERN_ERR + f"Out of Memory: Killed process {k.get(p, TASK, 'pid')} ({_comm(k, p)}).")
    k.set(p, TASK, "counter", 5 * HZ)
    k.set(p, TASK, "flags", k.get(p, TASK, "flags") | PF_MEMALLOC | PF_MEMDIE)
    sig = SIGTERM if _capable(k, p, CAP_SYS_RAWIO) else SIGKILL
    word = f"pending.signal.sig[{(sig - 1) // 32}]"
    k.set(p, TASK, word, k.get(p, TASK, word) | 1 << (sig - 1) % 32)
    k.set(p, TASK, "sigpending", 1)


@kernel_function("panic")
def panic(k: KernelMemory, function: str, message: str) -> KernelPanic:
    """``panic``: its lines in the log; the error that stops the machine."""
    k.printk(KERN_EMERG + f"Kernel panic: {message}")
    k.printk("")  # the format's own "\n" after the message's: an empty <4> line
    if not k.get(current(k), TASK, "pid"):
        k.printk(KERN_EMERG + "In idle task - not syncing")
    return KernelPanic(message, function)


@kernel_function("out_of_memory")
def out_of_memory(k: KernelMemory, failures: int) -> list[int]:
    """``out_of_memory``, on the ``failures``-th failed reclaim in a row: with swap
    space left not OOM; before its tenth call not yet; then ``oom_kill``. Returns
    the tasks killed (all that share the chosen one's mm).

    The simulation has no clock: the second out_of_memory waits for after its
    first call, and the five after a kill, are taken as passed, and failures
    before this allocation as long past (its ``since > 5*HZ`` reset).
    """
    if 0 < k.r32(k.sym("nr_swap_pages")) < 0x80000000:  # long nr_swap_pages > 0
        return []  # enough swap space left: not OOM
    if failures < OOM_FAILURES:  # if (++count < 10) return;
        return []
    p = select_bad_process(k)
    if p is None:
        raise panic(k, "oom_kill", NO_KILLABLE)
    mm = k.get(p, TASK, "mm")
    killed = [q for q in for_each_task(k) if k.get(q, TASK, "mm") == mm]
    for q in killed:
        oom_kill_task(k, q)
    return killed
