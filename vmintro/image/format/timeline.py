"""The ``NAME.timeline`` file: every write the simulated kernel made to RAM, by call.

An image is the kernel's last moment; its timeline says how it got there. The
generator records one *entry* per kernel entry point the workload called
(``vmalloc``, ``vfree``, ``sys_swapon``, ... or ``fault`` for an injected
fault), entry 0 being boot (``start_kernel``), which itemizes no writes: its
result is the RAM the first entry starts from. Each later entry lists every
write it made to simulated RAM, in the order the kernel made it: the frame, the
offset and length in it (a write is split at page boundaries), the bytes before
and after, and the kernel call path that made it, innermost last
(``vmalloc > __vmalloc > vmalloc_area_pages > alloc_area_pmd > alloc_area_pte >
set_pte``). Undoing the writes after entry ``n`` from the image's RAM, newest
first, gives the RAM just after entry ``n``.

This module is the one home of the format: :func:`encode_timeline` and
:func:`decode_timeline`, and the decoded :class:`Timeline`. It imports neither
the simulator nor the reader. The file is untrusted: :func:`decode_timeline`
checks everything that can be checked without the image and refuses any damage
with :class:`TimelineFormatError`, one line naming what is wrong and where.

File layout (version 1), all integers little-endian::

    offset size  field
         0    8  magic          b"\\x89VMTL\\r\\n\\x1a"
         8    2  version        1
        10    2  header size    132
        12    8  ram_size       bytes of RAM (a whole number of pages, at most 64 GiB)
        20   32  core_digest    SHA-256 of the NAME.vmcore this timeline belongs to
        52    4  entry count
        56    4  path count
        60    4  write count
        64    4  data size      bytes of the data section once inflated
        68   32  4 x (stored, raw) u32 pairs: each section's zlib-compressed size
                 in the file and its size once inflated, in section order
       100   32  checksum       SHA-256 of bytes 0..99 and of the whole body
       132       body: the four sections, each zlib-compressed, back to back

The sections, in order:

1. *entries*: UTF-8 JSON, a list with one item per entry ``[step, call, args,
   [kind, value, text], first_write, write_count]``, ``args`` a list of
   ``[name, value]`` (value an int or a string); the entry's number is its index.
2. *paths*: UTF-8 JSON ``[names, paths]``: ``names`` the kernel function names
   used, ``paths`` each call path as a list of indexes into ``names``.
3. *writes*: the write records (:data:`WRITE_DTYPE`, 24 bytes each) stored by
   column (every ``entry``, then every ``path``, ...), which compresses far
   better than record by record.
4. *data*: the old and new bytes the records point at, back to back. Bytes that
   are all zero are not stored: the record says :data:`ZERO` instead.

The same timeline always encodes to the same bytes (JSON with fixed separators,
zlib at level 1, data in record order). The sizes a file declares are
bounded before anything is inflated: each section's inflated size by what its
counts imply and by zlib's largest ratio over the bytes actually there, the
data section's also by the extent the write records reference, and inflation
stops at the declared size.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy

__all__ = [
    "ARG_TEXT_MAX",
    "HALTS",
    "MAGIC",
    "NAME_MAX",
    "RESULT_KINDS",
    "RESULT_TEXT_MAX",
    "STOPS",
    "VALUE_MAX",
    "VALUE_MIN",
    "VERSION",
    "WRITE_DTYPE",
    "ZERO",
    "Entry",
    "Result",
    "Timeline",
    "TimelineFormatError",
    "argument_fault",
    "decode_timeline",
    "encode_timeline",
    "timeline_encoder",
]

MAGIC = b"\x89VMTL\r\n\x1a"
VERSION = 1
PAGE_SIZE = 4096
# i386 with PAE addresses 36 bits of physical memory.
MAX_RAM = 1 << 36

WRITE_DTYPE = numpy.dtype(
    [
        ("entry", "<u4"),  # entry number (1..; entry 0 = boot has no itemized writes)
        ("path", "<u4"),  # index into Timeline.paths
        ("pfn", "<u4"),  # physical frame written (records never cross a page boundary)
        ("offset", "<u2"),  # byte offset in that frame
        ("length", "<u2"),  # bytes written (1..4096)
        ("old", "<u4"),  # offset of the old bytes in Timeline.data, or ZERO
        ("new", "<u4"),  # offset of the new bytes in Timeline.data, or ZERO
    ]
)
ZERO = 0xFFFFFFFF  # the bytes are all zero, and not stored

RESULT_KINDS = ("address", "null", "errno", "int", "void", "bug", "oops", "hang", "panic")
STOPS = ("bug", "oops", "hang", "panic")  # the results that are no return
# The results after which the machine runs nothing more: 2.4.20 spins for ever in a
# hang and in panic() (no panic_timeout), so a run stops there and a kernel resumed
# there takes no more calls.
HALTS = ("hang", "panic")
# Every number a kernel call takes or returns on i386 is one 32-bit register, read
# unsigned (an address, a size, a mask) or signed (-errno, a pid, an int): the
# simulator masks addresses to 32 bits and its sizes are unsigned longs.
VALUE_MIN = -(1 << 31)
VALUE_MAX = (1 << 32) - 1
# A string argument is a name the kernel copies from user space, which 2.4.20 takes
# only shorter than a page (get_mod_name) or PATH_MAX (getname), 4096 bytes; the
# simulator's are module, program and fault names, which its callers keep to that.
ARG_TEXT_MAX = 4096
# A result's text is what the kernel printed of it, one line: printk() and panic()
# format into 1024-byte buffers (kernel/printk.c printk_buf, kernel/panic.c buf). The
# simulator's (an errno's name, a BUG, oops, hang or panic line: a few hundred
# characters) may quote an argument, so a bound with room for one of those besides.
RESULT_TEXT_MAX = 1024 + ARG_TEXT_MAX
# Call and argument names are C identifiers of the kernel's functions and parameters
# (the simulator's longest is 17 characters): far shorter than this.
NAME_MAX = 128
# Kinds whose value is a number; the others carry none.
_VALUED = ("address", "errno", "int")

_HEADER = struct.Struct("<8sHHQ32sIIII8I32s")
_CHECKED = _HEADER.size - 32  # the header bytes the checksum covers, before it
_SECTIONS = ("entries", "paths", "writes", "data")
# zlib cannot inflate one byte to more than 1032 (deflate's longest match per
# two bits, plus the stream's few fixed bytes): a bound on what a file may declare.
_ZLIB_RATIO = 1032
_ZLIB_SLACK = 64
# Level 1: the columns compress nearly as well (5.8 against 6.7 MiB for 10,000
# calls) in less than half the time.
_LEVEL = 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")


class TimelineFormatError(ValueError):
    """A timeline file that is not one this version can read, or is damaged."""


@dataclass(frozen=True)
class Result:
    """What the kernel entry point returned, as the kernel returned it."""

    kind: str  # one of RESULT_KINDS
    value: int | None  # the address, the int, or the negative errno (-12)
    text: str | None  # errno name ("ENOMEM"), or the BUG()/oops/hang message printed


@dataclass(frozen=True)
class Entry:
    """One call of a kernel entry point by the workload (or boot, or a fault)."""

    number: int  # 0 = boot
    step: int  # scenario step (1-based); 0 for boot
    call: str  # "vmalloc", "vfree", "sys_swapon", ..., "fault"; "start_kernel" for boot
    args: tuple[tuple[str, int | str], ...]  # in the kernel's parameter names
    result: Result
    first_write: int  # index of its first record in Timeline.writes
    write_count: int


@dataclass(frozen=True, eq=False)
class Timeline:
    """A decoded timeline; ``writes`` is a :data:`WRITE_DTYPE` array in the
    order the kernel made them."""

    entries: tuple[Entry, ...]
    paths: tuple[tuple[str, ...], ...]  # call paths, innermost last
    writes: numpy.ndarray[Any, numpy.dtype[Any]]
    data: bytes
    ram_size: int
    core_digest: bytes

    def old_bytes(self, i: int) -> bytes:
        """Record ``i``'s bytes before the write."""
        return self._bytes(int(self.writes["old"][i]), int(self.writes["length"][i]))

    def new_bytes(self, i: int) -> bytes:
        """Record ``i``'s bytes after the write."""
        return self._bytes(int(self.writes["new"][i]), int(self.writes["length"][i]))

    def _bytes(self, at: int, length: int) -> bytes:
        return bytes(length) if at == ZERO else self.data[at : at + length]


