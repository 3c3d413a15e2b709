"""How the simulated kernel fails."""

from __future__ import annotations

import errno
import functools
import inspect
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn, ParamSpec, Protocol, TypeVar

from vmintro.accel import simspeedups
from vmintro.arch.x86 import PAGE_SIZE

__all__ = [
    "CALL_PATH",
    "EntryTracer",
    "KernelBug",
    "KernelHang",
    "KernelOops",
    "KernelPanic",
    "LoopGuard",
    "PageFault",
    "SimulationError",
    "entry_failure",
    "entry_result",
    "kernel_function",
    "tracing",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class SimulationError(Exception):
    """A request the simulator cannot carry out (bad arguments, not a kernel state)."""


class KernelOops(SimulationError):
    """2.4.20 would oops here: ``die()`` prints the report and kills the process
    that made the call, and the kernel goes on. Memory is left as the kernel
    left it at that moment."""

    def printk_lines(self) -> list[str]:
        """The lines the kernel writes to its log for this failure."""
        return [str(self)]


class KernelBug(KernelOops):
    """The 2.4.20 kernel would hit ``BUG()`` here; ``check`` names the failing test.

    Memory is left as 2.4.20 has it when it reaches the BUG(): what the code
    before it wrote stays written (``ioremap``'s area on vmlist, its earlier PTEs).
    """

    def __init__(self, function: str, check: str) -> None:
        self.site = BUG_SITES[(function, check)]
        super().__init__(f"kernel BUG at {self.site}! ({function}: {check})")
        self.function = function
        self.check = check
        self.call_path = tuple(CALL_PATH)  # where it hit, outermost first (the oops's trace)

    def printk_lines(self) -> list[str]:
        """``handle_BUG``'s line, then ``die()``'s: BUG() is ``ud2``, trap 6, error code 0."""
        return [f"kernel BUG at {self.site}!", "invalid operand: 0000"]


# Where each BUG() the simulator can reach stands in 2.4.20's source: BUG() encodes
# __FILE__ (the name the file was compiled under, the bare file name in 2.4's
# per-directory make) and __LINE__, and handle_BUG() prints them.
BUG_SITES: dict[tuple[str, str], str] = {
    ("__vmalloc", "!size || (size >> PAGE_SHIFT) > num_physpages"): "vmalloc.c:242",
    ("remap_area_pte", "address >= end"): "ioremap.c:25",
    ("remap_area_pte", "!pte_none(*pte)"): "ioremap.c:29",
    ("remap_area_pmd", "address >= end"): "ioremap.c:50",
    ("remap_area_pages", "address >= end"): "ioremap.c:73",
    ("__free_pages_ok", "page->buffers"): "page_alloc.c:100",
    ("__free_pages_ok", "page->mapping"): "page_alloc.c:102",
    ("__free_pages_ok", "!VALID_PAGE(page)"): "page_alloc.c:104",
    ("__free_pages_ok", "PageLocked(page)"): "page_alloc.c:106",
    ("__free_pages_ok", "PageActive(page)"): "page_alloc.c:108",
    ("__free_pages_ok", "page_idx & ~mask"): "page_alloc.c:121",
    ("free_bootmem_core", "end > bdata->node_low_pfn"): "bootmem.c:117",
    ("shrink_cache", "!PageLRU(page)"): "vmscan.c:358",
    ("shrink_cache", "PageActive(page)"): "vmscan.c:359",
    ("try_to_free_buffers", "p->b_dev == B_FREE"): "buffer.c:2666",
    ("insert_vm_struct", "__vma && __vma->vm_start < vma->vm_end"): "mmap.c:1190",
    ("find_vma_prev", "(rb_prev ? (*pprev)->vm_next : mm->mmap) != vma"): "mmap.c:732",
}


class PageFault(KernelOops):
    """Kernel code touched ``address``, which nothing maps: ``do_page_fault``'s
    ``no_context`` path, with the words 2.4.20 prints for it."""

    def __init__(self, address: int, function: str | None = None) -> None:
        self.address = address & 0xFFFFFFFF
        self.function = function
        self.call_path = tuple(CALL_PATH)  # where it faulted, outermost first
        what = "NULL pointer dereference" if self.address < PAGE_SIZE else "paging request"
        text = f"Unable to handle kernel {what} at virtual address {self.address:08x}"
        super().__init__(f"kernel oops in {function}(): {text}" if function else text)


# The kernel functions the simulator is in now, outermost first: the call path
# a write to RAM is made from (``vmalloc > __vmalloc > ... > set_pte``).
# One list for the process, as the machine has one CPU and one ``current``.
CALL_PATH: list[str] = []

# A result as the kernel returned it: (kind, value, text), the kinds of
# vmintro.image.format.timeline.Result.
CallResult = tuple[str, "int | None", "str | None"]


class EntryTracer(Protocol):
    """Told of each call of a kernel entry point from outside the kernel."""

    def enter(self, call: str, args: tuple[tuple[str, int | str], ...]) -> None: ...

    def leave(self, result: CallResult) -> None: ...


_tracer: list[EntryTracer] = []  # the tracer of the run being recorded, if any


@contextmanager
def tracing(tracer: EntryTracer) -> Iterator[None]:
    """While inside, ``tracer`` hears of every entry point the workload calls."""
    _tracer.append(tracer)
    try:
        yield
    finally:
        _tracer.remove(tracer)


def kernel_function(
    name: str,
    *,
    entry: tuple[str, ...] | None = None,
    returns: str = "void",
    inline: bool = False,
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Mark a simulator function as the kernel's ``name``: a page fault inside it
    oopses in ``name`` (unless a function it calls already claimed the fault), and
    while it runs ``name`` is on :data:`CALL_PATH`.

    ``entry`` makes it a kernel entry point: called from outside the kernel
    (nothing on the path) while a tracer listens (:func:`tracing`), it tells the
    tracer its arguments, each ``"kernel_name"`` or ``"kernel_name=python_name"``
    (None values left out), and its result as the kernel returned it: ``returns``
    says how (``"pointer"``: an address or NULL; ``"zero"``: 0 on success, a
    system call; ``"void"``), and a BUG(), an oops or a hang is a result too.
    ``inline=True`` marks a ``static inline`` function or a macro (``set_pte``,
    ``list_del``): it is on the path, but its code is compiled into its caller,
    so a page fault inside it is the caller's oops. An injected fault, which is
    no kernel code, is marked so too.
    """

    def mark(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        # Without a tracer the path is not kept: the simulator runs as fast as
        # it did before paths existed, but for the one call through here. The C
        # form of this wrapper, where it was built, does what the Python one below
        # does without a Python frame of its own (hundreds of thousands a run).
        call: Callable[_P, _R]
        if simspeedups is not None:
            fault = None if inline else PageFault
            call = simspeedups.KernelCall(fn, name, _tracer, CALL_PATH, fault, _claim)
        elif inline:

            def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
                if not _tracer:
                    return fn(*args, **kwargs)
                CALL_PATH.append(name)
                try:
                    return fn(*args, **kwargs)
                finally:
                    CALL_PATH.pop()

        else:

            def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
                try:
                    if not _tracer:
                        return fn(*args, **kwargs)
                    CALL_PATH.append(name)
                    try:
                        return fn(*args, **kwargs)
                    finally:
                        CALL_PATH.pop()
                except PageFault as e:
                    _claim(e, name)

        if entry is None:
            return functools.wraps(fn)(call)
        arguments = _binder(inspect.signature(fn))
        names = [(k, p or k) for k, _, p in (a.partition("=") for a in entry)]

        @functools.wraps(fn)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            if not _tracer or CALL_PATH:
                return call(*args, **kwargs)
            given = arguments(args, kwargs)
            tracer = _tracer[-1]
            tracer.enter(
                name,
                tuple(
                    (k, given[p])
                    for k, p in names
                    if isinstance(given.get(p), (int, str)) and not isinstance(given[p], bool)
                ),
            )
            try:
                value = call(*args, **kwargs)
            except SimulationError as e:
                tracer.leave(entry_failure(e))
                raise
            tracer.leave(entry_result(returns, value))
            return value

        return run

    return mark


def _binder(
    signature: inspect.Signature,
) -> Callable[[tuple[object, ...], dict[str, object]], Mapping[str, Any]]:
    """``signature.bind(*args, **kwargs)`` with its defaults applied, as a mapping of
    parameter name to value: an entry point's arguments for its tracer. Plain
    parameters are matched here (each entry call asks); anything else, or a call
    that does not fit, goes to ``Signature.bind``, which also raises what Python would."""
    params = list(signature.parameters.values())
    plain = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
    order = tuple(p.name for p in params)
    defaults = [(p.name, p.default) for p in params if p.default is not p.empty]
    every = frozenset(order)

    def bind(args: tuple[object, ...], kwargs: dict[str, object]) -> Mapping[str, Any]:
        if plain and len(args) <= len(order) and every.issuperset(kwargs):
            given = dict(zip(order, args, strict=False))
            if not kwargs or given.keys().isdisjoint(kwargs):
                given.update(kwargs)
                for name, default in defaults:
                    given.setdefault(name, default)
                if len(given) == len(order):
                    return given
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments

    return bind


def _claim(e: PageFault, name: str) -> NoReturn:
    """A page fault out of kernel function ``name``: its oops, unless a function it
    called has claimed the fault already."""
    if e.function is not None:
        raise e
    raise PageFault(e.address, name) from None


_ERRNO = re.compile(r"-(E[A-Z0-9]+)\b")


def entry_failure(e: SimulationError) -> CallResult:
    """The result of an entry point that failed with ``e``."""
    if isinstance(e, KernelPanic):
        return ("panic", None, str(e))
    if isinstance(e, KernelHang):
        return ("hang", None, str(e))
    if isinstance(e, KernelBug):
        return ("bug", None, str(e))
    if isinstance(e, KernelOops):
        return ("oops", None, str(e))
    m = _ERRNO.search(str(e))  # a system call's -ENOMEM, -EBUSY...
    if m and hasattr(errno, m.group(1)):
        return ("errno", -getattr(errno, m.group(1)), m.group(1))
    return ("oops", None, str(e))


def entry_result(returns: str, value: object) -> CallResult:
    """The result of an entry point that returned ``value``, as the kernel returns it."""
    if returns == "pointer":
        return (
            ("address", value, None) if isinstance(value, int) and value else ("null", None, None)
        )
    if returns == "zero":
        return ("int", 0, None)
    if returns == "int" and isinstance(value, int):  # a pid, a count
        return ("int", value, None)
    return ("void", None, None)


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

    @staticmethod
    def function_of(text: str) -> str | None:
        """The function a hang's message (``str()`` of one, as a timeline keeps it as
        its result's text) names; None for any other text."""
        found = _HANG_IN.match(text)
        return found.group(1) if found else None


# the start of KernelHang's message, as its __init__ writes it
_HANG_IN = re.compile(r"kernel hang in ([A-Za-z_][A-Za-z0-9_]*)\(\)")


class KernelPanic(KernelHang):
    """``panic()``: 2.4.20 logged ``Kernel panic: ...`` and stopped the machine (it
    spins in ``panic`` for ever: no panic_timeout is set). Memory is left as it
    was when ``panic`` was called."""

    def __init__(self, message: str, function: str = "panic") -> None:
        SimulationError.__init__(self, f"Kernel panic: {message}")
        self.function = function  # the caller of panic()
        self.message = message


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

    def looped(self) -> NoReturn:
        """The loop was found by its caller, which saw a state come back itself (a
        cheaper check than :meth:`visit`'s): raise what :meth:`visit` would have.
        Needs ``nodes``, which names the link that closes the loop."""
        if self.nodes is None:
            raise TypeError("LoopGuard.looped needs the nodes to walk again")
        self._hang(0)

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
