"""prog.at(n) over hand-made timelines: what it reads is the RAM a forward model had
after entry n (:mod:`handmade`: the writes applied in order, never undone), for
physical reads of whole frames and of reads across a frame boundary; the moments
are Programs of their own; and a timeline that is missing, damaged or another
image's is refused in one line while the image alone reads as before."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmintro.backends.image import ImageBackend
from vmintro.commands import run
from vmintro.helpers import for_each_vm_area
from vmintro.program import Program
from vmintro.timeline import NoTimelineError, TimelineError, blame, history, index
from vmintro.timeline.moments import prefetch, shown_moment

from .handmade import DEMO, PAGE, Plan, build, copy_image, write


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_image(DEMO, tmp_path_factory.mktemp("handmade"))


@pytest.fixture(scope="module")
def backend(image: Path) -> ImageBackend:
    return ImageBackend(image)


def _frames(backend: ImageBackend) -> list[int]:
    """Two adjacent frames near the end of RAM, and the frame of vmlist's page."""
    last = backend.facts().ram_size // PAGE - 1
    return [last - 2, last - 1]


writes_st = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, 1),
            st.integers(0, PAGE - 1),
            st.one_of(st.binary(min_size=1, max_size=64), st.just(b"\0" * 8)),
        ),
        max_size=6,
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=writes_st, boot_seed=st.binary(min_size=16, max_size=16))
@pytest.mark.parametrize("hot", [1, 1 << 30])
def test_every_moment_reads_what_the_forward_model_had(
    image: Path,
    backend: ImageBackend,
    monkeypatch: pytest.MonkeyPatch,
    hot: int,
    plan: list[list[tuple[int, int, bytes]]],
    boot_seed: bytes,
) -> None:
    # every frame reconstructed from its bytes' write history, or every one by undoing
    monkeypatch.setattr(index, "_HOT_RECORDS", hot)
    frames = _frames(backend)
    image_pages = {pfn: backend.read_phys(pfn * PAGE, PAGE) for pfn in frames}
    boot = {
        pfn: hashlib.shake_256(boot_seed + bytes([i])).digest(PAGE) for i, pfn in enumerate(frames)
    }
    # writes clipped to their frame, as the kernel's records are
    real: Plan = [
        [(frames[which], off, data[: PAGE - off]) for which, off, data in entry] for entry in plan
    ]
    made = build(Path(f"{image}.vmcore"), backend.facts().ram_size, image_pages, boot, real)
    write(image, made.timeline)
    prog = Program(backend)
    last = len(made.timeline.entries) - 1
    assert prog.moment == last
    for n, state in enumerate(made.states):
        moment = prog.at(n)
        assert moment.moment == n
        for pfn in frames:
            assert moment.read(pfn * PAGE, PAGE, physical=True) == state[pfn], (n, pfn)
        across = frames[0] * PAGE + PAGE - 5
        assert (
            moment.read(across, 10, physical=True) == state[frames[0]][-5:] + state[frames[1]][:5]
        )
    assert prog.at(last) is prog


def test_commands_and_helpers_read_the_moment(image: Path, backend: ImageBackend) -> None:
    # After boot vmlist is NULL (the forward model's frame has zeros there); entry 1
    # writes the image's frame: the areas of the image appear only at entry 1.
    prog = Program(backend)
    vmlist = prog.symbol("vmlist").address - prog.page_offset
    pfn, off = divmod(vmlist, PAGE)
    page = backend.read_phys(pfn * PAGE, PAGE)
    boot = bytearray(page)
    boot[off : off + 4] = bytes(4)
    made = build(Path(f"{image}.vmcore"), prog.ram_size, {pfn: page}, {pfn: bytes(boot)}, [])
    write(image, made.timeline)
    prog = Program(backend)
    at0 = prog.at(0)
    assert list(for_each_vm_area(at0)) == []
    assert len(list(for_each_vm_area(prog))) > 0
    assert str(run(at0, "p/x vmlist")).endswith("0x0")
    assert str(run(prog, "vmlist")) != str(run(at0, "vmlist"))
    # the write is blamed on entry 1 at the moment after it, on nothing before it
    w = blame(prog, prog.symbol("vmlist").address)
    assert w is not None and w.entry == 1 and w.new == page[off : off + 4]
    assert w.old == bytes(4) and w.path == made.timeline.paths[0]
    assert blame(at0, prog.symbol("vmlist").address) is None
    assert [h.entry for h in history(prog, vmlist, physical=True)] == [1]


