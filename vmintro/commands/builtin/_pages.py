"""The ``struct page`` line that ``page``, ``kmem -p`` and ``vtop`` print, crash's layout::

  PAGE  PHYSICAL   MAPPING     INDEX CNT FLAGS
c10b4c4c   10b4000         0         0   1 0 reserved
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_SHIFT
from vmintro.commands.result import Column, Row, Table
from vmintro.helpers import page_count, page_flag_names, page_to_pfn, page_zone_index, pfn_to_page
from vmintro.types.flags import ZONE_NAMES

if TYPE_CHECKING:
    from collections.abc import Iterable

    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["PAGE_COLUMNS", "PAGE_IMPORTS", "PAGE_ROW_PY", "page_row", "page_table", "pages_py"]


def _flags_cell(row: Row) -> str:
    names = ",".join(n.removeprefix("PG_") for n in row["flag_names"])
    return f"{row['flags']:x} {names}".rstrip()


PAGE_COLUMNS = [
    Column("page", "PAGE", "x", 8, ">"),
    Column("physical", "PHYSICAL", "x", 9, ">"),
    Column("mapping", "MAPPING", "x", 9, ">"),
    Column("index", "INDEX", "x", 9, ">"),
    Column("count", "CNT", "d", 3, ">"),
    Column("flags", "FLAGS", text=_flags_cell, json=True),
    Column("flag_names"),
    Column("zone"),
    Column("pfn"),
]


def page_row(page: Object) -> Row:
    """The row of one ``struct page *``; the struct is read once."""
    value = page.deref().read_()
    flags = value.flags.value_()
    zone = page_zone_index(value)
    pfn = page_to_pfn(page)
    return Row(
        page=int(page),
        physical=pfn << PAGE_SHIFT,
        mapping=value.mapping.value_(),
        index=value.index.value_(),
        count=page_count(value),
        flags=flags,
        flag_names=page_flag_names(flags),
        zone=ZONE_NAMES[zone] if zone < len(ZONE_NAMES) else str(zone),
        pfn=pfn,
    )


# The statements printing ``page``'s line for ``pfn``, in a script (see showcode.py).
PAGE_ROW_PY = """\
    page = pfn_to_page(prog, pfn)  # mem_map + pfn
    flags = page.flags.value_()
    names = ",".join(n.removeprefix("PG_") for n in page_flag_names(flags))
    print(f"{page.value_():x}  {pfn << 12:x}  {page.mapping.value_():x}  "
          f"{page.index.value_():x}  {page_count(page)}  {flags:x} {names}")
"""
PAGE_IMPORTS = "from vmintro.helpers import page_count, page_flag_names, pfn_to_page\n"


def pages_py(pfns: str) -> str:
    """The script printing the page line of each pfn of the expression ``pfns``."""
    return f"{PAGE_IMPORTS}\nfor pfn in {pfns}:\n{PAGE_ROW_PY}"


def page_table(prog: Program, pfns: Iterable[int], blank_before: bool = False) -> Table:
    """The table of the pages of ``pfns`` (any iterable: rows come as it yields)."""
    rows = (page_row(pfn_to_page(prog, pfn)) for pfn in pfns)
    return Table(PAGE_COLUMNS, rows, name="page", blank_before=blank_before)
