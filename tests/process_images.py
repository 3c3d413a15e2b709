"""Images with processes, for the tests of the task helpers, ``ps``, ``vtop -c`` and ``check``.

Each is a booted simulator kernel (its boot-time tasks: the idle task, init and the
kernel threads) that then spawns two processes, ``bash`` and ``cron``, vmallocs a
4 MiB area whose upper span gets a page table neither process's page directory
has (``pgd_alloc`` copied ``swapper_pg_dir`` before), and makes ``bash`` touch an
address there: the vmalloc fault copies ``init_mm``'s entry into bash's page
directory only. A second large area, ``gone``, is touched by bash too and then
vfree'd: its page tables stay in ``init_mm`` (2.4.20 never frees them) and bash's
copies of their entries stay with them. What the simulator did and what its RAM held is kept in
:class:`ProcessImage` (the oracle), read from the simulator, not from the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmintro.arch.x86 import PAGE_OFFSET, MachineConfig
from vmintro.image.writer.install import write_image
from vmintro.image.writer.snapshot import snapshot
from vmintro.sim.boot import boot

PAGE = 4096
LATE_SIZE = (4 << 20) + (16 << 10)  # always holds the start of a 4 MiB span


@dataclass
class ProcessImage:
    """One written image and what the simulator knows of it."""

    base: Path
    pae: bool
    bash: int  # pids
    cron: int
    late: int  # the 4 MiB area made after both forks
    probe: int  # an address of ``late`` in a span with a page table made after the forks
    gone: int  # an address of the vfree'd area, in a span bash's touch synced
    # pid -> task_struct address, comm, mm, pgd (virtual), parent pid, as the simulator has them
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    # the top-level entry for ``probe`` in each page directory, from simulated RAM
    # before and after bash's touch: {"bash": (before, after), "cron": ..., "init_mm": ...}
    entries: dict[str, tuple[int, int]] = field(default_factory=dict)
    swapper: int = 0  # swapper_pg_dir's virtual address


def _task_facts(k: Any, task: int) -> dict[str, Any]:
    get = k.processes.get
    mm = get(task, "mm")
    parent = get(task, "p_pptr")
    return {
        "task": task,
        "comm": k.processes.comm(task),
        "mm": mm,
        "active_mm": get(task, "active_mm"),
        "pgd": k.get(mm, "struct mm_struct", "pgd") if mm else 0,
        "ppid": get(parent, "pid"),
        "state": get(task, "state"),
        "rss": k.get(mm, "struct mm_struct", "rss") if mm else 0,
        "total_vm": k.get(mm, "struct mm_struct", "total_vm") if mm else 0,
    }


def build_process_image(base: Path, pae: bool) -> ProcessImage:
    """Boot a 32 MiB machine (PAE or 2-level), run the steps above, write ``base``."""
    k = boot(MachineConfig(ram=32 << 20, highmem=pae, pae=pae))
    procs, vm = k.processes, k.vmalloc
    assert vm.vmalloc(16 * 1024, owner="early") is not None
    bash = procs.spawn("bash")
    cron = procs.spawn("cron")
    late = vm.vmalloc(LATE_SIZE, owner="late")
    gone_area = vm.vmalloc(LATE_SIZE, owner="gone")
    assert late is not None and gone_area is not None
    top = k.paging.levels[-2]  # the level above the PTEs: the entry vmalloc_fault copies
    probe = (late + top.size) & ~(top.size - 1)  # the first span starting inside the area
    assert late < probe < late + LATE_SIZE - PAGE
    swapper = k.sym("swapper_pg_dir")
    size = k.paging.entry_size

    def top_entry(pgd_virtual: int) -> int:
        """The pgd entry for ``probe`` in the page directory at ``pgd_virtual``."""
        at = pgd_virtual + k.paging.levels[0].index(probe) * size
        return int.from_bytes(k.read(at, size), "little")

    tasks = {pid: _task_facts(k, procs.task_of(pid)) for pid in (0, 1, bash, cron)}
    tasks.update(
        {
            k.processes.get(t, "pid"): _task_facts(k, t)
            for t in procs.for_each_task()
            if k.processes.get(t, "pid") not in tasks
        }
    )
    dirs = {"bash": tasks[bash]["pgd"], "cron": tasks[cron]["pgd"], "init_mm": swapper}
    before = {name: top_entry(d) for name, d in dirs.items()}
    assert procs.touch(bash, probe) in ("synced", "mapped")
    gone = (gone_area + top.size) & ~(top.size - 1)
    assert procs.touch(bash, gone) in ("synced", "mapped")
    assert vm.vfree(gone_area)
    after = {name: top_entry(d) for name, d in dirs.items()}
    write_image(snapshot(k, {"scenario": "process test"}), base)
    return ProcessImage(
        base=base,
        pae=pae,
        bash=bash,
        cron=cron,
        late=late,
        probe=probe,
        gone=gone,
        tasks=tasks,
        entries={name: (before[name], after[name]) for name in dirs},
        swapper=swapper if swapper >= PAGE_OFFSET else swapper + PAGE_OFFSET,
    )


def scenario_image(out: Path, scenario: str) -> dict[str, Any]:
    """Write scenario text ``scenario`` beside ``out`` and generate image ``out`` from
    it (no timeline); the image's truth."""
    import json

    from vmintro.generate import generate

    out.with_suffix(".toml").write_text(scenario)
    generate(out, str(out.with_suffix(".toml")), timeline=False)
    return json.loads(out.with_suffix(".truth.json").read_text())