def test_an_image_without_a_timeline_says_so(image: Path, backend: ImageBackend) -> None:
    Path(f"{image}.timeline").unlink(missing_ok=True)
    prog = Program(backend)
    assert prog.timeline is None and prog.moment is None
    with pytest.raises(NoTimelineError, match=r"no timeline: img\.timeline is not beside"):
        prog.at(0)
    with pytest.raises(NoTimelineError):
        history(prog, prog.symbol("vmlist").address)


def _damaged(image: Path, backend: ImageBackend, raw: bytes) -> tuple[Program, str]:
    Path(f"{image}.timeline").write_bytes(raw)
    prog = Program(backend)
    with pytest.raises(TimelineError) as e:
        prog.at(0)
    return prog, str(e.value)


def _good(image: Path, backend: ImageBackend) -> bytes:
    from vmintro.image.format.timeline import encode_timeline

    pfn = _frames(backend)[0]
    page = backend.read_phys(pfn * PAGE, PAGE)
    made = build(
        Path(f"{image}.vmcore"),
        backend.facts().ram_size,
        {pfn: page},
        {pfn: bytes(PAGE)},
        [[(pfn, 8, b"xy")]],
    )
    return encode_timeline(made.timeline)


def _outside_ram(raw: bytes) -> bytes:
    """The timeline of ``raw`` with its first write moved to the frame past RAM's end
    (the format module refuses to encode that: its check is switched off for it)."""
    from vmintro.image.format import timeline as fmt

    t = fmt.decode_timeline(raw)
    writes = t.writes.copy()
    writes["pfn"][0] = t.ram_size // PAGE
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fmt, "_validate", lambda *_: None)
        return fmt.encode_timeline(dataclasses.replace(t, writes=writes))


def _foreign(raw: bytes) -> bytes:
    """The same timeline, recorded for another core."""
    from vmintro.image.format.timeline import decode_timeline, encode_timeline

    t = decode_timeline(raw)
    return encode_timeline(dataclasses.replace(t, core_digest=hashlib.sha256(b"other").digest()))


def _bigger(raw: bytes) -> bytes:
    """The same timeline, of a machine with twice the RAM."""
    from vmintro.image.format.timeline import decode_timeline, encode_timeline

    t = decode_timeline(raw)
    return encode_timeline(dataclasses.replace(t, ram_size=t.ram_size * 2))


@pytest.fixture(scope="module")
def alone(image: Path) -> str:
    """What ``vmlist; check`` prints on the image without any timeline."""
    Path(f"{image}.timeline").unlink(missing_ok=True)
    prog = Program(ImageBackend(image))
    return str(run(prog, "vmlist")) + "\n" + str(run(prog, "check"))


