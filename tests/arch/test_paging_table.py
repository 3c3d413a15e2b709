"""The reader's walk is driven by the paging mode's table of levels, nothing else.

Two modes that i386 does not have, defined only here, drive the walker, the
translation cache (Python and C) and bulk translation over page tables this
file builds by hand. The expected addresses come from what the builder wrote
(:attr:`HandBuilt.mapped`), computed with the geometry written out below, never
from the walker's :class:`~vmintro.arch.paging.Level` arithmetic.
"""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from vmintro.accel import speedups
from vmintro.arch.paging import Level, PagingMode
from vmintro.errors import FaultError
from vmintro.pagewalk import PageWalker

RAM = 8 << 20
PAGE = 4096
PGD_PHYS = 0x1000

# (name, shift, entries, large): a mode's levels written out as numbers
FOUR_LEVEL = (
    ("pgd", 28, 16, False),
    ("pud", 22, 64, True),  # 4 MiB pages
    ("pmd", 17, 32, True),  # 128 KiB pages
    ("pte", 12, 32, False),
)
WIDE_THREE_LEVEL = (
    ("pgd", 31, 2, False),
    ("pmd", 20, 2048, True),  # 1 MiB pages
    ("pte", 12, 256, False),
)
SHAPES = {"four-level": (FOUR_LEVEL, "<I", 32), "wide-three-level": (WIDE_THREE_LEVEL, "<Q", 40)}


def make_mode(name: str) -> PagingMode:
    levels, fmt, phys_bits = SHAPES[name]
    return PagingMode(name, tuple(Level(*lv) for lv in levels), fmt, phys_bits)


class HandBuilt:
    """Page tables of one made-up mode, written entry by entry into a small RAM."""

    def __init__(self, name: str) -> None:
        self.levels, self.fmt, _bits = SHAPES[name]
        self.esize = struct.calcsize(self.fmt)
        self.ram = bytearray(RAM)
        self.next_table = PGD_PHYS + PAGE
        self.mapped: dict[int, tuple[int, int]] = {}  # vaddr of a page -> (paddr, page size)

    def read_phys(self, paddr: int, size: int) -> bytes:
        if paddr < 0 or paddr + size > RAM:
            raise FaultError(paddr, f"physical {paddr:#x} is outside RAM")
        return bytes(self.ram[paddr : paddr + size])

    def entry_at(self, table: int, index: int) -> int:
        at = table + index * self.esize
        return struct.unpack_from(self.fmt, self.ram, at)[0]

    def set_entry(self, table: int, index: int, value: int) -> None:
        struct.pack_into(self.fmt, self.ram, table + index * self.esize, value)

    def map(self, vaddr: int, paddr: int, depth: int) -> None:
        """Map ``vaddr`` to ``paddr`` with an entry of level ``depth`` (the last level:
        a 4 KiB page; above it, a large page), making the tables on the way.
        """
        table = PGD_PHYS
        for _name, shift, entries, _large in self.levels[:depth]:
            index = (vaddr >> shift) % entries
            entry = self.entry_at(table, index)
            if not entry & 1:
                entry = self.next_table | 0x067  # PRESENT RW USER ACCESSED DIRTY
                self.next_table += PAGE
                self.set_entry(table, index, entry)
            table = entry & ~0xFFF
        name, shift, entries, large = self.levels[depth]
        size = 1 << shift
        assert vaddr % size == 0 and paddr % size == 0
        assert depth == len(self.levels) - 1 or large, f"{name} cannot map a page"
        pse = 0x080 if depth < len(self.levels) - 1 else 0
        self.set_entry(table, (vaddr >> shift) % entries, paddr | 0x063 | pse)
        self.mapped[vaddr] = (paddr, size)

    def expected(self, vaddr: int) -> int | None:
        for start, (paddr, size) in self.mapped.items():
            if start <= vaddr < start + size:
                return paddr + vaddr - start
        return None


def standard(name: str) -> HandBuilt:
    """Pages at every level that can map one, including some next to each other."""
    hb = HandBuilt(name)
    last = len(hb.levels) - 1
    large = [d for d, lv in enumerate(hb.levels) if lv[3]]
    frame = 0x400000  # frames of 4 KiB pages from 4 MiB up, past the tables
    for i in range(40):  # neighbours in one last-level table, then scattered pages
        vaddr = 0xD0000000 + i * PAGE if i < 20 else 0xE1230000 + (i - 20) * 7 * PAGE
        hb.map(vaddr, frame, last)
        frame += PAGE
    for n, depth in enumerate(large):  # 64 MiB apart: no two share a table
        size = 1 << hb.levels[depth][1]
        hb.map(0xC0000000 + n * (64 << 20), 0, depth)
        hb.map(0xF0000000 + n * (64 << 20), size, depth)
    return hb


