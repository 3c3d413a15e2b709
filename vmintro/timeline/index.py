"""The write records of a timeline by frame, and a frame's bytes at any moment.

Built once per timeline with numpy: the records sorted by frame (a stable
sort, so each frame's records stay in the order the kernel made them), where
each frame's run of records starts and ends, and the last entry that wrote
each frame. A frame no entry after ``n`` wrote reads at moment ``n`` as it
reads in the image; any other is the image's page with the old bytes of every
later write put back.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from vmintro.arch.x86 import PAGE_SIZE

if TYPE_CHECKING:
    from vmintro.image.format.timeline import Timeline

__all__ = ["WriteIndex"]

# A frame with this many records is reconstructed from its bytes' write history
# (built once, then any moment costs one search per byte) rather than by undoing
# its later writes each time.
_HOT_RECORDS = 512
# The bytes of write history kept for such frames (each costs 9 bytes of memory).
_HOT_BYTES_KEPT = 1 << 23
_POSITIONS = np.arange(PAGE_SIZE, dtype=np.int64)

Array = np.ndarray[Any, np.dtype[Any]]


def _stable_argsort(keys: Array) -> Array:
    """``np.argsort(keys, kind="stable")`` of unsigned 32-bit ``keys``, as a radix sort
    of their 16-bit halves (numpy sorts 16-bit keys by radix, and the high half only
    when some key has one): a third of the time on a timeline's million records."""
    order = np.argsort(keys.astype(np.uint16), kind="stable")
    if len(keys) and int(keys.max()) >> 16:
        high = (keys >> 16).astype(np.uint16)[order]
        order = order[np.argsort(high, kind="stable")]
    return order


