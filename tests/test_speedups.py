"""The C forms of member access, scalar reads and list walks (``vmintro/_speedups.c``).

Each check runs the same reads through a program on the C forms and one on
the Python forms (``Program(..., accelerated=False)``), which define what the C
forms must do, and where it can, against bytes read and unpacked here.
"""

from __future__ import annotations

import array
import gc
import inspect
import os
import pickle
import pydoc
import random
import struct
import subprocess
import sys
import types
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_kernel import PAGE, PAGE_OFFSET, SLAB_PHYS, standard

from vmintro import Object
from vmintro.accel import speedups
from vmintro.backends.image import ImageBackend
from vmintro.errors import CorruptionError, FaultError
from vmintro.helpers import for_each_vm_area, singly_linked
from vmintro.program import Program

# VMINTRO_PURE_PYTHON turns the C forms off on purpose: their tests skip then, even
# where CI requires them built (VMINTRO_REQUIRE_SPEEDUPS, set for every run of .ci/run).
PURE_PYTHON = bool(os.environ.get("VMINTRO_PURE_PYTHON"))
REQUIRED = bool(os.environ.get("VMINTRO_REQUIRE_SPEEDUPS")) and not PURE_PYTHON
needs_c = pytest.mark.skipif(
    speedups is None and not REQUIRED,
    reason="VMINTRO_PURE_PYTHON is set" if PURE_PYTHON else "vmintro._speedups was not built",
)


def test_extension_is_built_where_required() -> None:
    if PURE_PYTHON:  # the Python forms run, whether the extension was built or not
        assert speedups is None
        assert standard("pse")[0].program()._speedups is None
    if speedups is None and not PURE_PYTHON:
        if REQUIRED:
            pytest.fail("VMINTRO_REQUIRE_SPEEDUPS is set but vmintro._speedups cannot be imported")
        pytest.skip("vmintro._speedups was not built")
    if speedups is not None:
        prog = standard("pse")[0].program()
        area = next(for_each_vm_area(prog))
        assert isinstance(type(area).addr, speedups.Member)
        assert isinstance(type(area.addr).value_, speedups.ScalarValue)


def _pair(path: Path) -> tuple[Program, Program]:
    return (
        Program(ImageBackend(f"{path}.vmcore"), accelerated=True),
        Program(ImageBackend(f"{path}.vmcore"), accelerated=False),
    )


def _outcome(fn: Any) -> Any:
    """What ``fn()`` gives, or the error it raises, in a form two programs can compare."""
    try:
        value = fn()
    except (FaultError, CorruptionError) as e:
        return (type(e).__name__, str(e), getattr(e, "address", None))
    if isinstance(value, Object):
        return ("Object", repr(value), value.address_)
    return value


def _members(obj: Object, depth: int) -> list[Any]:
    """Every member of the struct ``obj`` is or points at: repr, address and value."""
    out = []
    t = obj.type_
    fields = getattr(getattr(t, "target", t), "fields", None) or getattr(t, "fields", [])
    for f in fields:
        if not f.name:
            continue
        member = getattr(obj, f.name)
        out.append((f.name, repr(member), member.address_, _outcome(member.value_)))
        if depth and hasattr(member.type_, "fields"):
            out.append(_members(member, depth - 1))
    return out


@needs_c
@pytest.mark.parametrize("name", ["demo", "highmem", "pae"])
def test_vmlist_and_pages_read_the_same(image_set: dict[str, Path], name: str) -> None:
    fast, slow = _pair(image_set[name])
    areas = [list(for_each_vm_area(p)) for p in (fast, slow)]
    assert [a.value_() for a in areas[0]] == [a.value_() for a in areas[1]]
    assert len(areas[0]) > 3
    for a, b in zip(*areas, strict=True):
        assert _members(a, 1) == _members(b, 1)
        assert (str(a), str(a[0])) == (str(b), str(b[0]))
    # struct page: unsigned and signed members, nested list_heads, atomic_t
    max_mapnr = fast["max_mapnr"].value_()
    for pfn in random.Random(4).sample(range(max_mapnr), 40) + [0, max_mapnr - 1]:
        assert _members(fast["mem_map"][pfn], 1) == _members(slow["mem_map"][pfn], 1)
    zones = [p["contig_page_data"].node_zones for p in (fast, slow)]
    for i in range(3):
        assert _members(zones[0][i], 1) == _members(zones[1][i], 1)


SCALARS = {
    "char": "<b",
    "unsigned char": "<B",
    "short": "<h",
    "unsigned short": "<H",
    "int": "<i",
    "unsigned int": "<I",
    "long long": "<q",
    "unsigned long long": "<Q",
}


@needs_c
def test_scalar_reads_against_struct_unpack(image_set: dict[str, Path]) -> None:
    fast, slow = _pair(image_set["demo"])
    rng = random.Random(7)
    vmalloc = [a.addr.value_() for a in for_each_vm_area(fast)]
    # cached pages, the ends of a page (a read across two pages), unmapped
    # guard pages, vmalloc pages and addresses past 4 GiB
    addresses = [PAGE_OFFSET + rng.randrange(0, 8 << 20) for _ in range(300)]
    addresses += [PAGE_OFFSET + 0x5000 + d for d in range(PAGE - 9, PAGE + 1)]
    addresses += [v + d for v in vmalloc for d in (0, PAGE - 2, -1, -PAGE)]
    addresses += [0, 0xFFFFFFFD, 1 << 32, (1 << 64) + 5]
    # where a byte has its top bit set, each size read ending there is negative
    high: list[int] = []
    for page in range(PAGE_OFFSET, fast.high_memory, PAGE):
        data = fast.read(page, PAGE)
        high += [page + i for i in range(PAGE) if data[i] >= 0x80][:2]
        if len(high) >= 200:
            break
    addresses += [h - n + 1 for h in rng.sample(high, 30) for n in (1, 2, 4, 8)]
    negative = 0
    for address in addresses:
        for type_name, fmt in SCALARS.items():
            results = [_outcome(Object(p, type_name, address=address).value_) for p in (fast, slow)]
            assert results[0] == results[1], (hex(address), type_name)
            if isinstance(results[0], int):
                expected = struct.unpack(fmt, fast.read(address, struct.calcsize(fmt)))[0]
                assert results[0] == expected
                negative += expected < 0
    assert negative > 50  # the sign of each size was exercised


