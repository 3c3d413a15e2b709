"""The program being debugged: memory, symbols, types and address translation.

Modelled on drgn's ``Program``::

    >>> prog["vmlist"].addr
    Object(prog, 'void *', address=0xc1234564)
    >>> hex(prog.translate(0xc8801000))
    '0x7ff4000'

Every kernel virtual address goes through :meth:`Program.translate`: lowmem
by ``__pa`` (``vaddr - PAGE_OFFSET``), everything else by walking
``swapper_pg_dir``, the page table that ``vmalloc`` and ``ioremap`` write.
"""

from __future__ import annotations

import bisect
import builtins
import functools
import os
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vmintro.accel import speedups
from vmintro.arch.x86 import (
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    SWAPPER_PG_DIR,
    KernelLayout,
    PagingMode,
    kernel_layout,
    paging_mode,
)
from vmintro.backends.base import Backend, MachineFacts
from vmintro.errors import (
    FaultError,
    NoDebugInfoError,
    ObjectNotFoundError,
    UnreachableMemoryError,
)
from vmintro.pagewalk import PageWalker, TranslationCache, Walk
from vmintro.types.conversions import integer_type_name
from vmintro.types.model import QUALIFIERS, Array, CType, Pointer, Void, qualified, to_construct

if TYPE_CHECKING:
    from collections.abc import Callable

    import construct as cs
    import numpy as np

    from vmintro.image.format.timeline import Timeline
    from vmintro.livekernel import LiveKernel
    from vmintro.object import Object
    from vmintro.timeline.moments import ImageTimeline

__all__ = ["Program", "Symbol"]

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_ARRAY_SUFFIX = re.compile(r"\s*\[\s*(\d+|0x[0-9a-fA-F]+)\s*\]$")
_PAGE_MASK = PAGE_SIZE - 1
# The most pointer levels and array dimensions a type name may have: far past any C
# declaration (C99 asks a compiler for 12), short of what nesting types that deep costs.
_MAX_DERIVED = 64


def _too_derived(what: str) -> str:
    return f"cannot parse type: more than {_MAX_DERIVED} {what}"


# Pages of a dump kept for small reads: 4 MiB, far more than the slab and
# mem_map pages a list walk touches.
PAGE_CACHE_PAGES = 1024
# Object classes remembered by type; a bound, since casts and address_of_ make new types.
_CLASS_CACHE_TYPES = 4096


@dataclass(frozen=True)
class Symbol:
    """A kernel ELF symbol: ``kind`` is ``"object"``, ``"func"`` or ``"notype"``."""

    name: str
    address: int
    size: int
    kind: str

    def __contains__(self, address: int) -> bool:
        if self.size == 0:
            return address == self.address
        return self.address <= address < self.address + self.size

    def __str__(self) -> str:
        return f"{self.address:#010x} ({self.kind}, {self.size} bytes) {self.name}"


