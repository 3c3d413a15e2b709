"""What commands return: tables of rows with declared columns, and text.

A command never formats for a terminal or for JSON itself: it yields
:class:`Table` and :class:`Text` parts, and a renderer
(:mod:`vmintro.commands.render`) turns them into aligned text or a JSON
document. Rows may come from a generator, so a long walk streams to the screen
and stops as soon as it is interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Column", "Move", "Output", "Part", "Row", "Table", "Text", "parts_of"]


class Row(dict[str, Any]):
    """One row of a :class:`Table`: column name to value (ints stay ints).

    >>> Row(address=0xc4800000, size=69632)
    {'address': 3296722944, 'size': 69632}
    """

    def __init__(self, **fields: Any) -> None:
        super().__init__(fields)


@dataclass(frozen=True)
class Column:
    """A column of a :class:`Table`.

    ``name`` is the row key and the JSON field. ``header`` is the text heading;
    a column without one is left out of text output (JSON only). ``fmt`` turns
    the value into text: a format spec (``"x"``, ``"d"``) or a function.
    ``text`` instead builds the cell from the whole row (for cells such as
    ``"c4800000 - c4811000"`` that join several fields); such a column is text
    only unless ``json`` is set. ``width`` is the minimum width, ``align``
    ``"<"`` or ``">"``.
    """

    name: str
    header: str | None = None
    fmt: str | Callable[[Any], str] = ""
    width: int = 0
    align: str = "<"
    text: Callable[[Row], str] | None = None
    json: bool | None = None

    @property
    def in_text(self) -> bool:
        return self.header is not None

    @property
    def in_json(self) -> bool:
        return self.json if self.json is not None else self.text is None

    def cell(self, row: Row) -> str:
        """The text of this column for ``row``."""
        if self.text is not None:
            return self.text(row)
        value = row.get(self.name)
        if value is None:
            return "-"
        if callable(self.fmt):
            return self.fmt(value)
        return format(value, self.fmt)


@dataclass
class Table:
    """Rows under declared columns; ``rows`` may be any iterable, a generator included.

    ``name`` labels the table in JSON. ``title`` is a line printed above the
    header in text; ``header`` turns the heading line off (``rd``, ``list``).
    ``blank_before`` separates the table from the part before it in text.
    ``findings`` marks rows that are problems found in the image (``check``'s):
    the command then ends with exit status 1, as ``vmintro check`` does.
    """

    columns: list[Column]
    rows: Iterable[Row]
    name: str = ""
    title: str | None = None
    header: bool = True
    blank_before: bool = False
    sep: str = "  "
    findings: bool = False


@dataclass
class Text:
    """Free text; ``data`` is what JSON shows instead (the text when None)."""

    text: str
    name: str = ""
    data: Any = None
    blank_before: bool = False


@dataclass
class Move(Text):
    """Text saying the session moved in time (``goto``, ``step``, ``back``): the
    front end's session reads ``program`` (a moment of the image,
    :meth:`~vmintro.program.Program.at`) from the next command on."""

    program: Any = None


Part = Table | Text


class Output(list[Part]):
    """What :func:`vmintro.commands.run` returns: the command's parts, in order (a
    list, each table's rows read), and the text the command prints.

    ``text`` is exactly what the command prints, each line ending in a newline;
    ``str()`` is the same without the last newline, so ``print(run("vmlist"))``
    prints what ``vmlist`` prints (and the ``py`` prompt shows it so).
    """

    @property
    def text(self) -> str:
        from vmintro.commands.render import render_text  # render imports this module

        return "".join(f"{line}\n" for line in render_text(self))

    def __str__(self) -> str:
        return self.text.removesuffix("\n")


def parts_of(result: Any) -> Iterator[Part]:
    """The parts of a command's return value: a part, an iterable of parts, or None.

    Iterating runs a generator command; its errors surface here, part by part.
    """
    if result is None:
        return
    if isinstance(result, (Table, Text)):
        yield result
        return
    if isinstance(result, str):
        yield Text(result)
        return
    for item in result:
        if isinstance(item, str):
            yield Text(item)
        elif isinstance(item, (Table, Text)):
            yield item
        elif item is not None:
            raise TypeError(f"a command returned {type(item).__name__}, not a Table or Text")
