"""The timeline file format: a timeline comes back as it went in, the same bytes
every time, and a damaged or hostile file is refused in one line before it can
make the reader allocate more than the file could hold."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import replace

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmintro.image.format.timeline import (
    MAGIC,
    NAME_MAX,
    RESULT_TEXT_MAX,
    WRITE_DTYPE,
    ZERO,
    Entry,
    Result,
    Timeline,
    TimelineFormatError,
    decode_timeline,
    encode_timeline,
    timeline_encoder,
)

RAM = 16 << 20
DIGEST = hashlib.sha256(b"core").digest()
PATH = ("vmalloc", "__vmalloc", "vmalloc_area_pages", "alloc_area_pmd", "alloc_area_pte", "set_pte")


def _sample() -> Timeline:
    data = b"\x63\x10\x20\x00" + b"\x01\x02"
    writes = numpy.array(
        [
            (1, 0, 0x20, 0x10, 4, ZERO, 0),
            (1, 1, 0xFFF, 0xFFE, 2, ZERO, 4),
            (2, 0, 0x20, 0x10, 4, 0, ZERO),
        ],
        WRITE_DTYPE,
    )
    entries = (
        Entry(0, 0, "start_kernel", (), Result("void", None, None), 0, 0),
        Entry(1, 1, "vmalloc", (("size", 8192),), Result("address", 0xD0800000, None), 0, 2),
        Entry(2, 2, "vfree", (("addr", 0xD0800000),), Result("void", None, None), 2, 1),
        Entry(
            3,
            3,
            "sys_swapon",
            (("specialfile", "/dev/hda2"), ("swap_flags", 0)),
            Result("errno", -12, "ENOMEM"),
            3,
            0,
        ),
        Entry(
            4, 4, "fault", (("kind", "scribble"),), Result("oops", None, "Unable to \x1b[2J"), 3, 0
        ),
    )
    return Timeline(entries, (PATH, ("vmalloc", "__free_pages")), writes, data, RAM, DIGEST)


def _same(a: Timeline, b: Timeline) -> None:
    assert a.entries == b.entries and a.paths == b.paths
    assert a.writes.tobytes() == b.writes.tobytes() and a.data == b.data
    assert (a.ram_size, a.core_digest) == (b.ram_size, b.core_digest)


def test_round_trip_and_bytes() -> None:
    t = _sample()
    raw = encode_timeline(t)
    assert raw.startswith(MAGIC)
    back = decode_timeline(raw)
    _same(t, back)
    assert encode_timeline(back) == raw
    assert back.old_bytes(0) == bytes(4) and back.new_bytes(0) == b"\x63\x10\x20\x00"
    assert back.new_bytes(1) == b"\x01\x02" and back.old_bytes(2) == b"\x63\x10\x20\x00"
    assert back.new_bytes(2) == bytes(4)


def _reseal(raw: bytes) -> bytes:
    """``raw`` with its checksum made right again: damage only the checks below can catch."""
    head, body = raw[:100], raw[132:]
    return head + hashlib.sha256(head + body).digest() + body


def _rebuild(t: Timeline, **sections: bytes) -> bytes:
    """The file of ``t`` with some sections' inflated bytes replaced, sealed right."""
    raw = encode_timeline(t)
    fields = list(struct.unpack_from("<8sHHQ32sIIII8I32s", raw))
    sizes = fields[9:17]
    body, at, parts = raw[132:], 0, []
    for i, name in enumerate(("entries", "paths", "writes", "data")):
        part = body[at : at + sizes[2 * i]]
        at += sizes[2 * i]
        if name in sections:
            inflated = sections[name]
            part = zlib.compress(inflated)
            sizes[2 * i + 1] = len(inflated)
        sizes[2 * i] = len(part)
        parts.append(part)
    fields[9:17] = sizes
    return _reseal(struct.pack("<8sHHQ32sIIII8I32s", *fields)[:100] + bytes(32) + b"".join(parts))


def _entries_with(first: str) -> bytes:
    """The sample's entries section with entry 0 replaced by the JSON ``first``."""
    rest = (
        '[1,"vmalloc",[["size",8192]],["address",3498049536,null],0,2],'
        '[2,"vfree",[["addr",3498049536]],["void",null,null],2,1],'
        '[3,"sys_swapon",[],["errno",-12,"ENOMEM"],3,0],[4,"fault",[],["oops",null,"x"],3,0]'
    )
    return f"[{first},{rest}]".encode()