@needs_c
def test_walks_of_arbitrary_memory_agree(image_set: dict[str, Path]) -> None:
    """Memory read as a list from random places: every walk ends the same way."""
    fast, slow = _pair(image_set["demo"])
    rng = random.Random(11)
    starts = [PAGE_OFFSET + rng.randrange(0, 8 << 20) & ~3 for _ in range(400)]
    starts += [a.value_() for a in for_each_vm_area(fast)]
    for first in starts:
        for offset in (0, 4, 12, 0xFFE):
            walks = []
            for prog in (fast, slow):
                nodes: list[int] = []
                try:
                    for node in singly_linked(prog, first, offset, "chain", 64):
                        nodes.append(node)
                    end = None
                except CorruptionError as e:
                    end = (str(e), e.address)
                walks.append((nodes, end))
            assert walks[0] == walks[1], (hex(first), offset)


def _damaged_vmlist(accelerated: bool, damage: str) -> tuple[Program, list[int]]:
    k, areas = standard("pse")
    nodes = [a.vm_struct for a in areas]
    next_at = [n - PAGE_OFFSET + 12 for n in nodes]
    if damage == "cycle":
        k.put(next_at[2], nodes[1], 4)
    elif damage == "wild":
        k.put(next_at[1], 0xDEAD0000, 4)
    elif damage == "head":
        k.set_var("vmlist", 0x10)
    return k.program(accelerated), nodes


@needs_c
@pytest.mark.parametrize("damage", ["cycle", "wild", "head"])
def test_broken_vmlist_gives_the_same_error(damage: str) -> None:
    errors = []
    for accelerated in (True, False):
        prog, nodes = _damaged_vmlist(accelerated, damage)
        seen = []
        with pytest.raises(CorruptionError) as info:
            for area in for_each_vm_area(prog):
                seen.append(area.value_())
        errors.append((seen, str(info.value), info.value.address))
    assert errors[0] == errors[1]
    seen, message, address = errors[0]
    expected = {
        "cycle": (nodes, f"cycle: node at {nodes[2]:#x} links back to {nodes[1]:#x}", nodes[2]),
        "wild": (nodes[:2], f"node at {nodes[1]:#x} links to 0xdead0000", nodes[1]),
        "head": ([], "the list head links to 0x10", None),
    }[damage]
    assert seen == expected[0]
    assert expected[1] in message
    assert address == expected[2]


@needs_c
def test_walk_bound_and_exhaustion() -> None:
    prog_fast, nodes = _damaged_vmlist(True, "none")
    prog_slow, _ = _damaged_vmlist(False, "none")
    first = nodes[0]
    for prog in (prog_fast, prog_slow):
        walk = singly_linked(prog, first, 12, "vmlist", 2)
        assert [next(walk), next(walk)] == nodes[:2]
        with pytest.raises(CorruptionError, match="vmlist: more than 2 nodes") as info:
            next(walk)
        assert info.value.address == nodes[2]
        with pytest.raises(StopIteration):  # an ended walk stays ended, as a generator does
            next(walk)
        assert list(singly_linked(prog, 0, 12, "vmlist")) == []


@needs_c
def test_descriptor_protocol() -> None:
    k, areas = standard("pse")
    prog = k.program()
    area = next(for_each_vm_area(prog))
    cls = type(area)
    assert isinstance(cls.addr, speedups.Member) and cls.addr.name == "addr"
    with pytest.raises(AttributeError, match="property 'addr' of 'Object' object has no setter"):
        area.addr = 5  # type: ignore[misc]
    with pytest.raises(AttributeError, match="has no deleter"):
        del area.addr
    value_ = area.addr.value_  # a bound method, called later
    assert value_() == areas[0].addr
    assert type(area.addr).value_(area.addr) == areas[0].addr
    assert type(area.addr).value_.__doc__ == Object.value_.__doc__
    with pytest.raises(TypeError, match=r"no arguments \(1 given\)"):
        area.addr.value_(1)
    with pytest.raises(TypeError, match="no keyword arguments"):
        area.addr.value_(x=1)
    with pytest.raises(TypeError, match="needs the Object"):
        type(area.addr).value_()
    assert "Object.value_ of Object(prog, 'void *'" in repr(area.addr.value_)
    with pytest.raises(TypeError, match="expected an Object"):
        type(area.addr).value_("not an object")
    with pytest.raises(TypeError, match="expected an Object"):
        cls.addr.__get__(42, int)
    # through a pointer variable (read first) and on a struct reference
    assert prog["vmlist"].addr.value_() == areas[0].addr
    assert area[0].addr.address_ == areas[0].vm_struct + 4
    # a struct value has no address: member_ slices its bytes
    assert area[0].read_().addr.value_() == areas[0].addr


