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
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.timeline.moments import image_timeline, moment_of

if TYPE_CHECKING:
    from vmintro.image.format.timeline import Timeline
    from vmintro.program import Program

Array = np.ndarray[Any, np.dtype[Any]]

__all__ = ["Write", "blame", "entries_touching", "history", "iter_history", "ranges_of"]

# The most bytes one history follows: a page table's worth of entries and more,
# while a mistyped size cannot make it walk the whole address space.
MAX_HISTORY_BYTES = 1 << 20


class Write(NamedTuple):
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


@dataclass(frozen=True)
class _Hits:
    """The records that wrote a range, in time order: each with the part of the range
    it fell in (where that page part starts, as asked and physically, and its length)."""

    records: Array
    asked: Array
    phys: Array
    length: Array

    def __len__(self) -> int:
        return len(self.records)


def _hits(prog: Program, address: int, size: int, physical: bool, until: int | None) -> _Hits:
    """The records that wrote the range, in time order, up to entry ``until``
    (the program's moment by default)."""
    state = image_timeline(prog)
    index = state.index  # NoTimelineError, TimelineError: one line saying why there is none
    if until is None:
        moment = moment_of(prog)
        until = state.last if moment is None else moment
    parts: list[tuple[Array, int, int, int]] = []
    for asked, phys, length in ranges_of(prog, address, size, physical):
        pfn, lo = divmod(phys, PAGE_SIZE)
        recs = index.touching(pfn, lo, lo + length, until)
        if len(recs):
            parts.append((recs, asked, phys, length))
    if not parts:
        empty = np.empty(0, np.int64)
        return _Hits(empty, empty, empty, empty)
    records = np.concatenate([recs for recs, *_ in parts])
    counts = [len(recs) for recs, *_ in parts]
    order = np.argsort(records, kind="stable")

    def spread(i: int) -> Array:
        return np.repeat(np.array([p[i] for p in parts], np.int64), counts)[order]

    return _Hits(records[order], spread(1), spread(2), spread(3))


def _writes(t: Timeline, hits: _Hits) -> Iterator[Write]:
    """The :class:`Write` of each hit, computed for all of them at once and made one by one."""
    from vmintro.image.format.timeline import ZERO

    w = t.writes[hits.records]
    length = w["length"].astype(np.int64)
    write_phys = w["pfn"].astype(np.int64) * PAGE_SIZE + w["offset"]
    lo = np.maximum(hits.phys, write_phys)
    hi = np.minimum(hits.phys + hits.length, write_phys + length)
    columns = (
        hits.records,
        w["entry"],
        w["path"],
        w["old"],
        w["new"],
        lo - write_phys,
        hi - write_phys,
        hits.asked + (lo - hits.phys),
        lo,
        write_phys,
        length,
    )
    data, paths = t.data, t.paths
    calls = [e.call for e in t.entries]
    zeros = bytes(PAGE_SIZE)
    # positional and from plain lists: a word written 100,000 times is as many Writes
    for record, entry, path, old, new, cut_lo, cut_hi, address, phys, where, n in zip(
        *(c.tolist() for c in columns), strict=True
    ):
        yield Write(
            entry,
            calls[entry],
            address,
            phys,
            zeros[: cut_hi - cut_lo] if old == ZERO else data[old + cut_lo : old + cut_hi],
            zeros[: cut_hi - cut_lo] if new == ZERO else data[new + cut_lo : new + cut_hi],
            paths[path],
            record,
            where,
            n,
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
    yield from _writes(image_timeline(prog).require(), hits)


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
    if not len(hits):
        return None
    last = _Hits(*(a[-1:] for a in (hits.records, hits.asked, hits.phys, hits.length)))
    return next(_writes(image_timeline(prog).require(), last))


def entries_touching(
    prog: Program, address: int, size: int = 4, physical: bool = False
) -> list[int]:
    """The entries of the whole timeline that wrote any of the ``size`` bytes at
    ``address`` (a virtual one translated at ``prog``'s moment), in order."""
    t = image_timeline(prog).require()
    hits = _hits(prog, address, size, physical, len(t.entries))
    return [int(e) for e in np.unique(t.writes["entry"][hits.records])]
