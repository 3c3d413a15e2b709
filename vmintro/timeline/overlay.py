"""A backend that reads an image's RAM as it was just after one entry of its timeline.

:class:`OverlayBackend` wraps the image's own backend: symbols, types,
variables and facts are the image's; a physical read is the image's bytes
with, in every frame an entry after the moment wrote, the bytes that frame held
at the moment (:meth:`~vmintro.timeline.index.WriteIndex.page_at`, kept in
the image's page cache). A read outside RAM fails exactly as the image's does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_SIZE

if TYPE_CHECKING:
    from vmintro.backends.base import Backend, MachineFacts, SymbolEntry
    from vmintro.program import Program
    from vmintro.timeline.moments import ImageTimeline
    from vmintro.types.model import CType

__all__ = ["OverlayBackend"]


class OverlayBackend:
    """The RAM of ``root``'s image just after entry ``moment`` of ``state``'s timeline;
    ``root`` is the image's own Program (kept alive by its moments)."""

    def __init__(self, root: Program, state: ImageTimeline, moment: int) -> None:
        self.root = root
        base: Backend = root.backend
        self.base = base
        self.state = state
        self.moment = moment
        # what the banner and the image's name are read from
        self.vmcore_path = getattr(base, "vmcore_path", None)
        self.vmlinux_path = getattr(base, "vmlinux_path", None)

    def read_phys(self, paddr: int, size: int) -> bytes:
        data = self.base.read_phys(paddr, size)  # faults outside RAM as the image does
        if size <= 0:
            return data
        first, end = paddr // PAGE_SIZE, (paddr + size + PAGE_SIZE - 1) // PAGE_SIZE
        changed = self.state.index.changed_after(first, end, self.moment)
        if not changed:
            return data
        out = bytearray(data)
        for pfn in changed:
            page = self.state.page_at(pfn, self.moment)
            lo = max(paddr, pfn * PAGE_SIZE)
            hi = min(paddr + size, (pfn + 1) * PAGE_SIZE)
            out[lo - paddr : hi - paddr] = page[lo - pfn * PAGE_SIZE : hi - pfn * PAGE_SIZE]
        return bytes(out)

    def stored_ranges(self) -> list[tuple[int, int]]:
        """(start, end) of the RAM that may hold non-zero bytes at the moment: what the
        image's core stores, and every frame an entry after the moment wrote (outside
        both, the moment reads zeros as the image does); all of RAM for a base that
        cannot say."""
        stored = getattr(self.base, "stored_ranges", None)
        if stored is None:
            return [(0, self.state.ram_size)]
        written = self.state.index.changed_after(0, self.state.ram_size // PAGE_SIZE, self.moment)
        return [*stored(), *((p * PAGE_SIZE, (p + 1) * PAGE_SIZE) for p in written)]

    def symbols(self) -> dict[str, SymbolEntry]:
        return self.base.symbols()

    def types(self) -> dict[str, CType]:
        return self.base.types()

    def variables(self) -> dict[str, tuple[int, CType]]:
        return self.base.variables()

    def facts(self) -> MachineFacts:
        return self.base.facts()

    def __repr__(self) -> str:
        return f"<OverlayBackend {self.base!r} at entry {self.moment}>"
