"""Render command results: aligned text for people, JSON for programs.

Text rendering is lazy (a generator of lines) so that a long table appears
as its rows are computed and stops when interrupted. JSON rendering collects
every part into one document per command; its schema is documented in the
documentation (docs/reference/json.rst, docs/guides/json.rst) and versioned by
``JSON_SCHEMA``.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from vmintro.arch.x86 import PAGE_SIZE, RAM_MAX
from vmintro.commands.result import Part, Table, Text
from vmintro.errors import VmintroError
from vmintro.escape import escape_text

__all__ = [
    "JSON_SCHEMA",
    "MAX_JSON_ROWS",
    "JsonTooLong",
    "json_document",
    "json_line",
    "part_to_json",
    "render_text",
]

JSON_SCHEMA = 1

# The most rows one command's JSON document holds (an rd stopped there peaked at 650 MB):
# a row per page of the largest machine without PAE. A command asked for
# more (rd of gigabytes, whose text streams) stops there with its memory bounded.
MAX_JSON_ROWS = RAM_MAX // PAGE_SIZE


class JsonTooLong(VmintroError):
    """A command's tables have more rows than one JSON document holds."""


def _widths(table: Table) -> list[int]:
    """Fixed column widths (rows stream, so they cannot depend on the rows)."""
    heading = table.header
    return [max(c.width, len(c.header or "") if heading else 0) for c in table.columns if c.in_text]


def _line(cells: list[str], widths: list[int], aligns: list[str], sep: str) -> str:
    out = []
    last = len(cells) - 1
    for i, (cell, width, align) in enumerate(zip(cells, widths, aligns, strict=True)):
        if align == ">":
            out.append(cell.rjust(width))
        elif i == last:
            out.append(cell)  # no trailing blanks
        else:
            out.append(cell.ljust(width))
    return sep.join(out).rstrip()


def render_table(table: Table) -> Iterator[str]:
    """The lines of ``table``: title, heading, then one line per row as it comes."""
    cols = [c for c in table.columns if c.in_text]
    widths = _widths(table)
    aligns = [c.align for c in cols]
    rows = iter(table.rows)
    first = next(rows, None)  # a walk that fails at once: its error, with no heading above
    if table.title is not None:
        yield table.title
    if table.header:
        yield _line([c.header or "" for c in cols], widths, aligns, table.sep)
    if first is None:
        return
    yield _line([c.cell(first) for c in cols], widths, aligns, table.sep)
    for row in rows:
        yield _line([c.cell(row) for c in cols], widths, aligns, table.sep)


def render_text(parts: Iterable[Part]) -> Generator[str, None, None]:
    """Every line of every part, in order, computed as they are consumed."""
    first = True
    for part in parts:
        if part.blank_before and not first:
            yield ""
        first = False
        if isinstance(part, Table):
            lines: Iterable[str] = render_table(part)
        elif part.text:
            lines = part.text.split("\n")
        else:
            continue
        # Names and strings come from the image: nothing reaches the terminal raw.
        yield from map(escape_text, lines)


def _plain(value: Any) -> Any:
    """JSON-ready data: ints stay ints, tuples become lists, bytes become strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return escape_text(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def part_to_json(part: Part) -> dict[str, Any]:
    """One element of a document's ``results``."""
    results: list[dict[str, Any]] = []
    append_json(results, part)
    return results[0]


def append_json(results: list[dict[str, Any]], part: Part, room: int = MAX_JSON_ROWS) -> int:
    """Append ``part``'s element to ``results`` before reading a table's rows, so that
    a walk failing midway leaves the rows it read in the document, as text shows them.
    ``room``: the rows the document may still take; what is left of it is returned.

    :raises JsonTooLong: the table has more rows than ``room`` (those are in ``results``).
    """
    if not isinstance(part, Table):
        results.append(_text_json(part))
        return room
    cols = [c for c in part.columns if c.in_json]
    rows: list[dict[str, Any]] = []
    results.append(
        {"type": "table", "name": part.name, "columns": [c.name for c in cols], "rows": rows}
    )
    for row in part.rows:
        if not room:
            raise JsonTooLong(
                f"more than {MAX_JSON_ROWS} rows, the most one JSON document holds: ask for "
                "less, or for text"
            )
        rows.append({c.name: _plain(row.get(c.name)) for c in cols})
        room -= 1
    return room


def _text_json(part: Part) -> dict[str, Any]:
    assert isinstance(part, Text)
    return {
        "type": "text",
        "name": part.name,
        "text": part.text,
        "data": _plain(part.data),
    }


def json_document(
    command: str, results: list[dict[str, Any]], error: str | None = None
) -> dict[str, Any]:
    """The document of one command: its line, status, error and results."""
    return {
        "schema": JSON_SCHEMA,
        "command": command,
        "status": "error" if error else "ok",
        "error": error,
        "results": results,
    }


def json_line(document: dict[str, Any]) -> str:
    """A document on one line (JSON Lines: one command, one line)."""
    return json.dumps(document, separators=(",", ":"))