@pytest.mark.parametrize(
    ("damage", "expect"),
    [
        (lambda raw: raw[: len(raw) // 2], "img.timeline: body is"),
        (lambda raw: raw[:200] + bytes([raw[200] ^ 0xFF]) + raw[201:], "img.timeline: checksum"),
        (lambda raw: b"", "img.timeline: not a timeline file"),
        (_outside_ram, "img.timeline: write 0 (entry 1, frame 0x4000+0x8, 2 bytes) is outside RAM"),
        (_foreign, "img.timeline does not belong to img.vmcore: it was recorded for a core"),
        (_bigger, "img.timeline does not belong to img.vmcore: it records 0x8000000 bytes of RAM"),
    ],
)
def test_a_damaged_or_foreign_timeline_is_refused_in_one_line(
    image: Path, backend: ImageBackend, alone: str, damage, expect: str
) -> None:
    raw = _good(image, backend)
    prog, message = _damaged(image, backend, damage(raw))
    expect = f"{image.parent}/{expect}"  # the timeline's path, as the image's gives it
    assert message.startswith(expect) and "\n" not in message
    # every use says the same, and the image alone reads as it did without a timeline
    with pytest.raises(TimelineError, match="^" + re.escape(expect)):
        _ = prog.timeline
    assert str(run(prog, "vmlist")) + "\n" + str(run(prog, "check")) == alone
    with pytest.raises(TimelineError, match="^" + re.escape(expect)):
        history(prog, prog.symbol("vmlist").address)


@pytest.mark.parametrize("kind", ["FIFO", "directory"])
def test_a_timeline_that_is_no_file_is_refused_not_waited_on(
    image: Path, backend: ImageBackend, alone: str, kind: str
) -> None:
    """A FIFO named NAME.timeline made the first goto wait for a writer forever."""
    path = Path(f"{image}.timeline")
    path.unlink(missing_ok=True)
    os.mkfifo(path) if kind == "FIFO" else path.mkdir()
    try:
        prog = Program(backend)
        expect = f"{path}: cannot read: is a {kind}, not a regular file"
        with pytest.raises(TimelineError, match="^" + re.escape(expect) + "$"):
            prog.at(0)
        assert str(run(prog, "vmlist")) + "\n" + str(run(prog, "check")) == alone
    finally:
        path.unlink() if kind == "FIFO" else path.rmdir()


def test_moments_are_programs_of_their_own(image: Path, backend: ImageBackend) -> None:
    Path(f"{image}.timeline").write_bytes(_good(image, backend))
    prog = Program(backend)
    a, b = prog.at(0), prog.at(2)
    assert prog.at(0) is a and a is not prog and b is prog  # entry 2 is the last: the image
    assert a._pages is not prog._pages and a.walker is not prog.walker
    assert a.at(2) is prog and a.moment == 0 and prog.moment == 2
    assert repr(a).endswith("at entry 0>") and repr(prog).endswith("at entry 2>")
    with pytest.raises(IndexError, match="no entry 3: the timeline has entries 0 to 2"):
        prog.at(3)


def test_prefetch_reads_the_timeline_in_the_background(
    image: Path, backend: ImageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "_HOT_RECORDS", 1)  # every frame's history built ahead
    Path(f"{image}.timeline").write_bytes(_good(image, backend))
    prog = Program(backend)
    assert shown_moment(prog) is None  # nothing read yet
    done = threading.Event()
    thread = prefetch(prog, done.set)
    assert thread is not None
    thread.join()
    assert done.is_set() and shown_moment(prog) == (2, 2)
    pfn = _frames(backend)[0]
    assert prog.at(1).read(pfn * PAGE + 8, 2, physical=True) == b"xy"  # entry 1's write
    assert prog.at(0).read(pfn * PAGE + 8, 2, physical=True) == bytes(2)
    # a damaged one: the background read says nothing, the first use says what is wrong
    Path(f"{image}.timeline").write_bytes(b"junk")
    prog = Program(backend)
    thread = prefetch(prog, lambda: None)
    assert thread is not None
    thread.join()
    assert shown_moment(prog) is None
    expect = f"{image}.timeline: not a timeline file"
    with pytest.raises(TimelineError, match="^" + re.escape(expect)):
        prog.at(0)
    Path(f"{image}.timeline").unlink()
    assert prefetch(Program(backend), lambda: None) is None


def test_the_write_index_orders_records_as_a_stable_sort_by_frame() -> None:
    """The radix order of the index is numpy's stable sort, frames past 65535 included."""
    import numpy as np

    from vmintro.timeline.index import _stable_argsort

    rng = np.random.default_rng(20)
    for top in (1, 300, 1 << 16, 1 << 20, 1 << 32):
        keys = rng.integers(0, top, 50_000, dtype=np.uint64).astype(np.uint32)
        assert (_stable_argsort(keys) == np.argsort(keys, kind="stable")).all()
    assert len(_stable_argsort(np.empty(0, np.uint32))) == 0
