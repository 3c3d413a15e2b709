"""Who wrote some bytes: :func:`history` (every write, oldest first) and :func:`blame` (the last).

The bytes are named as the program sees them: a kernel virtual address is
translated at the moment the program shows (``prog.at(n)`` walks the page
tables of entry ``n``), page by page, or a physical address is taken as it
is. The writes are those of the timeline's entries up to that moment; boot's
(entry 0) are not itemized, so bytes last written while booting have no
write to blame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.timeline.moments import image_timeline, moment_of

if TYPE_CHECKING:
    from vmintro.image.format.timeline import Timeline
    from vmintro.program import Program

__all__ = ["Write", "blame", "entries_touching", "history", "iter_history", "ranges_of"]

# The most bytes one history follows: a page table's worth of entries and more,
# while a mistyped size cannot make it walk the whole address space.
MAX_HISTORY_BYTES = 1 << 20


@dataclass(frozen=True)
class Write:
    """One write of the timeline to the bytes asked about.

    ``address`` and ``physical`` are where the first of those bytes this write
    changed is (``address`` as asked: virtual or physical); ``old`` and ``new``
    are the bytes of the asked range it overwrote and wrote (the whole write
    may be larger: ``write_physical`` and ``write_length``); ``path`` is the
    kernel call path that made it, innermost last; ``record`` its number in
    the timeline's writes.
    """

    entry: int
    call: str
    address: int
    physical: int
    old: bytes
    new: bytes
    path: tuple[str, ...]
    record: int
    write_physical: int
    write_length: int


def ranges_of(prog: Program, address: int, size: int, physical: bool) -> list[tuple[int, int, int]]:
    """``(address as asked, physical address, length)`` of each page's part of the range.

    :raises FaultError: where a virtual page is not mapped at the program's moment.
    :raises ValueError: a size below 1 or above :data:`MAX_HISTORY_BYTES`.
    """
    if not 0 < size <= MAX_HISTORY_BYTES:
        raise ValueError(f"size {size} is not between 1 and {MAX_HISTORY_BYTES}")
    out = []
    at, left = address, size
    while left > 0:
        chunk = min(left, PAGE_SIZE - at % PAGE_SIZE)
        out.append((at, at if physical else prog.translate(at), chunk))
        at += chunk
        left -= chunk
    return out


Hit = tuple[int, int, int, int]  # (record, asked address, physical address, length)


def _hits(prog: Program, address: int, size: int, physical: bool, until: int | None) -> list[Hit]:
    """The records that wrote the range, in time order, with the page part each wrote."""
    state = image_timeline(prog)
    t = state.require()
    if until is None:
        until = moment_of(prog)
    ranges = ranges_of(prog, address, size, physical)
    index = state.index
    hits: list[Hit] = []
    for asked, phys, length in ranges:
        pfn, lo = divmod(phys, PAGE_SIZE)
        recs = index.records(pfn, until=until)
        if not len(recs):
            continue
        w = t.writes[recs]
        start = w["offset"].astype(np.int64)
        end = start + w["length"]
        hits.extend((int(r), asked, phys, length) for r in recs[(start < lo + length) & (end > lo)])
    hits.sort()
    return hits


def _write(t: Timeline, hit: Hit) -> Write:
    record, asked, phys, length = hit
    w = t.writes[record]
    pfn, offset, write_length = int(w["pfn"]), int(w["offset"]), int(w["length"])
    write_phys = pfn * PAGE_SIZE + offset
    lo = max(phys, write_phys)
    hi = min(phys + length, write_phys + write_length)
    cut = slice(lo - write_phys, hi - write_phys)
    entry = t.entries[int(w["entry"])]
    return Write(
        entry=entry.number,
        call=entry.call,
        address=asked + (lo - phys),
        physical=lo,
        old=t.old_bytes(record)[cut],
        new=t.new_bytes(record)[cut],
        path=t.paths[int(w["path"])],
        record=record,
        write_physical=write_phys,
        write_length=write_length,
    )


def iter_history(
    prog: Program,
    address: int,
    size: int = 4,
    physical: bool = False,
    until: int | None = None,
) -> Iterator[Write]:
    """:func:`history` one write at a time (a long history stops where it is interrupted);
    ``until`` the last entry to look at (by default the program's moment)."""
    hits = _hits(prog, address, size, physical, until)
    t = image_timeline(prog).require()
    for hit in hits:
        yield _write(t, hit)


def history(prog: Program, address: int, size: int = 4, physical: bool = False) -> list[Write]:
    """Every write to the ``size`` bytes at ``address``, oldest first, up to the moment
    ``prog`` shows: entry, old and new bytes, and the kernel call path that made it.

    :raises vmintro.timeline.NoTimelineError: the image has no timeline.
    :raises vmintro.timeline.TimelineError: its timeline cannot be used.
    :raises FaultError: a virtual address not mapped at the program's moment.
    """
    return list(iter_history(prog, address, size, physical))


def blame(prog: Program, address: int, size: int = 4, physical: bool = False) -> Write | None:
    """The last write to the ``size`` bytes at ``address`` up to the moment ``prog``
    shows (see :func:`history`); None when no entry after boot wrote them."""
    hits = _hits(prog, address, size, physical, None)
    return _write(image_timeline(prog).require(), hits[-1]) if hits else None


def entries_touching(
    prog: Program, address: int, size: int = 4, physical: bool = False
) -> list[int]:
    """The entries of the whole timeline that wrote any of the ``size`` bytes at
    ``address`` (a virtual one translated at ``prog``'s moment), in order."""
    t = image_timeline(prog).require()
    hits = _hits(prog, address, size, physical, len(t.entries))
    return sorted({int(t.writes["entry"][record]) for record, *_ in hits})
