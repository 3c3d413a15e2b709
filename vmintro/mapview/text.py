"""The address-space picture for a terminal: one line per region, a bar for vmalloc."""

from __future__ import annotations

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.mapview.layout import AddressSpace, AreaFrames

__all__ = ["render_frames_text", "render_text"]

BAR = 48


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):8.1f} MiB"
    return f"{n / 1024:8.1f} KiB"


def _vmalloc_bar(space: AddressSpace, start: int, end: int) -> str:
    """Each cell a slice of the range: A vmalloc, I ioremap, g guard only, . free."""
    cells = []
    step = (end - start) / BAR
    for i in range(BAR):
        lo, hi = start + i * step, start + (i + 1) * step
        mark = "."
        for a in space.areas:
            if a.addr < hi and lo < a.guard:
                mark = "I" if a.kind == "ioremap" else "A"
                break
            if a.guard < hi and lo < a.guard + PAGE_SIZE:
                mark = "g"
        cells.append(mark)
    return "".join(cells)


def render_text(space: AddressSpace) -> str:
    lines = []
    for r in space.regions:
        if r.size <= 0:
            continue
        line = f"{r.kind:<8} {r.start:08x}-{(r.end - 1) & 0xFFFFFFFF:08x} {_size(r.size)}"
        if r.kind == "vmalloc":
            used = max([a.addr + a.size for a in space.areas] + [r.start])
            end = min(r.end, used + max((used - r.start) // 10, PAGE_SIZE))
            line += (
                f"  [{_vmalloc_bar(space, r.start, end)}] {len(space.areas)} areas up to {used:08x}"
            )
        lines.append(line)
    lines.append("bar: A vmalloc, I ioremap, g guard page, . free")
    return "\n".join(lines)


def render_frames_text(frames: AreaFrames) -> str:
    """The frames behind one area, one line per page: what ``--area`` draws, for a terminal."""
    a = frames.area
    pages = len(frames.pages)
    lines = [
        f"{a.kind} area {a.addr:08x}-{a.addr + a.size - 1:08x}: {pages} pages + guard page "
        f"at {a.guard:08x} (vm_struct {a.vm_struct:08x})",
        "VIRTUAL   PFN       PHYSICAL  ZONE",
    ]
    for va, pfn, _zone in frames.pages:
        if pfn is None:
            lines.append(f"{va:08x}  (not mapped)")
            continue
        # the zone by pfn range, as the picture shows it (frames.zones lists only
        # the zones that have pages, so a zone index would not select the right one)
        zone = next((n for n, first, end in frames.zones if first <= pfn < end), "-")
        # hex without padding, as every command prints and reads addresses and pfns
        lines.append(f"{va:08x}  {pfn:<8x}  {pfn << 12:<8x}  {zone}")
    pfns = [pfn for _, pfn, _ in frames.pages if pfn is not None]
    runs = sum(1 for i, pfn in enumerate(pfns) if i == 0 or pfn != pfns[i - 1] + 1)
    lines.append(
        f"{len(pfns)} frames in {runs} physically contiguous run{'' if runs == 1 else 's'}"
    )
    return "\n".join(lines)
