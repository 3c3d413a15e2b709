"""How the simulated kernel fails."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from typing import NoReturn, ParamSpec, TypeVar

from vmintro.arch.x86 import PAGE_SIZE

__all__ = [
    "KernelBug",
    "KernelHang",
    "KernelOops",
    "LoopGuard",
    "PageFault",
    "SimulationError",
    "kernel_function",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class SimulationError(Exception):
    """A request the simulator cannot carry out (bad arguments, not a kernel state)."""


class KernelOops(SimulationError):
    """2.4.20 would oops here: ``die()`` prints the report and kills the process
    that made the call, and the kernel goes on. Memory is left as the kernel
    left it at that moment."""


class KernelBug(KernelOops):
    """The 2.4.20 kernel would hit ``BUG()`` here; ``check`` names the failing test.

    The simulator raises it before changing memory, so the machine is left as
    it was.
    """

    def __init__(self, function: str, check: str) -> None:
        super().__init__(f"kernel BUG in {function}(): {check}")
        self.function = function
        self.check = check


class PageFault(KernelOops):
    """Kernel code touched ``address``, which nothing maps: ``do_page_fault``'s
    ``no_context`` path, with the words 2.4.20 prints for it."""

    def __init__(self, address: int, function: str | None = None) -> None:
        self.address = address & 0xFFFFFFFF
        self.function = function
        what = "NULL pointer dereference" if self.address < PAGE_SIZE else "paging request"
        text = f"Unable to handle kernel {what} at virtual address {self.address:08x}"
        super().__init__(f"kernel oops in {function}(): {text}" if function else text)


def kernel_function(name: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Mark a simulator function as the kernel's ``name``: a page fault inside it
    oopses in ``name`` (unless a function it calls already claimed the fault)."""

    def mark(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return fn(*args, **kwargs)
            except PageFault as e:
                if e.function is not None:
                    raise
                raise PageFault(e.address, name) from None

        return run

    return mark


class KernelHang(SimulationError):
    """2.4.20 would never return from ``function``: its loop came back to a state
    it had been in, so it would repeat the same steps forever.

    Nothing in this build would report it: 2.4.20 has no soft-lockup detector,
    and the NMI watchdog needs a local APIC, which this uniprocessor build lacks.
    The simulator stops instead, leaving memory as it was when the loop began
    to repeat.
    """

    def __init__(self, function: str, detail: str, held: str | None = None) -> None:
        holding = f" with {held}" if held else ""
        super().__init__(
            f"kernel hang in {function}(): {detail}; 2.4.20 would spin here forever{holding}, "
            "unreported (no soft-lockup detector, and no NMI watchdog without a local APIC)"
        )
        self.function = function


class LoopGuard:
    """Watches one run of a kernel loop for a state it has already been in.

    The loop itself still follows memory as it is; the guard only remembers the
    states it passed (one per node reached, so no more than the list holds).
    A state is whatever decides the loop's next step: the node alone for a
    search, the node and the candidate address for ``get_vm_area``'s first fit.
    When the state is more than the node, ``nodes`` walks the list again from
    its head (on the way to the error only) to name the link that closes it.
    """

    def __init__(
        self,
        function: str,
        what: str,
        held: str | None = None,
        node_name: str = "{:#x}",
        nodes: Callable[[], Iterator[int]] | None = None,
    ) -> None:
        self.function = function
        self.what = what
        self.held = held
        self.node_name = node_name  # how a node is named: an address, or "swap_info[{}]"
        self.nodes = nodes
        self._states: set[Hashable] = set()
        self._last: int | None = None

    def visit(self, node: int, state: Hashable | None = None) -> None:
        """Record reaching ``node``; raises :class:`KernelHang` when the state repeats."""
        key = node if state is None else state
        if key in self._states:
            self._hang(node)
        self._states.add(key)
        self._last = node

    def _hang(self, node: int) -> NoReturn:
        source, target = self._last, node
        if self.nodes is not None:
            source, target = _back_link(self.nodes())
        name = self.node_name.format
        came_from = f" from {name(source)}" if source is not None else ""
        raise KernelHang(
            self.function, f"{self.what} loops back{came_from} to {name(target)}", self.held
        )


def _back_link(nodes: Iterator[int]) -> tuple[int | None, int]:
    """The first link of a walk that leads to a node met before: (from, to)."""
    seen: set[int] = set()
    last = None
    for node in nodes:
        if node in seen:
            return last, node
        seen.add(node)
        last = node
    raise AssertionError("the walk that looped ends when walked again")
