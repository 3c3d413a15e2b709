"""Recording a run's timeline: each entry point the workload calls, and every
write it makes to RAM with the kernel call path that made it.

A :class:`Recorder` is two listeners at once: :class:`PhysMem`'s write recorder
(``mem.recorder``) and the entry-point tracer of
:func:`vmintro.sim.errors.tracing`. :func:`recording` attaches it to a booted
kernel's RAM; entry 0 is that boot, which itemizes no writes (the RAM it left is
where the first entry starts). Writes are kept in compact columns and the bytes
they change in one buffer, all-zero byte runs left out, so a run of millions of
writes costs tens of megabytes, not a copy of RAM per entry.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy

from vmintro.accel import simspeedups
from vmintro.image.format.timeline import (
    WRITE_DTYPE,
    ZERO,
    Entry,
    Result,
    Timeline,
)
from vmintro.sim.errors import CALL_PATH, CallResult, tracing
from vmintro.sim.physmem import PhysMem

__all__ = ["BOOT_CALL", "Recorder", "WriteLog", "recording"]

BOOT_CALL = "start_kernel"  # entry 0: boot, whose writes are not itemized
_NO_RESULT: CallResult = ("void", None, None)


@dataclass
class _Call:
    """An entry being recorded."""

    step: int
    call: str
    args: tuple[tuple[str, int | str], ...]
    first_write: int
    result: CallResult = _NO_RESULT


class WriteLog:
    """The writes of a run, each with the call path that made it: in compact
    columns, seven numbers per write (entry, path, pfn, offset, length, old, new)
    in ``records``, the bytes it changed in ``data``, all-zero byte runs left out.
    ``vmintro._simspeedups.WriteLog`` is the same in C, where it was built.

    ``call_path`` is the list of kernel functions on the path now; ``paths`` numbers
    each path met (new ones in turn), looked up only when the path differs from the
    last write's (consecutive writes mostly come from one path, and comparing the
    list is cheaper than looking it up). A write outside any kernel function has
    the index ``outside()`` gives.
    """

    def __init__(
        self, call_path: list[str], paths: dict[tuple[str, ...], int], outside: Callable[[], int]
    ) -> None:
        self.records = array("I")  # one append per write is what keeps recording cheap
        self.data = bytearray()
        self.entry = 0  # the entry the writes go to now
        self._call_path = call_path
        self._paths = paths
        self._outside = outside
        self._last_path: list[str] | None = None  # None: a path whose index is not kept
        self._last_index = 0

    @property
    def count(self) -> int:
        return len(self.records) // 7

    def record(self, pfn: int, offset: int, old: bytes | bytearray, new: bytes | bytearray) -> None:
        """A write made now, from the kernel functions on the call path."""
        path = self._call_path
        if path == self._last_path:
            index = self._last_index
        elif path:
            key = tuple(path)
            known = self._paths.get(key)
            index = self._paths[key] = len(self._paths) if known is None else known
            self._last_path, self._last_index = path.copy(), index
        else:  # outside any function the path depends on the entry: not remembered
            index = self._last_index = self._outside()
            self._last_path = None
        n = len(new)
        data = self.data
        if old.count(0) == n:
            at_old = ZERO
        else:
            at_old = len(data)
            data += old
        if new == old:
            at_new = at_old
        elif new.count(0) == n:
            at_new = ZERO
        else:
            at_new = len(data)
            data += new
        self.records.extend((self.entry, index, pfn, offset, n, at_old, at_new))


class Recorder:
    """A run's entries and writes, from boot on."""

    def __init__(self, ram_size: int) -> None:
        self.ram_size = ram_size
        self.step = 0  # the scenario step running now (1-based), which the runner sets
        self._entries = [_Call(0, BOOT_CALL, (), 0)]
        self._paths: dict[tuple[str, ...], int] = {}
        log = WriteLog if simspeedups is None else simspeedups.WriteLog
        self.writes: WriteLog = log(CALL_PATH, self._paths, self._outside_index)

    # -- the tracer of entry points ---------------------------------------------------

    def enter(self, call: str, args: tuple[tuple[str, int | str], ...]) -> None:
        self._entries.append(_Call(self.step, call, args, self.write_count))
        self.writes.entry += 1

    def leave(self, result: CallResult) -> None:
        self._entries[-1].result = result

    # -- the recorder of writes -------------------------------------------------------

    def record(self, pfn: int, offset: int, old: bytes | bytearray, new: bytes | bytearray) -> None:
        """A write made now, from the kernel functions on :data:`CALL_PATH`; a
        write outside any belongs to the last entry (the oops report after it)."""
        self.writes.record(pfn, offset, old, new)

    def _outside_index(self) -> int:
        """The index of a write outside any kernel function: it belongs to the last
        entry's call."""
        path = (self._entries[-1].call,)
        index = self._paths.get(path)
        if index is None:
            index = self._paths[path] = len(self._paths)
        return index

    # -- the result -----------------------------------------------------------------

    @property
    def write_count(self) -> int:
        return self.writes.count

    def timeline(self, core_digest: bytes) -> Timeline:
        """The timeline recorded so far, for the image whose core has SHA-256 ``core_digest``."""
        n = self.write_count
        table = numpy.frombuffer(self.writes.records, numpy.uint32).reshape(n, 7)
        writes = numpy.empty(n, WRITE_DTYPE)
        for column, field in enumerate(WRITE_DTYPE.names or ()):
            writes[field] = table[:, column]
        ends = [e.first_write for e in self._entries[1:]] + [n]
        entries = tuple(
            Entry(i, e.step, e.call, e.args, Result(*e.result), e.first_write, end - e.first_write)
            for i, (e, end) in enumerate(zip(self._entries, ends, strict=True))
        )
        paths = tuple(sorted(self._paths, key=self._paths.__getitem__))
        return Timeline(entries, paths, writes, bytes(self.writes.data), self.ram_size, core_digest)


@contextmanager
def recording(mem: PhysMem, recorder: Recorder) -> Iterator[Recorder]:
    """While inside, every write to ``mem`` and every entry point the workload
    calls goes to ``recorder``."""
    mem.recorder = recorder.writes  # the log itself: the C form's stores reach it directly
    try:
        with tracing(recorder):
            yield recorder
    finally:
        mem.recorder = None