def _writes_with(**change: int) -> bytes:
    w = _sample().writes.copy()
    for field, value in change.items():
        w[field][1] = value
    return b"".join(w[f].tobytes() for f in WRITE_DTYPE.names)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda r: r[:-1], "truncated"),
        (lambda r: r[:50], "truncated"),
        (lambda r: r + b"\0", "padded"),
        (lambda r: b"XX" + r[2:], "magic"),
        (lambda r: r[:8] + b"\2\0" + r[10:], "version 2"),
        (lambda r: r[:200] + bytes([r[200] ^ 1]) + r[201:], "checksum"),
        (lambda r: r[:15] + bytes([r[15] ^ 0x40]) + r[16:], "checksum"),
        (lambda r: _reseal(r[:12] + struct.pack("<Q", 5000) + r[20:]), "RAM size"),
        (lambda r: _reseal(r[:12] + struct.pack("<Q", 1 << 40) + r[20:]), "RAM size"),
        # a section declaring far more than its bytes could inflate to
        (lambda r: _reseal(r[:72] + struct.pack("<I", 1 << 31) + r[76:]), "impossible size"),
        # the write count disagreeing with the writes section
        (lambda r: _reseal(r[:60] + struct.pack("<I", 1 << 30) + r[64:]), "impossible size"),
        (lambda r: _reseal(r[:52] + struct.pack("<I", 9) + r[56:]), "header declares"),
    ],
)
def test_damage_is_refused_in_one_line(damage, words) -> None:
    with pytest.raises(TimelineFormatError) as e:
        decode_timeline(damage(encode_timeline(_sample())))
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("sections", "words"),
    [
        ({"writes": _writes_with(pfn=RAM // 4096)}, "outside RAM"),
        ({"writes": _writes_with(offset=4000, length=200)}, "crosses its page"),
        ({"writes": _writes_with(length=0)}, "crosses its page"),
        ({"writes": _writes_with(entry=2)}, "not in the entry"),
        ({"writes": _writes_with(path=2)}, "names no call path"),
        ({"writes": _writes_with(new=5)}, "outside the data"),
        ({"entries": b"[[0"}, "bad entries"),
        ({"entries": b"[" * 100000}, "bad entries"),
        ({"entries": b"[]"}, "declares"),
        (
            {"entries": _entries_with('[0,"start_kernel",[],["void",null,null],0,1]')},
            "do not follow",
        ),
        (
            {"entries": _entries_with('[0,"start_kernel",[],["void",null,null],1,0]')},
            "do not follow",
        ),
        ({"entries": _entries_with('[0,"a b",[],["void",null,null],0,0]')}, "impossible"),
        (
            {"entries": _entries_with('[0,"boot",[],["address",null,null],0,0]')},
            "impossible result",
        ),
        ({"entries": _entries_with('[0,"boot",[],["void",true,null],0,0]')}, "not an integer"),
        ({"paths": b'[["a"],[[0],[1]]]'}, "out of range"),
        ({"paths": b'[["a\\n"],[[0],[0]]]'}, "not a list of function names"),
        ({"data": b"\xff" * 100}, "impossible size"),
    ],
)
def test_inconsistent_contents_are_refused(sections, words) -> None:
    with pytest.raises(TimelineFormatError) as e:
        decode_timeline(_rebuild(_sample(), **sections))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_zip_bomb_is_not_inflated() -> None:
    """A section that inflates past its declared size stops at that size."""
    data = _sample().data  # all the records reference, and 50 MiB more
    bomb = zlib.compress(data + bytes(50 << 20))
    raw = _rebuild(_sample())
    fields = list(struct.unpack_from("<8sHHQ32sIIII8I32s", raw))
    body = raw[132 : 132 + sum(fields[9:15:2])] + bomb
    fields[15], fields[16], fields[8] = len(bomb), len(data), len(data)
    with pytest.raises(TimelineFormatError, match=f"does not inflate to the {len(data)} bytes"):
        decode_timeline(
            _reseal(struct.pack("<8sHHQ32sIIII8I32s", *fields)[:100] + bytes(32) + body)
        )


def test_encoder_for_a_digest_known_later_writes_the_same_bytes() -> None:
    """timeline_encoder compresses before the core's digest is known (the generator
    writes the core meanwhile): the file is encode_timeline's with that digest."""
    t = _sample()
    encode = timeline_encoder(Timeline(t.entries, t.paths, t.writes, t.data, RAM, bytes(32)))
    assert encode(DIGEST) == encode_timeline(t)
    assert decode_timeline(encode(DIGEST)).core_digest == DIGEST
    with pytest.raises(ValueError, match="not a SHA-256"):
        encode(DIGEST[:31])


def test_encode_refuses_what_decode_would() -> None:
    t = _sample()
    broken = Timeline(t.entries, t.paths, t.writes[:2], t.data, t.ram_size, t.core_digest)
    for encode in (encode_timeline, timeline_encoder):
        with pytest.raises(ValueError, match=r"writes 2\+1 do not follow"):
            encode(broken)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 10**6))