def encode_timeline(t: Timeline) -> bytes:
    """The file bytes of ``t``; the same timeline gives the same bytes."""
    _validate(t, ValueError)
    raw = _sections(t)
    return _file(t, raw, _compressed(raw))


def timeline_encoder(t: Timeline) -> Callable[[bytes], bytes]:
    """``encode(digest)``: :func:`encode_timeline` of ``t`` with ``core_digest`` the
    SHA-256 ``digest``, for a writer that learns the digest of its core only once it
    has written the core. The sections are compressed meanwhile, in a thread (zlib
    lets go of the GIL while it works); the digest is only in the header."""
    _validate(t, ValueError)
    raw = _sections(t)
    pool = ThreadPoolExecutor(1)
    stored = pool.submit(_compressed, raw)
    pool.shutdown(wait=False)  # what was submitted goes on; nothing more is taken

    def encode(digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("core digest is not a SHA-256")
        return _file(replace(t, core_digest=digest), raw, stored.result())

    return encode


def _sections(t: Timeline) -> dict[str, bytes]:
    """The sections of ``t``, by name, as they are before compression."""
    names = sorted({name for path in t.paths for name in path})
    index = {name: i for i, name in enumerate(names)}
    raw = {
        "entries": _json(
            [
                [
                    e.step,
                    e.call,
                    [list(a) for a in e.args],
                    [e.result.kind, e.result.value, e.result.text],
                    e.first_write,
                    e.write_count,
                ]
                for e in t.entries
            ]
        ),
        "paths": _json([names, [[index[n] for n in path] for path in t.paths]]),
        "writes": b"".join(
            numpy.ascontiguousarray(t.writes[f]).tobytes() for f in WRITE_DTYPE.names or ()
        ),
        "data": bytes(t.data),
    }
    return raw


def _compressed(raw: dict[str, bytes]) -> dict[str, bytes]:
    return {k: zlib.compress(v, _LEVEL) for k, v in raw.items()}


def _file(t: Timeline, raw: dict[str, bytes], stored: dict[str, bytes]) -> bytes:
    """The file bytes of ``t`` from its sections ``raw`` and their compressed ``stored``."""
    sizes: list[int] = []
    for k in _SECTIONS:
        sizes += [len(stored[k]), len(raw[k])]
    body = b"".join(stored[k] for k in _SECTIONS)
    head = _HEADER.pack(
        MAGIC,
        VERSION,
        _HEADER.size,
        t.ram_size,
        t.core_digest,
        len(t.entries),
        len(t.paths),
        len(t.writes),
        len(t.data),
        *sizes,
        bytes(32),
    )[:_CHECKED]
    return head + _checksum(head, body) + body


def decode_timeline(raw: bytes) -> Timeline:
    """The timeline in file bytes ``raw``; :class:`TimelineFormatError` (one
    line) if they are not a whole, undamaged timeline of this version."""
    raw = bytes(raw)
    if len(raw) < 12 or raw[:8] != MAGIC:
        raise TimelineFormatError("not a timeline file (bad magic)")
    version, header_size = struct.unpack_from("<HH", raw, 8)
    if version != VERSION:
        raise TimelineFormatError(f"timeline version {version} is not {VERSION}, the one known")
    if header_size != _HEADER.size or len(raw) < _HEADER.size:
        raise TimelineFormatError(
            f"truncated or damaged header ({len(raw)} bytes, header size {header_size})"
        )
    (_, _, _, ram_size, digest, n_entries, n_paths, n_writes, n_data, *rest) = _HEADER.unpack_from(
        raw
    )
    sizes, checksum = rest[:8], rest[8]
    # A view, not a copy: a file near the largest allowed is held once.
    body = memoryview(raw)[_HEADER.size :]
    stored = sizes[0::2]
    if sum(stored) != len(body):
        raise TimelineFormatError(
            f"body is {len(body)} bytes, the header declares {sum(stored)} (truncated or padded)"
        )
    if _checksum(raw[:_CHECKED], body) != checksum:
        raise TimelineFormatError("checksum mismatch: the file is damaged")
    if ram_size == 0 or ram_size % PAGE_SIZE or ram_size > MAX_RAM:
        raise TimelineFormatError(f"impossible RAM size {ram_size:#x}")
    expect = {"writes": n_writes * WRITE_DTYPE.itemsize, "data": n_data}
    # each section: its name, its compressed bytes and the size it declares inflated
    declared = list(zip(_SECTIONS, stored, sizes[1::2], strict=True))
    for k, size, full in declared:
        if full > size * _ZLIB_RATIO + _ZLIB_SLACK or (k in expect and full != expect[k]):
            raise TimelineFormatError(
                f"{k} section: impossible size {full} from {size} compressed bytes"
            )
    _check_memory({k: full for k, _, full in declared})
    sections: dict[str, bytes] = {}
    at = 0
    writes = numpy.empty(0, WRITE_DTYPE)
    for k, size, full in declared:
        if k == "data" and full > (extent := _data_extent(writes)):
            # Checked before inflating: a few MiB of zeros can declare gigabytes.
            raise TimelineFormatError(
                f"data section: declares {full} bytes, the write records reference {extent}"
            )
        sections[k] = _inflate(k, body[at : at + size], full)
        at += size
        if k == "writes":
            writes = _columns(sections[k], n_writes)
            _check_writes(writes, n_paths, ram_size, n_data, TimelineFormatError)
    try:
        entries = _entries(json.loads(sections["entries"]), n_writes)
        paths = _paths(json.loads(sections["paths"]))
    except TimelineFormatError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, RecursionError) as e:
        what = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TimelineFormatError(f"bad entries or paths section: {what}") from None
    if len(entries) != n_entries or len(paths) != n_paths:
        raise TimelineFormatError(
            f"{len(entries)} entries and {len(paths)} paths, "
            f"the header declares {n_entries} and {n_paths}"
        )
    t = Timeline(entries, paths, writes, sections["data"], ram_size, digest)
    _validate(t, TimelineFormatError, entries_checked=True)
    return t