class WriteIndex:
    """The records of ``timeline.writes`` grouped by frame, in time order within each."""

    def __init__(self, timeline: Timeline) -> None:
        from vmintro.image.format.timeline import ZERO

        self.timeline = timeline
        self._zero = ZERO
        writes = timeline.writes
        pfn = writes["pfn"]
        # record numbers by frame; stable, so each frame's run stays in time order
        self.order: Array = _stable_argsort(pfn)
        by_pfn = pfn[self.order]
        self.pfns: Array
        starts: Array
        self.pfns, starts = np.unique(by_pfn, return_index=True)
        self.starts: Array = starts.astype(np.int64)
        self.ends: Array = np.append(self.starts[1:], len(self.order)).astype(np.int64)
        # the entry, first byte and end of each record, in the frame order above
        self.entries: Array = writes["entry"][self.order]
        self.offsets: Array = writes["offset"][self.order].astype(np.int32)
        self.ends_at: Array = self.offsets + writes["length"][self.order]
        # the last entry that wrote each frame
        self.last_entry: Array = (
            self.entries[self.ends - 1] if len(self.pfns) else np.empty(0, np.uint32)
        )
        self._data: Array = np.frombuffer(timeline.data, dtype=np.uint8)
        # frames written often: their bytes' write history (_byte_history), least recent first
        self._hot: OrderedDict[int, tuple[Array, Array]] = OrderedDict()
        self._hot_bytes = 0

    def touching(self, pfn: int, lo: int, hi: int, until: int) -> Array:
        """Record numbers of frame ``pfn``, in time order, of entries ``<= until`` that
        wrote any of its bytes ``[lo, hi)``."""
        i = int(np.searchsorted(self.pfns, pfn))
        if i == len(self.pfns) or int(self.pfns[i]) != pfn:
            return np.empty(0, np.int64)
        start, end = int(self.starts[i]), int(self.ends[i])
        end = start + int(np.searchsorted(self.entries[start:end], until, "right"))
        hit = (self.offsets[start:end] < hi) & (self.ends_at[start:end] > lo)
        return self.order[start:end][hit].astype(np.int64)

    def changed_after(self, first_pfn: int, end_pfn: int, moment: int) -> list[int]:
        """Frames in ``[first_pfn, end_pfn)`` that an entry after ``moment`` wrote."""
        lo = int(np.searchsorted(self.pfns, first_pfn))
        hi = int(np.searchsorted(self.pfns, end_pfn))
        if lo == hi:
            return []
        hits = np.flatnonzero(self.last_entry[lo:hi] > moment)
        return [int(p) for p in self.pfns[lo:hi][hits]]

    def page_at(self, pfn: int, moment: int, current: bytes) -> bytes:
        """Frame ``pfn`` just after entry ``moment``, from ``current``, its bytes in the image.

        Each byte takes the old value of the earliest write after ``moment`` that
        covered it (what the later writes undo to, newest first); bytes no later
        write covered stay as they are. A frame written often (a zone's counters,
        ``vmlist``) is answered from its bytes' write history, built once.
        """
        i = int(np.searchsorted(self.pfns, pfn))
        if i == len(self.pfns) or int(self.pfns[i]) != pfn:
            return current
        start, end = int(self.starts[i]), int(self.ends[i])
        # records of the frame up to the moment: those after it are undone
        kept = int(np.searchsorted(self.entries[start:end], moment, "right"))
        if kept == end - start:
            return current
        if end - start < _HOT_RECORDS:
            return self._undo(self.order[start + kept : end], current)
        keys, values = self._byte_history(i)
        total = end - start
        # per byte: the first of its writes at or after rank `kept` holds its old value
        wanted = _POSITIONS * total + kept
        at = np.searchsorted(keys, wanted)
        found = np.minimum(at, len(keys) - 1)
        hit = (at < len(keys)) & (keys[found] < wanted - kept + total)
        page = np.frombuffer(current, dtype=np.uint8).copy()
        page[hit] = values[found[hit]]
        return page.tobytes()

    def warm(self, frames: int = 4) -> None:
        """Build the write history of the ``frames`` most written frames (a zone's
        counters, ``vmlist``'s page): what any first move needs."""
        counts = self.ends - self.starts
        for i in np.argsort(counts)[::-1][:frames]:
            if counts[i] >= _HOT_RECORDS:
                self._byte_history(int(i))

    def _expand(self, recs: Array) -> tuple[Array, Array, Array]:
        """For records ``recs`` (in time order): each byte they wrote as (its record's rank
        in ``recs``, its offset in the frame, the byte before the write)."""
        # the columns the bytes need, each gathered alone (not whole 24-byte records), and
        # each byte's record by rank: half the time of the first goto's hottest frame
        writes = self.timeline.writes
        lengths = writes["length"][recs].astype(np.int64)
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if len(ends) else 0
        rank = np.repeat(np.arange(len(recs), dtype=np.int64), lengths)
        within = np.arange(total, dtype=np.int64) - (ends - lengths)[rank]
        positions = writes["offset"][recs].astype(np.int64)[rank] + within
        old = writes["old"][recs][rank]
        zero = old == self._zero
        source = old.astype(np.int64) + within
        source[zero] = 0
        values = self._data[source] if len(self._data) else np.zeros(total, np.uint8)
        values[zero] = 0
        return rank, positions, values

    def _undo(self, recs: Array, current: bytes) -> bytes:
        """``current`` with the writes ``recs`` (in time order) undone."""
        _, positions, values = self._expand(recs)
        # the first occurrence of each position is the earliest record: its old byte wins
        where, first = np.unique(positions, return_index=True)
        page = np.frombuffer(current, dtype=np.uint8).copy()
        page[where] = values[first]
        return page.tobytes()

    def _byte_history(self, i: int) -> tuple[Array, Array]:
        """Every byte the ``i``-th frame's records wrote, sorted by (offset, rank) as
        ``offset * records + rank``, with the byte each overwrote; kept for the next moment."""
        cached = self._hot.get(i)
        if cached is not None:
            self._hot.move_to_end(i)
            return cached
        start, end = int(self.starts[i]), int(self.ends[i])
        rank, positions, values = self._expand(self.order[start:end])
        keys = positions * (end - start) + rank
        # rank already ascends: a stable sort by offset (a radix sort of 16-bit values) is
        # the sort by key
        by_key = np.argsort(positions.astype(np.uint16), kind="stable")
        cached = self._hot[i] = (keys[by_key], values[by_key])
        self._hot_bytes += len(keys)
        while self._hot_bytes > _HOT_BYTES_KEPT and len(self._hot) > 1:
            _, (old_keys, _) = self._hot.popitem(last=False)
            self._hot_bytes -= len(old_keys)
        return cached

    def __len__(self) -> int:
        return len(self.order)
