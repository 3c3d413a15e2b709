"""Simulated RAM's reads, writes, scalar loads and stores and the write log, in C
(``vmintro._simspeedups.Ram``/``WriteLog``) and in Python (``vmintro/sim/physmem.py``'s
``_PythonRam``, ``vmintro/sim/recorder.py``'s ``WriteLog``), which defines what the C
form does: the same sequence of accesses, anywhere (inside a page, across page
boundaries, at RAM's end, outside it, at a negative or huge address), any value, must
leave the same RAM, return the same values, raise the same errors and log the same
writes with the same call paths.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cform import require_c_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vmintro.sim.physmem as physmem_mod
import vmintro.sim.recorder as recorder_mod
from vmintro.accel import simspeedups
from vmintro.arch.x86 import PAGE_OFFSET
from vmintro.sim.errors import CALL_PATH
from vmintro.sim.physmem import PhysMem, PhysMemError
from vmintro.sim.recorder import Recorder

require_c_form()

RAM = 3 * 4096
WIDTHS = (8, 16, 32, 64)


def _forms(monkeypatch: pytest.MonkeyPatch) -> tuple[PhysMem, Recorder, PhysMem, Recorder]:
    """(C RAM, its recorder, Python RAM, its recorder), each recording."""
    c_mem, c_rec = PhysMem(RAM), Recorder(RAM)
    with monkeypatch.context() as m:
        m.setattr(physmem_mod, "simspeedups", None)
        m.setattr(recorder_mod, "simspeedups", None)
        py_mem, py_rec = PhysMem(RAM), Recorder(RAM)
    assert c_mem._ram is not None and py_mem._ram is None
    assert type(c_rec.writes) is not type(py_rec.writes)
    for mem, rec in ((c_mem, c_rec), (py_mem, py_rec)):
        mem.recorder = rec.writes
    return c_mem, c_rec, py_mem, py_rec


def _outcome(call: object, *args: object) -> object:
    try:
        return ("value", call(*args))  # type: ignore[operator]
    except Exception as e:  # the same error, in the same words
        return (type(e).__name__, str(e))


ADDRESSES = st.one_of(
    st.integers(0, RAM - 1),
    st.sampled_from([4093, 4094, 4095, 4096, 8190, RAM - 8, RAM - 4, RAM - 1, RAM, -1, -4]),
    st.integers(-(2**70), 2**70),
)
VALUES = st.one_of(st.integers(0, 255), st.integers(-(2**70), 2**70), st.just(0))
ACCESS = st.tuples(
    st.sampled_from(["read", "write", "read bytes", "read into", "write bytes"]),
    st.sampled_from(WIDTHS),
    ADDRESSES,
    st.one_of(VALUES, st.binary(max_size=9000)),
    st.sampled_from([(), ("vfree",), ("vfree", "set_pte"), ("kmalloc",)]),
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ACCESS, max_size=40))
def test_loads_stores_and_log_agree(
    accesses: list[tuple[str, int, int, int | bytes, tuple[str, ...]]],
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        c_mem, c_rec, py_mem, py_rec = _forms(monkeypatch)
        for entry, (kind, bits, addr, value, path) in enumerate(accesses):
            CALL_PATH[:] = path
            try:
                if entry % 7 == 3:  # an entry point: later writes are the next entry's
                    c_rec.enter("vmalloc", (("size", entry),))
                    py_rec.enter("vmalloc", (("size", entry),))
                if kind == "read bytes":  # bits as a length, value's length too
                    n = bits * 97 if isinstance(value, int) else len(value)
                    c, p = _outcome(c_mem.read, addr, n), _outcome(py_mem.read, addr, n)
                elif kind == "read into":  # into a buffer of its own: what it holds after
                    n = bits * 97 if isinstance(value, int) else len(value)
                    outs = bytearray(n), bytearray(n)
                    c = _outcome(c_mem.read_into, addr, outs[0]), bytes(outs[0])
                    p = _outcome(py_mem.read_into, addr, outs[1]), bytes(outs[1])
                elif kind == "write bytes":
                    data = value if isinstance(value, bytes) else bytes([value & 0xFF]) * bits
                    c, p = _outcome(c_mem.write, addr, data), _outcome(py_mem.write, addr, data)
                elif isinstance(value, bytes):
                    continue
                elif kind == "read":
                    c = _outcome(getattr(c_mem, f"read_u{bits}"), addr)
                    p = _outcome(getattr(py_mem, f"read_u{bits}"), addr)
                else:
                    c = _outcome(getattr(c_mem, f"write_u{bits}"), addr, value)
                    p = _outcome(getattr(py_mem, f"write_u{bits}"), addr, value)
            finally:
                CALL_PATH.clear()
            assert c == p, (kind, bits, addr, value)
        assert c_mem._pages == py_mem._pages
        c_line, py_line = c_rec.timeline(bytes(32)), py_rec.timeline(bytes(32))
        assert c_line.writes.tobytes() == py_line.writes.tobytes()
        assert c_line.data == py_line.data
        assert c_line.paths == py_line.paths and c_line.entries == py_line.entries


def test_kernel_words_follow_the_direct_map_then_the_page_tables() -> None:
    """r32/w32 in C: the direct map inline, anything else through phys(), as in Python."""
    mem = PhysMem(RAM)
    assert mem._ram is not None
    asked: list[int] = []

    def phys(vaddr: int) -> int:
        asked.append(vaddr)
        return 4096 + (vaddr & 0xFFF)

    mem._ram.direct_map(PAGE_OFFSET + 4096, phys, {}, None)
    r32, w32 = mem._ram.r32, mem._ram.w32
    w32(PAGE_OFFSET + 8, 0x1_2345_6789)  # truncated to 32 bits, as the Python form does
    assert r32(PAGE_OFFSET + 8) == 0x2345_6789 and asked == []
    w32(0xD000_0010, 7)  # past high_memory: phys() says where
    assert asked == [0xD000_0010] and mem.read_u32(4096 + 0x10) == 7
    assert r32(2**80) == 0  # no C number: phys() is asked with the address itself
    assert asked[-1] == 2**80


def test_kernel_members_are_read_and_written_as_in_python() -> None:
    """get/set in C: a member's (offset, size) from the table, resolve() asked once on a
    miss, then the load or store of that size where r32/w32 would reach the address."""
    sizes = {("struct x", "count"): (4, 2)}
    resolved: list[tuple[str, str]] = []

    def resolve(typename: str, path: str) -> tuple[int, int]:
        resolved.append((typename, path))
        if path == "list":
            raise TypeError(f"{typename}.{path} is not a scalar member")
        found = sizes[typename, path] = (8, 8)
        return found

    mem = PhysMem(RAM)
    assert mem._ram is not None
    mem._ram.direct_map(PAGE_OFFSET + RAM, lambda vaddr: 4096 + (vaddr & 0xFFF), sizes, resolve)
    get, set_ = mem._ram.get, mem._ram.set
    set_(PAGE_OFFSET + 16, "struct x", "count", -1)  # a u16: truncated
    assert mem.read_u32(20) == 0xFFFF and get(PAGE_OFFSET + 16, "struct x", "count") == 0xFFFF
    set_(PAGE_OFFSET + 4090, "struct x", "big", 2**64 + 5)  # a u64 across two pages
    assert get(PAGE_OFFSET + 4090, "struct x", "big") == 5 and mem.read(4098, 8)[0] == 5
    assert resolved == [("struct x", "big")]  # asked once, then kept
    set_(0xD000_0000, "struct x", "count", 3)  # outside the direct map: phys() says
    assert mem.read_u16(4096 + 4) == 3
    with pytest.raises(TypeError, match="not a scalar"):
        get(PAGE_OFFSET, "struct x", "list")
    with pytest.raises(PhysMemError):
        get(PAGE_OFFSET + RAM - 12, "struct x", "big")  # its last 4 bytes past RAM


def test_a_copied_ram_is_a_ram_of_its_own() -> None:
    """A deep copy (a booted kernel copied for each test) takes its loads and stores,
    and those cached elsewhere, along to the copy."""
    mem = PhysMem(RAM)
    held: dict[str, Any] = {"mem": mem, "load": mem.read_u32, "store": mem.write_u32}
    mem.write_u32(16, 1)
    copied = copy.deepcopy(held)
    copied["store"](16, 2)
    assert copied["load"](16) == 2 == copied["mem"].read_u32(16)
    assert mem.read_u32(16) == 1


def test_a_ram_refuses_what_its_fast_paths_cannot_hold() -> None:
    """RAM is whole pages (a load inside one page checks only where it starts), and
    get/set need both the members' table and resolve(): a Ram made or restored
    otherwise is refused with an error, not read past its end or called through
    nothing."""
    assert simspeedups is not None

    def check(paddr: int, n: int) -> None:
        raise PhysMemError(f"{paddr:#x}+{n:#x} outside RAM")

    for size in (4097, -4096):
        with pytest.raises(ValueError, match="whole number of pages"):
            simspeedups.Ram({}, size, check)
    ram = simspeedups.Ram({}, RAM, check)
    with pytest.raises(TypeError, match="resolve"):
        ram.__setstate__((0, None, None, {}, None))
    with pytest.raises(TypeError, match="dict"):
        ram.__setstate__((0, None, None, [], lambda *a: (0, 4)))
