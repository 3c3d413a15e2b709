"""Bounded, cycle-checked walks of kernel lists (``include/linux/list.h``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vmintro.arch.x86 import PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import CorruptionError, FaultError
from vmintro.object import row_class, values_of

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program
    from vmintro.types.model import CType

__all__ = ["list_for_each", "list_for_each_entry", "singly_linked"]

DEFAULT_BOUND = 1 << 22
_IN_PAGE = PAGE_SIZE - 1


def list_for_each(
    prog: Program, head: int, what: str = "list", bound: int = DEFAULT_BOUND
) -> Iterator[int]:
    """``list_for_each``: the address of every ``list_head`` after ``head``.

    Checks each ``next->prev`` back link as ``list_del`` debugging does, stops
    with :class:`CorruptionError` on a cycle that does not return to ``head``, a
    broken back link, an unreadable node or more than ``bound`` entries.
    """
    list_head = prog.type("struct list_head")
    o_next = list_head.offsetof("next")  # type: ignore[attr-defined]
    o_prev = list_head.offsetof("prev")  # type: ignore[attr-defined]
    seen = {head}
    prev = head
    try:
        pos = prog.read_u32(head + o_next)
    except FaultError as e:
        raise CorruptionError(f"{what}: head cannot be read: {e}", head) from None
    count = 0
    while pos != head:
        if pos in seen:
            raise CorruptionError(
                f"{what}: cycle: entry at {prev:#x} points back to {pos:#x}", prev
            )
        count += 1
        if count > bound:
            raise CorruptionError(f"{what}: more than {bound} entries", head)
        try:
            back = prog.read_u32(pos + o_prev)
            nxt = prog.read_u32(pos + o_next)
        except FaultError:
            raise CorruptionError(
                f"{what}: entry at {prev:#x} has next {pos:#x}, which cannot be read", prev
            ) from None
        if back != prev:
            raise CorruptionError(
                f"{what}: entry at {pos:#x} has prev {back:#x}, expected {prev:#x}", pos
            )
        seen.add(pos)
        yield pos
        prev, pos = pos, nxt


def list_for_each_entry(type: str | CType, head: Object, member: str) -> Iterator[Object]:
    """drgn's ``list_for_each_entry(type, head, member)``: a ``type *`` for every
    entry on the list whose ``struct list_head *`` is ``head`` (``&cache_cache.next``
    or its ``address_of_()``), through ``member``; bounded and cycle-checked as
    :func:`list_for_each`.
    """
    from vmintro.object import Object, container_of

    prog = head.prog_
    node_type = prog.type("struct list_head *")
    for node in list_for_each(prog, int(head), f"list of {prog.type(type).c_name}"):
        yield container_of(Object(prog, node_type, node), type, member)


def singly_linked(
    prog: Program,
    first: int,
    next_offset: int,
    what: str,
    bound: int = DEFAULT_BOUND,
    as_type: CType | None = None,
) -> Iterator[Any]:
    """Every node of a NULL-terminated list whose link sits at ``next_offset``.

    Yields the nodes' addresses, or with ``as_type`` (a pointer type) value
    objects of that type holding them, as ``values_of`` makes. A cycle, an
    unreadable node or more than ``bound`` nodes raise :class:`CorruptionError`
    naming the node that holds the bad link.
    """
    speedups = prog._speedups
    if (
        speedups is None
        or not (type(first) is type(next_offset) is int and isinstance(bound, int))
        or not (0 <= first < 1 << 32 and 0 <= next_offset < 1 << 32)
    ):
        if as_type is not None:
            rows = _row_walk(prog, first, next_offset, as_type)
            if rows is not None:
                return _singly_linked_rows(prog, first, next_offset, what, bound, as_type, *rows)
        nodes = _singly_linked(prog, first, next_offset, what, bound)
        return nodes if as_type is None else values_of(prog, as_type, nodes)

    def fail(kind: int, holder: int | None, node: int) -> None:
        if kind == _CYCLE:
            raise _cycle(what, holder, node)
        if kind == _BOUND:
            raise _too_long(what, bound, node)
        raise _unreadable(what, holder, node)

    objects = {}
    if as_type is not None:
        objects = {"cls": prog.object_class(as_type), "ctype": as_type}
    bound_u64 = min(max(bound, 0), (1 << 64) - 1)  # no list has more nodes than that
    return speedups.NodeWalk(
        first, next_offset, bound_u64, prog, prog._pages, FaultError, fail, **objects
    )


# What NodeWalk passes to fail(), and the errors both walks raise.
_CYCLE, _BOUND, _UNREADABLE = 0, 1, 2


def _cycle(what: str, holder: int | None, node: int) -> CorruptionError:
    return CorruptionError(f"{what}: cycle: node at {holder:#x} links back to {node:#x}", holder)


def _too_long(what: str, bound: int, node: int) -> CorruptionError:
    return CorruptionError(f"{what}: more than {bound} nodes", node)


def _unreadable(what: str, holder: int | None, node: int) -> CorruptionError:
    where = f"node at {holder:#x}" if holder is not None else "the list head"
    return CorruptionError(f"{what}: {where} links to {node:#x}, which cannot be read", holder)


def _singly_linked(
    prog: Program, first: int, next_offset: int, what: str, bound: int
) -> Iterator[int]:
    """:func:`singly_linked` in Python: the definition of what ``NodeWalk`` does."""
    seen: set[int] = set()
    holder = None
    node = first
    read_u32 = prog.read_u32
    while node:
        if node in seen:
            raise _cycle(what, holder, node)
        if len(seen) >= bound:
            raise _too_long(what, bound, node)
        try:
            nxt = read_u32(node + next_offset)
        except FaultError:
            raise _unreadable(what, holder, node) from None
        seen.add(node)
        yield node
        holder, node = node, nxt


def _row_walk(
    prog: Program, first: Any, next_offset: Any, as_type: CType
) -> tuple[type[Object], int] | None:
    """(row class, the link's place in the row) where :func:`singly_linked` on the
    Python forms can read each node once (:func:`vmintro.object.row_class`): the
    program keeps a page cache and reads through it as ``Program.read_u32`` does,
    and the link is a 32-bit member of the row. None otherwise."""
    from vmintro.program import Program

    if prog._pages is None or type(prog) is not Program or "read_u32" in vars(prog):
        return None  # reads that may not go through the page cache as read_u32's do
    if not (type(first) is type(next_offset) is int and 0 <= first < 1 << 32):
        return None
    cls = row_class(prog, as_type)
    link = None if cls is None else cls._row_links.get(next_offset)  # type: ignore[attr-defined]
    return None if cls is None or link is None else (cls, link)


def _singly_linked_rows(
    prog: Program,
    first: int,
    next_offset: int,
    what: str,
    bound: int,
    as_type: CType,
    row_cls: type[Object],
    link: int,
) -> Iterator[Object]:
    """``values_of(prog, as_type, _singly_linked(...))``, each node read once: a node
    in a page the program has cached is unpacked whole (its link with it) and yielded
    as a :func:`~vmintro.object.row_class` object; any other node is read as
    :func:`_singly_linked` reads it and yielded as a plain value. The same nodes and
    the same errors, at the same points, as that walk."""
    walk: Any = row_cls.__dict__.get("_row_walk")
    if walk is None:
        walk = _row_walker(row_cls)
        row_cls._row_walk = walk  # type: ignore[attr-defined]
    plain = prog.object_class(as_type)
    return walk(prog, first, next_offset, what, bound, as_type, link, plain)


# The walk of _singly_linked_rows, written out per row class with the lines that make
# its objects in place of "{make}": no call per node.
_ROW_WALK = """\
def walk(prog, node, next_offset, what, bound, ctype, link, plain):
    seen = {}
    holder = None
    read_u32 = prog.read_u32
    cached = prog._pages.get
    # node -> its place: a node seen before gives back its own (an earlier count)
    add = seen.setdefault
    count = 0
    while node:
        if add(node, count) is not count:
            raise _cycle(what, holder, node)
        if count >= bound:
            raise _too_long(what, bound, node)
        offset = node & IN_PAGE
        page = cached(node >> SHIFT) if offset <= LAST else None
        if page is None:
            try:
                nxt = read_u32(node + next_offset)
            except FaultError:
                raise _unreadable(what, holder, node) from None
            page = cached(node >> SHIFT) if offset <= LAST else None  # read in now
        if page is not None:
            row = unpack_row(page, offset)
            nxt = row[link]
{make}
        else:
            obj = _new(plain)
            obj.prog_ = prog
            obj.type_ = ctype
            obj.address_ = None
            obj._value = node
        count += 1
        yield obj
        holder, node = node, nxt
"""


def _row_walker(row_cls: type[Object]) -> Any:
    """:func:`_singly_linked_rows`'s walk for ``row_cls``: ``_ROW_WALK`` with its
    ``_row_code`` lines in place (text of our own only)."""
    lines, made_scope = row_cls._row_code  # type: ignore[attr-defined]
    row_struct = row_cls._row_struct  # type: ignore[attr-defined]
    scope = {
        **made_scope,
        "_cycle": _cycle,
        "_too_long": _too_long,
        "_unreadable": _unreadable,
        "FaultError": FaultError,
        "IN_PAGE": _IN_PAGE,
        "SHIFT": PAGE_SHIFT,
        "LAST": PAGE_SIZE - row_struct.size,
        "unpack_row": row_struct.unpack_from,
    }
    make = "\n".join(" " * 12 + line for line in lines)
    exec(_ROW_WALK.replace("{make}", make), scope)
    return scope["walk"]