# What reading a section holds in memory for each of its inflated bytes: the writes
# twice (the bytes inflated, then their columns), the data once, the JSON of the
# entries and paths as Python's lists, ints and strings (about 10 times the text for
# the 10,000-call image's entries; 16 leaves room).
_HELD_PER_BYTE = {"entries": 16, "paths": 16, "writes": 2, "data": 1}


def _host_memory() -> int | None:
    """This machine's physical memory in bytes; None where the system does not say."""
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page if pages > 0 and page > 0 else None


def _check_memory(inflated: dict[str, int]) -> None:
    """Refuse, before inflating anything, a timeline whose sections (``inflated``: each
    one's declared size, which inflating then holds it to) would take more than half
    this machine's memory once read: zlib lets a file of 1 GiB declare a terabyte."""
    host = _host_memory()
    held = sum(_HELD_PER_BYTE[k] * size for k, size in inflated.items())
    if host is not None and held > host // 2:
        raise TimelineFormatError(
            f"its sections would take {held / (1 << 20):.1f} MiB once read, more than half "
            f"of this machine's memory ({host / (1 << 20):.1f} MiB)"
        )


def _columns(raw: bytes, n: int) -> numpy.ndarray[Any, numpy.dtype[Any]]:
    """The ``n`` write records of the writes section ``raw``, stored column by column."""
    writes = numpy.empty(n, WRITE_DTYPE)
    col = 0
    for f in WRITE_DTYPE.names or ():
        writes[f] = numpy.frombuffer(raw, WRITE_DTYPE[f], n, col)
        col += WRITE_DTYPE[f].itemsize * n
    return writes