@needs_c
def test_reads_go_through_the_program_read_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the Python forms look ``prog.read`` up at each call, so do the C forms."""
    k, areas = standard("pse")
    prog = k.program()
    area = next(for_each_vm_area(prog))
    assert area.addr.value_() == areas[0].addr  # the classes exist before the patch
    monkeypatch.setattr(prog, "read_u32", lambda address: 0)
    assert [a.value_() for a in for_each_vm_area(prog)] == [areas[0].vm_struct]
    calls = []

    def read(address: int, size: int, physical: bool = False) -> bytes:
        calls.append((address, size))
        return b"\x01\x02\x03\x04"[:size]

    monkeypatch.setattr(prog, "read", read)
    assert area.addr.value_() == 0x04030201
    assert calls == [(areas[0].vm_struct + 4, 4)]


@needs_c
def test_binding_is_checked() -> None:
    speedups.bind_object(Object)  # again, the same class: nothing changes

    class Other:
        __slots__ = ("prog_", "type_", "address_", "_value")

    with pytest.raises(RuntimeError, match="already called"):
        speedups.bind_object(Other)


@needs_c
def test_walk_arguments_are_checked() -> None:
    k, areas = standard("pse")
    prog = k.program()
    nodes = [a.vm_struct for a in areas]
    # a bound past 64 bits walks everything, as the Python form does
    assert list(singly_linked(prog, nodes[0], 12, "vmlist", 1 << 70)) == nodes
    walks = []
    for p in (prog, k.program(accelerated=False)):  # a float bound: the Python form's rule
        with pytest.raises(CorruptionError, match="more than 1.5 nodes") as info:
            list(singly_linked(p, nodes[0], 12, "vmlist", 1.5))
        walks.append(info.value.address)
    assert walks == [nodes[2]] * 2
    args = (prog, None, FaultError, lambda *a: None)
    for first, offset, bound in ((-1, 0, 1), (1 << 32, 0, 1), (0, 1 << 64, 1), (0, 0, -1)):
        with pytest.raises((ValueError, OverflowError)):
            speedups.NodeWalk(first, offset, bound, *args)
    with pytest.raises(TypeError, match="exception class"):
        speedups.NodeWalk(0, 0, 1, prog, None, 42, lambda *a: None)


@needs_c
def test_uninitialised_objects_raise() -> None:
    k, _areas = standard("pse")
    area = next(for_each_vm_area(k.program()))
    with pytest.raises(RuntimeError, match="not initialised"):
        speedups.Member.__new__(speedups.Member).__get__(area, None)
    walk = speedups.NodeWalk.__new__(speedups.NodeWalk)
    with pytest.raises(RuntimeError, match="not initialised"):
        next(walk)
    member = speedups.Member.__new__(speedups.Member)
    with pytest.raises(AttributeError, match="no setter"):
        member.__set__(area, 1)
    scalar = speedups.ScalarValue.__new__(speedups.ScalarValue)
    with pytest.raises(RuntimeError, match="not initialised"):
        scalar(area.addr)


@pytest.mark.parametrize("accelerated", [True, False])
def test_programs_are_collected(accelerated: bool) -> None:
    """The classes, members and walks a program makes do not keep it alive."""
    prog = standard("pse")[0].program(accelerated)
    for area in for_each_vm_area(prog):
        area.addr.value_()
    ref = weakref.ref(prog)
    del prog, area
    gc.collect()
    assert ref() is None


def test_slab_page_is_where_the_walks_read() -> None:
    # The walks above damage links in the fake kernel's slab page: keep them honest.
    k, areas = standard("pse")
    assert all(SLAB_PHYS <= a.vm_struct - PAGE_OFFSET < SLAB_PHYS + PAGE for a in areas)


def _translations(prog: Program, addresses: list[Any]) -> list[Any]:
    return [_outcome(lambda a=a: prog.translate(a)) for a in addresses]


@needs_c
@pytest.mark.parametrize(
    "name",
    # the demo's core of 163 segments and the PAE image run with the slow tests
    [
        pytest.param("demo", marks=pytest.mark.slow),
        "highmem",
        pytest.param("pae", marks=pytest.mark.slow),
    ],
)
def test_translate_agrees_cold_and_warm(image_set: dict[str, Path], name: str) -> None:
    fast, slow = _pair(image_set[name])
    assert type(fast.translate).__name__ == "Translator"
    assert fast.translate.__doc__ == Program.translate.__doc__
    rng = random.Random(5)
    # every page of the vmalloc region at a random offset, mapped or not, then
    # lowmem, pkmap and fixmap, and what is no 32-bit address at all
    addresses: list[Any] = [
        v + rng.randrange(PAGE) for v in range(fast.vmalloc_start, fast.vmalloc_end, PAGE)
    ]
    addresses += [rng.randrange(PAGE_OFFSET, 1 << 32) for _ in range(2000)]
    addresses += [0, PAGE_OFFSET - 1, fast.high_memory - 1, fast.high_memory, (1 << 32) - 1]
    addresses += [-1, 1 << 32, 1 << 70]
    rng.shuffle(addresses)
    mapped = [a for a in addresses if isinstance(_outcome(lambda a=a: slow.translate(a)), int)]
    addresses += [np.int64(a) for a in mapped[:50]]
    for _ in range(2):  # the first pass walks and fills; the second finds
        assert _translations(fast, addresses) == _translations(slow, addresses)
        assert fast._translation.tlb == slow._translation.tlb
    assert len(mapped) > 300 and len(fast._translation.tlb) > 100


@needs_c
def test_translate_flushes_its_tlb_as_the_walker_does(image_set: dict[str, Path]) -> None:
    fast, slow = _pair(image_set["demo"])
    for prog in (fast, slow):
        prog._translation.tlb_max = 5
    fast.translate = fast._fast_translate()  # type: ignore[method-assign]
    pages = [
        a.addr.value_() + i * PAGE
        for a in for_each_vm_area(fast)
        for i in range(min(3, a.size.value_() // PAGE - 1))  # mapped pages, not the guard
    ]
    assert len(pages) > 10
    for address in pages:
        assert fast.translate(address) == slow.translate(address)
        assert fast._translation.tlb == slow._translation.tlb
        assert len(fast._translation.tlb) <= 5
    fast.walker.clear_cache()
    assert fast.translate(pages[-1]) == slow.translate(pages[-1])


@needs_c
def test_calls_the_python_forms_take(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyword calls, numpy integers and odd tables: the C forms answer as Python does."""
    k, areas = standard("4k")
    fast, slow = k.program(), k.program(accelerated=False)
    a = areas[0].addr
    for prog in (fast, slow):
        assert prog.translate(vaddr=a) == slow.translate(a)
        with pytest.raises(TypeError):
            prog.translate()
        # a numpy address: read() takes it, in both forms
        obj = Object(prog, "unsigned long", address=np.uint32(areas[0].vm_struct + 4))
        assert obj.value_() == a
        nodes = list(singly_linked(prog, np.uint32(areas[0].vm_struct), 12, "vmlist"))
        assert nodes == [x.vm_struct for x in areas]
    assert fast.translate.__name__ == "translate"
    assert fast.translate.__qualname__ == "Program.translate"
    # a read that returns too few bytes fails as struct.unpack does
    for prog in (fast, slow):
        short = Object(prog, "unsigned int", address=areas[0].vm_struct)
        monkeypatch.setattr(prog, "read", lambda address, size, physical=False: b"\0")
        with pytest.raises(struct.error):
            short.value_()


