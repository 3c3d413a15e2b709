"""``vmintro.helpers.list``: the list walks against gdb's walk of the free lists, the
truth's ``vmlist``, and lists broken by hand in a kernel built in memory."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fake_kernel import PAGE, PAGE_OFFSET, FakeKernel, standard

from helpers.kernels import Kernel
from vmintro.errors import CorruptionError
from vmintro.helpers import list_for_each, singly_linked
from vmintro.types.model import Pointer

VM_STRUCT_NEXT = 12  # struct vm_struct { flags; addr; size; next; } on i386


def corruption(walk: Iterator[Any]) -> tuple[str, int | None]:
    """The message and address of the CorruptionError that walking ``walk`` raises."""
    with pytest.raises(CorruptionError) as info:
        list(walk)
    return info.value.message, info.value.address


def test_list_for_each_walks_the_free_lists_as_gdb(kernel: Kernel, facts: dict[str, Any]) -> None:
    lists = [
        free_list
        for zone in facts["zones"]
        if zone["free_lists"] is not None
        for free_list in zone["free_lists"]
    ]
    offset = facts["page_list_offset"]
    for free_list in lists:
        ours = list(list_for_each(kernel.prog, free_list["head"]))
        assert ours == [page + offset for page in free_list["pages"]]
    assert sum(1 for free_list in lists if not free_list["pages"]) > 0  # empty lists too
    longest = max(lists, key=lambda f: len(f["pages"]))
    bound = len(longest["pages"]) - 1
    assert bound > 1
    walk = list_for_each(kernel.prog, longest["head"], "free list", bound)
    assert corruption(walk) == (f"free list: more than {bound} entries", longest["head"])
    assert len(list(list_for_each(kernel.prog, longest["head"], "free list", bound + 1))) > bound


def test_singly_linked_walks_vmlist_as_the_truth_has_it(kernel: Kernel) -> None:
    prog = kernel.prog
    structs = [a["vm_struct"] for a in sorted(kernel.truth["areas"], key=lambda a: a["addr"])]
    first = prog["vmlist"].value_()
    assert list(singly_linked(prog, first, VM_STRUCT_NEXT, "vmlist")) == structs
    ptr = prog.type("struct vm_struct *")
    objects = list(singly_linked(prog, first, VM_STRUCT_NEXT, "vmlist", as_type=ptr))
    assert [o.value_() for o in objects] == structs
    assert [o.addr.value_() for o in objects] == sorted(a["addr"] for a in kernel.truth["areas"])
    assert list(singly_linked(prog, 0, VM_STRUCT_NEXT, "vmlist")) == []
    bound = len(structs) - 1
    walk = singly_linked(prog, first, VM_STRUCT_NEXT, "vmlist", bound)
    assert corruption(walk) == (f"vmlist: more than {bound} nodes", structs[-1])


# Hand-made list_heads in a kernel built in memory, at physical LISTS on.
LISTS = 0x00380000


def _list_heads(k: FakeKernel, links: list[tuple[int, int]]) -> list[int]:
    """Write one list_head per (next, prev) and return their addresses; a link is
    the index of another of them, or an address (``>= PAGE_OFFSET``) as it is."""
    addrs = [PAGE_OFFSET + LISTS + 8 * i for i in range(len(links))]
    for i, (nxt, prev) in enumerate(links):
        for off, link in ((0, nxt), (4, prev)):
            k.put(LISTS + 8 * i + off, link if link >= PAGE_OFFSET else addrs[link], 4)
    return addrs


@pytest.fixture
def fake() -> FakeKernel:
    return FakeKernel("pse", 62 << 20)


def test_list_for_each_of_a_well_formed_list(fake: FakeKernel) -> None:
    head, a, b = _list_heads(fake, [(1, 2), (2, 0), (0, 1)])
    assert list(list_for_each(fake.program(), head)) == [a, b]
    [empty] = _list_heads(fake, [(0, 0)])
    assert list(list_for_each(fake.program(), empty)) == []


def test_list_for_each_stops_at_a_cycle_that_misses_the_head(fake: FakeKernel) -> None:
    head, a, b = _list_heads(fake, [(1, 2), (2, 0), (1, 1)])  # b points back to a
    assert corruption(list_for_each(fake.program(), head, "l")) == (
        f"l: cycle: entry at {b:#x} points back to {a:#x}",
        b,
    )


def test_list_for_each_checks_each_back_link(fake: FakeKernel) -> None:
    head, a, b = _list_heads(fake, [(1, 2), (2, 0), (0, 0)])  # b->prev is head, not a
    assert corruption(list_for_each(fake.program(), head, "l")) == (
        f"l: entry at {b:#x} has prev {head:#x}, expected {a:#x}",
        b,
    )


def test_list_for_each_stops_at_a_link_into_nothing(fake: FakeKernel) -> None:
    nowhere = 0xFFFF0000  # fixmap: nothing maps it in a hand-built kernel
    head, a = _list_heads(fake, [(1, 1), (nowhere, 0)])
    assert corruption(list_for_each(fake.program(), head, "l")) == (
        f"l: entry at {a:#x} has next {nowhere:#x}, which cannot be read",
        a,
    )
    message, address = corruption(list_for_each(fake.program(), nowhere, "l"))
    assert message.startswith("l: head cannot be read: ") and address == nowhere


def test_singly_linked_stops_at_a_cycle_and_at_a_link_into_nothing() -> None:
    k, areas = standard("pse")
    a, b, c = (area.vm_struct for area in areas)
    k.put(c - PAGE_OFFSET + VM_STRUCT_NEXT, b, 4)  # c links back to b
    prog = k.program()
    assert corruption(singly_linked(prog, a, VM_STRUCT_NEXT, "vmlist")) == (
        f"vmlist: cycle: node at {c:#x} links back to {b:#x}",
        c,
    )
    nowhere = 0xFFFF0000
    k.put(c - PAGE_OFFSET + VM_STRUCT_NEXT, nowhere, 4)
    prog = k.program()
    assert corruption(singly_linked(prog, a, VM_STRUCT_NEXT, "vmlist")) == (
        f"vmlist: node at {c:#x} links to {nowhere:#x}, which cannot be read",
        c,
    )
    assert corruption(singly_linked(prog, nowhere, VM_STRUCT_NEXT, "vmlist")) == (
        f"vmlist: the list head links to {nowhere:#x}, which cannot be read",
        None,
    )


def test_list_for_each_entry_gives_the_entries_of_a_free_list(kernel) -> None:
    from vmintro.helpers import for_each_free_area, for_each_zone, list_for_each_entry

    prog = kernel.prog
    zone = list(for_each_zone(prog))[1]
    head = zone.free_area[0].free_list.address_of_()
    pages = [int(p) for p in list_for_each_entry("struct page", head, "list")]
    assert pages == [int(p) for order, p in for_each_free_area(prog, zone) if order == 0]


def _as_read(obj: Any) -> list[Any]:
    """A vm_struct pointer as its reader sees it: the pointer, then each member's repr,
    whether it is an object of its type's class (with all its methods), its address and
    value, and the struct it points at."""
    names = ("flags", "addr", "size", "next")
    classes = obj.prog_.object_class
    members = [
        (repr(getattr(obj, m)), isinstance(getattr(obj, m), classes(getattr(obj, m).type_)))
        for m in names
    ]
    values = [(getattr(obj, m).address_, getattr(obj, m).value_()) for m in names]
    return [repr(obj), obj.value_(), members, values, obj.deref().value_(), str(obj.deref())]


def test_python_forms_read_each_node_once_and_give_what_member_gives() -> None:
    """On the Python forms, a walk of typed nodes through the page cache unpacks each
    node whole (vmintro.object.row_class): every node and member is what the plain
    objects give. A node across a page end, and a program without a page cache, get
    plain objects."""
    from vmintro import Object
    from vmintro.program import Program

    k, areas = standard("pse")
    straddling = LISTS + PAGE - 8  # flags and addr in one page, size and next in the next
    k.put(areas[-1].vm_struct - PAGE_OFFSET + VM_STRUCT_NEXT, PAGE_OFFSET + straddling, 4)
    for offset, value in ((0, 2), (4, 0xC8800000), (8, 0x3000), (12, 0)):
        k.put(straddling + offset, value, 4)
    nodes = [a.vm_struct for a in areas] + [PAGE_OFFSET + straddling]
    for cache_pages in (True, False):
        prog = Program(k.backend(), cache_pages=cache_pages, accelerated=False)
        ptr = prog.type("struct vm_struct *")
        walked = list(singly_linked(prog, nodes[0], VM_STRUCT_NEXT, "vmlist", as_type=ptr))
        assert [o.value_() for o in walked] == nodes
        rows = [hasattr(o, "_row") for o in walked]
        assert rows == ([True] * 3 + [False] if cache_pages else [False] * 4)
        plain = [Object(prog, ptr, node) for node in nodes]
        assert [_as_read(o) for o in walked] == [_as_read(o) for o in plain]
        assert [o.addr.value_() for o in walked] == [a.addr for a in areas] + [0xC8800000]
        for o, p in zip(walked, plain, strict=True):  # what the classes give, beyond values
            assert (o.prog_, o.type_, o.address_) == (p.prog_, p.type_, p.address_)
            assert o.addr.type_ is p.addr.type_ and o.next.prog_ is p.next.prog_
            assert type(o.addr).value_(o.addr) == type(p.addr).value_(p.addr)
            assert int(o.next) == int(p.next) and bool(o.next) == bool(p.next)
            assert _as_read(copy.copy(o)) == _as_read(copy.copy(p))
            for obj in (o, p):
                with pytest.raises(AttributeError, match="'addr' of 'Object' object has no setter"):
                    obj.addr = 5  # type: ignore[misc]
        # a pointer type made anew (as a caller may) types its nodes, and makes no classes
        again = Pointer(prog.type("struct vm_struct"))
        known = len(prog._struct_classes)
        walked = list(singly_linked(prog, nodes[0], VM_STRUCT_NEXT, "vmlist", as_type=again))
        assert all(o.type_ is again for o in walked) and len(prog._struct_classes) == known
    # a cycle found where the plain walk finds it
    k.put(areas[1].vm_struct - PAGE_OFFSET + VM_STRUCT_NEXT, areas[0].vm_struct, 4)
    prog = Program(k.backend(), cache_pages=True, accelerated=False)
    walk = singly_linked(prog, nodes[0], VM_STRUCT_NEXT, "vmlist", as_type=ptr)
    assert corruption(walk) == (
        f"vmlist: cycle: node at {nodes[1]:#x} links back to {nodes[0]:#x}",
        nodes[1],
    )
