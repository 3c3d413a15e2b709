"""The buddy allocator's ``rmqueue`` and ``__free_pages_ok`` merge in C
(``vmintro._simspeedups.buddy_rmqueue``/``buddy_free``) and in Python
(``vmintro/sim/buddy.py``, which defines what the C form does): the same calls on
two copies of one booted machine, each recording its writes, must return the same
pages, raise the same errors in the same words, leave the same RAM and log the same
writes with the same call paths, on sound free lists and on corrupted ones (a list
is followed as it is in memory).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from cform import require_c_form
from rawmem import MAX_ORDER, machine, ram_snapshot

from vmintro.accel import simspeedups
from vmintro.sim.boot import Kernel
from vmintro.sim.recorder import Recorder, recording
from vmintro.types.flags import GFP_DMA, GFP_HIGHMEM, GFP_KERNEL, GFP_USER

require_c_form()

GFP_ATOMIC = 0x20  # no __GFP_WAIT: the watermark pass at pages_min / 4
MASKS = (GFP_KERNEL, GFP_ATOMIC, GFP_USER | GFP_HIGHMEM, GFP_KERNEL | GFP_DMA)
Run = Callable[[Kernel], list[object]]


def _outcome(call: Callable[..., Any], *args: object) -> object:
    try:
        return ("value", call(*args))
    except Exception as e:  # the same error, in the same words
        return ("error", type(e).__name__, str(e))


class _Machine:
    """A booted machine to copy, and what to do to each copy first."""

    def __init__(self, prepare: Callable[[Kernel], None] = lambda k: None, **args: Any) -> None:
        self.args = args
        self.prepare = prepare


def _both(m: _Machine, run: Run) -> tuple[list[object], bytes]:
    """``run`` on a copy of machine ``m`` with the C form and on one with the Python
    form, recording; everything they did must agree."""
    seen = []
    for form in ("C", "Python"):
        copy = machine(**m.args)
        m.prepare(copy)
        if form == "Python":
            copy.buddy.c_form = None
        else:
            assert copy.buddy.c_form is not None, "the C form is not in use"
        rec = Recorder(copy.config.ram)
        with recording(copy.mem, rec):
            results = run(copy)
        log = rec.writes
        seen.append(
            (
                results,
                ram_snapshot(copy),
                bytes(log.records),
                bytes(log.data),
                dict(rec._paths),
                [(e.call, e.args, e.result) for e in rec._entries],
            )
        )
    c, py = seen
    assert c[0] == py[0]  # what each call returned or raised
    assert c[1] == py[1]  # RAM
    assert c[2:] == py[2:]  # the writes, their bytes, call paths and entries
    return c[0], c[2]


def _traffic(seed: int, calls: int = 300) -> Run:
    """Allocations of orders 0 to 4 from each zone class and frees of what was
    allocated, in an order drawn from ``seed``."""

    def run(k: Kernel) -> list[object]:
        rng = random.Random(seed)
        held: list[tuple[int, int]] = []
        results: list[object] = []
        for _ in range(calls):
            if held and rng.random() < 0.45:
                page, order = held.pop(rng.randrange(len(held)))
                results.append(_outcome(k.buddy.free_pages, page, order))
            else:
                gfp = rng.choice(MASKS)
                order = rng.choice((0, 0, 0, 1, 2, 3, 4))
                got = _outcome(k.buddy.alloc_pages, gfp, order)
                results.append(got)
                if got[0] == "value" and got[1]:  # type: ignore[index]
                    held.append((got[1], order))  # type: ignore[index]
        return results

    return run


@pytest.mark.parametrize(
    "args", [dict(ram_mib=16), dict(ram_mib=48, pae=True)], ids=["16M", "48M-pae"]
)
@pytest.mark.parametrize("seed", [1, 2])
def test_traffic_agrees(args: dict[str, Any], seed: int) -> None:
    results, writes = _both(_Machine(**args), _traffic(seed))
    assert writes and all(r[0] == "value" for r in results)  # type: ignore[index]


def _free_head(k: Kernel, order: int, zone: int = 0) -> int:
    return k.buddy.free_list(k.buddy.zones[zone], order)


# Free list heads pointing where a corrupted kernel's might: NULL, outside the direct
# map (the page tables say, or it faults), at the head itself of another order, into
# the middle of a page, past the end of RAM's direct map.
SCRIBBLES = [0, 0xF000_0000, 0xC000_0002, 0xC000_0FFE, 0xFFFF_FFFC, 0x1234]


@pytest.mark.parametrize("value", SCRIBBLES, ids=[f"{v:#x}" for v in SCRIBBLES])
def test_corrupted_free_list_is_followed_alike(value: int) -> None:
    def scribble(k: Kernel) -> None:
        for order in range(MAX_ORDER):
            k.w32(_free_head(k, order), value)

    def run(k: Kernel) -> list[object]:
        return [_outcome(k.buddy.alloc_pages, GFP_KERNEL, order) for order in (0, 2, 9)]

    results, _ = _both(_Machine(scribble, ram_mib=16), run)
    assert any(r[0] == "error" for r in results)  # type: ignore[index]


def test_corrupted_bitmap_and_page_are_followed_alike() -> None:
    """A free that finds its buddy's bit set merges with whatever that buddy's list
    says; a page whose zone bits are wrong, or whose index does not fit its order."""

    def scribble(k: Kernel) -> None:
        for order in range(MAX_ORDER - 1):
            bitmap = k.r32(_free_head(k, order) + k.buddy.o_map)
            k.write(bitmap, b"\xff" * 16)

    def run(k: Kernel) -> list[object]:
        b = k.buddy
        out: list[object] = []
        for order in (0, 1, 3):
            got = _outcome(b.alloc_pages, GFP_KERNEL, order)
            out.append(got)
            if got[0] == "value" and got[1]:  # type: ignore[index]
                page = got[1]  # type: ignore[index]
                out.append(_outcome(b.free_pages, page, order))
        page = b.alloc_pages(GFP_KERNEL, 0)
        assert page
        out.append(_outcome(b.free_pages_ok, page, 1))  # page_idx & ~mask, maybe
        k.w32(page + b.o_flags, 0xFF00_0000)  # zone_table[255]: past the table
        out.append(_outcome(b.free_pages_ok, page, 0))
        return out

    _both(_Machine(scribble, ram_mib=16), run)


def test_watermark_pass_goes_on_as_in_python() -> None:
    """__alloc_pages' first pass: a zone whose free_pages says yes but whose lists are
    empty gives nothing (rmqueue's NULL) and the pass goes on down the zonelist; a
    zone short of its watermark is passed over; no zone at all fails the pass and the
    slow path runs; a zonelist entry pointing where nothing maps faults."""

    def lie(k: Kernel) -> None:
        b = k.buddy
        normal = b.zones[1]
        for order in range(MAX_ORDER):  # empty lists, plenty of free pages said
            head = b.free_list(normal, order)
            k.w32(head, head)
            k.w32(head + 4, head)
        k.w32(normal + b.o_free_pages, 1 << 20)
        k.w32(b.zones[0] + b.o_free_pages, 3)  # DMA: under its pages_low

    def run(k: Kernel) -> list[object]:
        b = k.buddy
        out = [_outcome(b.alloc_pages, mask, order) for mask in MASKS for order in (0, 3)]
        k.w32(b.zones[0] + b.o_free_pages, 1 << 20)  # DMA says yes again
        out += [_outcome(b.alloc_pages, mask, 1) for mask in MASKS]
        zonelist = b._zonelists + (GFP_KERNEL & 0xF) * b._zonelist_size
        k.w32(zonelist, 0)  # no zones
        out.append(_outcome(b.alloc_pages, GFP_KERNEL, 0))
        k.w32(zonelist, 0xF000_0000)  # a zone nothing maps
        out.append(_outcome(b.alloc_pages, GFP_KERNEL, 0))
        return out

    results, writes = _both(_Machine(lie, ram_mib=48, pae=True), run)
    assert writes and {r[0] for r in results} == {"value", "error"}  # type: ignore[index]
    assert ("value", None) in results


def test_refuses_what_it_cannot_hold() -> None:
    """Arguments the Python form never hands over are refused, not followed."""
    assert simspeedups is not None
    k = machine(16)
    b = k.buddy
    assert b.c_form is not None
    ram = b.c_form[0]
    for bad in ((ram, [], [], b._consts[:-1], 0, 0), ([], [], [], b._consts, 0, 0)):
        with pytest.raises(TypeError):
            simspeedups.buddy_rmqueue(*bad)
    for zone, order in ((-1, 0), (1 << 40, 0), (b.zones[1], -1), (b.zones[1], MAX_ORDER)):
        with pytest.raises(ValueError):
            simspeedups.buddy_rmqueue(ram, [], [], b._consts, zone, order)
        with pytest.raises(ValueError):
            simspeedups.buddy_free(ram, [], [], b._consts, zone, order)
    claim = (lambda e, name: None, KeyError)
    for bad_args in ((b._zonelists, 0, -4, *claim), (b._zonelists, 0, 8, claim[0], 3)):
        with pytest.raises((TypeError, ValueError)):
            simspeedups.buddy_alloc(ram, [], [], b._consts, *bad_args)