@needs_c
def test_span_tables_not_of_the_walkers_making_are_left_to_python() -> None:
    k, areas = standard("4k")
    fast, slow = k.program(), k.program(accelerated=False)
    a = areas[2].addr
    for prog in (fast, slow):
        prog.translate(a)  # the walk holds the span's pte table now
        cache = prog._translation
        cache.tlb.clear()
        key = a >> cache.span_shift
        table = cache.spans[key]
        # the same entries, 8 bytes wide: the C form must not read them as 4-byte ones
        cache.spans[key] = array.array("Q", table.tolist())
    assert fast.translate(a + PAGE) == slow.translate(a + PAGE)
    assert fast._translation.tlb == slow._translation.tlb


def _is_c_form_of(helper: Any, python: Any) -> None:
    """``helper`` is the built-in function speedups.helper made of ``python``: its name,
    docstring, signature and module, and help() shows them as a function's."""
    assert isinstance(helper, types.BuiltinFunctionType)
    assert helper.__self__.__wrapped__ is python
    assert helper.__name__ == helper.__qualname__ == python.__name__ == python.__qualname__
    assert helper.__doc__ == python.__doc__ and helper.__module__ == python.__module__
    plain = [p.replace(annotation=p.empty) for p in inspect.signature(python).parameters.values()]
    assert inspect.signature(helper) == inspect.Signature(plain)
    shown = pydoc.render_doc(helper, renderer=pydoc.plaintext)
    assert f"\n{python.__name__}{inspect.signature(helper)}\n" in shown
    assert python.__doc__.splitlines()[0] in shown and "method of" not in shown
    assert pickle.loads(pickle.dumps(helper)) is helper