def _data_extent(w: numpy.ndarray[Any, numpy.dtype[Any]]) -> int:
    """The bytes of data the records ``w`` reference: the end of the furthest old or
    new bytes (the encoder stores nothing else)."""
    length = w["length"].astype(numpy.int64)
    end = 0
    for f in ("old", "new"):
        stored = w[f] != ZERO
        if stored.any():
            end = max(end, int((w[f].astype(numpy.int64) + length)[stored].max()))
    return end


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _checksum(head: bytes, body: bytes | memoryview) -> bytes:
    h = hashlib.sha256(head)
    h.update(body)
    return h.digest()


def _inflate(section: str, data: bytes | memoryview, size: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, size)
        if d.unconsumed_tail or not d.eof or d.unused_data or len(out) != size:
            raise TimelineFormatError(
                f"{section} section does not inflate to the {size} bytes declared"
            )
    except zlib.error as e:
        raise TimelineFormatError(f"{section} section: {e}") from None
    return out


def _int(v: object, what: str) -> int:
    if type(v) is not int:
        raise ValueError(f"{what} is not an integer")
    return v


def _str(v: object, what: str) -> str:
    if type(v) is not str:
        raise ValueError(f"{what} is not a string")
    return v


def _list(v: object, what: str) -> list[Any]:
    if type(v) is not list:
        raise ValueError(f"{what} is not a list")
    return v