def test_random_damage_never_escapes(junk: bytes, where: int) -> None:
    raw = encode_timeline(_sample())
    at = where % len(raw)
    for candidate in (junk, raw[:at] + junk + raw[at + len(junk) :], _reseal(raw[:at] + junk)):
        try:
            decode_timeline(candidate)
        except TimelineFormatError as e:
            assert "\n" not in str(e)


def _refused(entries: bytes) -> str:
    """The one line decode_timeline refuses the sample with ``entries`` in."""
    with pytest.raises(TimelineFormatError) as e:
        decode_timeline(_rebuild(_sample(), entries=entries))
    assert "\n" not in str(e.value)
    return str(e.value)


def _with_entry(t: Timeline, number: int, **change: object) -> Timeline:
    entries = list(t.entries)
    entries[number] = replace(entries[number], **change)
    return replace(t, entries=tuple(entries))


@pytest.mark.parametrize(
    ("first", "words"),
    [
        ('["int",1000000000000000000000000000000,null]', "result (a 31-digit number) does not"),
        ('["address",4294967296,null]', "result 4294967296 does not fit 32 bits"),
        ('["errno",-2147483649,"E"]', "result -2147483649 does not fit 32 bits"),
    ],
)
def test_a_result_beyond_32_bits_is_refused(first: str, words: str) -> None:
    """An i386 kernel call returns one 32-bit register, signed or unsigned."""
    assert f"entry 0: {words}" in _refused(_entries_with(f'[0,"start_kernel",[],{first},0,0]'))
    edge = _with_entry(_sample(), 1, result=Result("address", 2**32 - 1, None))
    assert decode_timeline(encode_timeline(edge)).entries[1].result.value == 2**32 - 1


def test_an_argument_beyond_32_bits_is_refused() -> None:
    flags = '[["clone_flags",1000000000000000000000000000000]]'
    entry = f'[0,"start_kernel",{flags},["void",null,null],0,0]'
    assert "entry 0: argument clone_flags (a 31-digit number) does not fit 32 bits" in _refused(
        _entries_with(entry)
    )
    big = _with_entry(_sample(), 1, args=(("size", 1 << 32),))
    with pytest.raises(ValueError, match="entry 1: argument size 4294967296 does not fit 32 bits"):
        encode_timeline(big)
    edge = _with_entry(_sample(), 1, args=(("size", 2**32 - 1), ("n", -(2**31))))
    assert decode_timeline(encode_timeline(edge)).entries[1].args == edge.entries[1].args


def test_entries_after_a_panic_or_a_hang_are_refused() -> None:
    """The simulator stops at a panic or a hang (2.4.20 spins there for ever): no
    entry follows one; one may be the last."""
    for kind in ("panic", "hang"):
        first = f'[0,"start_kernel",[],["{kind}",null,"Kernel panic: x"],0,0]'
        assert f"entry 1 follows entry 0's {kind}, after which" in _refused(_entries_with(first))
        with pytest.raises(ValueError, match=f"entry 3 follows entry 2's {kind}"):
            encode_timeline(_with_entry(_sample(), 2, result=Result(kind, None, "x")))
        last = _with_entry(_sample(), 4, result=Result(kind, None, "Kernel panic: x"))
        assert decode_timeline(encode_timeline(last)).entries[4].result.kind == kind