@needs_c
@pytest.mark.parametrize("name", ["demo", "highmem", "pae"])
def test_helpers_answer_as_their_python_forms(image_set: dict[str, Path], name: str) -> None:
    """vmalloc_to_pfn, vmalloc_to_page, virt_to_page and page_to_pfn: the C forms give
    what the Python forms give (and raise what they raise) for every kind of argument."""
    from vmintro.helpers import mm, vmalloc

    helpers = (vmalloc.vmalloc_to_pfn, vmalloc.vmalloc_to_page, mm.virt_to_page, mm.page_to_pfn)
    pythons = (
        vmalloc._vmalloc_to_pfn,
        vmalloc._vmalloc_to_page,
        mm._virt_to_page,
        mm._page_to_pfn,
    )
    for helper, python in zip(helpers, pythons, strict=True):
        _is_c_form_of(helper, python)
    fast, slow = _pair(image_set[name])
    areas = list(for_each_vm_area(slow))
    vaddrs = [
        a
        for area in areas
        for a in range(area.addr.value_(), area.addr.value_() + area.size.value_(), PAGE + 0x234)
    ]
    vaddrs += [slow.vmalloc_start - 1, slow.vmalloc_end, PAGE_OFFSET + 0x1234, -1, 1 << 40]
    lowmem = [PAGE_OFFSET, PAGE_OFFSET + 0x5678, slow.high_memory - 1, slow.high_memory]
    lowmem += [PAGE_OFFSET - 1, 0, -5, 1 << 33]

    def outcomes(prog: Program, *, wrap: bool = False) -> list[Any]:
        def arg(a: int) -> Any:
            return Object(prog, "void *", a & 0xFFFFFFFF) if wrap and a >= 0 else a

        out = []
        for a in vaddrs:
            out.append(_outcome(lambda a=a: vmalloc.vmalloc_to_pfn(prog, arg(a))))
            out.append(_outcome(lambda a=a: vmalloc.vmalloc_to_page(prog, arg(a))))
            out.append(_outcome(lambda a=a: vmalloc.vmalloc_to_pfn(prog, addr=arg(a))))
        # and the direct-map addresses of the frames found (those above high_memory too)
        frames = [PAGE_OFFSET + (pfn << 12) for pfn in out[::3] if isinstance(pfn, int)]
        for a in lowmem + frames[:50]:
            try:
                page = mm.virt_to_page(prog, arg(a))
            except ValueError as e:
                out.append(str(e))
                continue
            out.append((repr(page), type(page).__name__, mm.page_to_pfn(page)))
            out.append(mm.page_to_pfn(int(page), prog))
            out.append(mm.page_to_pfn(page.deref().address_of_()))
        return out

    for wrap in (False, True):
        assert outcomes(fast, wrap=wrap) == outcomes(slow, wrap=wrap)
    assert fast._page_facts is not None and fast._page_facts[6] is True
    assert slow._page_facts is not None and slow._page_facts[6] is False
    # a frame past max_mapnr has no struct page: both refuse it, in the same words
    mapped = areas[0].addr.value_()
    for prog in (fast, slow):
        facts = prog._page_facts
        assert facts is not None
        prog._page_facts = (*facts[:2], 0, *facts[3:])
    assert _outcome(lambda: vmalloc.vmalloc_to_page(fast, mapped)) == _outcome(
        lambda: vmalloc.vmalloc_to_page(slow, mapped)
    )
    with pytest.raises(FaultError, match="beyond max_mapnr"):
        vmalloc.vmalloc_to_page(fast, mapped)
    # a caller's class with its own __int__ is asked, as int() asks it
    page = mm.virt_to_page(fast, PAGE_OFFSET)

    class Shifted(type(page)):  # type: ignore[misc]
        __slots__ = ()

        def __int__(self) -> int:
            return super().__int__() + 2 * fast.type("struct page").size

    page.__class__ = Shifted
    assert mm.page_to_pfn(page) == 2
    # and asked again once its class (or a base) changes what int() does
    page = mm.virt_to_page(fast, PAGE_OFFSET + 3 * PAGE)
    cls = type(page)
    assert mm.page_to_pfn(page) == 3
    size = fast.type("struct page").size
    cls.__int__ = lambda self: Object.__int__(self) + 2 * size  # type: ignore[method-assign]
    try:
        assert mm.page_to_pfn(page) == 5
    finally:
        del cls.__int__
    assert mm.page_to_pfn(page) == 3
    # a helper is made of a known kind
    with pytest.raises(ValueError):
        speedups.helper(99, print, "p", "p()\n--\n\n", __name__)
    assert repr(vmalloc.vmalloc_to_pfn) == "<built-in function vmalloc_to_pfn>"


@needs_c
@pytest.mark.parametrize("name", ["demo", "pae"])
def test_follow_pte_walks_as_its_python_form(image_set: dict[str, Path], name: str) -> None:
    """prog.follow_pte in C (vmintro._speedups.FollowPte) makes the Walk the Python
    form makes, step for step, for mapped, unmapped, large-page and impossible
    addresses, from swapper_pg_dir and from a page directory given, twice (the
    second time through the tables the first read)."""
    fast, slow = _pair(image_set[name])
    assert isinstance(fast.walker.walk, speedups.FollowPte)
    assert not isinstance(slow.walker.walk, speedups.FollowPte)
    vaddrs = [PAGE_OFFSET, PAGE_OFFSET + 0x123456, slow.high_memory - 1, slow.high_memory]
    for area in list(for_each_vm_area(slow))[:20]:
        start = area.addr.value_()
        vaddrs += range(start, start + area.size.value_() + PAGE, PAGE + 0x234)
    vaddrs += [0, PAGE_OFFSET - 1, 0xFFFFE000, 0xFFFFFFFF, 1 << 32, -1]

    def walks(prog: Program) -> list[Any]:
        out = []
        for _ in range(2):
            for v in vaddrs:
                for walk in (prog.follow_pte(v), prog.follow_pte(v, prog.swapper_pg_dir)):
                    out.append((repr(walk), str(walk), walk.large, type(walk.fault).__name__))
        return out

    assert walks(fast) == walks(slow)
    walk = fast.follow_pte(vaddrs[-7])
    assert walk.steps is walk.steps  # made once
    with pytest.raises(TypeError):
        speedups.FollowPte(object(), type(walk))


@needs_c
def test_translator_forgets_what_it_remembered_when_the_cache_is_cleared(
    image_set: dict[str, Path],
) -> None:
    """The C translate remembers recent answers of its own; clearing the program's
    translation cache (as a live kernel's changed memory does) empties them too."""
    fast, _slow = _pair(image_set["demo"])
    a = next(for_each_vm_area(fast)).addr.value_() + 0x10
    p = fast.translate(a)
    assert fast.translate(a) == p  # now remembered
    cache = fast._translation
    cache.clear()
    cache.tlb[a >> 12] = p - a + PAGE  # what a changed page table would map it to
    assert fast.translate(a) == p + PAGE
    with pytest.raises(TypeError, match="on_clear"):
        cache.on_clear = None  # type: ignore[assignment]
        speedups.Translator(cache)


_WALK_FIELDS = (
    "vaddr", "pgd", "entry_size", "paddr", "page_size", "fault", "_trail", "_levels",
    "_lowmem_size", "_steps", "large",
)  # fmt: skip


