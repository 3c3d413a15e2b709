"""Processes: 2.4.20's task list, each task's address space, and a kernel-mode
access from a task's context.

The tasks are ``struct task_struct``s in RAM as ``kernel/fork.c`` and
``kernel/exit.c`` leave them: ``init_task`` (``init_task_union.task``, pid 0,
the idle task) heads the ring of ``next_task``/``prev_task``; every other task
is an order-1 block from ``alloc_task_struct`` (``__get_free_pages(GFP_KERNEL,
1)``: the task and its 8 KiB kernel stack), hashed in ``pidhash`` and linked to
its parent by ``SET_LINKS``. A process's ``mm_struct`` comes from
``mm_cachep``, on ``init_mm.mmlist``, with a page directory from ``pgd_alloc``:
``get_pgd_slow`` of ``include/asm-i386/pgalloc.h`` copies the kernel part of
``swapper_pg_dir`` as it is at that moment (the per-CPU ``pgd_quicklist`` is
always empty: ``pgd_free`` is ``free_pgd_slow``, so nothing ever goes there).

A later ``vmalloc`` writes only ``swapper_pg_dir`` (``init_mm.pgd``). A task
reaches the new area through ``do_page_fault``'s ``vmalloc_fault:`` path
(``arch/i386/mm/fault.c``), which copies the missing entry from ``init_mm.pgd``
into the page directory in ``%cr3``. Under PAE, ``get_pgd_slow`` gives each
process three pmd pages of its own for user space but copies the fourth pgd
entry, so the kernel's pmd page is shared with ``swapper_pg_dir``: a page table
``vmalloc`` adds is seen by every process at once, a present vmalloc page never
faults, and for an address no area maps the fault path rewrites the shared
entries with the values they already hold before it reaches ``no_context``.

The machine is modelled idle between calls: the idle task (``current``) runs on
``init_mm`` (``sched_init``'s lazy reference), every other task sleeps
(``TASK_INTERRUPTIBLE``, off the run queue). So ``runqueue_head`` is empty,
``nr_running`` 0 and ``cpu_curr(0)`` (``aligned_data[0].schedule_data.curr``)
the idle task, which is ``TASK_RUNNING`` but never on the queue; every task that
ran has ``cpus_runnable`` 1, as a uniprocessor kernel never resets it. A
sleeping kernel thread has ``active_mm`` NULL: ``schedule()`` clears it when it
switches away from a task without an ``mm`` (and ``BUG_ON``s a non-NULL one when
it switches to one).

The bookkeeping (:attr:`Processes.records`) is the simulator's own account of
each task for the truth file; everything else is read from RAM, so a kernel
resumed from an image finds its tasks by walking the ring.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE, SWAPPER_PG_DIR
from vmintro.sim.buddy import Buddy
from vmintro.sim.errors import KernelPanic, PageFault, SimulationError, kernel_function
from vmintro.sim.kernel import KERN_EMERG, KernelMemory
from vmintro.sim.paging import KernelPageTables
from vmintro.sim.slab import Slab
from vmintro.sim.uservm import UserVM
from vmintro.sim.vmaccess import virt_to_phys_walk
from vmintro.types.flags import (
    CLONE_FILES,
    CLONE_FS,
    CLONE_SIGHAND,
    CLONE_SIGNAL,
    CLONE_VM,
    GFP_KERNEL,
    NR_OPEN_DEFAULT,
    PF_FORKNOEXEC,
    PID_MAX,
    PIDHASH_SZ,
    RLIM_INFINITY,
    RLIM_NLIMITS,
    RLIMIT_NPROC,
    SIGCHLD,
    SLAB_HWCACHE_ALIGN,
    TASK_STATES,
    THREAD_SIZE,
)

__all__ = [
    "INIT_PROCESS",
    "KERNEL_THREADS",
    "ForkFailed",
    "Processes",
    "TaskInfo",
    "init_task_static",
    "sched_init",
]

TS = "struct task_struct"
MM = "struct mm_struct"
SIG = "struct signal_struct"
FILES = "struct files_struct"
FS = "struct fs_struct"
USER = "struct user_struct"

TASK_RUNNING = TASK_STATES["TASK_RUNNING"]
TASK_INTERRUPTIBLE = TASK_STATES["TASK_INTERRUPTIBLE"]
TASK_UNINTERRUPTIBLE = TASK_STATES["TASK_UNINTERRUPTIBLE"]
TASK_ZOMBIE = TASK_STATES["TASK_ZOMBIE"]
STATE_NAMES = {v: k for k, v in TASK_STATES.items()}

DEF_COUNTER = 10  # 10 * HZ / 100
MAX_COUNTER = 20
KERNEL_DS = 0xFFFFFFFF
CAP_SETPCAP = 8
SLAB_MUST_HWCACHE_ALIGN = 0x00008000
FD_SETSIZE = 1024
PT_REGS_SIZE = 15 * 4  # struct pt_regs: the child's registers at the top of its stack
TASK_SIZE = PAGE_OFFSET
# include/asm-i386/resource.h: INIT_RLIMITS (RLIMIT_STACK _STK_LIM, RLIMIT_CORE 0,
# RLIMIT_NPROC 0/0 until fork_init sets it, RLIMIT_NOFILE INR_OPEN)
_INR_OPEN = 1024
_INIT_RLIMITS = (
    (RLIM_INFINITY, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
    (8 << 20, RLIM_INFINITY),
    (0, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
    (0, 0),
    (_INR_OPEN, _INR_OPEN),
    (RLIM_INFINITY, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
    (RLIM_INFINITY, RLIM_INFINITY),
)
assert len(_INIT_RLIMITS) == RLIM_NLIMITS

# init/main.c: rest_init's kernel_thread(init), then what init starts before it
# execs /sbin/init: do_basic_setup's start_context_thread, then the initcalls in
# link order (kernel/softirq.c, mm/vmscan.c, fs/buffer.c). (comm, clone flags)
INIT_PROCESS = ("init", CLONE_FS | CLONE_FILES | CLONE_SIGNAL)
KERNEL_THREADS = (
    ("keventd", CLONE_FS | CLONE_FILES | CLONE_SIGHAND),  # kernel/context.c
    ("ksoftirqd_CPU0", CLONE_FS | CLONE_FILES | CLONE_SIGNAL),  # kernel/softirq.c
    ("kswapd", CLONE_FS | CLONE_FILES | CLONE_SIGNAL),  # mm/vmscan.c
    ("bdflush", CLONE_FS | CLONE_FILES | CLONE_SIGHAND),  # fs/buffer.c
    ("kupdated", CLONE_FS | CLONE_FILES | CLONE_SIGHAND),  # fs/buffer.c
)
INIT_PATH = "/sbin/init"


class ForkFailed(SimulationError):
    """``do_fork`` returned ``-errno`` (``-EAGAIN``: max_threads or RLIMIT_NPROC;
    ``-ENOMEM``: no memory for the task or its copies). sys_fork hands it to user
    space and the kernel goes on: a result, not a stop."""

    def __init__(self, errno_name: str) -> None:
        super().__init__(f"do_fork: -{errno_name}")
        self.errno_name = errno_name
        self.retval = -getattr(errno, errno_name)  # what do_fork returns


@dataclass(frozen=True)
class TaskInfo:
    """One task as the OOM killer and the truth see it."""

    pid: int
    task: int
    comm: str
    mm: int
    total_vm: int  # pages
    rss: int  # pages


class Processes:
    """The task list and the process address spaces of one kernel."""

    def __init__(self, k: KernelMemory, buddy: Buddy, slab: Slab) -> None:
        self.k, self.buddy, self.slab = k, buddy, slab
        self.pt = KernelPageTables(k)
        self.init_task = k.sym("init_task_union")
        self.init_mm = k.sym("init_mm")
        # the simulator's account of each live task, by pid (the truth's "tasks")
        self.records: dict[int, dict[str, int | str | list[list[int]]]] = {}
        # get_pid's `static int next_safe`: not in the image, but only a search hint
        self.next_safe = PID_MAX
        # the task of the last touch that oopsed, which die() then kills
        self.oopsed: int | None = None
        buddy.run_victim = self.kill  # the OOM killer's victim, run in __alloc_pages' yield()
        # the user address spaces: VMAs, user page tables, anonymous pages
        self.vm = UserVM(self)
        self.oom_killed: list[int] = []  # the OOM killer's victims since last asked
        buddy.memdie = lambda: self.vm.doomed  # the faulting task chosen: PF_MEMDIE

    @classmethod
    def attach(cls, k: KernelMemory, buddy: Buddy, slab: Slab) -> Processes:
        """The tasks of a kernel already running, found by walking ``init_task``'s
        ring in ``k``'s RAM (nothing written)."""
        procs = cls(k, buddy, slab)
        for task in procs.for_each_task():
            procs._record(task)
        return procs

    # -- typed access ---------------------------------------------------------------

    def get(self, task: int, field: str) -> int:
        return self.k.get(task, TS, field)

    def set(self, task: int, field: str, value: int) -> None:
        self.k.set(task, TS, field, value & 0xFFFFFFFF)

    def _list_init(self, addr: int) -> None:
        _list_init(self.k, addr)

    def _charge(self, user: int, delta: int) -> None:
        """A process more (1) or less (-1) for ``user``: its ``processes`` and its
        reference count (``free_uid`` of root_user never frees it)."""
        self._atomic_add(user, USER, "processes.counter", delta)
        self._atomic_add(user, USER, "__count.counter", delta)

    def _atomic_add(self, addr: int, typename: str, path: str, delta: int) -> int:
        """``atomic_add`` (``atomic_inc``, ``atomic_dec``...) of a counter: its new value."""
        value = self.k.get(addr, typename, path) + delta
        self.k.set(addr, typename, path, value)
        return value

    def _field(self, task: int, path: str) -> int:
        return task + self.k.types.offsetof(TS, path)

    def comm(self, task: int) -> str:
        raw = self.k.read(self._field(task, "comm"), 16).split(b"\0")[0]
        return raw.decode(errors="replace")

    def _set_comm(self, task: int, name: str) -> None:
        # flush_old_exec: at most 15 characters of the file name's last component
        self.k.write(self._field(task, "comm"), name.encode()[:15].ljust(16, b"\0"))

    # -- the task list --------------------------------------------------------------

    def for_each_task(self) -> Iterator[int]:
        """``for_each_task``: the tasks after ``init_task`` on the ring (the idle task
        is not among them), each once, stopping at a ring that does not close."""
        seen = {self.init_task}
        p = self.get(self.init_task, "next_task")
        while p not in seen:
            seen.add(p)
            yield p
            p = self.get(p, "next_task")

    def tasks(self) -> list[TaskInfo]:
        """Every task but the idle task, with its memory (for ``out_of_memory``)."""
        out = []
        for task in self.for_each_task():
            mm = self.get(task, "mm")
            total = self.k.get(mm, MM, "total_vm") if mm else 0
            rss = self.k.get(mm, MM, "rss") if mm else 0
            out.append(TaskInfo(self.get(task, "pid"), task, self.comm(task), mm, total, rss))
        return out

    def find_task_by_pid(self, pid: int) -> int | None:
        """``find_task_by_pid``: the chain of ``pidhash[pid_hashfn(pid)]``."""
        p = self.k.r32(self.k.sym("pidhash") + 4 * _pid_hashfn(pid))
        seen: set[int] = set()
        while p and p not in seen and self.get(p, "pid") != pid:
            seen.add(p)
            p = self.get(p, "pidhash_next")
        return p if p and p not in seen else None

    def task_of(self, pid: int) -> int:
        """The task with ``pid`` (0 is the idle task).

        :raises SimulationError: no such task.
        """
        if pid == 0:
            return self.init_task
        task = self.find_task_by_pid(pid)
        if task is None:
            raise SimulationError(f"no process has pid {pid}")
        return task

    def _record(self, task: int) -> None:
        k = self.k
        mm = self.get(task, "mm")
        parent = self.get(task, "p_pptr")
        vmas = self.vm.mmap.vmas(mm) if mm else []
        self.records[self.get(task, "pid")] = {
            "rss": k.get(mm, MM, "rss") if mm else 0,
            "total_vm": k.get(mm, MM, "total_vm") if mm else 0,
            "vmas": [
                [self.vm.mmap.get(v, f) for f in ("vm_start", "vm_end", "vm_flags")] for v in vmas
            ],
            "pid": self.get(task, "pid"),
            "ppid": self.get(parent, "pid") if parent else 0,
            "comm": self.comm(task),
            "task": task,
            "mm": mm,
            "pgd": k.get(mm, MM, "pgd") if mm else 0,
            "state": STATE_NAMES.get(self.get(task, "state"), str(self.get(task, "state"))),
        }

    @kernel_function("hash_pid", inline=True)
    def hash_pid(self, p: int) -> None:
        k = self.k
        htable = k.sym("pidhash") + 4 * _pid_hashfn(self.get(p, "pid"))
        first = k.r32(htable)
        self.set(p, "pidhash_next", first)
        if first:
            self.set(first, "pidhash_pprev", self._field(p, "pidhash_next"))
        k.w32(htable, p)
        self.set(p, "pidhash_pprev", htable)

    @kernel_function("unhash_pid", inline=True)
    def unhash_pid(self, p: int) -> None:
        nxt = self.get(p, "pidhash_next")
        pprev = self.get(p, "pidhash_pprev")
        if nxt:
            self.set(nxt, "pidhash_pprev", pprev)
        self.k.w32(pprev, nxt)

    @kernel_function("SET_LINKS", inline=True)
    def set_links(self, p: int) -> None:
        init = self.init_task
        last = self.get(init, "prev_task")
        self.set(p, "next_task", init)
        self.set(p, "prev_task", last)
        self.set(last, "next_task", p)
        self.set(init, "prev_task", p)
        self.set(p, "p_ysptr", 0)
        parent = self.get(p, "p_pptr")
        older = self.get(parent, "p_cptr")
        self.set(p, "p_osptr", older)
        if older:
            self.set(older, "p_ysptr", p)
        self.set(parent, "p_cptr", p)

    @kernel_function("REMOVE_LINKS", inline=True)
    def remove_links(self, p: int) -> None:
        nxt, prev = self.get(p, "next_task"), self.get(p, "prev_task")
        self.set(nxt, "prev_task", prev)
        self.set(prev, "next_task", nxt)
        older, younger = self.get(p, "p_osptr"), self.get(p, "p_ysptr")
        if older:
            self.set(older, "p_ysptr", younger)
        if younger:
            self.set(younger, "p_osptr", older)
        else:
            self.set(self.get(p, "p_pptr"), "p_cptr", older)

    def _list_add(self, new: int, head: int) -> None:
        self.buddy.list_add(new, head)

    def _list_del(self, entry: int) -> None:
        """2.4.20's ``list_del``: unlinked, and both pointers NULL."""
        self.buddy.list_del(entry)
        self.k.w32(entry, 0)
        self.k.w32(entry + 4, 0)

    @kernel_function("get_pid")
    def get_pid(self) -> int:
        """``get_pid``: the next free pid after ``last_pid`` (300 on after wrapping),
        none in use as a pid, pgrp, tgid or session; 0 when every one is taken."""
        k = self.k
        last = k.sym("last_pid")
        begin = _signed(k.r32(last))
        pid = begin + 1
        if pid & 0xFFFF8000 or pid >= self.next_safe:
            if pid & 0xFFFF8000:
                pid = 300
            self.next_safe = PID_MAX
            used = [
                [_signed(self.get(p, f)) for f in ("pid", "pgrp", "tgid", "session")]
                for p in self.for_each_task()
            ]
            while True:
                if any(pid in ids for ids in used):
                    pid += 1
                    if pid >= self.next_safe:
                        if pid & 0xFFFF8000:
                            pid = 300
                        self.next_safe = PID_MAX
                    if pid == begin:
                        k.w32(last, pid)
                        return 0
                    continue
                above = [i for ids in used for i in ids if i > pid]
                self.next_safe = min([self.next_safe, *above])
                break
        k.w32(last, pid)
        return pid

    # -- boot -----------------------------------------------------------------------

    def pgtable_cache_init(self) -> None:
        """``pgtable_cache_init``: PAE page directories (32 bytes, 16-byte aligned)
        come from their own cache; nothing to do without PAE."""
        if self.k.config.pae:
            cache = self.slab.kmem_cache_create(
                "pae_pgd", 32, SLAB_HWCACHE_ALIGN | SLAB_MUST_HWCACHE_ALIGN
            )
            self.k.w32(self.k.sym("pae_pgd_cachep"), cache)

    def fork_init(self, mempages: int) -> None:
        """``fork_init(num_mappedpages)``: thread structures may take half of memory."""
        k = self.k
        max_threads = mempages // (THREAD_SIZE // PAGE_SIZE) // 8
        k.w32(k.sym("max_threads"), max_threads)
        rlim = self._field(self.init_task, f"rlim[{RLIMIT_NPROC}]")
        k.w32(rlim, max_threads // 2)
        k.w32(rlim + 4, max_threads // 2)

    def proc_caches_init(self) -> None:
        """``proc_caches_init``: the caches ``fork`` allocates from."""
        k, types = self.k, self.k.types
        for var, name, typename in (
            ("sigact_cachep", "signal_act", SIG),
            ("files_cachep", "files_cache", FILES),
            ("fs_cachep", "fs_cache", FS),
            ("vm_area_cachep", "vm_area_struct", "struct vm_area_struct"),
            ("mm_cachep", "mm_struct", MM),
        ):
            cache = self.slab.kmem_cache_create(name, types.sizeof(typename), SLAB_HWCACHE_ALIGN)
            k.w32(k.sym(var), cache)

    @kernel_function("rest_init")
    def rest_init(self) -> None:
        """``rest_init``'s ``kernel_thread(init)`` (pid 1, named "swapper" until its
        exec), then the threads ``init`` starts in ``do_basic_setup``: each
        ``daemonize``s, names itself and sleeps."""
        self.kernel_thread(INIT_PROCESS[1], current=0)
        for name, flags in KERNEL_THREADS:
            task = self.task_of(self.kernel_thread(flags, current=1))
            self.daemonize(task)
            self._set_comm(task, name)
            self._record(task)

    @kernel_function("init")
    def exec_init(self) -> None:
        """``init``'s ``execve("/sbin/init")``: pid 1 gets a private signal table and
        a new ``mm`` whose page directory comes from ``pgd_alloc`` now, at the end
        of boot."""
        self.do_execve(INIT_PATH, 1)

    # -- fork -----------------------------------------------------------------------

    @kernel_function("kernel_thread")
    def kernel_thread(self, flags: int, current: int) -> int:
        """``kernel_thread``: ``clone(flags | CLONE_VM)`` from ``current``."""
        return self.do_fork(flags | CLONE_VM, current)

    @kernel_function("alloc_task_struct", inline=True)
    def alloc_task_struct(self) -> int | None:
        """``alloc_task_struct``: ``__get_free_pages(GFP_KERNEL, 1)``."""
        return self.buddy.get_free_pages(GFP_KERNEL, 1)

    @kernel_function("free_task_struct", inline=True)
    def free_task_struct(self, p: int) -> None:
        self.buddy.free_page_vaddr(p, 1)

    @kernel_function("do_fork", entry=("clone_flags", "current"), returns="int")
    def do_fork(self, clone_flags: int, current: int) -> int:
        """``do_fork``: a copy of ``current``'s task (pid ``current``), sharing or
        copying files, fs, signal handlers and mm as ``clone_flags`` say; returns
        the child's pid.

        :raises ForkFailed: -ENOMEM or -EAGAIN, as do_fork returns them.
        """
        k = self.k
        cur = self.task_of(current)
        p = self.alloc_task_struct()
        if p is None:
            raise ForkFailed("ENOMEM")
        k.write(p, k.read(cur, k.types.sizeof(TS)))  # *p = *current
        # every task is root's, with CAP_SYS_ADMIN: the RLIMIT_NPROC test never refuses
        user = self.get(p, "user")
        self._charge(user, 1)
        nr_threads = _signed(k.r32(k.sym("nr_threads")))
        if nr_threads >= _signed(k.r32(k.sym("max_threads"))):
            self._charge(user, -1)
            self.free_task_struct(p)
            raise ForkFailed("EAGAIN")
        self.set(p, "did_exec", 0)
        self.set(p, "swappable", 0)
        self.set(p, "state", TASK_UNINTERRUPTIBLE)
        self.set(p, "flags", self.get(p, "flags") | PF_FORKNOEXEC)  # copy_flags
        pid = self.get_pid()
        if pid == 0 and current != 0:
            self.free_task_struct(p)
            raise ForkFailed("EAGAIN")
        self.set(p, "pid", pid)
        self.set(p, "run_list.next", 0)
        self.set(p, "run_list.prev", 0)
        self.set(p, "p_cptr", 0)
        self._list_init(self._field(p, "wait_chldexit.task_list"))
        self.set(p, "vfork_done", 0)
        self.set(p, "sigpending", 0)
        self.set(p, "pending.head", 0)  # init_sigpending
        self.set(p, "pending.tail", self._field(p, "pending.head"))
        self.set(p, "pending.signal.sig[0]", 0)
        self.set(p, "pending.signal.sig[1]", 0)
        for f in ("it_real_value", "it_virt_value", "it_prof_value"):
            self.set(p, f, 0)
        for f in ("it_real_incr", "it_virt_incr", "it_prof_incr"):
            self.set(p, f, 0)
        self.set(p, "real_timer.list.next", 0)  # init_timer
        self.set(p, "real_timer.list.prev", 0)
        self.set(p, "real_timer.data", p)
        self.set(p, "leader", 0)
        self.set(p, "tty_old_pgrp", 0)
        for f in ("tms_utime", "tms_stime", "tms_cutime", "tms_cstime"):
            self.set(p, f"times.{f}", 0)
        self.set(p, "lock_depth", -1)
        self.set(p, "start_time", 0)  # jiffies: the simulated clock does not tick
        self._list_init(self._field(p, "local_pages"))
        self.copy_files(clone_flags, p, cur)
        self.copy_fs(clone_flags, p, cur)
        self.copy_sighand(clone_flags, p, cur)
        if not self.copy_mm(clone_flags, p, cur):
            self._undo_fork(p, cur)
            raise ForkFailed("ENOMEM")
        self.copy_thread(p)
        self.set(p, "semundo", 0)
        self.set(p, "parent_exec_id", self.get(p, "self_exec_id"))
        self.set(p, "swappable", 1)
        self.set(p, "exit_signal", clone_flags & 0xFF)  # CSIGNAL
        self.set(p, "pdeath_signal", 0)
        counter = _signed(self.get(cur, "counter"))
        self.set(p, "counter", (counter + 1) >> 1)
        self.set(cur, "counter", counter >> 1)
        if not counter >> 1:
            self.set(cur, "need_resched", 1)
        self.set(p, "tgid", pid)
        self._list_init(self._field(p, "thread_group"))
        self.set(p, "p_opptr", cur)
        self.set(p, "p_pptr", cur)
        if clone_flags & 0x00010000:  # CLONE_THREAD
            self.set(p, "tgid", self.get(cur, "tgid"))
            self._list_add(self._field(p, "thread_group"), self._field(cur, "thread_group"))
        self.set_links(p)
        self.hash_pid(p)
        k.w32(k.sym("nr_threads"), nr_threads + 1)
        # wake_up_process: it runs, and sleeps again before the next call
        self._sleep(p)
        self._record(p)
        return pid

    def _sleep(self, p: int) -> None:
        """The task ran and went to sleep: ``TASK_INTERRUPTIBLE``, off the run queue
        (``del_from_runqueue`` leaves ``run_list.next`` NULL)."""
        self.set(p, "state", TASK_INTERRUPTIBLE)
        self.set(p, "run_list.next", 0)
        self.set(p, "run_list.prev", 0)
        # it ran, and schedule() switched to the idle task: task_set_cpu on both,
        # and a uniprocessor kernel never calls task_release_cpu
        for task in (p, self.task_of(0)):
            self.set(task, "processor", 0)
            self.set(task, "cpus_runnable", 1)
        if not self.get(p, "mm"):
            self.set(p, "active_mm", 0)  # schedule(): a lazy task gives back its mm
        self._record(p)

    def _undo_fork(self, p: int, cur: int) -> None:
        """do_fork's bad_fork_cleanup_sighand path down to bad_fork_free."""
        self.exit_sighand(p)
        self.exit_fs(p)
        self.exit_files(p)
        self._charge(self.get(p, "user"), -1)
        self.free_task_struct(p)

    @kernel_function("copy_files")
    def copy_files(self, clone_flags: int, p: int, cur: int) -> None:
        """``copy_files``: share (``CLONE_FILES``) or a new table from ``files_cachep``
        (no file is open, so its bitmaps and fd array are all clear)."""
        k = self.k
        old = self.get(cur, "files")
        if not old or self._shared(clone_flags & CLONE_FILES, old, FILES):
            return
        self.set(p, "files", 0)
        new = self._cache_alloc("files_cachep")
        k.zero(new, k.types.sizeof(FILES))
        _files_init(k, new)
        self.set(p, "files", new)

    @kernel_function("copy_fs")
    def copy_fs(self, clone_flags: int, p: int, cur: int) -> None:
        """``copy_fs``: share (``CLONE_FS``) or ``__copy_fs_struct`` from ``fs_cachep``."""
        k = self.k
        old = self.get(cur, "fs")
        if self._shared(clone_flags & CLONE_FS, old, FS):
            return
        new = self._cache_alloc("fs_cachep")
        k.set(new, FS, "count.counter", 1)
        k.set(new, FS, "umask", k.get(old, FS, "umask"))
        for f in ("rootmnt", "root", "pwdmnt", "pwd"):
            k.set(new, FS, f, k.get(old, FS, f))  # mntget/dget: no dentry is modelled
        k.set(new, FS, "altrootmnt", 0)
        k.set(new, FS, "altroot", 0)
        self.set(p, "fs", new)

    @kernel_function("copy_sighand")
    def copy_sighand(self, clone_flags: int, p: int, cur: int) -> None:
        """``copy_sighand``: share (``CLONE_SIGHAND``) or a copy from ``sigact_cachep``."""
        old = self.get(cur, "sig")
        if not self._shared(clone_flags & CLONE_SIGHAND, old, SIG):
            self.set(p, "sig", self._new_sig(old))

    def _shared(self, share: int, old: int, typename: str) -> bool:
        """Whether the clone flag ``share`` shares the parent's ``old``: then it has one
        user more."""
        if share:
            self._atomic_add(old, typename, "count.counter", 1)
        return bool(share)

    def _cache_alloc(self, cachep: str) -> int:
        """``kmem_cache_alloc(cachep, GFP_KERNEL)``.

        :raises SimulationError: -ENOMEM, as the caller returns it.
        """
        new = self.slab.kmem_cache_alloc(self.k.r32(self.k.sym(cachep)), GFP_KERNEL)
        if new is None:
            raise SimulationError("-ENOMEM")
        return new

    def _new_sig(self, old: int) -> int:
        """A signal table from ``sigact_cachep``: count 1, ``action`` copied from ``old``."""
        k = self.k
        new = self._cache_alloc("sigact_cachep")
        k.set(new, SIG, "count.counter", 1)
        action = k.types.offsetof(SIG, "action")
        size = k.types.sizeof(SIG) - action
        k.write(new + action, k.read(old + action, size))
        return new

    @kernel_function("copy_mm")
    def copy_mm(self, clone_flags: int, p: int, cur: int) -> bool:
        """``copy_mm``: nothing for a kernel thread, ``current->mm`` shared with
        ``CLONE_VM``, else a new ``mm_struct`` (a copy of the parent's) with its own
        page directory; the parent has no VMAs to duplicate (``dup_mmap``)."""
        k = self.k
        for f in ("min_flt", "maj_flt", "cmin_flt", "cmaj_flt", "nswap", "cnswap"):
            self.set(p, f, 0)
        self.set(p, "mm", 0)
        self.set(p, "active_mm", 0)
        oldmm = self.get(cur, "mm")
        if not oldmm:
            return True
        mm: int | None = oldmm
        if clone_flags & CLONE_VM:
            self._atomic_add(oldmm, MM, "mm_users.counter", 1)
        else:
            mm = self.allocate_mm()
            if mm is None:
                return False
            k.write(mm, k.read(oldmm, k.types.sizeof(MM)))  # memcpy(mm, oldmm, ...)
            if not self.mm_init(mm):
                return False
            if not self.dup_mmap(mm, oldmm):  # free_pt
                self.mmput(mm)
                return False
        assert mm is not None
        self.set(p, "mm", mm)
        self.set(p, "active_mm", mm)
        return True

    @kernel_function("copy_thread")
    def copy_thread(self, p: int) -> None:
        """``copy_thread``: the child's registers at the top of its kernel stack."""
        regs = p + THREAD_SIZE - PT_REGS_SIZE
        self.k.zero(regs, PT_REGS_SIZE)  # struct_cpy(childregs, regs); eax = 0
        self.set(p, "thread.esp", regs)
        self.set(p, "thread.esp0", p + THREAD_SIZE)

    @kernel_function("allocate_mm", inline=True)
    def allocate_mm(self) -> int | None:
        """``allocate_mm``: ``kmem_cache_alloc(mm_cachep, SLAB_KERNEL)``."""
        k = self.k
        return self.slab.kmem_cache_alloc(k.r32(k.sym("mm_cachep")), GFP_KERNEL)

    @kernel_function("mm_init")
    def mm_init(self, mm: int) -> bool:
        """``mm_init``: counts 1, an empty ``mmap_sem``, a page directory."""
        k = self.k
        k.set(mm, MM, "mm_users.counter", 1)
        k.set(mm, MM, "mm_count.counter", 1)
        k.set(mm, MM, "mmap_sem.count", 0)  # init_rwsem: RWSEM_UNLOCKED_VALUE
        self._list_init(mm + k.types.offsetof(MM, "mmap_sem.wait_list"))
        pgd = self.pgd_alloc()
        k.set(mm, MM, "pgd", pgd or 0)
        k.set(mm, MM, "def_flags", 0)
        if pgd:
            return True
        self.slab.kmem_cache_free(k.r32(k.sym("mm_cachep")), mm)  # free_mm
        return False

    @kernel_function("dup_mmap")
    def dup_mmap(self, mm: int, oldmm: int) -> bool:
        """``dup_mmap``: counters cleared, the mm on ``mmlist`` after its parent's,
        the areas and their page tables copied (:meth:`UserVM.dup_mmap`). False for
        -ENOMEM."""
        k = self.k
        k.set_many(mm, MM, locked_vm=0, mmap=0, mmap_cache=0, map_count=0, rss=0, cpu_vm_mask=0)
        k.set(mm, MM, "swap_address", 0)
        self._mmlist_add(mm, oldmm + k.types.offsetof(MM, "mmlist"))
        k.set(mm, MM, "mm_rb.rb_node", 0)
        return self.vm.dup_mmap(mm, oldmm)

    def _mmlist_add(self, mm: int, head: int) -> None:
        k = self.k
        self._list_add(mm + k.types.offsetof(MM, "mmlist"), head)
        k.w32(k.sym("mmlist_nr"), k.r32(k.sym("mmlist_nr")) + 1)

    # -- page directories -----------------------------------------------------------

    @kernel_function("pgd_alloc")
    def pgd_alloc(self) -> int | None:
        """``pgd_alloc`` = ``get_pgd_fast``; the quicklist is empty, so ``get_pgd_slow``."""
        return self.get_pgd_slow()

    @kernel_function("get_pgd_slow", inline=True)
    def get_pgd_slow(self) -> int | None:
        """``get_pgd_slow`` of include/asm-i386/pgalloc.h.

        2-level: a page, its user entries cleared, its kernel entries (768-1023)
        copied from ``swapper_pg_dir``. PAE: 32 bytes from ``pae_pgd_cachep``, a
        cleared page as the pmd of each of the three user entries, and the kernel
        entry (3) copied, so the kernel's pmd page is ``swapper_pg_dir``'s own.
        """
        k, g = self.k, self.k.paging
        user = g.pgd_index(PAGE_OFFSET)  # USER_PTRS_PER_PGD
        esize = g.entry_size
        if g.pae:
            cache = k.r32(k.sym("pae_pgd_cachep"))
            pgd = self.slab.kmem_cache_alloc(cache, GFP_KERNEL)
            if pgd is None:
                return None
            for i in range(user):
                pmd = self.buddy.get_free_pages(GFP_KERNEL, 0)
                if pmd is None:
                    for j in range(i - 1, -1, -1):
                        self.buddy.free_page_vaddr(k.va(self.pt.get(pgd + j * esize) - 1))
                    self.slab.kmem_cache_free(cache, pgd)
                    return None
                k.zero(pmd, PAGE_SIZE)  # clear_page
                self.pt.set_pgd(pgd + i * esize, 1 + k.pa(pmd))
        else:
            pgd = self.buddy.get_free_pages(GFP_KERNEL, 0)
            if pgd is None:
                return None
            k.zero(pgd, user * esize)
        kernel = g.ptrs_per_pgd - user
        k.write(pgd + user * esize, k.read(SWAPPER_PG_DIR + user * esize, kernel * esize))
        return pgd

    @kernel_function("pgd_free")
    def pgd_free(self, pgd: int) -> None:
        """``pgd_free`` = ``free_pgd_slow``: PAE gives back the user pmd pages and the
        pgd to its cache; 2-level, the page."""
        k, g = self.k, self.k.paging
        if g.pae:
            for i in range(g.pgd_index(PAGE_OFFSET)):
                self.buddy.free_page_vaddr(k.va(self.pt.get(pgd + i * g.entry_size) - 1))
            self.slab.kmem_cache_free(k.r32(k.sym("pae_pgd_cachep")), pgd)
        else:
            self.buddy.free_page_vaddr(pgd)

    # -- exec -----------------------------------------------------------------------

    @kernel_function("do_execve", entry=("filename", "current"), returns="int")
    def do_execve(self, filename: str, current: int) -> int:
        """``do_execve`` as far as memory goes (``flush_old_exec``): a private signal
        table, ``exec_mmap`` (the mm kept when only this task uses it, else a new
        one from ``mm_alloc`` on ``init_mm.mmlist``), the name, out of its thread
        group. Returns 0."""
        k = self.k
        cur = self.task_of(current)
        oldsig = self.get(cur, "sig")
        if k.get(oldsig, SIG, "count.counter") > 1:  # make_private_signals
            self.set(cur, "sig", self._new_sig(oldsig))
        self.vm.execve(cur, filename, self.exec_mmap)  # exec_mmap, then the new image
        if self.get(cur, "sig") != oldsig:  # release_old_signals
            self._atomic_add(oldsig, SIG, "count.counter", -1)
        self.set(cur, "sas_ss_sp", 0)
        self.set(cur, "sas_ss_size", 0)
        mm = self.get(cur, "mm")
        k.set(mm, MM, "dumpable", 1)
        self._set_comm(cur, filename.rsplit("/", 1)[-1])
        group = self._field(cur, "thread_group")
        if k.r32(group) != group:  # de_thread
            self.buddy.list_del(group)
            self._list_init(group)
        self.set(cur, "tgid", self.get(cur, "pid"))
        self.set(cur, "self_exec_id", self.get(cur, "self_exec_id") + 1)
        self.set(cur, "flags", self.get(cur, "flags") & ~PF_FORKNOEXEC)
        self.set(cur, "did_exec", 1)
        self._record(cur)
        return 0

    @kernel_function("exec_mmap")
    def exec_mmap(self, cur: int) -> None:
        k = self.k
        old = self.get(cur, "mm")
        if old and k.get(old, MM, "mm_users.counter") == 1:
            self.exit_mmap(old)
            return
        mm = self.allocate_mm()
        if mm is None:
            raise SimulationError("-ENOMEM")
        k.zero(mm, k.types.sizeof(MM))  # mm_alloc: memset
        if not self.mm_init(mm):
            raise SimulationError("-ENOMEM")
        self._mmlist_add(mm, self.init_mm + k.types.offsetof(MM, "mmlist"))
        active = self.get(cur, "active_mm")
        self.set(cur, "mm", mm)
        self.set(cur, "active_mm", mm)
        if old:
            self.mmput(old)
        elif active:
            self.mmdrop(active)

    def exit_mmap(self, mm: int) -> None:
        """``exit_mmap``: :meth:`UserVM.exit_mmap`."""
        self.vm.exit_mmap(mm)

    # -- exit -----------------------------------------------------------------------

    @kernel_function("do_exit", entry=("code", "current"))
    def do_exit(self, code: int, current: int) -> None:
        """``do_exit`` of task ``current``, through ``exit_notify`` (a zombie, its
        children given to init) and the ``schedule()`` after it, which drops the
        last reference to its ``mm`` (``pgd_free``, the ``mm_struct`` freed).

        :raises KernelPanic: for the idle task or init, as 2.4.20 panics.
        """
        if current == 0:
            self._panic("Attempted to kill the idle task!")
        if current == 1:
            self._panic("Attempted to kill init!")
        tsk = self.task_of(current)
        self.set(tsk, "flags", self.get(tsk, "flags") | 0x4)  # PF_EXITING
        self.exit_mm(tsk)
        self.exit_files(tsk)
        self.exit_fs(tsk)
        self.exit_sighand(tsk)
        self.set(tsk, "exit_code", code)
        self.exit_notify(tsk)
        # schedule(): a task without an mm gives back the one it ran on
        active = self.get(tsk, "active_mm")
        self.set(tsk, "active_mm", 0)
        if active:
            self.mmdrop(active)
        self._record(tsk)

    def _panic(self, message: str) -> None:
        self.k.printk(KERN_EMERG + f"Kernel panic: {message}")
        raise KernelPanic(message, "do_exit")

    @kernel_function("__exit_mm")
    def exit_mm(self, tsk: int) -> None:
        """``__exit_mm``: the task keeps running on its mm (``mm_count`` held) until
        it schedules away."""
        mm = self.get(tsk, "mm")
        if mm:
            k = self.k
            k.set(mm, MM, "mm_count.counter", k.get(mm, MM, "mm_count.counter") + 1)
            self.set(tsk, "mm", 0)
            self.mmput(mm)

    @kernel_function("mmput")
    def mmput(self, mm: int) -> None:
        """``mmput``: the last user gone, off ``mmlist``, unmapped, then ``mmdrop``."""
        k = self.k
        users = self._atomic_add(mm, MM, "mm_users.counter", -1)
        if users:
            return
        swap_mm, link = k.sym("swap_mm"), k.types.offsetof(MM, "mmlist")
        if k.r32(swap_mm) == mm:  # swap_out's place moves on to the next mm
            k.w32(swap_mm, k.r32(mm + link) - link)
        self._list_del(mm + link)
        k.w32(k.sym("mmlist_nr"), k.r32(k.sym("mmlist_nr")) - 1)
        self.exit_mmap(mm)
        self.mmdrop(mm)

    @kernel_function("mmdrop", inline=True)
    def mmdrop(self, mm: int) -> None:
        count = self._atomic_add(mm, MM, "mm_count.counter", -1)
        if not count:
            self.mmdrop_free(mm)

    @kernel_function("__mmdrop")
    def mmdrop_free(self, mm: int) -> None:
        """``__mmdrop``: the page directory, then the ``mm_struct`` (``free_mm``)."""
        k = self.k
        self.pgd_free(k.get(mm, MM, "pgd"))
        self.slab.kmem_cache_free(k.r32(k.sym("mm_cachep")), mm)

    def _put(self, tsk: int, field: str, typename: str, cachep: str) -> None:
        """The task lets go of its ``field``: one user less, freed to ``cachep`` with
        the last (no file is open, the fd array is the built-in one)."""
        obj = self.get(tsk, field)
        if obj:
            self.set(tsk, field, 0)
            if not self._atomic_add(obj, typename, "count.counter", -1):
                self.slab.kmem_cache_free(self.k.r32(self.k.sym(cachep)), obj)

    @kernel_function("__exit_files")
    def exit_files(self, tsk: int) -> None:
        """``__exit_files``: ``put_files_struct``."""
        self._put(tsk, "files", FILES, "files_cachep")

    @kernel_function("__exit_fs")
    def exit_fs(self, tsk: int) -> None:
        """``__exit_fs``: ``__put_fs_struct``."""
        self._put(tsk, "fs", FS, "fs_cachep")

    @kernel_function("exit_sighand")
    def exit_sighand(self, tsk: int) -> None:
        """``exit_sighand``: the signal table, and no signal pending."""
        self._put(tsk, "sig", SIG, "sigact_cachep")
        self.set(tsk, "sigpending", 0)

    def daemonize(self, tsk: int) -> None:
        """``daemonize``: no mm (a kernel thread has none), session and pgrp 1, fs and
        files init_task's (which it shared already: the counts come out even)."""
        self.set(tsk, "session", 1)
        self.set(tsk, "pgrp", 1)
        self.set(tsk, "tty", 0)

    @kernel_function("exit_notify")
    def exit_notify(self, tsk: int) -> None:
        """``exit_notify``: orphans to init (``forget_original_parent``), a zombie, and
        the children moved onto init's list of children."""
        reaper = self.task_of(1)  # child_reaper
        for p in self.for_each_task():
            if self.get(p, "p_opptr") == tsk:
                self.set(p, "exit_signal", SIGCHLD)
                self.set(p, "self_exec_id", self.get(p, "self_exec_id") + 1)
                self.set(p, "p_opptr", reaper)
        self.set(tsk, "state", TASK_ZOMBIE)
        while child := self.get(tsk, "p_cptr"):
            self.set(tsk, "p_cptr", self.get(child, "p_osptr"))
            self.set(child, "p_ysptr", 0)
            self.set(child, "ptrace", 0)
            parent = self.get(child, "p_opptr")
            self.set(child, "p_pptr", parent)
            older = self.get(parent, "p_cptr")
            self.set(child, "p_osptr", older)
            if older:
                self.set(older, "p_ysptr", child)
            self.set(parent, "p_cptr", child)
            self._record(child)

    @kernel_function("sys_wait4", entry=("pid", "current"), returns="int")
    def sys_wait4(self, pid: int, current: int) -> int:
        """The parent ``current`` reaps its zombie child ``pid`` (``release_task``)."""
        p = self.task_of(pid)
        parent = self.task_of(current)
        if self.get(p, "state") != TASK_ZOMBIE or self.get(p, "p_pptr") != parent:
            raise SimulationError(f"sys_wait4: pid {pid} is no zombie child of {current}")
        self.release_task(p, parent)
        return pid

    @kernel_function("release_task")
    def release_task(self, p: int, cur: int) -> None:
        k, user = self.k, self.get(p, "user")
        self._charge(user, -1)
        # unhash_process
        k.w32(k.sym("nr_threads"), k.r32(k.sym("nr_threads")) - 1)
        self.unhash_pid(p)
        self.remove_links(p)
        self._list_del(self._field(p, "thread_group"))
        for mine, theirs in (("cmin_flt", "min_flt"), ("cmaj_flt", "maj_flt"), ("cnswap", "nswap")):
            total = self.get(cur, mine) + self.get(p, theirs) + self.get(p, mine)
            self.set(cur, mine, total)
        counter = min(
            _signed(self.get(cur, "counter")) + _signed(self.get(p, "counter")), MAX_COUNTER
        )
        self.set(cur, "counter", counter)
        del self.records[self.get(p, "pid")]
        self.set(p, "pid", 0)
        self.free_task_struct(p)

    def exit(self, pid: int, code: int = 0) -> None:
        """Process ``pid`` exits (``do_exit``) and its parent reaps it (``sys_wait4``).

        :raises SimulationError: no such process (before any kernel code runs).
        """
        self.task_of(pid)
        self.do_exit(code, pid)
        p = self.task_of(pid)
        self.sys_wait4(pid, self.get(self.get(p, "p_pptr"), "pid"))

    def kill(self, pid: int) -> None:
        """What the OOM killer's victim comes to: it exits and is reaped. The task
        whose page fault is allocating is marked instead: its allocation then
        succeeds (PF_MEMDIE) and it dies when the fault returns to user mode."""
        self.oom_killed.append(pid)
        if pid == self.vm.current:
            self.vm.doomed = True
            return
        self.exit(pid, 9)  # SIGKILL

    def die(self) -> None:
        """``die()`` after an oops in a process's context: that process exits
        (``do_exit(SIGSEGV)``) and is reaped; pid 0 or 1 panics."""
        pid, self.oopsed = self.oopsed, None
        if pid is not None:
            self.exit(pid, 11)

    # -- fork + exec ----------------------------------------------------------------

    def fork(self, parent: int = 1) -> int:
        """``sys_fork`` from process ``parent``: the child's pid.

        :raises SimulationError: no such process (before any kernel code runs).
        :raises ForkFailed: do_fork's -EAGAIN or -ENOMEM (nothing is left of the child).
        """
        self.task_of(parent)
        return self.do_fork(SIGCHLD, parent)

    def spawn(self, name: str, parent: int = 1) -> int:
        """``fork`` then ``execve`` of program ``name`` in the child: the child's pid."""
        pid = self.fork(parent)
        self.do_execve(name if name.startswith("/") else f"/bin/{name}", pid)
        return pid

    # -- a kernel-mode access from a task's context ---------------------------------

    def cr3(self, task: int) -> int:
        """The page directory ``task`` runs on: its own mm's, or for a kernel thread
        (and the idle task) the ``init_mm`` it borrows when the idle task ran before it."""
        k = self.k
        mm = self.get(task, "mm") or self.get(task, "active_mm") or self.init_mm
        return k.get(mm, MM, "pgd")

    def touch(self, pid: int, address: int) -> str:
        """A kernel-mode read of ``address`` in process ``pid``'s context. Returns
        ``"mapped"`` (the page directory maps it: no fault) or ``"synced"`` (the
        ``vmalloc_fault`` path copied the missing entry from ``init_mm.pgd``).

        :raises SimulationError: no such process (before anything is recorded).
        :raises PageFault: nothing maps it: ``no_context``'s oops
            ("Unable to handle kernel paging request at virtual address ...").
        """
        self.task_of(pid)
        return self.access(pid, address & 0xFFFFFFFF)

    @kernel_function("touch", entry=("pid", "addr=address"))
    def access(self, pid: int, address: int) -> str:
        """The access itself, an entry of the timeline of its own (as an injected
        fault is: it is no kernel function), with the fault it takes inside it."""
        task = self.task_of(pid)
        try:
            virt_to_phys_walk(self.k, address, self.cr3(task))
            return "mapped"
        except PageFault:
            pass
        try:
            self.do_page_fault(address, pid)
        except PageFault:
            self.oopsed = pid
            raise
        return "synced" if address >= TASK_SIZE else "fault"

    @kernel_function("do_page_fault", entry=("address", "current"))
    def do_page_fault(self, address: int, current: int) -> None:
        """``do_page_fault`` of a kernel-mode read (error code 0) at ``address``."""
        task = self.task_of(current)
        if address >= TASK_SIZE:  # and !(error_code & 5)
            self.vmalloc_fault(address, self.cr3(task))
            return
        # a user address from kernel mode (as copy_from_user makes): the process's
        # areas decide (find_vma, handle_mm_fault); outside them bad_area, and with no
        # exception-table fixup, no_context
        mm = self.get(task, "mm")
        if mm and self.vm.fault(task, mm, address, 0) == "fault":
            return
        raise PageFault(address, "")

    @kernel_function("vmalloc_fault", inline=True)
    def vmalloc_fault(self, address: int, pgd_base: int) -> None:
        """``vmalloc_fault:`` synchronise ``%cr3``'s top-level entry with ``init_mm``'s.

        ``pgd_present`` is always 1 on i386, so the pgd entry is copied first; in
        2-level mode the pmd is the pgd entry itself, so ``set_pmd`` writes it again.
        Under PAE the kernel's pgd entry already holds ``swapper_pg_dir``'s pmd
        page: both writes store the value already there.
        """
        pt, g = self.pt, self.k.paging
        offset = g.pgd_index(address) * g.entry_size
        pgd, pgd_k = pgd_base + offset, SWAPPER_PG_DIR + offset
        pt.set_pgd(pgd, pt.get(pgd_k))
        pmd, pmd_k = pt.pmd_offset(pgd, address), pt.pmd_offset(pgd_k, address)
        if not pt.get(pmd_k) & 1:
            raise PageFault(address, "")  # goto no_context
        pt.set_pmd(pmd, pt.get(pmd_k))
        if not pt.get(pt.pte_offset(pmd_k, address)) & 1:
            raise PageFault(address, "")


def init_task_static(k: KernelMemory) -> None:
    """The initialisers of arch/i386/kernel/init_task.c: ``INIT_TASK`` of
    ``init_task_union``, ``INIT_FS``, ``INIT_FILES``, ``INIT_SIGNALS``, and
    kernel/user.c's ``root_user``."""
    t = k.sym("init_task_union")
    fs, files, sig = k.sym("init_fs"), k.sym("init_files"), k.sym("init_signals")
    user = k.sym("root_user")
    k.set_many(fs, FS, **{"count.counter": 1, "umask": 0o022})
    _files_init(k, files)
    k.set(sig, SIG, "count.counter", 1)
    k.set_many(user, USER, **{"__count.counter": 1, "processes.counter": 1})
    _set(k, t, "addr_limit.seg", KERNEL_DS)
    _set(k, t, "lock_depth", -1)
    _set(k, t, "counter", DEF_COUNTER)
    _set(k, t, "active_mm", k.sym("init_mm"))
    _set(k, t, "cpus_runnable", -1)
    _set(k, t, "cpus_allowed", -1)
    for head in ("run_list", "thread_group", "wait_chldexit.task_list"):
        _list_init(k, t + k.types.offsetof(TS, head))
    # kernel/sched.c: static LIST_HEAD(runqueue_head); aligned_data = {{{&init_task, 0}}}
    _list_init(k, k.sym("runqueue_head"))
    k.w32(k.sym("aligned_data"), t)
    for link in ("next_task", "prev_task", "p_opptr", "p_pptr"):
        _set(k, t, link, t)
    _set(k, t, "cap_effective", ~(1 << CAP_SETPCAP))
    _set(k, t, "cap_permitted", ~0)
    rlim = t + k.types.offsetof(TS, "rlim")
    for i, (cur, mx) in enumerate(_INIT_RLIMITS):
        k.w32(rlim + 8 * i, cur)
        k.w32(rlim + 8 * i + 4, mx)
    _set(k, t, "user", user)
    k.write(t + k.types.offsetof(TS, "comm"), b"swapper".ljust(16, b"\0"))
    _set(k, t, "thread.io_bitmap[0]", ~0)  # INIT_THREAD: io permissions {~0,}
    _set(k, t, "fs", fs)
    _set(k, t, "files", files)
    _set(k, t, "sig", sig)
    _set(k, t, "pending.tail", t + k.types.offsetof(TS, "pending.head"))


def sched_init(k: KernelMemory) -> None:
    """``sched_init``: the boot idle thread does lazy MMU switching on ``init_mm``."""
    mm = k.sym("init_mm")
    k.set(mm, MM, "mm_count.counter", k.get(mm, MM, "mm_count.counter") + 1)


def _files_init(k: KernelMemory, files: int) -> None:
    """A ``files_struct`` as ``INIT_FILES`` and ``copy_files`` leave one with no file
    open: one user, the built-in fd array and bitmaps."""
    k.set_many(files, FILES, **{"count.counter": 1})
    k.set_many(
        files,
        FILES,
        max_fds=NR_OPEN_DEFAULT,
        max_fdset=FD_SETSIZE,
        fd=files + k.types.offsetof(FILES, "fd_array"),
        close_on_exec=files + k.types.offsetof(FILES, "close_on_exec_init"),
        open_fds=files + k.types.offsetof(FILES, "open_fds_init"),
    )


def _set(k: KernelMemory, task: int, field: str, value: int) -> None:
    k.set(task, TS, field, value & 0xFFFFFFFF)


def _list_init(k: KernelMemory, addr: int) -> None:
    """``INIT_LIST_HEAD``."""
    k.w32(addr, addr)
    k.w32(addr + 4, addr)


def _pid_hashfn(pid: int) -> int:
    return ((pid >> 8) ^ pid) & (PIDHASH_SZ - 1)


def _signed(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value