class Program:
    """A kernel's memory, symbols and types, from one :class:`~vmintro.backends.base.Backend`.

    ``cache_pages`` keeps the pages that small reads touch (up to
    :data:`PAGE_CACHE_PAGES`), so walking a list reads each slab page once. By
    default it is on where the backend's facts say memory never changes
    (:attr:`~vmintro.backends.base.MachineFacts.fixed_memory`: an image, a
    core) and off for live memory such as the simulator's, where a cached page
    would go stale as soon as the simulation writes to it.

    ``accelerated`` (the default) uses the C forms of member access, scalar
    reads and list walks where ``vmintro._speedups`` was built; False keeps this
    program on their Python forms, which behave the same.
    """

    def __init__(
        self, backend: Backend, *, cache_pages: bool | None = None, accelerated: bool = True
    ) -> None:
        self.backend = backend
        self.facts: MachineFacts = backend.facts()
        self.paging: PagingMode = paging_mode(self.facts.pae)
        self.highmem = self.facts.highmem or self.paging.pae
        self.osrelease = self.facts.osrelease
        # False for a core opened without its vmlinux: symbols but no types
        self.has_debuginfo = self.facts.debuginfo
        # The most RAM an i386 can address: 4 GiB, or 64 GiB with PAE's 36-bit
        # frames. Every size read from an image that counts bytes or frames of
        # RAM (the RAM map's end, max_mapnr) is bounded by it.
        self.phys_limit = self.paging.phys_limit
        # Where RAM ends, as the backend says (an image's RAM map), bounded by what
        # i386 addresses: past that no frame can exist, whatever the map claims.
        self.ram_size = min(max(self.facts.ram_size, 0), self.phys_limit)
        self.page_offset = PAGE_OFFSET

        self._symbols = {
            name: Symbol(name, addr, size, kind)
            for name, (addr, size, kind) in backend.symbols().items()
        }
        by_address = sorted(self._symbols.values(), key=lambda s: (s.address, -s.size))
        self._sym_addrs = [s.address for s in by_address]
        self._sym_sorted = by_address
        self._sym_max_size = max((s.size for s in by_address), default=0)
        self._parsed_types: dict[str, CType] = {}
        self._constructs: dict[CType, cs.Construct] = {}

        sym = self._symbols.get("swapper_pg_dir")
        self.swapper_pg_dir = (sym.address if sym else SWAPPER_PG_DIR) - PAGE_OFFSET
        # The kernel's address space: VMALLOC_START and the rest follow high_memory
        # as the kernel stored it, kept within the bounds of the direct map.
        self.layout: KernelLayout = kernel_layout(
            self.paging, self.highmem, self.ram_size, self._read_high_memory()
        )
        self.high_memory = self.layout.high_memory
        # Past the direct map every address walks.
        self._lowmem_end = self.layout.lowmem_end
        self.walker = PageWalker(
            backend.read_phys, self.paging, self.swapper_pg_dir, self._lowmem_end - PAGE_OFFSET
        )
        # What translate remembers, owned by the walker that fills it.
        self._translation: TranslationCache = self.walker.cache
        if cache_pages is None:
            cache_pages = self.facts.fixed_memory
        # virtual page number -> the page's bytes, for reads inside one page
        self._pages: dict[int, bytes] | None = {} if cache_pages else None
        # CType -> the Object subclass for values of that type (see vmintro.object)
        self._object_classes: dict[CType, type[Object]] = {}
        # the classes made for this program's structs and scalars (vmintro.object)
        self._struct_classes: dict[tuple[Any, Any], type] = {}
        # vmintro._speedups for this program's objects and walks, or None: Python forms
        self._speedups = speedups if accelerated else None
        # what the struct page helpers read once (vmintro.helpers.mm._page_facts)
        self._page_facts: tuple[Any, ...] | None = None
        # the image's timeline and the moments made of it (vmintro.timeline), on first use
        self._timeline_state: ImageTimeline | None = None
        if type(self).translate is Program.translate:
            self.translate = self._fast_translate()  # type: ignore[method-assign,assignment]
        if self._speedups is not None:
            # follow_pte in C for walks through the tables the walker holds
            self.walker.walk = self._speedups.FollowPte(self.walker, Walk)  # type: ignore[method-assign]
            if type(self).follow_pte is Program.follow_pte:  # without the call through here
                self.follow_pte = self.walker.walk  # type: ignore[method-assign]

    @classmethod
    def from_files(
        cls,
        vmcore: str | os.PathLike[str],
        vmlinux: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Program:
        """The program of an image's ``vmcore`` and ``vmlinux`` (by default the one
        beside it, ``NAME.vmlinux``); ``options`` are the constructor's.

        :raises vmintro.backends.image.ImageError: when a file is missing or malformed.
        """
        from vmintro.backends.image import ImageBackend  # the image reader only when asked

        return cls(ImageBackend(vmcore, vmlinux), **options)

    def __repr__(self) -> str:
        mode = "PAE" if self.pae else ("HIGHMEM" if self.highmem else "2-level")
        from vmintro.timeline.moments import shown_moment

        shown = shown_moment(self)  # nothing is loaded to say it
        at = f" at entry {shown[0]}" if shown else ""
        return f"<Program {self.osrelease} i386 {mode} ram={self.ram_size:#x}{at}>"

    # -- the kernel over time (vmintro.timeline) -----------------------------------------

    @property
    def timeline(self) -> Timeline | None:
        """The image's timeline (``NAME.timeline`` beside its core), read and checked
        on first use; None when the image has none.

        :raises vmintro.timeline.TimelineError: the file is damaged or another image's.
        """
        from vmintro.timeline.moments import timeline_of

        return timeline_of(self)

    def at(self, n: int) -> Program:
        """The kernel just after entry ``n`` of the image's timeline: a Program whose
        memory is the image's with every later write undone (``prog.at(0)`` is the
        booted kernel; the last entry is the image itself).

        :raises vmintro.timeline.NoTimelineError: the image has no timeline.
        :raises vmintro.timeline.TimelineError: its timeline cannot be used.
        :raises vmintro.timeline.moments.NoSuchEntryError: no entry ``n``.
        """
        from vmintro.timeline.moments import program_at

        return program_at(self, n)

    @property
    def moment(self) -> int | None:
        """The entry this program shows the kernel just after: the last one for the
        image itself, None when it has no timeline."""
        from vmintro.timeline.moments import moment_of

        return moment_of(self)

    def resume(self) -> LiveKernel:
        """The kernel this program reads (the image, or the moment it shows) resumed on
        the simulator, ready for kernel calls (:class:`vmintro.livekernel.LiveKernel`).

        :raises vmintro.livekernel.LiveError: an image no kernel could have left.
        """
        from vmintro.livekernel import LiveError, LiveKernel  # the simulator only when asked
        from vmintro.sim.resume import ResumeError

        try:
            return LiveKernel(self)
        except ResumeError as e:
            raise LiveError(str(e)) from None

    # -- facts of the address space ------------------------------------------------------

    @property
    def pae(self) -> bool:
        """Whether the kernel was built with CONFIG_X86_PAE (its paging mode is PAE)."""
        return self.paging.pae

    @functools.cached_property
    def _types(self) -> dict[str, CType]:
        """The backend's named types, asked for on first use: an image opened with
        ``defer_types`` (the REPL's) reads its vmlinux's DWARF then."""
        return self.backend.types()

    @functools.cached_property
    def _variables(self) -> dict[str, tuple[int, CType]]:
        """The backend's typed global variables, asked for on first use (as ``_types``)."""
        return self.backend.variables()

    def _read_high_memory(self) -> int | None:
        """``high_memory`` as the kernel stored it; None where it cannot be read."""
        # an image whose DWARF is put off says where from its .symtab (checked later)
        address_of = getattr(self.backend, "variable_address", None)
        if address_of is not None:
            address = address_of("high_memory")
        else:
            var = self._variables.get("high_memory")
            address = None if var is None else var[0]
        if address is not None and address >= PAGE_OFFSET:
            try:
                return int(_U32.unpack(self.backend.read_phys(address - PAGE_OFFSET, 4))[0])
            except FaultError:
                pass
        return None

    @property
    def vmalloc_start(self) -> int:
        """``VMALLOC_START``: the 8 MiB boundary 8..16 MiB above ``high_memory``
        (of a ``high_memory`` between ``PAGE_OFFSET`` and ``PAGE_OFFSET + MAXMEM``).
        """
        return self.layout.vmalloc_start

    @property
    def vmalloc_end(self) -> int:
        """``VMALLOC_END``: below the pkmap area (HIGHMEM) or below the fixmap."""
        return self.layout.vmalloc_end

    @property
    def ram_pages(self) -> int:
        """Frames of RAM: where RAM ends (:attr:`ram_size`) in pages, or, when the
        backend does not know, the most frames i386 can address. No ``mem_map`` can
        hold more ``struct page`` entries than this.
        """
        return -(-(self.ram_size or self.phys_limit) // PAGE_SIZE)

    # -- memory --------------------------------------------------------------------------

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """``size`` bytes at ``address``.

        :raises FaultError: at the first address that cannot be read.
        :raises ValueError: for a negative ``size`` (a length computed wrongly, which
            would otherwise read nothing and pass unnoticed).
        """
        if size < 0:
            raise ValueError(f"negative read size {size}")
        if physical:
            return self.backend.read_phys(address, size)
        pages = self._pages
        if pages is not None and 0 < size <= PAGE_SIZE - (address & _PAGE_MASK):
            page = pages.get(address >> PAGE_SHIFT)
            if page is None:
                page = self._cache_page(address)
            if page is not None:
                offset = address & _PAGE_MASK
                return page[offset : offset + size]
        if PAGE_OFFSET <= address and address + size <= self._lowmem_end:
            try:
                return self.backend.read_phys(address - PAGE_OFFSET, size)
            except FaultError:
                pass  # RAM ends below high_memory: find the first bad page below
        out = bytearray()
        while size > 0:
            chunk = min(size, PAGE_SIZE - (address & (PAGE_SIZE - 1)))
            paddr = self.translate(address)
            try:
                out += self.backend.read_phys(paddr, chunk)
            except UnreachableMemoryError as e:
                raise FaultError(address, f"read of {address:#x}: {e}") from None
            except FaultError:
                raise FaultError(
                    address, f"read of {address:#x}: physical {paddr:#x} is outside RAM"
                ) from None
            address += chunk
            size -= chunk
        return bytes(out)

    def _cache_page(self, address: int) -> bytes | None:
        """The page holding ``address``, read whole and kept; None where a read of the
        page would fault (the caller's own read then raises the precise error).
        """
        pages = self._pages
        assert pages is not None
        vpage = address & ~_PAGE_MASK
        if not 0 <= vpage < 1 << 32:
            return None
        if vpage < self._lowmem_end < vpage + PAGE_SIZE:
            return None  # half direct-mapped, half walked: read it as read() does
        try:
            data = self.backend.read_phys(self.translate(vpage), PAGE_SIZE)
        except FaultError:
            return None
        if len(pages) >= PAGE_CACHE_PAGES:
            pages.clear()
        pages[address >> PAGE_SHIFT] = data
        return data

    def read_u8(self, address: int, physical: bool = False) -> int:
        return _U8.unpack(self.read(address, 1, physical))[0]

    def read_u16(self, address: int, physical: bool = False) -> int:
        return _U16.unpack(self.read(address, 2, physical))[0]

    def read_u32(self, address: int, physical: bool = False) -> int:
        pages = self._pages
        if pages is not None and not physical and (address & _PAGE_MASK) <= PAGE_SIZE - 4:
            # the hot read of list walks: straight from a cached page when there is one
            page = pages.get(address >> PAGE_SHIFT)
            if page is not None:
                return _U32.unpack_from(page, address & _PAGE_MASK)[0]
        return _U32.unpack(self.read(address, 4, physical))[0]

    def read_u64(self, address: int, physical: bool = False) -> int:
        return _U64.unpack(self.read(address, 8, physical))[0]

    # -- address translation -------------------------------------------------------------

    def translate(self, vaddr: int) -> int:
        """Physical address of kernel virtual address ``vaddr``.

        :raises FaultError: naming the page-table entry that is not present.
        """
        return self._translation.translate(vaddr)  # the direct map, the TLB or a walk

    def _fast_translate(self) -> Callable[[int], int]:
        """:meth:`translate` without a call through the program: the translation
        cache's own method, or the ``vmintro._speedups.Translator`` made from the
        cache, which does in C what needs no walk (the direct map, the TLB, a page
        whose pte table the cache holds) and calls the cache's method for the rest.
        """
        if self._speedups is None:
            return self._translation.translate
        fast = self._speedups.Translator(self._translation)
        fast.__doc__ = Program.translate.__doc__
        return fast

    def translate_many(self, vaddrs: np.ndarray) -> np.ndarray:
        """:meth:`translate` for an array of addresses: int64 physical, -1 where it faults."""
        return self.walker.translate_many(vaddrs, direct_map=(PAGE_OFFSET, self._lowmem_end))

    def follow_pte(self, vaddr: int, pgd: int | None = None) -> Walk:
        """Every entry of the walk for ``vaddr`` (from ``swapper_pg_dir`` unless ``pgd``
        gives another table's physical address), then the physical address or the fault.
        """
        return self.walker.walk(vaddr, pgd)

    # -- symbols, types, variables -------------------------------------------------------

    def symbol(self, name_or_address: str | int) -> Symbol:
        """The symbol called ``name``, or the one whose extent contains an address.

        :raises ObjectNotFoundError: when there is none.
        """
        if isinstance(name_or_address, str):
            try:
                return self._symbols[name_or_address]
            except KeyError:
                raise ObjectNotFoundError(f"could not find symbol '{name_or_address}'") from None
        sym = self.symbol_at(int(name_or_address))
        if sym is None:
            raise ObjectNotFoundError(f"no symbol contains {int(name_or_address):#x}")
        return sym

    def symbol_at(self, address: int) -> Symbol | None:
        """The symbol containing ``address`` (a sized one in preference), or None."""
        i = bisect.bisect_right(self._sym_addrs, address) - 1
        exact = None
        while i >= 0 and self._sym_addrs[i] + self._sym_max_size >= address:
            sym = self._sym_sorted[i]
            if sym.size and address < sym.address + sym.size:
                return sym
            if exact is None and sym.size == 0 and sym.address == address:
                exact = sym
            i -= 1
        return exact

    def symbols(self) -> list[Symbol]:
        """Every symbol, by address."""
        return list(self._sym_sorted)

    def type(self, name: str | CType) -> CType:
        """The type C spells ``name``: ``"struct vm_struct"``, ``"pte_t"``,
        ``"struct page *"``, ``"char [16]"``.

        :raises ObjectNotFoundError: for an unknown type name.
        """
        if isinstance(name, CType):
            return name
        ctype = self._parsed_types.get(name)
        if ctype is None:
            ctype = self._parsed_types[name] = self._parse_type(name)
        return ctype

    def _parse_type(self, text: str) -> CType:
        spelled = text.strip()
        dims = []
        while m := _ARRAY_SUFFIX.search(spelled):
            dims.append(int(m.group(1), 0))
            spelled = spelled[: m.start()]
            if len(dims) > _MAX_DERIVED:
                raise ObjectNotFoundError(_too_derived("array dimensions"))
        # `const volatile int * volatile`: the qualifiers before the first star are the
        # base type's, those after each star that pointer's
        head, *levels = spelled.split("*")
        if len(levels) + len(dims) > _MAX_DERIVED:
            raise ObjectNotFoundError(_too_derived("pointer levels and array dimensions"))
        words = head.split()
        specifiers = [w for w in words if w not in QUALIFIERS]
        # C's other spellings of an integer type: `unsigned` is `unsigned int`
        base = integer_type_name(specifiers) or " ".join(specifiers)
        if any(set(level.split()) - set(QUALIFIERS) for level in levels):
            raise ObjectNotFoundError(f"cannot parse type '{text}'")
        ctype: CType
        if base == "void":
            ctype = Void()
        elif base in self._types:
            ctype = self._types[base]
        elif not self.has_debuginfo:
            raise NoDebugInfoError(f"type '{base}' is unknown")
        else:
            raise ObjectNotFoundError(f"could not find type '{base}'")
        ctype = qualified(ctype, set(words))
        for level in levels:
            ctype = qualified(Pointer(ctype), set(level.split()))
        # found from the right: the last dimension is the innermost array's (int[2][3] is
        # two arrays of three ints)
        for count in dims:
            ctype = Array(ctype, count)
        return ctype

    def types(self) -> dict[str, CType]:
        """Every named type, by C spelling."""
        return dict(self._types)

    def variable(self, name: str, filename: str | None = None) -> Object:
        """The global variable ``name``, as drgn's ``prog.variable()``: an
        :class:`~vmintro.object.Object` at its address (``filename`` is drgn's; a
        kernel has one global of each name here, so it is not needed).

        :raises ObjectNotFoundError: no such variable, or a symbol without a type.
        """
        from vmintro.object import Object

        address, ctype = self._variable(name)
        return Object(self, ctype, address=address)

    def _variable(self, name: str) -> tuple[int, CType]:
        """Address and type of global variable ``name``."""
        try:
            return self._variables[name]
        except KeyError:
            if name in self._symbols and not self.has_debuginfo:
                raise NoDebugInfoError(f"'{name}' has no type") from None
            if name in self._symbols:
                msg = f"'{name}' is a symbol without a type"
            else:
                msg = f"could not find variable '{name}'"
            raise ObjectNotFoundError(msg) from None

    def object(self, name: str, flags: object = None, filename: str | None = None) -> Object:
        """The global variable ``name`` as a typed :class:`~vmintro.object.Object`
        (drgn's ``prog.object()``; the kernel's objects here are all variables)."""
        return self.variable(name, filename)

    def __getitem__(self, name: str) -> Object:
        return self.object(name)

    def __contains__(self, name: str) -> bool:
        return name in self._variables

    def construct_for(self, ctype: CType) -> cs.Construct:
        """The construct parsing ``ctype`` (built from the type once, then reused)."""
        con = self._constructs.get(ctype)
        if con is None:
            con = self._constructs[ctype] = to_construct(ctype)
        return con

    def clear_caches(self) -> None:
        """Forget decoded page tables, the TLB and cached pages; only needed when the
        memory underneath changes.
        """
        self.walker.clear_cache()
        if self._pages is not None:
            self._pages.clear()

    # builtins.type: in the class body, `type` is the method Program.type
    def object_class(self, ctype: CType) -> builtins.type[Object]:
        """The :class:`~vmintro.object.Object` subclass for values of ``ctype``."""
        classes = self._object_classes
        cls = classes.get(ctype)
        if cls is None:
            from vmintro.object import class_for_type

            cls = class_for_type(self, ctype)
            if len(classes) >= _CLASS_CACHE_TYPES:
                classes.clear()
            classes[ctype] = cls
        return cls