def test_an_argument_longer_than_any_call_takes_is_refused() -> None:
    """A string argument is a name the kernel copies from user space: 4096 bytes at most."""
    name = "m" * (5 << 20)
    entry = f'[0,"start_kernel",[["name_user","{name}"]],["void",null,null],0,0]'
    words = f"entry 0: argument name_user of {5 << 20} characters is longer than any call takes"
    assert words in _refused(_entries_with(entry))
    assert len(_refused(_entries_with(entry))) < 200
    longest = _with_entry(_sample(), 3, args=(("specialfile", "/" * 4096),))  # PATH_MAX
    assert decode_timeline(encode_timeline(longest)).entries[3].args[0][1] == "/" * 4096
    with pytest.raises(ValueError, match="argument specialfile of 4097 characters"):
        encode_timeline(_with_entry(_sample(), 3, args=(("specialfile", "/" * 4097),)))


def test_a_result_text_longer_than_the_kernel_prints_is_refused() -> None:
    """A result's text is a line the kernel printed (printk() formats into 1024 bytes),
    which the simulator's may have quote an argument in: RESULT_TEXT_MAX at most."""
    text = "E" * (5 << 20)
    entry = f'[0,"start_kernel",[],["bug",null,"{text}"],0,0]'
    words = f"entry 0: a result text of {5 << 20} characters is longer than any the kernel"
    assert words in _refused(_entries_with(entry))
    assert len(_refused(_entries_with(entry))) < 200
    most = "P" * RESULT_TEXT_MAX
    longest = _with_entry(_sample(), 4, result=Result("panic", None, most))
    assert decode_timeline(encode_timeline(longest)).entries[4].result.text == most
    with pytest.raises(ValueError, match=f"a result text of {RESULT_TEXT_MAX + 1} characters"):
        encode_timeline(_with_entry(_sample(), 4, result=Result("panic", None, most + "P")))
    for odd in ("5", "[]", "{}"):  # a text that is no string: refused, never a traceback
        assert _refused(_entries_with(f'[0,"start_kernel",[],["panic",null,{odd}],0,0]'))


def test_names_and_kinds_no_kernel_has_are_refused_without_being_repeated() -> None:
    """A call, argument or path name longer than NAME_MAX, or a result kind of any
    length that is none: refused in a line that gives its length, not the text."""
    huge = "a" * (5 << 20)
    for entry in (
        f'[0,"{huge}",[],["void",null,null],0,0]',
        f'[0,"start_kernel",[["{huge}",1]],["void",null,null],0,0]',
        f'[0,"start_kernel",[],["{huge}",null,null],0,0]',
    ):
        message = _refused(_entries_with(entry))
        assert f"(a text of {5 << 20} characters)" in message or "not a name" in message
        assert len(message) < 200
    name = "n" * NAME_MAX
    assert decode_timeline(encode_timeline(_with_entry(_sample(), 3, call=name))).entries[3].call
    with pytest.raises(ValueError, match=r"call \(a text of 129 characters\)"):
        encode_timeline(_with_entry(_sample(), 3, call=name + "n"))


def test_a_timeline_larger_once_read_than_half_the_memory_is_refused_before_inflating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """zlib lets a file of 1 GiB declare a terabyte: the declared sizes are weighed
    against this machine's memory first (made 4 KiB here), and nothing is inflated."""
    import vmintro.image.format.timeline as timeline

    raw = encode_timeline(_sample())
    inflated: list[str] = []
    real = timeline._inflate

    def spy(section: str, data: bytes | memoryview, size: int) -> bytes:
        inflated.append(section)
        return real(section, data, size)

    monkeypatch.setattr(timeline, "_inflate", spy)
    monkeypatch.setattr(timeline, "_host_memory", lambda: 4096)
    with pytest.raises(TimelineFormatError, match=r"^its sections would take [0-9.]+ MiB once "):
        decode_timeline(raw)
    assert inflated == []
    for memory in (1 << 30, None):  # enough, or a system that does not say
        monkeypatch.setattr(timeline, "_host_memory", lambda memory=memory: memory)
        assert len(decode_timeline(raw).entries) == len(_sample().entries)
    assert inflated == ["entries", "paths", "writes", "data"] * 2
