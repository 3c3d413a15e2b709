"""``linux24.pslist``: the tasks of a 2.4 kernel's ``next_task`` ring from ``init_task``
(vmintro's ``ps``, crash's ``ps``), with the same columns.

2.4 has no ``tasks`` list_head, pid namespaces or ``signal->...`` that
volatility3's ``linux.pslist`` reads: ``for_each_task`` follows
``task_struct.next_task`` from ``init_task_union.task`` until it comes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from volatility3.framework import exceptions, interfaces, renderers
from volatility3.framework.objects import utility
from volatility3.framework.renderers import format_hints
from volatility3.plugins.linux24 import kernel24

PID_MAX = 0x8000  # no ring holds more tasks than pids (include/linux/threads.h)
PAGE_KIB = 4
TASK_ZOMBIE = 4
PF_EXITING = 0x4
MAX_CPUS = 32  # NR_CPUS
# crash's letters for task->state: RU for 0, else the last of these whose bit is set
STATES = ((1, "IN"), (2, "UN"), (4, "ZO"), (8, "ST"))


def state_string(state: int) -> str:
    if state == 0:
        return "RU"
    found = "??"
    for bit, name in STATES:
        if state & bit:
            found = name
    return found


class PsList(interfaces.plugins.PluginInterface):
    """Lists the tasks on the next_task ring: pid, parent, cpu, task, state, memory, command."""

    _required_framework_version = (2, 0, 0)
    _version = (1, 0, 0)

    @classmethod
    def get_requirements(cls) -> list[Any]:
        return kernel24.kernel_requirements()

    def _tasks(self, kernel: interfaces.context.ModuleInterface) -> Iterator[Any]:
        head = kernel.object_from_symbol("init_task_union").task
        first = head.vol.offset
        yield head
        seen = {first}
        node = head.next_task
        while int(node) != first and int(node) not in seen and len(seen) <= PID_MAX:
            seen.add(int(node))
            try:
                task = node.dereference()
                nxt = task.next_task
            except exceptions.InvalidAddressException:
                return  # a link to memory nothing maps: the ring ends here
            yield task
            node = nxt

    def _generator(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        kernel = kernel24.kernel_module(self.context, self.config_path, self.config)
        total = int(kernel.object_from_symbol("totalram_pages"))
        physpages = int(kernel.object_from_symbol("num_physpages"))
        total = min(total, physpages) if physpages else total
        running = set()  # cpu_curr(cpu): aligned_data[cpu].schedule_data.curr
        if kernel.has_symbol("aligned_data"):
            cpus = kernel.object_from_symbol("aligned_data")
            for i in range(min(len(cpus), MAX_CPUS)):
                running.add(int(cpus[i].schedule_data.curr))
        rows = []
        for task in self._tasks(kernel):
            pid = int(task.pid)
            state = int(task.state) & 0xFFFFFFFF
            zombie = bool(state & TASK_ZOMBIE)
            exiting = bool(int(task.flags) & PF_EXITING)
            kthread = pid == 0 or (not task.mm and not zombie and not exiting)
            rss = vm = 0
            if task.mm and not zombie:
                mm = task.mm.dereference()
                rss, vm = int(mm.rss), int(mm.total_vm)
            comm = utility.array_to_string(task.comm)
            rows.append(
                (
                    pid,
                    int(task.p_pptr.dereference().pid),
                    int(task.processor),
                    format_hints.Hex(task.vol.offset),
                    state_string(state),
                    round(rss * 100 / total, 1) if total else 0.0,
                    vm * PAGE_KIB,
                    rss * PAGE_KIB,
                    f"[{comm}]" if kthread else comm,
                    task.vol.offset in running,
                )
            )
        for row in sorted(rows, key=lambda r: r[0]):  # by pid, as crash's ps
            yield 0, row

    def run(self) -> renderers.TreeGrid:
        columns = [
            ("PID", int),
            ("PPID", int),
            ("CPU", int),
            ("TASK", format_hints.Hex),
            ("ST", str),
            ("MEM%", float),
            ("VSZ", int),
            ("RSS", int),
            ("COMM", str),
            ("ACTIVE", bool),
        ]
        return renderers.TreeGrid(columns, self._generator())
