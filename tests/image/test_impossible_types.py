"""Types no i386 kernel could have are refused when the vmlinux is loaded.

Before, a struct containing itself by value was accepted: ``check`` died with
a RecursionError and ``kmem -f`` or ``p *vmlist`` gave internal errors. The
writer emits whatever model it is given, so each impossible type is built
with the model classes, written as DWARF and read back; the demo's own
vmlinux is patched for the entry points.
"""

from __future__ import annotations

import io
import re
import struct
import subprocess
from pathlib import Path

import pytest
from hostile_files import (
    HANG_GUARD,
    assert_refused,
    copy_demo,
    patch_bytes,
    run_vmintro,
    struct_die,
)
from test_debuginfo import make_spec

from vmintro.image.reader.debuginfo import DebugInfoError, load_debuginfo
from vmintro.image.writer.vmlinux import build_vmlinux
from vmintro.types.kernel import KernelTypes
from vmintro.types.model import (
    Array,
    Base,
    CType,
    Field,
    LayoutError,
    Pointer,
    Struct,
    Typedef,
    Void,
    check_types,
)

ULONG = Base("unsigned long", 4, False)


def _self_direct() -> dict[str, CType]:
    s = Struct("loop")
    return {"struct loop": s.define_at([Field("me", s, 0)], 16)}


def _self_through_array() -> dict[str, CType]:
    s = Struct("loop")
    return {"struct loop": s.define_at([Field("many", Array(s, 2), 0)], 32)}


def _self_through_typedef() -> dict[str, CType]:
    s = Struct("loop")
    t = Typedef("loop_t", s)
    return {"struct loop": s.define_at([Field("x", ULONG, 0), Field("me", t, 4)], 8)}


def _through_another_struct() -> dict[str, CType]:
    a, b = Struct("a"), Struct("b")
    a.define_at([Field("b", b, 0)], 8)
    b.define_at([Field("n", ULONG, 0), Field("a", Array(Typedef("a_t", a), 1), 4)], 8)
    return {"struct a": a, "struct b": b}


def _typedef_cycle() -> dict[str, CType]:
    first = Typedef("first_t", Void())
    first.target = Typedef("second_t", first)
    return {"first_t": first}


def _struct_past_4g() -> dict[str, CType]:
    return {"struct huge": Struct("huge").define_at([Field("x", ULONG, 0)], 1 << 32)}


def _member_past_the_end() -> dict[str, CType]:
    return {"struct short": Struct("short").define_at([Field("x", ULONG, 40)], 8)}


def _array_overflow() -> dict[str, CType]:
    s = Struct("arr").define_at([Field("a", Array(Base("long long", 8, True), 1 << 29), 0)], 0)
    return {"struct arr": s}


def _deep_chain() -> dict[str, CType]:
    t: CType = ULONG
    for i in range(100):
        t = Typedef(f"t{i}", t)
    return {"t99": t}


def _wide_pointer() -> dict[str, CType]:
    return {"struct p": Struct("p").define_at([Field("p", Pointer(ULONG, 8), 0)], 8)}


IMPOSSIBLE = {
    "itself": (_self_direct, r"struct loop contains itself by value \(member me: struct loop\)"),
    "array": (_self_through_array, r"struct loop contains itself by value \(member many"),
    "typedef": (_self_through_typedef, r"struct loop contains itself by value \(member me: loop_t"),
    "two structs": (_through_another_struct, r"struct [ab] contains itself by value"),
    "typedef cycle": (_typedef_cycle, r"refers to itself"),
    "4 GiB struct": (_struct_past_4g, r"struct huge has size 0x100000000: larger than the 4 GiB"),
    "member past the end": (_member_past_the_end, r"member x at offset 0x28 \(4 bytes\) ends past"),
    "array overflow": (_array_overflow, r"array of 536870912 x 8 bytes: larger than the 4 GiB"),
    "deep chain": (_deep_chain, r"nested more than 64 deep"),
    "8-byte pointer": (_wide_pointer, r"has size 8: an i386 pointer is 4 bytes"),
}


@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_impossible_types_are_refused_naming_the_die(case: str) -> None:
    build, message = IMPOSSIBLE[case]
    kt = KernelTypes(False, False, by_name={"unsigned long": ULONG, **build()})
    kt.variables["vmlist"] = Pointer(ULONG)
    with pytest.raises(DebugInfoError, match=r"^bad DWARF in \.debug_info: ") as info:
        load_debuginfo(io.BytesIO(build_vmlinux(make_spec(kt))))
    text = str(info.value)
    assert "\n" not in text
    assert re.search(message, text), text
    if case != "typedef cycle":  # found while converting, by the DIE that closes the cycle
        assert "DIE 0x" in text and "impossible type" in text, text


def test_possible_types_pass() -> None:
    """Pointers to oneself, mutual pointers, empty structs and flexible arrays are C."""
    a, b = Struct("a"), Struct("b")
    a.define_at([Field("next", Pointer(a), 0), Field("b", Pointer(b), 4)], 8)
    b.define_at([Field("a", a, 0), Field("tail", Array(ULONG, 0), 8)], 8)
    empty = Struct("empty").define_at([], 0)
    check_types([a, b, empty, Typedef("spinlock_t", empty)])
    with pytest.raises(LayoutError, match="contains itself"):
        loop = Struct("loop")
        check_types([loop.define_at([Field("me", loop, 0)], 4)])


@pytest.fixture
def self_containing(tmp_path: Path) -> Path:
    """The demo image, its ``struct vm_struct`` member ``next`` retyped as the struct itself."""
    base = copy_demo(tmp_path, "loop")
    vmlinux = Path(f"{base}.vmlinux")
    die, members = struct_die(vmlinux, "vm_struct")
    patch_bytes(vmlinux, members["next"][0], struct.pack("<I", die))
    return base


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "p *vmlist", "{base}"],
        ["-c", "kmem -f", "{base}"],
        ["check", "{base}"],
        ["map", "{base}", "-o", "{out}"],
    ],
    ids=["p", "kmem", "check", "map"],
)
def test_entry_points_refuse_a_self_containing_struct(
    self_containing: Path, args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out.svg"
    proc = run_vmintro(*(a.format(base=self_containing, out=out) for a in args))
    assert_refused(
        proc, "loop.vmlinux: bad DWARF in .debug_info: DIE 0x", "struct vm_struct contains itself"
    )
    assert not out.exists()


def test_gdb_vm_refuses_a_self_containing_struct(
    gdb_loader: tuple[str, Path], self_containing: Path
) -> None:
    gdb, script = gdb_loader  # the file 'vmintro gdb-script' writes (tests/conftest.py)
    proc = subprocess.run(
        [gdb, "-batch", "-nx", "-x", str(script), f"{self_containing}.vmlinux",
         f"{self_containing}.vmcore", "-ex", "vm vmlist"],
        capture_output=True, text=True, timeout=HANG_GUARD,
    )  # fmt: skip
    if "vmintro needs" in proc.stderr:
        pytest.skip("gdb's Python lacks vmintro's dependencies")
    assert "Python Exception" not in proc.stderr and "Traceback" not in proc.stderr
    assert "loop.vmlinux: bad DWARF in .debug_info: DIE 0x" in proc.stderr
    assert "struct vm_struct contains itself by value" in proc.stderr


def test_library_refuses_the_patched_vmlinux(self_containing: Path) -> None:
    import vmintro
    from vmintro.backends.image import ImageError

    with pytest.raises(ImageError, match="contains itself by value"):
        vmintro.open(self_containing)
