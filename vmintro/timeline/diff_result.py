"""The result of :func:`vmintro.timeline.diff.diff`: one dataclass per kind of change,
gathered in a :class:`Diff` that renders to text (:mod:`.diff_render`) and to JSON.

``old`` fields are the first program's, ``new`` the second's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "AreaChange",
    "Diff",
    "FrameChange",
    "FreeAreaChange",
    "ModuleChange",
    "PageChange",
    "PteChange",
    "SwapChange",
    "TableChange",
    "ZoneChange",
]


@dataclass(slots=True)
class AreaChange:
    """A ``vmlist`` area: ``added``, ``removed``, ``resized`` (the same address, another
    size) or ``remapped`` (the same address and size, another ``vm_struct``, flags
    or frames). ``old`` fields are of the first program, ``new`` of the second;
    sizes include the guard page, as ``vm_struct.size`` does."""

    kind: str
    addr: int
    vm_struct_old: int | None
    vm_struct_new: int | None
    size_old: int | None
    size_new: int | None
    flags_old: int | None
    flags_new: int | None

    @property
    def size(self) -> int:
        return self.size_new if self.size_new is not None else self.size_old or 0


@dataclass(slots=True)
class PteChange:
    """An entry of ``swapper_pg_dir`` that maps memory (a pte, or a large pgd/pmd
    entry), by the kernel virtual address it maps: ``set`` (not present before),
    ``cleared`` (not present after) or ``changed``; pfns None where not present."""

    vaddr: int
    level: str
    kind: str
    old: int
    new: int
    pfn_old: int | None
    pfn_new: int | None


@dataclass(slots=True)
class TableChange:
    """A page table below ``swapper_pg_dir``: ``allocated``, ``freed`` or ``moved``
    (its parent entry points to another frame); ``vaddr`` is where the addresses it
    maps start."""

    kind: str
    level: str
    vaddr: int
    pfn_old: int | None
    pfn_new: int | None


@dataclass(slots=True)
class FrameChange:
    """A block of ``2**order`` frames the buddy allocator handed out (``allocated``)
    or took back (``freed``), in ``zone``; ``use`` says what it backs where that is
    known: ``vmalloc`` (then ``vaddr`` is the page and ``area`` its area),
    ``ioremap``, ``page table`` (``vaddr`` where it maps from), ``slab`` (``PG_slab``
    set: a page of a kmalloc cache), or ``""``."""

    kind: str
    pfn: int
    order: int
    zone: str
    use: str = ""
    vaddr: int | None = None
    area: int | None = None


@dataclass(slots=True)
class FreeAreaChange:
    """The number of free blocks on ``zone->free_area[order]`` before and after."""

    zone: str
    order: int
    old: int
    new: int


@dataclass(slots=True)
class ZoneChange:
    """A zone's ``free_pages`` before and after."""

    zone: str
    old: int
    new: int


@dataclass(slots=True)
class PageChange:
    """A ``struct page`` whose ``flags`` or ``count`` changed."""

    pfn: int
    flags_old: int
    flags_new: int
    count_old: int
    count_new: int


@dataclass(slots=True)
class ModuleChange:
    """A ``struct module`` on ``module_list``: ``added``, ``removed`` or ``changed``;
    ``changes`` maps each member that changed to (old, new)."""

    kind: str
    module: int
    name: str
    size: int
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class SwapChange:
    """A ``swap_info`` slot (``index``) switched ``on``, ``off`` or ``changed``, or
    (``index`` None) the swap counters; ``changes`` maps each member to (old, new)."""

    kind: str
    index: int | None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


_SECTIONS = ("areas", "tables", "ptes", "frames", "free_area", "zones", "pages", "modules", "swap")


@dataclass
class Diff:
    """The difference from ``old`` (the first program) to ``new`` (the second).

    ``frames_changed`` counts the frames whose bytes differ; ``errors`` holds one
    line for each part that could not be read whole (a corrupt list, say): the
    other parts are complete.
    """

    old: str
    new: str
    frames_changed: int = 0
    areas: list[AreaChange] = field(default_factory=list)
    tables: list[TableChange] = field(default_factory=list)
    ptes: list[PteChange] = field(default_factory=list)
    frames: list[FrameChange] = field(default_factory=list)
    free_area: list[FreeAreaChange] = field(default_factory=list)
    zones: list[ZoneChange] = field(default_factory=list)
    pages: list[PageChange] = field(default_factory=list)
    modules: list[ModuleChange] = field(default_factory=list)
    swap: list[SwapChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """True when anything changed."""
        return bool(self.frames_changed or self.errors or any(getattr(self, s) for s in _SECTIONS))

    def count(self, section: str, kind: str) -> int:
        """How many changes of ``section`` are of ``kind`` (``count("areas", "added")``)."""
        return sum(1 for c in getattr(self, section) if getattr(c, "kind", None) == kind)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per part, how many changes of each kind: ``{"areas": {"added": 3}, ...}``."""
        out: dict[str, dict[str, int]] = {}
        for section in _SECTIONS:
            kinds: dict[str, int] = {}
            for item in getattr(self, section):
                kind = getattr(item, "kind", "changed")
                kinds[kind] = kinds.get(kind, 0) + 1
            out[section] = kinds
        return out

    def to_json(self, summary: bool = False) -> dict[str, Any]:
        """The difference as plain data (numbers as integers, names escaped); with
        ``summary``, only the counts of each part (:meth:`counts`)."""
        out: dict[str, Any] = {
            "old": self.old,
            "new": self.new,
            "frames_changed": self.frames_changed,
            "counts": self.counts(),
        }
        for section in _SECTIONS:
            items = getattr(self, section)
            if summary:
                continue
            if items:
                names = [f.name for f in fields(items[0])]
                out[section] = [{n: _plain(getattr(item, n)) for n in names} for item in items]
            else:
                out[section] = []
        out["errors"] = list(self.errors)
        return out

    def text(self, summary: bool = False) -> str:
        """The difference as the ``diff`` command prints it; with ``summary``, only the
        heading of each part, with its counts."""
        from vmintro.timeline.diff_render import render_diff

        return render_diff(self, summary)

    def __str__(self) -> str:
        return self.text()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
    return value
