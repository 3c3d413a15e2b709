"""The text of a :class:`~vmintro.timeline.diff.Diff`: what the ``diff`` command prints.

One heading per part with its counts, then one line per change, marked as a
unified diff marks lines: ``+`` what the second program has that the first has
not (added, set, allocated), ``-`` the reverse, ``~`` changed. Addresses and
pfns in hex without ``0x``, counts in decimal, as every command prints them.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from vmintro.escape import escape_text
from vmintro.helpers import decode_module_flags, decode_page_flags

if TYPE_CHECKING:
    from vmintro.timeline.diff_result import Diff

__all__ = ["render_diff"]

_MARK = {
    "added": "+",
    "set": "+",
    "allocated": "+",
    "on": "+",
    "removed": "-",
    "cleared": "-",
    "freed": "-",
    "off": "-",
}


def _mark(kind: str) -> str:
    return _MARK.get(kind, "~")


def _counts(items: list[Any], kinds: tuple[str, ...]) -> str:
    c = Counter(getattr(i, "kind", "") for i in items)
    return ", ".join(f"{c[k]} {k}" for k in kinds)


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:x}"


def _value(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:#x}" if v > 9 else str(v)
    return escape_text(str(v))


def _changes(changes: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k} {_value(x)} -> {_value(y)}" for k, (x, y) in sorted(changes.items()))


def render_diff(d: Diff, summary: bool = False) -> str:
    """The text of ``d``: a heading per part with its counts, then (unless ``summary``)
    one line per change."""
    lines = [f"diff {d.old} -> {d.new}: {d.frames_changed} frames differ"]
    if not d:
        lines.append("no difference")
        return "\n".join(lines)
    lines += [f"error: {e}" for e in d.errors]
    for heading, details in _parts(d):
        lines.append(heading)
        if not summary:
            lines.extend(details)
    return "\n".join(lines)


def _parts(d: Diff) -> list[tuple[str, list[str]]]:
    return [
        (f"vm areas: {_counts(d.areas, ('added', 'removed', 'resized', 'remapped'))}", _areas(d)),
        (f"page tables: {_counts(d.tables, ('allocated', 'freed', 'moved'))}", _tables(d)),
        (
            f"swapper_pg_dir entries: {_counts(d.ptes, ('set', 'changed', 'cleared'))}",
            _ptes(d),
        ),
        (_frames_heading(d), _frames(d)),
        (_free_heading(d), _free(d)),
        (f"struct pages: {len(d.pages)} changed", _pages(d)),
        (f"modules: {_counts(d.modules, ('added', 'removed', 'changed'))}", _modules(d)),
        (f"swap: {_counts(d.swap, ('on', 'off', 'changed'))}", _swap(d)),
    ]


def _areas(d: Diff) -> list[str]:
    lines = []
    for a in d.areas:
        size = f"{a.size_old or 0} -> {a.size_new or 0}" if a.kind == "resized" else a.size
        vm = a.vm_struct_new if a.vm_struct_new is not None else a.vm_struct_old
        also = ""
        if a.kind == "remapped" and a.vm_struct_old != a.vm_struct_new:
            also = f" (was vm_struct {_hex(a.vm_struct_old)})"
        lines.append(
            f"  {_mark(a.kind)} {a.addr:08x}-{a.addr + a.size:08x}  {size:>9}  "
            f"{a.kind:<8}  vm_struct {_hex(vm)}{also}"
        )
    return lines


def _tables(d: Diff) -> list[str]:
    return [
        f"  {_mark(t.kind)} {t.level} table for {t.vaddr:08x}  "
        f"pfn {_hex(t.pfn_old)} -> {_hex(t.pfn_new)}"
        for t in d.tables
    ]


def _ptes(d: Diff) -> list[str]:
    lines = []
    for p in d.ptes:
        width = 16 if p.old > 0xFFFFFFFF or p.new > 0xFFFFFFFF else 8
        lines.append(
            f"  {_mark(p.kind)} {p.vaddr:08x}  {p.level:<3}  {p.old:0{width}x} -> "
            f"{p.new:0{width}x}  pfn {_hex(p.pfn_old)} -> {_hex(p.pfn_new)}"
        )
    return lines


def _frames_heading(d: Diff) -> str:
    by_kind = Counter((f.kind, f.zone, f.order) for f in d.frames)
    summary = "; ".join(
        f"{kind} {zone} order {order}: {n}" for (kind, zone, order), n in sorted(by_kind.items())
    )
    pages = {k: sum(1 << f.order for f in d.frames if f.kind == k) for k in ("allocated", "freed")}
    return f"frames: {pages['allocated']} allocated, {pages['freed']} freed" + (
        f" ({summary})" if summary else ""
    )


def _frames(d: Diff) -> list[str]:
    lines = []
    for f in d.frames:
        use = f.use
        if f.area is not None:
            use += f" area {f.area:08x}"
        if f.vaddr is not None:
            use += f" at {f.vaddr:08x}"
        lines.append(
            f"  {_mark(f.kind)} pfn {f.pfn:<8x} order {f.order}  {f.zone:<7}  {use}".rstrip()
        )
    return lines


def _free_heading(d: Diff) -> str:
    zones = "; ".join(
        f"{z.zone} free_pages {z.old} -> {z.new} ({z.new - z.old:+d})" for z in d.zones
    )
    lists = f"{len(d.free_area)} free list{'' if len(d.free_area) == 1 else 's'} changed"
    return f"free areas: {zones + '; ' if zones else ''}{lists}"


def _free(d: Diff) -> list[str]:
    return [
        f"  zone {fa.zone:<7} order {fa.order}  {fa.old} -> {fa.new} blocks ({fa.new - fa.old:+d})"
        for fa in d.free_area
    ]


def _pages(d: Diff) -> list[str]:
    lines = []
    for pg in d.pages:
        flags = ""
        if pg.flags_old != pg.flags_new:
            flags = (
                f"  flags {decode_page_flags(pg.flags_old)} -> {decode_page_flags(pg.flags_new)}"
            )
        count = f"  count {pg.count_old} -> {pg.count_new}" if pg.count_old != pg.count_new else ""
        lines.append(f"  ~ pfn {pg.pfn:<8x}{count}{flags}")
    return lines


def _modules(d: Diff) -> list[str]:
    lines = []
    for m in d.modules:
        what = _changes(m.changes) if m.changes else f"size {m.size}"
        if "flags" in m.changes:
            x, y = m.changes["flags"]
            names = ["|".join(decode_module_flags(v)) or "0" for v in (x, y)]
            what += f" ({names[0]} -> {names[1]})"
        lines.append(f"  {_mark(m.kind)} {m.name} (struct module {m.module:08x})  {what}")
    return lines


def _swap(d: Diff) -> list[str]:
    return [
        f"  {_mark(s.kind)} {'counters' if s.index is None else f'swap_info[{s.index}]'}  "
        f"{_changes(s.changes)}"
        for s in d.swap
    ]
