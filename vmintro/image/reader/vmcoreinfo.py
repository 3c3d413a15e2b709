"""Reading the VMCOREINFO note (:mod:`vmintro.image.format.vmcoreinfo`): parsed, then checked.

The note is untrusted like the rest of the core. :func:`parse_vmcoreinfo`
takes its ``KEY=value`` lines apart; :func:`check_vmcoreinfo` then holds them
to what every i386 2.4 kernel writes, and returns the RAM map.
"""

from __future__ import annotations

import re

from vmintro.arch.x86 import paging_mode
from vmintro.image.format.vmcoreinfo import E820MAX, PAGESIZE, e820_line

__all__ = ["VmcoreinfoError", "check_vmcoreinfo", "parse_e820", "parse_vmcoreinfo", "ram_end"]

_ADDRESS_LIMIT = 1 << 32  # sizes, offsets and kernel addresses are 32-bit
_NUMERIC_KEYS = ("SIZE(", "OFFSET(", "LENGTH(", "NUMBER(")
# The page-table entry types whose size the paging mode decides.
_ENTRY_TYPES = ("pte_t", "pmd_t", "pgd_t")

_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\([A-Za-z0-9_.$\[\]-]+\))?")
_E820_KEY_RE = re.compile(r"E820\((0|[1-9][0-9]*)\)")
_E820_VALUE_RE = re.compile(r"([a-z]{1,16}) 0x([0-9a-f]+)-0x([0-9a-f]+)")
# A bound before int(): a 5000-digit end must not become a 5000-digit number.
_E820_DIGITS = 16
_DECIMAL_RE = re.compile(r"-?[0-9]{1,10}")
_ADDRESS_RE = re.compile(r"[0-9a-f]{1,8}")


class VmcoreinfoError(ValueError):
    """VMCOREINFO text that does not follow the ``KEY=value`` format."""


def parse_vmcoreinfo(text: str) -> dict[str, str]:
    """``KEY=value`` lines to a dict.

    A final newline is optional; empty lines, lines without ``=``, keys that are
    not ``NAME`` or ``NAME(arg)``, control characters and repeated keys raise
    :class:`VmcoreinfoError` naming the line.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    info: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        key, sep, value = line.partition("=")
        if not line:
            raise VmcoreinfoError(f"line {number}: empty line")
        if not sep:
            raise VmcoreinfoError(f"line {number}: no '=' in {line[:60]!r}")
        if not _KEY_RE.fullmatch(key):
            raise VmcoreinfoError(f"line {number}: bad key {key[:60]!r}")
        if not value.isprintable():
            raise VmcoreinfoError(f"line {number}: control character in the value of {key}")
        if key in info:
            raise VmcoreinfoError(f"line {number}: {key} given twice")
        info[key] = value
    return info


def parse_e820(info: dict[str, str]) -> list[tuple[int, int, str]]:
    """The ``E820(i)`` lines as ``(start, end, type)``, ordered by index.

    Indexes must run from 0 without gaps, there are at most :data:`E820MAX`
    of them and every range must be non-empty.
    """
    entries: dict[int, tuple[int, int, str]] = {}
    for key, value in info.items():
        if not key.startswith("E820("):
            continue
        if len(entries) == E820MAX:
            raise VmcoreinfoError(f"{key}: more than E820MAX ({E820MAX}) E820 entries")
        m = _E820_KEY_RE.fullmatch(key)
        if not m:
            raise VmcoreinfoError(f"{key}: expected E820(N) with a decimal index N")
        v = _E820_VALUE_RE.fullmatch(value)
        if not v:
            raise VmcoreinfoError(f"{key}: expected 'TYPE 0xSTART-0xEND', got {value[:60]!r}")
        if max(len(v[2]), len(v[3])) > _E820_DIGITS:
            raise VmcoreinfoError(
                f"{key}: an address of more than {_E820_DIGITS} hex digits "
                f"({max(len(v[2]), len(v[3]))}), beyond any physical address"
            )
        start, end = int(v[2], 16), int(v[3], 16)
        if start >= end:
            raise VmcoreinfoError(f"{key}: empty range {value}")
        entries[int(m[1])] = (start, end, v[1])
    if sorted(entries) != list(range(len(entries))):
        raise VmcoreinfoError(f"E820 entries are not numbered 0..{len(entries) - 1}")
    return [entries[i] for i in range(len(entries))]


def ram_end(e820: list[tuple[int, int, str]]) -> int:
    """Where RAM ends: the highest end of the map's ranges (0 for an empty map)."""
    return max((end for _start, end, _kind in e820), default=0)


