"""A kernel's symbols and types, for every backend: from its vmlinux, or from the core alone.

:func:`load_kernel` is what a backend over a core calls: with a vmlinux it
reads ``.symtab`` and the DWARF (:mod:`vmintro.image.reader.debuginfo`) and
refuses a vmlinux of another build than the core's VMCOREINFO describes;
without one it takes the addresses of the note's ``SYMBOL()`` lines, as
makedumpfile and crash do, and the C base types, so raw reads and casts work
but no kernel type is known.

:func:`open_kernel` may put off the DWARF: it reads ``.symtab`` alone
(:mod:`vmintro.image.reader.symtab`, without pyelftools) and checks the
note's ``SYMBOL()`` lines against it, and a :class:`DeferredKernel` parses the
DWARF and makes the whole check on first use (the REPL does so once its first
prompt is drawn).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from vmintro.arch.x86 import paging_mode
from vmintro.backends.base import DebugTables, SymbolEntry
from vmintro.errors import VmintroError
from vmintro.files import open_regular
from vmintro.image.format.vmcoreinfo import VMCOREINFO_TYPES
from vmintro.image.reader.symtab import quick_symbols
from vmintro.types.model import Base, CType, Struct, Void, strip_typedefs

__all__ = [
    "DeferredKernel",
    "load_kernel",
    "load_vmlinux",
    "open_kernel",
    "vmcoreinfo_tables",
    "vmlinux_mismatch",
]


def load_vmlinux(
    path: str | os.PathLike[str], error: type[VmintroError], data: bytes | None = None
) -> DebugTables:
    """The symbols, types and variables of the vmlinux at ``path`` (of ``data``,
    its bytes as read earlier, when given).

    :raises error: ``"NAME.vmlinux: what is wrong (where)"``, one line.
    """
    # pyelftools only here: opening an image for the REPL puts this off
    from vmintro.image.reader.debuginfo import DebugInfoError
    from vmintro.image.reader.debuginfo import load_vmlinux as read_vmlinux

    try:
        symbols, info = read_vmlinux(path, data)
    except DebugInfoError as e:
        raise error(str(e)) from None
    return DebugTables(
        {name: (s.address, s.size, s.kind) for name, s in symbols.items()},
        info.types,
        info.variables,
    )


def load_kernel(
    note: dict[str, str],
    vmlinux: str | os.PathLike[str] | None,
    core_name: str,
    error: type[VmintroError],
) -> DebugTables:
    """The kernel of a core whose VMCOREINFO is ``note``: from ``vmlinux``, or
    from the note alone when there is none.

    :raises error: the vmlinux is unreadable, or of another build
        (``"NAME.vmlinux does not belong to CORE: ..."``).
    """
    if vmlinux is None:
        return vmcoreinfo_tables(note)
    tables = load_vmlinux(vmlinux, error)
    mismatch = vmlinux_mismatch(note, tables)
    if mismatch:
        raise error(f"{Path(vmlinux).name} does not belong to {core_name}: {mismatch}")
    return tables


# A vmlinux whose DWARF is put off is held in memory until it is read: one larger than
# this (a kernel's with its DWARF is some tens of MiB) is read at once, as without defer.
DEFERRED_VMLINUX_BYTES = 256 << 20


class DeferredKernel:
    """A vmlinux whose ``.symtab`` was read at open and whose DWARF is parsed on
    first use, then checked against the core as :func:`load_kernel` checks it.

    :meth:`tables` may be called from any thread; the first call parses, the
    others wait for it and share its tables (or its error).
    """

    def __init__(
        self,
        note: dict[str, str],
        path: Path,
        core_name: str,
        error: type[VmintroError],
        data: bytes,
        symbols: dict[str, SymbolEntry],
    ) -> None:
        self.symbols = symbols
        self._note = note
        self._path = path
        self._core_name = core_name
        self._error = error
        self._data: bytes | None = data
        self._lock = threading.Lock()
        self._tables: DebugTables | None = None
        self._failed: VmintroError | None = None
        # variables whose address was taken from .symtab before the DWARF was read
        self._early: dict[str, int | None] = {}

    @property
    def loaded(self) -> bool:
        """Whether the DWARF has been read (successfully or not)."""
        return self._tables is not None or self._failed is not None

    def variable_address(self, name: str) -> int | None:
        """Where the variable ``name`` is: from the DWARF once it is read, until then
        from ``.symtab`` (the DWARF must then agree, or :meth:`tables` refuses it)."""
        with self._lock:
            if self._tables is None and self._failed is None:
                address = symtab_object(self.symbols, name)
                self._early[name] = address
                return address
        return symtab_object(self.tables().symbols, name)

    def tables(self) -> DebugTables:
        """The symbols, types and variables, the DWARF read on the first call.

        :raises error: as :func:`load_kernel` raises it (the DWARF is unreadable,
            or the vmlinux of another build than the core's).
        """
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._tables is None:
                try:
                    self._tables = self._load()
                except VmintroError as e:
                    self._failed = e
                    raise
                finally:
                    self._data = None  # the file's bytes are not needed again
            return self._tables

    def _load(self) -> DebugTables:
        tables = load_vmlinux(self._path, self._error, self._data)
        name = self._path.name
        mismatch = vmlinux_mismatch(self._note, tables)
        if mismatch:
            raise self._error(f"{name} does not belong to {self._core_name}: {mismatch}")
        if tables.symbols != self.symbols:  # two readers of the same bytes
            raise self._error(f"{name}: .symtab reads differently with pyelftools")
        for variable in self._early:
            problem = dwarf_contradiction(name, variable, tables)
            if problem:
                raise self._error(problem)
        return tables


def symtab_object(symbols: dict[str, SymbolEntry], name: str) -> int | None:
    """Where ``.symtab`` puts the object ``name``; None when it names no such object."""
    entry = symbols.get(name)
    return entry[0] if entry is not None and entry[2] == "object" else None


def dwarf_contradiction(file: str, variable: str, tables: DebugTables) -> str | None:
    """What is wrong when the DWARF puts ``variable`` elsewhere than ``.symtab``; None
    when they agree, or the DWARF has no such variable (read, as gdb reads a minimal
    symbol, where ``.symtab`` says)."""
    var = tables.variables.get(variable)
    address = symtab_object(tables.symbols, variable)
    if var is None or var[0] == address:
        return None
    where = "no object" if address is None else f"{address:#x}"
    return f"{file}: {variable} is {var[0]:#x} in the DWARF but {where} in .symtab"


def open_kernel(
    note: dict[str, str],
    vmlinux: Path | None,
    core_name: str,
    error: type[VmintroError],
    defer: bool = False,
) -> DebugTables | DeferredKernel:
    """:func:`load_kernel`'s tables, or with ``defer`` a :class:`DeferredKernel`
    when the vmlinux's ``.symtab`` reads plainly and agrees with the note's
    ``SYMBOL()`` lines (anything else is read and refused at once, as
    :func:`load_kernel` does).

    :raises error: as :func:`load_kernel`.
    """
    if defer and vmlinux is not None:
        try:
            with open_regular(vmlinux) as f:
                data = f.read(DEFERRED_VMLINUX_BYTES + 1)
        except OSError:
            data = b""  # load_kernel says why
        if len(data) > DEFERRED_VMLINUX_BYTES:
            data = b""  # not held in memory: pyelftools reads it from the file, at once
        symbols = quick_symbols(data)
        # the note's SYMBOL() lines, the only facts it has that types do not hold
        if symbols is not None and not vmlinux_mismatch(note, DebugTables(symbols, {}, {})):
            return DeferredKernel(note, vmlinux, core_name, error, data, symbols)
    return load_kernel(note, vmlinux, core_name, error)


def vmlinux_mismatch(note: dict[str, str], tables: DebugTables) -> str | None:
    """The first VMCOREINFO fact the vmlinux contradicts, or None.

    The core's note records the kernel's own SYMBOL(), SIZE() and OFFSET()
    values; a vmlinux of another build (HIGHMEM or not, PAE or not, another
    image's layout) disagrees with at least one of them.
    """
    symbols, types = tables.symbols, tables.types
    # The build options first: they say most plainly which build a vmlinux is of.
    pae = note.get("CONFIG_X86_PAE") == "y"
    pte = types.get("pte_t")
    entry = paging_mode(pae).entry_size
    if pte is not None and pte.size != entry:
        option = "has CONFIG_X86_PAE=y" if pae else "has no CONFIG_X86_PAE"
        return (
            f"sizeof(pte_t) is {pte.size} in the vmlinux,"
            f" but the core {option} ({entry}-byte entries)"
        )
    page = strip_typedefs(types.get("struct page", Void()))
    highmem = note.get("CONFIG_HIGHMEM") == "y"
    if isinstance(page, Struct) and page.complete and page.has_member("virtual") != highmem:
        has = "has" if page.has_member("virtual") else "has no"
        option = "has CONFIG_HIGHMEM=y" if highmem else "has no CONFIG_HIGHMEM"
        return f"struct page {has} member virtual in the vmlinux, but the core {option}"
    order = {"SIZE": 0, "OFFSET": 1, "SYMBOL": 2}
    for key, value in sorted(note.items(), key=lambda kv: order.get(kv[0].split("(")[0], 3)):
        name = key[key.index("(") + 1 : -1] if key.endswith(")") and "(" in key else None
        if name is None:
            continue
        try:
            number = int(value, 16) if key.startswith("SYMBOL(") else int(value, 0)
        except ValueError:
            continue
        said = f"the core's {key}={value}"
        if key.startswith("SYMBOL(") and name in symbols and symbols[name][0] != number:
            return f"{name} is at {symbols[name][0]:#x} in the vmlinux, {said}"
        if key.startswith("SIZE("):
            ctype = types.get(VMCOREINFO_TYPES.get(name, ""))
            if ctype is not None and ctype.size != number:
                return f"sizeof({ctype.c_name}) is {ctype.size} in the vmlinux, {said}"
        if key.startswith("OFFSET(") and "." in name:
            short, member = name.split(".", 1)
            struct = strip_typedefs(types.get(VMCOREINFO_TYPES.get(short, ""), Void()))
            if isinstance(struct, Struct) and struct.has_member(member):
                have = struct.offsetof(member)
                if have != number:
                    return f"offsetof({struct.c_name}, {member}) is {have} in the vmlinux, {said}"
            elif isinstance(struct, Struct):
                return f"{struct.c_name} has no member {member} in the vmlinux, {said}"
    return None


def _base_types() -> dict[str, CType]:
    """The C base types of the i386 ABI: enough for addresses, words and raw reads."""
    spelled = [
        ("char", 1, True, True),
        ("unsigned char", 1, False, True),
        ("short", 2, True, False),
        ("unsigned short", 2, False, False),
        ("int", 4, True, False),
        ("unsigned int", 4, False, False),
        ("long", 4, True, False),
        ("unsigned long", 4, False, False),
        ("long long", 8, True, False),
        ("unsigned long long", 8, False, False),
    ]
    return {name: Base(name, size, signed, char=char) for name, size, signed, char in spelled}


def vmcoreinfo_tables(note: dict[str, str]) -> DebugTables:
    """What a core says of its kernel without a vmlinux: the addresses of its
    ``SYMBOL()`` lines (objects of unknown size), the C base types, no variables."""
    symbols: dict[str, SymbolEntry] = {}
    for key, value in note.items():
        if key.startswith("SYMBOL(") and key.endswith(")"):
            try:
                symbols[key[7:-1]] = (int(value, 16), 0, "object")
            except ValueError:
                continue
    return DebugTables(symbols, _base_types(), {})
