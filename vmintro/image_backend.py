"""A :class:`~vmintro.backend.Backend` over an image: ``NAME.vmcore`` and ``NAME.vmlinux``.

Memory comes from the core (:class:`~vmintro.image.reader.CoreFile`), symbols,
types and variables from the vmlinux's ``.symtab`` and DWARF, and the build
facts from the core's VMCOREINFO note. The readers' own exceptions stop here:
a bad file becomes one :class:`ImageError` with a one-line message, a read
outside RAM a :class:`~vmintro.errors.FaultError`.
"""

from __future__ import annotations

import os
from pathlib import Path

from vmintro.arch.paging import paging_mode
from vmintro.backend import SymbolEntry, TableBackend
from vmintro.errors import FaultError, VmintroError
from vmintro.image import reader
from vmintro.image.debuginfo import DebugInfoError, load_vmlinux
from vmintro.image.names import staged_files
from vmintro.image.vmcoreinfo import VMCOREINFO_TYPES
from vmintro.types.model import Base, CType, Struct, Void, strip_typedefs

__all__ = ["ImageBackend", "ImageError", "vmlinux_beside"]


class ImageError(VmintroError):
    """An image file that cannot be used; ``str()`` is one line naming the file."""


def vmlinux_beside(vmcore: str | os.PathLike[str]) -> Path:
    """``NAME.vmlinux`` next to ``NAME.vmcore`` (or next to ``NAME`` given bare)."""
    path = Path(vmcore)
    stem = path.with_suffix("") if path.suffix == ".vmcore" else path
    if not stem.name:  # "/" or "": no file name to put ".vmlinux" after
        return stem / ".vmlinux"
    return stem.with_name(stem.name + ".vmlinux")


def _vmcore_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.suffix != ".vmcore" and not p.exists():
        return p.with_name(p.name + ".vmcore")
    return p


def _mismatch(
    note: dict[str, str], symbols: dict[str, SymbolEntry], types: dict[str, CType]
) -> str | None:
    """The first VMCOREINFO fact the vmlinux contradicts, or None.

    The core's note records the kernel's own SYMBOL(), SIZE() and OFFSET()
    values; a vmlinux of another build (HIGHMEM or not, PAE or not, another
    image's layout) disagrees with at least one of them.
    """
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


def _vmcoreinfo_symbols(note: dict[str, str]) -> dict[str, SymbolEntry]:
    symbols: dict[str, SymbolEntry] = {}
    for key, value in note.items():
        if key.startswith("SYMBOL(") and key.endswith(")"):
            try:
                symbols[key[7:-1]] = (int(value, 16), 0, "object")
            except ValueError:
                continue
    return symbols


class ImageBackend(TableBackend):
    """The backend of an image on disk.

    ``vmcore_path`` may name the core or the image's base name (``images/demo``);
    the vmlinux defaults to the file of the same stem beside it.

    :raises ImageError: a missing, truncated or malformed file.
    """

    def __init__(
        self,
        vmcore_path: str | os.PathLike[str],
        vmlinux_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.vmcore_path = _vmcore_path(vmcore_path)
        beside = vmlinux_beside(self.vmcore_path)
        staged = staged_files(self.vmcore_path)  # a replacement being committed: its set
        if staged is not None:
            self.vmcore_path, beside = staged
        self.vmlinux_path = Path(vmlinux_path) if vmlinux_path is not None else beside
        try:
            self.core = reader.CoreFile(self.vmcore_path)
        except reader.ImageError as e:
            raise ImageError(str(e)) from None
        self.has_debuginfo = vmlinux_path is not None or self.vmlinux_path.exists()
        if self.has_debuginfo:
            try:
                symbols, info = load_vmlinux(self.vmlinux_path)
            except DebugInfoError as e:
                self.core.close()
                raise ImageError(str(e)) from None
            self._symbols: dict[str, SymbolEntry] = {
                name: (s.address, s.size, s.kind) for name, s in symbols.items()
            }
            self._types = info.types
            self._variables = info.variables
            mismatch = _mismatch(self.core.vmcoreinfo, self._symbols, self._types)
            if mismatch:
                self.core.close()
                raise ImageError(
                    f"{self.vmlinux_path.name} does not belong to {self.vmcore_path.name}: "
                    f"{mismatch}"
                )
        else:
            # No vmlinux: addresses from the core's VMCOREINFO SYMBOL() lines, as
            # makedumpfile and crash use them; without DWARF there are no types.
            self._symbols = _vmcoreinfo_symbols(self.core.vmcoreinfo)
            self._types = _base_types()
            self._variables = {}
        note = self.core.vmcoreinfo
        self._config = {
            "highmem": note.get("CONFIG_HIGHMEM") == "y",
            "pae": note.get("CONFIG_X86_PAE") == "y",
            "osrelease": note.get("OSRELEASE", ""),
            "ram_size": self.core.ram_size,
            "debuginfo": self.has_debuginfo,
        }

    def read_phys(self, paddr: int, size: int) -> bytes:
        try:
            return self.core.read_phys(paddr, size)
        except reader.MemoryFault as e:
            raise FaultError(paddr, f"could not read physical {paddr:#x}: {e}") from None

    @property
    def vmcoreinfo(self) -> dict[str, str]:
        """The core's VMCOREINFO note, key by key."""
        return dict(self.core.vmcoreinfo)

    def close(self) -> None:
        self.core.close()

    def __repr__(self) -> str:
        return f"<ImageBackend {self.vmcore_path} + {self.vmlinux_path.name}>"