@needs_c
@pytest.mark.parametrize("name", ["demo", "pae"])
def test_follow_pte_walk_fields_are_the_python_forms(image_set: dict[str, Path], name: str) -> None:
    """Each field of a Walk C's follow_pte makes (paddr and _trail kept as C numbers
    until read) reads as the Python form's walk's field, before and after its steps
    were made; and each field is set and deleted as a slot of the pure-Python form's
    class of fields (pagewalk._WalkFields) is."""
    from vmintro import pagewalk

    fast, slow = _pair(image_set[name])
    area = next(for_each_vm_area(slow))
    start = area.addr.value_()
    vaddrs = [PAGE_OFFSET + 0x123456, start + 0x10, start + PAGE + 0x7FF, slow.high_memory - 1]
    for v in vaddrs:
        a, b = fast.follow_pte(v), slow.follow_pte(v)
        assert type(a) is type(b) is pagewalk.Walk
        for field in _WALK_FIELDS:
            assert (field, getattr(a, field)) == (field, getattr(b, field))
        assert a.steps == b.steps
        assert a.paddr == fast.translate(v) and a._trail == b._trail  # read again, made once
        assert a._trail is a._trail and a.paddr is a.paddr
    pure = pagewalk._WalkFields.__new__(pagewalk._WalkFields)
    for field in _WALK_FIELDS[:-2]:  # _steps and large are Walk's own
        walks = (fast.follow_pte(vaddrs[0]), pure)
        for walk in walks:
            setattr(walk, field, 7)
        assert [getattr(w, field) for w in walks] == [7, 7]
        for walk in walks:
            delattr(walk, field)
        for walk in walks:
            with pytest.raises(AttributeError, match=field):
                getattr(walk, field)
            with pytest.raises(AttributeError, match=field):
                delattr(walk, field)
    walk = fast.follow_pte(vaddrs[0])
    del walk.paddr, walk._trail  # never made: deleted all the same
    with pytest.raises(AttributeError, match="paddr"):
        getattr(walk, "paddr")  # noqa: B009 - the read is the test


@needs_c
@pytest.mark.parametrize("name", ["demo", "pae"])
def test_follow_pte_helper_answers_as_its_python_form(
    image_set: dict[str, Path], name: str
) -> None:
    """follow_pte(prog, pgd, addr) in C gives the walk (or the error) of its Python form
    for swapper_pg_dir, other tables, misaligned and non-direct-mapped pgds, as ints
    and as Objects, twice (the second time through the tables kept)."""
    from vmintro.helpers import mm

    _is_c_form_of(mm.follow_pte, mm._follow_pte)
    fast, slow = _pair(image_set[name])
    assert fast.follow_pte is fast.walker.walk  # the program's own, without a call through it
    swapper = PAGE_OFFSET + slow.swapper_pg_dir
    pgds = [swapper, swapper + PAGE, swapper + 4, swapper + 32, PAGE_OFFSET - PAGE]
    pgds += [slow.high_memory, slow.high_memory - PAGE, -1, 1 << 40]
    vaddrs = [PAGE_OFFSET + 0x5000, slow.high_memory - 1, 0xFFFFF000, 1 << 32, -3]
    for area in list(for_each_vm_area(slow))[:4]:
        vaddrs += range(area.addr.value_(), area.addr.value_() + area.size.value_(), PAGE + 0x321)

    def walks(prog: Program, helper: Any) -> list[Any]:
        out = []
        for _ in range(2):
            for pgd in pgds:
                for v in vaddrs:
                    for args in ((pgd, v), (Object(prog, "pgd_t *", pgd & 0xFFFFFFFF), v)):
                        try:
                            walk = helper(prog, *args)
                        except (ValueError, FaultError) as e:
                            out.append((type(e).__name__, str(e)))
                            continue
                        out.append((repr(walk), str(walk), walk.paddr, walk.pgd))
        return out

    assert walks(fast, mm.follow_pte) == walks(slow, mm._follow_pte)


@needs_c
def test_follow_pte_forgets_its_table_copies_when_the_cache_is_cleared() -> None:
    """The C follow_pte keeps copies of the tables it walked; clearing the walker's
    cache (as a live kernel's changed memory does) drops them, and the next walk reads
    the table as memory now holds it, as the Python form does."""
    k, areas = standard("4k")
    fast, slow = k.program(), k.program(accelerated=False)
    a = areas[0].addr
    before = fast.follow_pte(a)
    assert before.paddr == slow.follow_pte(a).paddr
    pte = before.steps[-1]
    k.put(pte.entry_paddr, (pte.value & 0xFFF) | 0x777000, 4)  # another frame
    assert fast.follow_pte(a).paddr == before.paddr  # as the walker holds it, still
    for prog in (fast, slow):
        prog.walker.clear_cache()
    assert fast.follow_pte(a).paddr == slow.follow_pte(a).paddr == 0x777000 | (a & 0xFFF)
    # the page directory's entry changed too (ACCESSED): each level's entry as memory has it
    pde = before.steps[0]
    k.put(pde.entry_paddr, pde.value ^ 0x20, 4)
    for prog in (fast, slow):
        prog.walker.clear_cache()
    assert repr(fast.follow_pte(a)) == repr(slow.follow_pte(a))
    assert fast.follow_pte(a).steps[0].value == pde.value ^ 0x20