@pytest.fixture(params=sorted(SHAPES))
def built(request: pytest.FixtureRequest) -> tuple[HandBuilt, PagingMode]:
    return standard(request.param), make_mode(request.param)


def addresses(hb: HandBuilt) -> list[int]:
    """Inside every mapped page and large page, next to them, and far away."""
    rng = random.Random(3)
    out = []
    for start, (_paddr, size) in hb.mapped.items():
        out += [start, start + size - 1, start + rng.randrange(size), start + size, start - 1]
    out += [rng.randrange(1 << 32) for _ in range(300)]
    return out


def walker(hb: HandBuilt, mode: PagingMode) -> PageWalker:
    return PageWalker(hb.read_phys, mode, PGD_PHYS, lowmem_size=0)


def test_the_walk_follows_the_table(built: tuple[HandBuilt, PagingMode]) -> None:
    hb, mode = built
    w = walker(hb, mode)
    for va in addresses(hb):
        want = hb.expected(va)
        walk = w.walk(va)
        if want is None:
            with pytest.raises(FaultError, match="page not present"):
                w.translate(va)
            assert walk.fault is not None and walk.paddr is None
            continue
        assert w.translate(va) == want, hex(va)
        assert walk.paddr == want
        names = [name for name, *_ in hb.levels]
        depth = len(walk.steps)
        assert [s.level for s in walk.steps] == names[:depth]
        assert walk.page_size == 1 << hb.levels[depth - 1][1]
        assert walk.large == (depth < len(names))


def test_a_fault_names_the_level_and_entry(built: tuple[HandBuilt, PagingMode]) -> None:
    hb, mode = built
    w = walker(hb, mode)
    _name, shift, entries, _large = hb.levels[1]
    # in the table that maps 0xd0000000, the next slot of the second level is empty
    va = 0xD0000000 + (1 << shift)
    table = hb.entry_at(PGD_PHYS, (va >> hb.levels[0][1]) % hb.levels[0][2]) & ~0xFFF
    slot = (va >> shift) % entries
    zero = "0x" + "0" * (2 * hb.esize)
    with pytest.raises(FaultError) as info:
        w.translate(va)
    assert str(info.value) == (
        f"read of {va:#x}: page not present"
        f" ({hb.levels[1][0]} {zero} at physical {table + slot * hb.esize:#x})"
    )
    assert str(w.walk(va)).splitlines()[2].lstrip().startswith(hb.levels[1][0].upper())


def test_bulk_translation_follows_the_table(built: tuple[HandBuilt, PagingMode]) -> None:
    hb, mode = built
    vas = addresses(hb)
    got = walker(hb, mode).translate_many(np.array(vas, dtype=np.int64)).tolist()
    assert got == [-1 if hb.expected(va) is None else hb.expected(va) for va in vas]


@pytest.mark.parametrize("accelerated", [False, True])
def test_the_translation_cache_follows_the_table(
    built: tuple[HandBuilt, PagingMode], accelerated: bool
) -> None:
    """Twice over every address: the first pass walks and fills the TLB and the
    held last-level tables, the second answers from them (in C where built).
    """
    if accelerated and speedups is None:
        pytest.skip("vmintro._speedups was not built")
    hb, mode = built
    cache = walker(hb, mode).cache
    translate = speedups.Translator(cache) if accelerated else cache.translate
    vas = addresses(hb)
    for _ in range(2):
        for va in vas:
            want = hb.expected(va)
            if want is None:
                with pytest.raises(FaultError):
                    translate(va)
            else:
                assert translate(va) == want, hex(va)
    assert len(cache.tlb) > 40 and cache.spans
    span = 1 << (hb.levels[-1][1] + hb.levels[-1][2].bit_length() - 1)
    assert all(key * span >= 0xD0000000 for key in cache.spans)


def test_a_mode_that_cannot_index_32_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="must start where"):
        PagingMode("gap", (Level("pgd", 23, 512), Level("pte", 12, 512)), "<I", 32)
    with pytest.raises(ValueError, match="32-bit"):
        PagingMode("short", (Level("pgd", 21, 512), Level("pte", 12, 512)), "<I", 32)
    with pytest.raises(ValueError, match="last level"):
        PagingMode("large leaf", (Level("pgd", 22, 1024), Level("pte", 12, 1024, True)), "<I", 32)