def _check_numbers(info: dict[str, str]) -> None:
    """SIZE/OFFSET/LENGTH/NUMBER values are 32-bit decimals, SYMBOL values 32-bit addresses."""
    for key, value in info.items():
        if key.startswith(_NUMERIC_KEYS):
            if (
                not _DECIMAL_RE.fullmatch(value)
                or not -_ADDRESS_LIMIT < int(value) < _ADDRESS_LIMIT
            ):
                raise VmcoreinfoError(f"{key}={value[:40]}: not a 32-bit decimal number")
        elif key.startswith("SYMBOL(") and not _ADDRESS_RE.fullmatch(value):
            raise VmcoreinfoError(f"{key}={value[:40]}: not a 32-bit address in hex")
        elif key.startswith("CONFIG_") and value != "y":
            raise VmcoreinfoError(f"{key}={value[:40]}: a build option is 'y' or absent")


def _check_paging(info: dict[str, str]) -> None:
    """CONFIG_X86_PAE and the page-table entry sizes must tell of one paging mode."""
    pae = info.get("CONFIG_X86_PAE") == "y"
    entry = paging_mode(pae).entry_size
    option = "CONFIG_X86_PAE=y" if pae else "no CONFIG_X86_PAE"
    for name in _ENTRY_TYPES:
        key = f"SIZE({name})"
        if key in info and int(info[key]) != entry:
            raise VmcoreinfoError(
                f"{key}={info[key]} contradicts {option}: its page-table entries are {entry} bytes"
            )
    if pae and info.get("CONFIG_HIGHMEM") != "y":
        raise VmcoreinfoError("CONFIG_X86_PAE=y without CONFIG_HIGHMEM=y: PAE is HIGHMEM64G")


def _check_ram(e820: list[tuple[int, int, str]], pae: bool) -> None:
    """The E820 map: ascending, disjoint, with RAM, inside what the paging mode addresses."""
    limit = paging_mode(pae).phys_limit  # 4 GiB, or 64 GiB with PAE's 36 bits
    prev_end = 0
    for i, (start, end, kind) in enumerate(e820):
        key = e820_line(i, start, end, kind)
        if end > limit:
            mode = "PAE's 36-bit" if pae else "a 32-bit"
            raise VmcoreinfoError(
                f"{key}: ends past {limit >> 30} GiB, beyond {mode} physical address space"
            )
        if start < prev_end:
            raise VmcoreinfoError(f"{key}: overlaps or precedes E820({i - 1})")
        prev_end = end
    if not any(kind == "usable" for _s, _e, kind in e820):
        raise VmcoreinfoError("has no usable E820 range: the machine has no RAM")


def check_vmcoreinfo(info: dict[str, str]) -> list[tuple[int, int, str]]:
    """The facts of a parsed note that every i386 2.4 kernel satisfies; returns the E820 map.

    ``PAGESIZE`` is 4096; numbers are 32-bit; ``CONFIG_X86_PAE`` comes with
    ``CONFIG_HIGHMEM`` and with 8-byte ``pgd_t``/``pmd_t``/``pte_t`` (4 bytes
    without it); the RAM map has at most :data:`E820MAX` ascending, disjoint
    ranges inside the physical address space (4 GiB, 64 GiB with PAE) and
    some RAM. A note that fails any of them is not of such a kernel.

    :raises VmcoreinfoError: one line naming the key (``SIZE(pte_t)=4 ...``).
    """
    if info.get("PAGESIZE") != str(PAGESIZE):
        raise VmcoreinfoError(
            f"PAGESIZE={info.get('PAGESIZE', '(absent)')[:40]}: i386 pages are {PAGESIZE} bytes"
        )
    _check_numbers(info)
    _check_paging(info)
    e820 = parse_e820(info)
    if not e820:
        raise VmcoreinfoError("has no E820 lines: the size of RAM is unknown")
    _check_ram(e820, info.get("CONFIG_X86_PAE") == "y")
    return e820