@needs_c
def test_objects_of_the_generated_classes_are_freed_whole_and_reused() -> None:
    """An object of a class vmintro.object makes frees what its slots hold, and the
    objects made in the memory it leaves hold what they were made with; a caller's
    subclass (with a __del__) and __class__ changes between the classes work as
    CPython's."""
    k, _areas = standard("pse")
    prog = k.program()
    ptr = prog.type("struct vm_struct *")
    cls = prog.object_class(ptr)
    value = int("3221237360")  # an int of its own, whose references are counted
    counts = (sys.getrefcount(value), sys.getrefcount(prog), sys.getrefcount(ptr))
    first = [Object(prog, ptr, address=value) for _ in range(100)]
    assert sys.getrefcount(value) == counts[0] + 100
    del first
    assert (sys.getrefcount(value), sys.getrefcount(prog), sys.getrefcount(ptr)) == counts
    second = [Object(prog, ptr, n) for n in range(100)]
    assert [(type(o), o.value_(), o.address_, o.type_) for o in second] == [
        (cls, n, None, ptr) for n in range(100)
    ]
    dropped: list[int] = []

    class Noted(cls):  # type: ignore[misc,valid-type]
        __slots__ = ()

        def __del__(self) -> None:
            dropped.append(self.value_())

    obj = Object(prog, ptr, value)
    obj.__class__ = Noted
    del obj
    assert dropped == [value] and type(Object(prog, ptr, 0)) is cls
    obj = Object(prog, "unsigned long", 7)
    obj.__class__ = cls  # between generated classes, as before
    assert obj.value_() == 7
    with pytest.raises(TypeError, match="nothing more"):
        speedups.light_class(type("WithDict", (Object,), {}))
    del second, obj
    gc.collect()
    assert (sys.getrefcount(value), sys.getrefcount(ptr)) == (counts[0], counts[2])


# A caller's subclass of Object with a __dict__ and no slot more: CPython 3.11+ keeps
# that dict in front of the object, so its memory must not be reused as a generated
# class's (which PyObject_GC_Del would free from the wrong start).
_MANAGED_DICT_SUBCLASS = """
import gc, sys
sys.path.insert(0, sys.argv[1])
from fake_kernel import standard
from vmintro import Object
k, _areas = standard("pse")
prog = k.program()
ptr = prog.type("struct vm_struct *")

class Annotated(Object):
    __slots__ = ("__dict__",)

for n in range(50):
    note = Annotated(prog, ptr, n)
    note.seen = n
    del note
objects = [Object(prog, ptr, n) for n in range(300)]
assert [o.value_() for o in objects] == list(range(300))
del objects
gc.collect()
print("freed")
"""


def _prints_freed_under_the_debug_allocator(script: str) -> None:
    """``script`` run with PYTHONMALLOC=debug (which checks each allocation and free)
    ends printing "freed"; it finds fake_kernel on the path given as its argument."""
    env = {**os.environ, "PYTHONMALLOC": "debug"}
    tests = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", script, tests],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "freed"), done.stderr[-2000:]


@needs_c
def test_a_subclass_with_a_dict_is_freed_as_cpython_allocated_it() -> None:
    """Objects of a caller's Object subclass with a ``__dict__`` (kept in front of the
    object by CPython) are freed whole and their memory not handed to the generated
    classes: the debug allocator checks each free."""
    _prints_freed_under_the_debug_allocator(_MANAGED_DICT_SUBCLASS)


# The C helpers' objects and the walks follow_pte makes and drops (kept for reuse): a
# caller's Walk subclass with a __dict__ (its memory not reused as a Walk's), faults,
# and everything freed at the end.
_HELPERS_DEBUG_MALLOC = """
import gc, sys
sys.path.insert(0, sys.argv[1])
from fake_kernel import PAGE, PAGE_OFFSET, standard
from vmintro import pagewalk
from vmintro.errors import FaultError
from vmintro.helpers import follow_pte, page_to_pfn, virt_to_page, vmalloc_to_page, vmalloc_to_pfn
k, areas = standard("pse")
prog = k.program()
swapper = PAGE_OFFSET + prog.swapper_pg_dir

class Noted(pagewalk.Walk):
    pass

kept = []
for n in range(300):
    a = areas[n % len(areas)].addr + n * 8
    walk = follow_pte(prog, swapper, a)
    assert walk.paddr == prog.translate(a) and prog.follow_pte(a).paddr == walk.paddr
    noted = Noted(a, 0, 4)
    noted.seen = n
    faults = [follow_pte(prog, swapper, 0), prog.follow_pte(PAGE_OFFSET - PAGE)]
    assert all(w.fault is not None and w.paddr is None for w in faults)
    kept += [walk, noted, *faults]
    try:
        page = vmalloc_to_page(prog, a)
    except FaultError as e:  # a frame past max_mapnr (an ioremap of the fake kernel's)
        kept.append(e)
    else:
        assert page_to_pfn(page) == vmalloc_to_pfn(prog, a) == walk.paddr >> 12
    kept.append(virt_to_page(prog, PAGE_OFFSET + n * PAGE))
    if n % 50 == 0:
        del kept[:]
del kept, walk, noted, faults
gc.collect()
print("freed")
"""


@needs_c
def test_helpers_and_walks_are_freed_whole_under_the_debug_allocator() -> None:
    """The C helpers' results and follow_pte's walks, freed and made again from the
    memory of those freed (and a caller's subclass of Walk, which is not), pass the
    debug allocator's checks of each allocation and free."""
    _prints_freed_under_the_debug_allocator(_HELPERS_DEBUG_MALLOC)


