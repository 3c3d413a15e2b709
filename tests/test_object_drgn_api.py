"""drgn's object API on vmintro's objects: format_() against drgn's own output on the
same image, dereference_(), sizeof(), iteration, list_for_each_entry and helpers that
take an Object where drgn's do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from oracles import import_oracle

import vmintro
from vmintro.helpers import (
    for_each_slab_cache,
    list_for_each_entry,
    vmalloc_to_page,
    vmalloc_to_pfn,
)
from vmintro.object import sizeof
from vmintro.types.model import Array, Base, Field, Function, Pointer

ROOT = Path(__file__).resolve().parent
DEMO = ROOT.parent / "images" / "demo"


@pytest.fixture(scope="module")
def prog():
    return vmintro.open(DEMO)


def _eval(prog, path: str):
    root = path.split(".")[0].split("[")[0]
    obj = prog[root]
    rest = path[len(root) :]
    return eval(f"obj{rest}") if rest else obj  # noqa: S307 - the paths of drgn_format.py


def test_format_is_what_drgn_prints(prog) -> None:
    import_oracle("drgn")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "drgn_format.py"), f"{DEMO}.vmcore", f"{DEMO}.vmlinux"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    cases = json.loads(proc.stdout)
    assert len(cases) >= 10
    for path, options, text in cases:
        assert _eval(prog, path).format_(**options) == text, (path, options)


def test_dereference_sizeof_and_iteration(prog) -> None:
    vmlist = prog["vmlist"]
    area = vmlist.dereference_()
    assert area.address_ == vmlist.value_() and area.type_.c_name == "struct vm_struct"
    assert sizeof(vmlist) == 4 and sizeof(area) == 16
    assert sizeof(prog.type("struct page")) == prog.type("struct page").size
    with pytest.raises(TypeError):
        sizeof(prog.type("void"))
    with pytest.raises(TypeError):
        iter(vmlist)  # a pointer has no end: drgn refuses to iterate it
    assert len(list(prog["zone_table"])) == 3
    with pytest.raises(ValueError):
        area.format_(integer_base=3)


def test_list_for_each_entry_walks_the_cache_chain(prog) -> None:
    head = prog["cache_cache"].next.address_of_()
    caches = [int(c) for c in list_for_each_entry("kmem_cache_t", head, "next")]
    # the chain, without its head (cache_cache itself), is what for_each_slab_cache adds
    assert caches == [int(c) for c in for_each_slab_cache(prog)][1:]
    assert all(
        c.type_.c_name == "kmem_cache_t *"
        for c in list_for_each_entry("kmem_cache_t", head, "next")
    )


def test_vmalloc_helpers_take_an_object_as_drgns_do(prog) -> None:
    area = prog["vmlist"]
    addr = area.addr
    assert vmalloc_to_pfn(prog, addr) == vmalloc_to_pfn(prog, addr.value_())
    assert int(vmalloc_to_page(prog, addr)) == int(vmalloc_to_page(prog, addr.value_()))


def test_prog_variable_and_object_are_objects(prog) -> None:
    from vmintro.errors import ObjectNotFoundError

    vmlist = prog.variable("vmlist")
    assert repr(vmlist) == f"Object(prog, 'struct vm_struct *', address={vmlist.address_:#x})"
    assert vmlist.address_ == prog.symbol("vmlist").address
    assert prog.object("vmlist").value_() == prog["vmlist"].value_() == vmlist.value_()
    with pytest.raises(ObjectNotFoundError):
        prog.variable("no_such_variable")


def test_volatile_members_are_spelled_as_drgn_names_them() -> None:
    """The qualifier where drgn puts it: before a scalar, after a pointer's ``*``
    (the pointer is volatile, not what it points at), on an array's elements."""
    drgn = import_oracle("drgn")
    d = drgn.Program(drgn.host_platform)
    volatile = drgn.Qualifiers.VOLATILE
    our_int, drgn_int = Base("int", 4, True), d.int_type("int", 4, True)
    cases = [
        (d.int_type("int", 4, True, qualifiers=volatile), our_int),
        (d.pointer_type(drgn_int, qualifiers=volatile), Pointer(our_int)),
        (d.array_type(d.int_type("int", 4, True, qualifiers=volatile), 3), Array(our_int, 3)),
        (
            d.array_type(d.pointer_type(drgn_int, qualifiers=volatile), 3),
            Array(Pointer(our_int), 3),
        ),
        (
            d.pointer_type(d.function_type(drgn_int, ()), qualifiers=volatile),
            Pointer(Function(our_int)),
        ),
    ]
    for theirs, ours in cases:
        assert Field("m", ours, 0, volatile=True).spell() == theirs.type_name()
