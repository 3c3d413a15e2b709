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
from collections.abc import Iterable, Iterator
from typing import Protocol

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
        self.recorder: WriteRecorder | None = None

    def _check(self, paddr: int, n: int) -> None:
        if paddr < 0 or n < 0 or paddr + n > self.size:
            raise PhysMemError(f"physical access {paddr:#x}+{n:#x} outside RAM ({self.size:#x})")

    def _page(self, pfn: int) -> bytearray:
        page = self._pages.get(pfn)
        if page is None:
            page = self._pages[pfn] = bytearray(PAGE_SIZE)
        return page

    def read(self, paddr: int, n: int) -> bytes:
        self._check(paddr, n)
        out = bytearray()
        while n:
            pfn, off = divmod(paddr, PAGE_SIZE)
            chunk = min(n, PAGE_SIZE - off)
            page = self._pages.get(pfn)
            out += page[off : off + chunk] if page is not None else _ZERO_PAGE[:chunk]
            paddr += chunk
            n -= chunk
        return bytes(out)

    def write(self, paddr: int, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        self._check(paddr, n)
        view = memoryview(data)
        rec = self.recorder
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

    def fill(self, paddr: int, n: int, byte: int = 0) -> None:
        """``memset``. Zeroing a page that was never written stores nothing."""
        self._check(paddr, n)
        rec = self.recorder
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

    def _scalar(self, fmt: str, paddr: int, size: int) -> int:
        pfn, off = divmod(paddr, PAGE_SIZE)
        if off + size <= PAGE_SIZE and 0 <= paddr and paddr + size <= self.size:
            page = self._pages.get(pfn)
            return struct.unpack_from(fmt, page, off)[0] if page is not None else 0
        return struct.unpack(fmt, self.read(paddr, size))[0]

    def _store(self, fmt: str, paddr: int, size: int, value: int) -> None:
        pfn, off = divmod(paddr, PAGE_SIZE)
        if off + size <= PAGE_SIZE and 0 <= paddr and paddr + size <= self.size:
            page = self._page(pfn)
            if self.recorder is not None:
                new = struct.pack(fmt, value)
                old = page[off : off + size]
                page[off : off + size] = new
                self.recorder.record(pfn, off, old, new)
                return
            struct.pack_into(fmt, page, off, value)
        else:
            self.write(paddr, struct.pack(fmt, value))

    def read_u8(self, paddr: int) -> int:
        return self._scalar("<B", paddr, 1)

    def read_u16(self, paddr: int) -> int:
        return self._scalar("<H", paddr, 2)

    def read_u32(self, paddr: int) -> int:
        return self._scalar("<I", paddr, 4)

    def read_u64(self, paddr: int) -> int:
        return self._scalar("<Q", paddr, 8)

    def write_u8(self, paddr: int, value: int) -> None:
        self._store("<B", paddr, 1, value & 0xFF)

    def write_u16(self, paddr: int, value: int) -> None:
        self._store("<H", paddr, 2, value & 0xFFFF)

    def write_u32(self, paddr: int, value: int) -> None:
        self._store("<I", paddr, 4, value & 0xFFFFFFFF)

    def write_u64(self, paddr: int, value: int) -> None:
        self._store("<Q", paddr, 8, value & 0xFFFFFFFFFFFFFFFF)

    def page(self, pfn: int) -> bytes:
        """The 4096 bytes of frame ``pfn``."""
        self._check(pfn * PAGE_SIZE, PAGE_SIZE)
        page = self._pages.get(pfn)
        return bytes(page) if page is not None else _ZERO_PAGE

    def stored_pfns(self) -> list[int]:
        """Frames that hold at least one non-zero byte, ascending."""
        return sorted(pfn for pfn, page in self._pages.items() if any(page))

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
