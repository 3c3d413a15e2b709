"""Simulated physical RAM: sparse, page-granular, little-endian.

Host memory grows with the pages written, not with the RAM size: a page never
written reads as zeros and is not stored. Every kernel object the simulator
creates lives here in the kernel's binary layout.

A :class:`WriteRecorder` given as ``recorder`` hears of every write (``write``,
``fill`` and the scalar stores), split at page boundaries, with the bytes before
and after; without one, writing costs what it always did.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MethodType
from typing import Any, Protocol

from vmintro.accel import simspeedups

__all__ = ["PhysMem", "PhysMemError", "WriteRecorder"]

PAGE_SIZE = 4096
_ZERO_PAGE = bytes(PAGE_SIZE)


class PhysMemError(Exception):
    """An access outside the machine's RAM."""


class WriteRecorder(Protocol):
    """Hears of each write to RAM: ``length`` bytes at ``offset`` in frame ``pfn``,
    never crossing the frame's end, with the bytes before and after."""

    def record(
        self, pfn: int, offset: int, old: bytes | bytearray, new: bytes | bytearray
    ) -> None: ...


class PhysMem:
    """Physical memory of ``size`` bytes (a whole number of pages)."""

    def __init__(self, size: int) -> None:
        if size % PAGE_SIZE:
            raise ValueError("physical memory size must be a whole number of pages")
        self.size = size
        self._pages: dict[int, bytearray] = {}
        self._recorder: WriteRecorder | None = None
        # Reads, writes and the scalar loads and stores are the simulator's hottest
        # code: bound per instance, to the C form's (which reads and writes the same
        # stored pages) where it was built, else to their Python form below.
        self._ram = None if simspeedups is None else simspeedups.Ram(self._pages, size, self._check)
        source = self._ram or _PythonRam(self)
        self.read: Callable[[int, int], bytes] = source.read
        self.write: Callable[[int, bytes | bytearray | memoryview], None] = source.write
        # read into a writable buffer (a numpy array): no bytes object of its size between
        self.read_into: Callable[[int, Any], None] = source.read_into  # any writable buffer
        self.read_u8: Callable[[int], int] = source.read_u8
        self.read_u16: Callable[[int], int] = source.read_u16
        self.read_u32: Callable[[int], int] = source.read_u32
        self.read_u64: Callable[[int], int] = source.read_u64
        self.write_u8: Callable[[int, int], None] = source.write_u8
        self.write_u16: Callable[[int, int], None] = source.write_u16
        self.write_u32: Callable[[int, int], None] = source.write_u32
        self.write_u64: Callable[[int, int], None] = source.write_u64

    @property
    def recorder(self) -> WriteRecorder | None:
        """Who hears of every write, or None."""
        return self._recorder

    @recorder.setter
    def recorder(self, recorder: WriteRecorder | None) -> None:
        self._recorder = recorder
        if self._ram is not None:
            self._ram.recorder = recorder

    @property
    def stored(self) -> Mapping[int, bytearray]:
        """The frames written so far, by pfn, for code that reads many scalars of one
        frame in a loop (a list walk): it must not change them, and a frame not in
        it reads as zeros."""
        return self._pages

    def _check(self, paddr: int, n: int) -> None:
        if paddr < 0 or n < 0 or paddr + n > self.size:
            raise PhysMemError(f"physical access {paddr:#x}+{n:#x} outside RAM ({self.size:#x})")

    def _page(self, pfn: int) -> bytearray:
        page = self._pages.get(pfn)
        if page is None:
            page = self._pages[pfn] = bytearray(PAGE_SIZE)
        return page

    def fill(self, paddr: int, n: int, byte: int = 0) -> None:
        """``memset``. Zeroing a page that was never written stores nothing."""
        self._check(paddr, n)
        rec = self._recorder
        while n:
            pfn, off = divmod(paddr, PAGE_SIZE)
            chunk = min(n, PAGE_SIZE - off)
            if rec is not None:
                page = self._pages.get(pfn)
                old = bytes(page[off : off + chunk]) if page is not None else _ZERO_PAGE[:chunk]
                rec.record(pfn, off, old, bytes([byte]) * chunk)
            if byte == 0 and chunk == PAGE_SIZE:
                self._pages.pop(pfn, None)
            elif byte or pfn in self._pages:
                self._page(pfn)[off : off + chunk] = bytes([byte]) * chunk
            paddr += chunk
            n -= chunk

    def page(self, pfn: int) -> bytes:
        """The 4096 bytes of frame ``pfn``."""
        self._check(pfn * PAGE_SIZE, PAGE_SIZE)
        page = self._pages.get(pfn)
        return bytes(page) if page is not None else _ZERO_PAGE

    def stored_pfns(self) -> list[int]:
        """Frames that hold at least one non-zero byte, ascending."""
        zero = _ZERO_PAGE  # a comparison of the whole page, not a loop over its bytes
        return sorted(pfn for pfn, page in self._pages.items() if page != zero)

    def runs(self, keep: Iterable[int] | None = None) -> Iterator[tuple[int, int]]:
        """Maximal runs ``(first_pfn, count)`` of non-zero frames.

        Frames in ``keep`` count as non-zero even when they are all zeros.
        """
        pfns = set(self.stored_pfns())
        if keep is not None:
            pfns.update(p for p in keep if p * PAGE_SIZE < self.size)
        ordered = sorted(pfns)
        start = 0  # index in ordered of the run's first frame
        for i in range(1, len(ordered) + 1):
            if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
                yield ordered[start], i - start
                start = i