def _entries(items: object, n_writes: int) -> tuple[Entry, ...]:
    """The entries of the JSON ``items``, each checked as it is made: its fields'
    types, then what :func:`_check_entry` checks (the entries follow each other's
    writes, out of ``n_writes``). One pass, and each :class:`Entry` and
    :class:`Result` made without the frozen dataclasses' field-by-field
    ``__init__``: a first ``goto`` on a timeline of 10,000 calls waits for this.
    """
    out = []
    new = object.__new__
    at = 0
    for number, item in enumerate(_list(items, "entries")):
        if type(item) is not list or len(item) != 6:
            raise ValueError(f"entry {number} is not a list of six items")
        step, call, args, result, first, count = item
        if type(result) is not list or len(result) != 3:
            raise ValueError(f"entry {number} result is not a list of three items")
        kind, value, text = result
        if type(step) is not int or type(first) is not int or type(count) is not int:
            what = f"entry {number}"
            _int(step, f"{what} step")
            _int(first, f"{what} first write")
            _int(count, f"{what} write count")
        if value is not None and type(value) is not int:
            raise ValueError(f"entry {number} result value is not an integer")
        if type(call) is not str or type(kind) is not str:
            raise ValueError(f"entry {number} call or result is not a string")
        if text is not None and type(text) is not str:
            raise ValueError(f"entry {number} result text is not a string")
        if type(args) is not list:
            raise ValueError(f"entry {number} arguments are not a list")
        for a in args:
            if type(a) is not list or len(a) != 2 or type(a[0]) is not str:
                raise ValueError(f"entry {number}: an argument is not a name and a value")
            if type(a[1]) is not int and type(a[1]) is not str:
                raise ValueError(f"entry {number} argument is neither an integer nor a string")
        arguments = tuple(map(tuple, args))
        r = new(Result)
        r.__dict__.update(kind=kind, value=value, text=text)
        e = new(Entry)
        e.__dict__.update(
            number=number,
            step=step,
            call=call,
            args=arguments,
            result=r,
            first_write=first,
            write_count=count,
        )
        _check_entry(e, at, n_writes, TimelineFormatError)
        at += count
        out.append(e)
    return tuple(out)


def _paths(items: object) -> tuple[tuple[str, ...], ...]:
    names, paths = _list(items, "paths")
    names = [_str(n, "function name") for n in _list(names, "function names")]
    out = []
    for path in _list(paths, "paths"):
        out.append(tuple(names[_index(i, len(names))] for i in _list(path, "path")))
    return tuple(out)


def _index(i: object, n: int) -> int:
    if type(i) is not int or not 0 <= i < n:
        raise ValueError(f"function index {i!r} out of range")
    return i


@functools.lru_cache(maxsize=1024)
def _is_name(text: str) -> bool:
    """Whether ``text`` is a function or argument name (the same few recur in every entry)."""
    return len(text) <= NAME_MAX and _NAME.match(text) is not None


def _check_entry(e: Entry, at: int, n: int, error: type[ValueError]) -> None:
    """What one entry promises: a name for its call and arguments, a possible
    result, and writes that start at ``at`` (where the previous entry's end) and
    lie within the ``n`` writes.
    """
    if not _is_name(e.call) or e.step < 0:
        raise error(f"entry {e.number}: call {_quoted(e.call)} at step {e.step} is impossible")
    for name, value in e.args:
        if not _is_name(name):
            raise error(f"entry {e.number}: an argument name is not a name")
        if (fault := argument_fault(value)) is not None:
            raise error(f"entry {e.number}: argument {name} {fault}")
    r = e.result
    if r.kind not in RESULT_KINDS or (r.value is None) == (r.kind in _VALUED):
        raise error(f"entry {e.number}: impossible result {_quoted(r.kind)} {_shown(r.value)}")
    if r.value is not None and (fault := argument_fault(r.value)) is not None:
        raise error(f"entry {e.number}: result {fault}")
    if r.text is not None and len(r.text) > RESULT_TEXT_MAX:
        raise error(
            f"entry {e.number}: a result text of {len(r.text)} characters is longer than "
            f"any the kernel prints ({RESULT_TEXT_MAX})"
        )
    if e.first_write != at or e.write_count < 0 or at + e.write_count > n:
        raise error(
            f"entry {e.number}: writes {e.first_write}+{e.write_count} do not follow "
            f"the previous entry's (expected {at}, of {n})"
        )


