"""Anonymous memory at boot: a few ordinary user processes that ``init`` started
and that have run a while, holding a share of RAM in pages of their own.

After the page cache's workload, ``init`` (pid 1) starts each program of
:data:`BOOT_PROGRAMS` (``fork`` then ``execve``). Each grows its heap with
``sys_brk``, maps an anonymous area with ``mmap`` (as a C library's ``malloc``
does for large blocks) and grows its stack; then they write their memory in
turns, a seeded number of pages at a time, each write a user-mode page fault
(``do_anonymous_page``). The share asked for is split between them by seeded
weights; it is what they write, so each process's ``rss`` is its part, and
``total_vm`` is a little more (the program's stand-in text and data, which
they never touch, and the heap's unwritten tail).

Memory stops where ``__alloc_pages``' first pass would stop: the processes
write no more than the zones hold above their ``pages_low``, so boot never
reclaims.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.sim.errors import SimulationError, kernel_function
from vmintro.sim.memory import GFP_HIGHUSER
from vmintro.sim.mmap import MAP_PRIVATE, PROT_READ, PROT_WRITE, STACK_TOP

if TYPE_CHECKING:
    from vmintro.sim.process import Processes

__all__ = [
    "BOOT_PROGRAMS",
    "DEFAULT_ANON",
    "DEFAULT_ANON_BYTES",
    "MAX_ANON",
    "AnonRun",
    "run_anon_workload",
]

# the share of RAM the boot's user processes hold unless a scenario says otherwise,
# and at most this much then: a few daemons and a shell, whatever the RAM
DEFAULT_ANON = 0.1
DEFAULT_ANON_BYTES = 8 << 20
MAX_ANON = 0.9
# Every page written is a page the host holds and a fault simulated one at a time
# (about 10 s and 1 GiB of host memory a GiB): more than this the workload does not
# write, whatever the share asked of a larger machine; the truth's target says so.
MAX_ANON_BYTES = 1 << 30
BOOT_PROGRAMS = ("syslogd", "klogd", "crond", "sshd", "atd")
CHUNK = (1, 48)  # pages one process writes before the next one runs


@dataclass
class AnonRun:
    """What the workload did: for the truth and the tests."""

    fraction: float
    target: int = 0  # pages asked for
    pages: int = 0  # pages written (each a do_anonymous_page)
    pids: list[int] = field(default_factory=list)

    def truth(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _room(procs: Processes) -> int:
    """Order-0 allocations ``GFP_HIGHUSER``'s zonelist gives above ``pages_low``,
    less one page table per 64 pages as a margin for the page tables."""
    k, buddy = procs.k, procs.buddy
    need, room = 1, 0
    for z in buddy.zonelist(GFP_HIGHUSER):
        need += k.get(z, "zone_t", "pages_low")
        room += max(0, k.get(z, "zone_t", "free_pages") - need)
    return room - room // 64


@kernel_function("anon_workload")
def run_anon_workload(procs: Processes, fraction: float, seed: int) -> AnonRun:
    """Start :data:`BOOT_PROGRAMS` from init and have them write ``fraction`` of RAM
    (0: none are started)."""
    k = procs.k
    run = AnonRun(fraction)
    total = int(fraction * k.r32(k.sym("totalram_pages")))
    if total <= 0:
        return run
    rng = random.Random(f"{seed}/anon")
    weights = [rng.uniform(0.2, 1.0) for _ in BOOT_PROGRAMS]
    pids = [procs.spawn(name, 1) for name in BOOT_PROGRAMS]
    run.pids = pids
    total = min(total, _room(procs), MAX_ANON_BYTES // PAGE_SIZE)
    run.target = total
    shares = [int(total * w / sum(weights)) for w in weights]
    shares[-1] += total - sum(shares)
    vm = procs.vm
    plans: list[list[int]] = []  # each process's addresses to write, in order
    for pid, share in zip(pids, shares, strict=True):
        task = procs.task_of(pid)
        mm = procs.get(task, "mm")
        rlim = vm.rlim(task)
        stack = min(max(1, share // 16), 32)
        mapped = share // 2
        heap = share - stack - mapped
        addrs: list[int] = []
        if heap > 0:
            start = k.get(mm, "struct mm_struct", "brk")
            base = (start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
            vm.mmap.sys_brk(mm, rlim, base + heap * PAGE_SIZE + rng.randrange(PAGE_SIZE))
            addrs += [base + i * PAGE_SIZE for i in range(heap)]
        if mapped > 0:
            addr = vm.mmap.do_mmap_pgoff(
                mm, rlim, 0, mapped * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE
            )
            if addr & (PAGE_SIZE - 1):
                raise SimulationError(f"anonymous memory at boot: mmap failed ({addr:#x})")
            addrs += [addr + i * PAGE_SIZE for i in range(mapped)]
        # the stack grows down from the argument page
        addrs += [STACK_TOP - (2 + i) * PAGE_SIZE for i in range(stack)]
        plans.append(addrs)
    # they run in turns: a seeded chunk of writes each
    cursor = [0] * len(pids)
    live = list(range(len(pids)))
    while live:
        i = live[rng.randrange(len(live))]
        n = rng.randint(*CHUNK)
        for addr in plans[i][cursor[i] : cursor[i] + n]:
            outcome = vm.user_access(pids[i], addr, True)
            if outcome != "fault":
                raise SimulationError(f"anonymous memory at boot: pid {pids[i]} {outcome}")
            run.pages += 1
        cursor[i] += n
        if cursor[i] >= len(plans[i]):
            live.remove(i)
    for pid in pids:
        procs._record(procs.task_of(pid))
    return run