def _read(self: PhysMem, paddr: int, n: int) -> bytes:
    """``read``: ``n`` bytes at ``paddr``; the pages never written read as zeros."""
    self._check(paddr, n)
    pages = self._pages
    off = paddr & (PAGE_SIZE - 1)
    if off + n <= PAGE_SIZE:  # inside one page, as most reads are
        page = pages.get(paddr >> 12)
        return bytes(memoryview(page)[off : off + n]) if page is not None else bytes(n)
    out = bytearray(n)  # the pages never written stay zeros
    pos = 0
    while pos < n:
        pfn, off = divmod(paddr + pos, PAGE_SIZE)
        chunk = min(n - pos, PAGE_SIZE - off)
        page = pages.get(pfn)
        if page is not None:
            out[pos : pos + chunk] = memoryview(page)[off : off + chunk]
        pos += chunk
    return bytes(out)


def _read_into(self: PhysMem, paddr: int, out: Any) -> None:
    """``read_into``: ``read(paddr, n)`` into the ``n`` bytes of the writable buffer ``out``."""
    view = memoryview(out).cast("B")
    view[:] = self.read(paddr, len(view))


def _write(self: PhysMem, paddr: int, data: bytes | bytearray | memoryview) -> None:
    """``write``: ``data`` at ``paddr``, each page's part told to the recorder."""
    n = len(data)
    self._check(paddr, n)
    rec = self._recorder
    off = paddr & (PAGE_SIZE - 1)
    if rec is None and 0 < n <= PAGE_SIZE - off:  # inside one page, nobody listening
        self._page(paddr >> 12)[off : off + n] = data
        return
    view = memoryview(data)
    while n:
        pfn, off = divmod(paddr, PAGE_SIZE)
        chunk = min(n, PAGE_SIZE - off)
        page = self._page(pfn)
        if rec is not None:
            rec.record(pfn, off, page[off : off + chunk], bytes(view[:chunk]))
        page[off : off + chunk] = view[:chunk]
        view = view[chunk:]
        paddr += chunk
        n -= chunk


def _load(fmt: str) -> Callable[[PhysMem, int], int]:
    """``read_uN``: a little-endian scalar at ``paddr``; inside one page it is one
    unpack from the stored page (a page never written reads as zeros)."""
    st = struct.Struct(fmt)
    size, unpack_from, unpack = st.size, st.unpack_from, st.unpack
    last = PAGE_SIZE - size  # the last offset in a page where the scalar fits

    def load(self: PhysMem, paddr: int) -> int:
        off = paddr & 0xFFF
        if off <= last and 0 <= paddr < self.size:  # RAM is whole pages: the end fits too
            page = self._pages.get(paddr >> 12)
            return 0 if page is None else unpack_from(page, off)[0]
        return unpack(self.read(paddr, size))[0]  # across pages, or outside RAM: read says

    return load


def _store(fmt: str) -> Callable[[PhysMem, int, int], None]:
    """``write_uN``: ``value`` (truncated to the width) at ``paddr``, told to the
    recorder as one write when it fits in one page."""
    st = struct.Struct(fmt)
    size, pack_into, pack = st.size, st.pack_into, st.pack
    last = PAGE_SIZE - size
    mask = (1 << (8 * size)) - 1

    def store(self: PhysMem, paddr: int, value: int) -> None:
        value &= mask
        off = paddr & 0xFFF
        if off <= last and 0 <= paddr < self.size:
            pfn = paddr >> 12
            page = self._pages.get(pfn)
            if page is None:
                page = self._pages[pfn] = bytearray(PAGE_SIZE)
            rec = self._recorder
            if rec is None:
                pack_into(page, off, value)
                return
            new = pack(value)
            old = page[off : off + size]
            page[off : off + size] = new
            rec.record(pfn, off, old, new)
        else:
            self.write(paddr, pack(value))

    return store


class _PythonRam:
    """The reads, writes, scalar loads and stores of one :class:`PhysMem` in Python:
    what ``vmintro._simspeedups.Ram`` does in C."""

    _LOADS = {
        name: _load(fmt)
        for name, fmt in (("u8", "<B"), ("u16", "<H"), ("u32", "<I"), ("u64", "<Q"))
    }
    _STORES = {
        name: _store(fmt)
        for name, fmt in (("u8", "<B"), ("u16", "<H"), ("u32", "<I"), ("u64", "<Q"))
    }

    def __init__(self, mem: PhysMem) -> None:
        loads, stores = self._LOADS, self._STORES
        self.read, self.write = MethodType(_read, mem), MethodType(_write, mem)
        self.read_into = MethodType(_read_into, mem)
        self.read_u8, self.read_u16 = MethodType(loads["u8"], mem), MethodType(loads["u16"], mem)
        self.read_u32, self.read_u64 = MethodType(loads["u32"], mem), MethodType(loads["u64"], mem)
        self.write_u8, self.write_u16 = (
            MethodType(stores["u8"], mem),
            MethodType(stores["u16"], mem),
        )
        self.write_u32 = MethodType(stores["u32"], mem)
        self.write_u64 = MethodType(stores["u64"], mem)