def argument_fault(value: int | str) -> str | None:
    """Why ``value`` can be no kernel call's argument or result (a number beyond 32
    bits, a string longer than :data:`ARG_TEXT_MAX`), to follow its name; None when
    it can be one."""
    if isinstance(value, str):
        if len(value) > ARG_TEXT_MAX:
            return f"of {len(value)} characters is longer than any call takes ({ARG_TEXT_MAX})"
        return None
    if not VALUE_MIN <= value <= VALUE_MAX:
        return f"{_shown(value)} does not fit 32 bits"
    return None


def _quoted(text: str) -> str:
    """``text`` as a one-line message quotes it: a long one by its length."""
    return repr(text) if len(text) <= 64 else f"(a text of {len(text)} characters)"


def _shown(value: object) -> str:
    """A number as a one-line message quotes it: a long one by its digits' count."""
    if type(value) is int and abs(value) >= 10**24:
        return f"(a {len(str(abs(value)))}-digit number)"
    return str(value)


def _validate(t: Timeline, error: type[ValueError], entries_checked: bool = False) -> None:
    """Everything a timeline promises that can be checked without its image
    (each entry's and each record's own promises but where ``entries_checked``:
    :func:`_entries` checked the entries as it made them, :func:`decode_timeline`
    the records before it inflated the data).
    """

    def bad(text: str) -> ValueError:
        return error(text)

    if t.ram_size <= 0 or t.ram_size % PAGE_SIZE or t.ram_size > MAX_RAM:
        raise bad(f"impossible RAM size {t.ram_size:#x}")
    if len(t.core_digest) != 32:
        raise bad("core digest is not a SHA-256")
    if not t.entries:
        raise bad("no entries (boot is entry 0)")
    if len(t.data) >= ZERO:
        raise bad(f"data of {len(t.data)} bytes does not fit 32-bit offsets")
    for path in t.paths:
        if not path or not all(_is_name(name) for name in path):
            raise bad(f"call path {_quoted(' > '.join(path))} is not a list of function names")
    if t.writes.dtype != WRITE_DTYPE or t.writes.ndim != 1:
        raise bad("writes are not WRITE_DTYPE records")
    n = len(t.writes)
    at = 0
    halted: Entry | None = None
    for i, e in enumerate(t.entries):
        if not entries_checked:
            if e.number != i:
                raise bad(f"entry {i} is numbered {e.number}")
            _check_entry(e, at, n, error)
        if halted is not None:
            raise bad(
                f"entry {i} follows entry {halted.number}'s {halted.result.kind}, "
                "after which the machine runs nothing"
            )
        if e.result.kind in HALTS:
            halted = e
        at += e.write_count
    if at != n:
        raise bad(f"the entries hold {at} writes, the timeline {n}")
    if not n:
        return
    w = t.writes
    owner = numpy.repeat(
        numpy.arange(len(t.entries), dtype="<u4"), [e.write_count for e in t.entries]
    )
    _first_bad(w["entry"] != owner, "is not in the entry that lists it", w, bad)
    if not entries_checked:  # decode_timeline checked them before inflating the data
        _check_writes(w, len(t.paths), t.ram_size, len(t.data), bad)


def _check_writes(
    w: numpy.ndarray[Any, numpy.dtype[Any]], n_paths: int, ram_size: int, n_data: int, bad: Any
) -> None:
    """What each write record promises alone: a call path of the ``n_paths``, a frame
    of the ``ram_size`` bytes of RAM, bytes within its page, and old and new bytes
    within the ``n_data`` of the data."""
    _first_bad(w["path"] >= n_paths, "names no call path", w, bad)
    _first_bad(w["pfn"].astype(numpy.uint64) * PAGE_SIZE >= ram_size, "is outside RAM", w, bad)
    length = w["length"].astype(numpy.int64)
    _first_bad((length == 0) | (w["offset"] + length > PAGE_SIZE), "crosses its page", w, bad)
    for f in ("old", "new"):
        at_ = w[f].astype(numpy.int64)
        outside = (w[f] != ZERO) & (at_ + length > n_data)
        _first_bad(outside, f"has {f} bytes outside the data", w, bad)


def _first_bad(
    mask: numpy.ndarray[Any, numpy.dtype[Any]],
    text: str,
    w: numpy.ndarray[Any, numpy.dtype[Any]],
    bad: Any,
) -> None:
    hits = numpy.flatnonzero(mask)
    if len(hits):
        i = int(hits[0])
        r = w[i]
        raise bad(
            f"write {i} (entry {int(r['entry'])}, frame {int(r['pfn']):#x}+{int(r['offset']):#x}, "
            f"{int(r['length'])} bytes) {text}"
        )
