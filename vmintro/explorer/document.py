"""The explorer's documents: what the page starts from, each moment, each walk.

:class:`Explorer` answers the server's routes, computing each snapshot once;
:func:`file_document` is everything ``vmintro html`` embeds, since a file has
no server to ask: the snapshots, and the walk of every page of every vm area
(what clicking a page shows; a typed address inside one of them shows its page's
walk).

When the image has a timeline, the page shows the kernel just after one entry
(``prog.at(n)``) and can move to any other. Each moment's snapshot then carries
what that entry did: its call, result and writes as ``timeline --json`` gives
them, the call paths of its writes (most writes first), the frames it wrote, and
the vm areas it added or removed (against the moment before).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any

from vmintro.errors import VmintroError
from vmintro.explorer.data import SCHEMA, command_document, snapshot, vtop
from vmintro.mapview import address_space

if TYPE_CHECKING:
    from vmintro.image.format.timeline import Timeline
    from vmintro.program import Program

__all__ = ["Explorer", "MomentError", "file_document"]

# Walks a file embeds at most: a few MiB of JSON (a walk is ~1.2 KiB)
MAX_FILE_WALKS = 4096
# Moments a file embeds at most (a timeline of more is embedded as the image alone)
MAX_FILE_MOMENTS = 512
# Snapshots of moments the server keeps
MOMENTS_KEPT = 64


class MomentError(LookupError):
    """A moment the image does not have (no timeline, or no such entry): one line."""


def _timeline(prog: Program) -> tuple[Timeline | None, str | None]:
    """The image's timeline, or None and why it cannot be used (a damaged file)."""
    try:
        return prog.timeline, None
    except VmintroError as e:
        return None, str(e)


def _entries(prog: Program) -> list[dict[str, Any]] | str:
    """Every entry as ``timeline --json`` lists it, or why it could not."""
    document = command_document(prog, "timeline")
    if document["error"] or not document["results"]:
        return str(document["error"])
    rows: list[dict[str, Any]] = document["results"][0]["rows"]
    return [{k: v for k, v in row.items() if k != "current"} for row in rows]


def _areas(prog: Program) -> set[tuple[int, int, int]]:
    return {(a.vm_struct, a.addr, a.size) for a in address_space(prog).areas}


def entry_changes(
    prog: Program, timeline: Timeline, n: int, entry: dict[str, Any]
) -> dict[str, Any]:
    """What entry ``n`` did (``prog`` is the kernel just after it): ``entry`` (its
    row of ``timeline --json``) with the call paths of its writes, the frames they
    wrote and the areas it added and removed."""
    e = timeline.entries[n]
    writes = timeline.writes[e.first_write : e.first_write + e.write_count]
    counts = Counter(writes["path"].tolist())
    paths = [[" > ".join(timeline.paths[i]), c] for i, c in counts.most_common()]
    frames = sorted(set(writes["pfn"].tolist()))
    try:
        now = _areas(prog)
        before = _areas(prog.at(n - 1)) if n > 0 else now
    except VmintroError:  # no vmlist to compare (the snapshot says why)
        now = before = set()
    return dict(
        entry,
        paths=paths,
        frames=frames,
        areas=sorted(addr for _vs, addr, _size in now - before),
        removed=[[addr, size] for _vs, addr, size in sorted(before - now, key=lambda a: a[1])],
    )


class Explorer:
    """One image's explorer: its documents, each computed once."""

    def __init__(self, prog: Program, title: str) -> None:
        self.prog = prog
        self.title = title
        self.timeline, self.timeline_error = _timeline(prog)
        self._entries: list[dict[str, Any]] = []
        if self.timeline is not None:
            entries = _entries(prog)
            if isinstance(entries, str):  # the timeline cannot be listed: the image alone
                self.timeline, self.timeline_error = None, f"timeline: {entries}"
            else:
                self._entries = entries
        self._document: dict[str, Any] | None = None
        self._moments: OrderedDict[int, dict[str, Any]] = OrderedDict()

    @property
    def last(self) -> int | None:
        return None if self.timeline is None else len(self.timeline.entries) - 1

    def document(self) -> dict[str, Any]:
        """What the page starts from: the image as it is and, with a timeline, its
        entries (the image is the last one's moment)."""
        if self._document is None:
            last = self.last
            if last is None:
                shown = snapshot(self.prog, self.title)
                if self.timeline_error:
                    shown["errors"].append(self.timeline_error)
                timeline = None
            else:
                shown = self.moment(last)
                timeline = {"last": last, "entries": self.entries()}
            self._document = {
                "schema": SCHEMA,
                "title": self.title,
                "mode": "server",
                "snapshot": shown,
                "timeline": timeline,
            }
        return self._document

    def entries(self) -> list[dict[str, Any]]:
        return self._entries

    def _at(self, n: int) -> Program:
        last = self.last
        if last is None:
            raise MomentError(f"no entry {n}: this image has no timeline")
        if not 0 <= n <= last:
            raise MomentError(f"no entry {n}: the timeline has entries 0 to {last}")
        return self.prog.at(n)

    def moment(self, n: int) -> dict[str, Any]:
        """The snapshot of the kernel just after entry ``n``, with what ``n`` did."""
        known = self._moments.get(n)
        if known is not None:
            self._moments.move_to_end(n)
            return known
        prog = self._at(n)
        assert self.timeline is not None
        shown = snapshot(prog, self.title)
        shown["moment"] = n
        shown["entry"] = entry_changes(prog, self.timeline, n, self.entries()[n])
        self._moments[n] = shown
        if len(self._moments) > MOMENTS_KEPT:
            self._moments.popitem(last=False)
        return shown

    def walk(self, addr: int, at: int | None = None) -> dict[str, Any]:
        """``vtop ADDR --json`` on the image, or on the kernel just after entry ``at``."""
        return vtop(self.prog if at is None else self._at(at), addr)


def file_document(prog: Program, title: str) -> dict[str, Any]:
    """Everything a self-contained file needs: the snapshot of every moment (of a
    timeline of at most :data:`MAX_FILE_MOMENTS` entries) and the walks of the
    image's areas' pages."""
    explorer = Explorer(prog, title)
    document = dict(explorer.document(), mode="file")
    notes: list[str] = []  # what the file leaves out, which is no fault of the image
    last = explorer.last
    if last is not None and last < MAX_FILE_MOMENTS:
        document["moments"] = {str(n): explorer.moment(n) for n in range(last + 1)}
    elif last is not None:
        document["timeline"] = None
        notes.append(
            f"the timeline has {last + 1} entries, more than a file holds "
            f"({MAX_FILE_MOMENTS}): 'vmintro serve' moves through them"
        )
    pages = [va for area in document["snapshot"]["areas"] for va, _pfn, _zone in area["pages"]]
    document["walks"] = {f"{va:x}": vtop(prog, va) for va in pages[:MAX_FILE_WALKS]}
    if len(pages) > MAX_FILE_WALKS:
        notes.append(
            f"the file holds the walks of the first {MAX_FILE_WALKS} of the areas' "
            f"{len(pages)} pages: 'vmintro serve' walks any address"
        )
    document["notes"] = notes
    return document