@needs_c
def test_helpers_follow_what_the_program_holds_now(image_set: dict[str, Path]) -> None:
    """The C helpers remember the program attributes they read; a program changed
    after a call (its translate, its page facts, its follow_pte) is read again."""
    from vmintro.helpers import mm, vmalloc

    fast, _slow = _pair(image_set["demo"])
    a = next(for_each_vm_area(fast)).addr.value_()
    pfn = vmalloc.vmalloc_to_pfn(fast, a)
    assert pfn is not None and vmalloc.vmalloc_to_page(fast, a) is not None
    fast.translate = lambda vaddr: 0x1234000  # type: ignore[method-assign,assignment]
    assert vmalloc.vmalloc_to_pfn(fast, a) == 0x1234
    assert int(mm.virt_to_page(fast, PAGE_OFFSET)) == fast["mem_map"].value_()
    facts = fast._page_facts
    assert facts is not None
    fast._page_facts = (facts[0] + 0x20, *facts[1:])
    assert int(mm.virt_to_page(fast, PAGE_OFFSET)) == fast["mem_map"].value_() + 0x20
    swapper = PAGE_OFFSET + fast.swapper_pg_dir
    assert mm.follow_pte(fast, swapper, a).paddr is not None
    fast.follow_pte = lambda vaddr, pgd=None: ("walked", vaddr, pgd)  # type: ignore[method-assign,assignment,return-value]
    assert mm.follow_pte(fast, swapper, a) == ("walked", a, fast.swapper_pg_dir)


@needs_c
def test_page_facts_dropped_while_read_again_are_not_mixed_up(image_set: dict[str, Path]) -> None:
    """The C helpers keep the last program's page facts; the tuple they let go of may
    run Python as it goes (here a __del__ calling the helper again): that call sees the
    new program's facts whole, never the new tuple with the old one's numbers."""
    from vmintro.helpers import mm

    old, new = _pair(image_set["demo"])[0], _pair(image_set["demo"])[0]
    mem_map = new["mem_map"].value_()
    assert int(mm.virt_to_page(new, PAGE_OFFSET)) == mem_map  # its facts made
    inner: list[int] = []

    class Dropped:
        def __del__(self) -> None:
            inner.append(int(mm.virt_to_page(new, PAGE_OFFSET)))

    mm.virt_to_page(old, PAGE_OFFSET)
    facts = old._page_facts
    assert facts is not None
    old._page_facts = (facts[0] + 0x40, facts[1], facts[2], facts[3], Dropped(), *facts[5:])
    assert int(mm.virt_to_page(old, PAGE_OFFSET)) == mem_map + 0x40  # kept by the C form
    old._page_facts = facts  # now only the C form holds the tuple with Dropped
    assert int(mm.virt_to_page(new, PAGE_OFFSET)) == mem_map  # lets the old tuple go
    assert inner == [mem_map]


@needs_c
def test_walks_are_freed_whole_and_made_whole_again(image_set: dict[str, Path]) -> None:
    """The walks FollowPte makes are freed by the C forms (light_slots): what a walk
    holds is let go, and the walks made after it in its memory are whole."""
    fast, slow = _pair(image_set["demo"])
    a = next(for_each_vm_area(fast)).addr.value_()
    vaddr = int(str(a + 0x10))  # an int of its own, whose references are counted
    before = sys.getrefcount(vaddr)
    walks = [fast.follow_pte(vaddr) for _ in range(100)]
    assert sys.getrefcount(vaddr) == before + 100
    del walks
    assert sys.getrefcount(vaddr) == before
    for v in (a, a + PAGE, PAGE_OFFSET + 0x2345, 0xFFFFF000):
        assert repr(fast.follow_pte(v)) == repr(slow.follow_pte(v))
        assert str(fast.follow_pte(v, fast.swapper_pg_dir)) == str(slow.follow_pte(v))


@needs_c
def test_numbers_taken_from_dropped_pages_stay_as_they_were() -> None:
    """The ints that were the values of dropped ``struct page *`` objects are made into
    the next ones' values only when nothing else holds them: a value taken out of a page
    (and kept past the page) keeps its number while the helper makes thousands more."""
    from vmintro.helpers import page_to_pfn, virt_to_page

    k, _areas = standard("pse")
    fast = k.program()
    slow = Program(fast.backend, accelerated=False)
    pages = [PAGE_OFFSET + n * PAGE for n in range(2000)]
    expected = [virt_to_page(slow, a).value_() for a in pages]
    kept: list[int] = []
    for a in pages:
        page = virt_to_page(fast, a)
        kept.append(page.value_())  # the page's own int, still held once the page goes
        virt_to_page(fast, a + PAGE)  # made and dropped at once: its int may be kept
    assert kept == expected
    assert [page_to_pfn(virt_to_page(fast, a)) for a in pages] == list(range(2000))
    held = [virt_to_page(fast, a) for a in pages]  # each with an int of its own
    assert [p.value_() for p in held] == expected


@needs_c
def test_tracemalloc_sees_a_helpers_int_made_where_the_helper_was_called() -> None:
    """An int handed out again from the memory of one that went with a dropped Object
    is, to tracemalloc, an object made by the call that returned it (as CPython's own
    free lists tell it), not by the call that made the int before."""
    import tracemalloc

    from vmintro.helpers import virt_to_page

    k, _areas = standard("pse")
    prog = k.program()
    tracemalloc.start()
    try:
        # more pages at once than the ints kept for reuse (256): the last ones' ints
        # are allocated while tracing, and dropped first (pop), they are the ones kept
        held = [virt_to_page(prog, PAGE_OFFSET + n * PAGE) for n in range(600)]
        made = tracemalloc.get_object_traceback(held[-1].value_())
        while held:
            held.pop()
        page = virt_to_page(prog, PAGE_OFFSET)  # the line tracemalloc must name
        line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
        trace = tracemalloc.get_object_traceback(page.value_())
    finally:
        tracemalloc.stop()
    assert made is not None and trace is not None
    assert (
        (trace[0].filename, trace[0].lineno)
        == (__file__, line)
        != (
            made[0].filename,
            made[0].lineno,
        )
    )
