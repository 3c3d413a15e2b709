"""Who owns each frame of RAM, read from the image: the colours of the explorer's
physical view.

A frame is, in this order of precedence: on a buddy free list (with the order of
its block), a kernel page table (``swapper_pg_dir`` and every table it reaches:
``page_table_frames``), behind a module's vm area, behind another vmalloc area,
behind an ioremap area, a slab page (``PG_slab``), reserved (``PG_reserved``: the
kernel image, bootmem, ``mem_map``), or otherwise in use. Everything comes from the
helpers; the answer is run-length encoded, so a machine of gigabytes costs a few
runs, not a million entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vmintro.errors import VmintroError
from vmintro.helpers.buddy import for_each_free_page
from vmintro.helpers.memory import page_table_frames
from vmintro.helpers.mm import max_mapnr
from vmintro.types.flags import PAGE_FLAGS

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["OWNERS", "FrameOwners", "frame_owners"]

# The owner codes, in the order the page's legend lists them.
OWNERS = ("free", "pagetable", "module", "vmalloc", "ioremap", "slab", "reserved", "used")
_CODE = {name: i for i, name in enumerate(OWNERS)}
_PG_SLAB = 1 << PAGE_FLAGS["PG_slab"]
_PG_RESERVED = 1 << PAGE_FLAGS["PG_reserved"]
_CHUNK = 1 << 16  # struct pages read at once


@dataclass
class FrameOwners:
    """Run-length owners of frames ``0 .. frames - 1``: ``runs`` are
    ``[first pfn, count, owner code, free order or -1]``; ``errors`` the walks
    that broke (the frames they would have named keep a lower owner)."""

    frames: int
    runs: list[list[int]]
    errors: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "owners": list(OWNERS), "runs": self.runs,
                "errors": self.errors}  # fmt: skip


def _flags(prog: Program, frames: int) -> np.ndarray:
    """``page->flags`` of frames ``0 .. frames - 1``, read from ``mem_map`` in chunks."""
    page_t = prog.type("struct page")
    size = page_t.size
    offset = page_t.offsetof("flags")  # type: ignore[attr-defined]
    mem_map = prog["mem_map"].value_()
    out = np.zeros(frames, dtype=np.uint32)
    for first in range(0, frames, _CHUNK):
        n = min(_CHUNK, frames - first)
        raw = np.frombuffer(prog.read(mem_map + first * size, n * size), dtype=np.uint8)
        out[first : first + n] = (
            raw.reshape(n, size)[:, offset : offset + 4].copy().view("<u4")[:, 0]
        )
    return out


def frame_owners(prog: Program, areas: list[tuple[str, list[int | None]]]) -> FrameOwners:
    """The owner of every frame that has a ``struct page``.

    ``areas`` are (owner: ``module``, ``vmalloc`` or ``ioremap``; the area's
    frames) as the explorer lists them.
    """
    frames = max_mapnr(prog)
    errors: list[str] = []
    owner = np.full(frames, _CODE["used"], dtype=np.int8)
    order = np.full(frames, -1, dtype=np.int8)
    flags = _flags(prog, frames)
    owner[(flags & _PG_SLAB) != 0] = _CODE["slab"]
    owner[(flags & _PG_RESERVED) != 0] = _CODE["reserved"]
    # later assignments win: the most specific owner last
    for kind in ("ioremap", "vmalloc", "module"):
        pfns = [p for k, pages in areas if k == kind for p in pages if p is not None]
        idx = np.array([p for p in pfns if 0 <= p < frames], dtype=np.int64)
        owner[idx] = _CODE[kind]
    try:
        tables = np.array([p for p in page_table_frames(prog) if 0 <= p < frames], dtype=np.int64)
        owner[tables] = _CODE["pagetable"]
    except VmintroError as e:
        errors.append(f"page tables: {e}")
    try:
        for _zone, k, pfn in for_each_free_page(prog):
            end = min(pfn + (1 << k), frames)
            if 0 <= pfn < end:
                owner[pfn:end] = _CODE["free"]
                order[pfn:end] = k
    except VmintroError as e:
        errors.append(f"free lists: {e}")
    return FrameOwners(frames, _runs(owner, order), errors)


def _runs(owner: np.ndarray, order: np.ndarray) -> list[list[int]]:
    """``[first, count, owner, order]`` for every run of equal (owner, order)."""
    if not len(owner):
        return []
    key = owner.astype(np.int32) * 64 + order.astype(np.int32)
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    counts = np.diff(np.append(starts, len(key)))
    return [
        [int(s), int(c), int(owner[s]), int(order[s])]
        for s, c in zip(starts.tolist(), counts.tolist(), strict=True)
    ]
