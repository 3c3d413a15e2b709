"""Types, variables and symbols read back from a ``.vmlinux`` with pyelftools.

The DWARF is turned into the same model classes the simulator uses
(:mod:`vmintro.types.model`), with every offset and size taken from the image,
so that a reader built on it checks the writer instead of sharing its
definitions. Whatever is wrong with the file, the caller sees one exception
type, :class:`DebugInfoError`, with a one-line message.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, BinaryIO, NamedTuple, TypeVar

from elftools.common.exceptions import DWARFError, ELFError
from elftools.dwarf.compileunit import CompileUnit
from elftools.dwarf.die import DIE
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import Section, SymbolTableSection

from vmintro.files import NotRegularFileError, open_regular
from vmintro.image.format.elf import (
    EHDR_SIZE,
    EM_386,
    MAX_VMLINUX_SECTIONS,
    SHDR_SIZE,
    SYM_SIZE,
)
from vmintro.types.model import (
    Array,
    Base,
    CType,
    Enum,
    Field,
    Function,
    LayoutError,
    Pointer,
    Struct,
    Typedef,
    Void,
    check_types,
    strip_typedefs,
)

__all__ = [
    "DebugInfo",
    "DebugInfoError",
    "SymbolInfo",
    "load_debuginfo",
    "load_symbols",
    "load_vmlinux",
    "open_elf",
]

Source = ELFFile | str | os.PathLike[str] | BinaryIO
T = TypeVar("T")

DW_OP_addr = 0x03
DW_OP_plus_uconst = 0x23
_SIGNED_ENCODINGS = {"DW_ATE_signed", "DW_ATE_signed_char"}
_CHAR_ENCODINGS = {"DW_ATE_signed_char", "DW_ATE_unsigned_char"}
_CU_RELATIVE_REFS = {
    "DW_FORM_ref1",
    "DW_FORM_ref2",
    "DW_FORM_ref4",
    "DW_FORM_ref8",
    "DW_FORM_ref_udata",
}
# Qualifiers the model does not represent: read through to the qualified type.
_TRANSPARENT_TAGS = {"DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type"}
_SYMBOL_KINDS = {"STT_OBJECT": "object", "STT_FUNC": "func"}
# Bounds on what a vmlinux may make the reader hold (pyelftools keeps about 2 KiB
# per DIE): a 2.4 kernel has some 10,000 symbols; its types and globals need far
# fewer DIEs than this.
MAX_SYMBOLS = 1 << 17
MAX_DIES = 1 << 16
# The largest __attribute__((aligned)) a struct may ask for: a page
MAX_ALIGNMENT = 4096

# Everything pyelftools, its bundled construct and our own decoding can raise
# on a malformed file; caught only at the public entry points.
_PARSE_ERRORS = (
    ELFError,
    DWARFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    OverflowError,
    EOFError,
    struct.error,
    RecursionError,
)


class DebugInfoError(Exception):
    """The vmlinux's ELF structure, symbol table or DWARF is unusable."""


class SymbolInfo(NamedTuple):
    """One ELF symbol: where it is, how big, and ``"object"``, ``"func"`` or ``"notype"``."""

    address: int
    size: int
    kind: str


@dataclass
class DebugInfo:
    """The types (by C name, as :attr:`KernelTypes.by_name` keys them) and variables of an image."""

    types: dict[str, CType] = field(default_factory=dict)
    variables: dict[str, tuple[int, CType]] = field(default_factory=dict)

    def struct(self, name: str) -> Struct:
        """The struct or union that ``name`` (``"struct page"``, ``"zone_t"``) denotes."""
        t = strip_typedefs(self.types[name])
        if not isinstance(t, Struct):
            raise KeyError(f"{name} is not a struct or union")
        return t


def _raised_in(exc: BaseException, path_end: str) -> bool:
    """Whether ``exc`` was raised by the module whose file name ends in ``path_end``."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith(path_end)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        # pyelftools looks up codes, forms and offsets read from the file in
        # dictionaries; a bare "125" or "'DW_FORM_null'" would say nothing.
        key = exc.args[0] if exc.args else None
        if isinstance(key, str) and key.startswith("DW_FORM_"):
            text = f"attribute form {key} cannot be decoded"
        else:
            text = f"no such code, form or offset: {key!r}"
    elif isinstance(exc, RecursionError):
        text = "types nested too deeply"
    elif isinstance(exc, AssertionError) and _raised_in(exc, "elftools/dwarf/structs.py"):
        # pyelftools asserts a unit's address size and says only the number read
        text = f"address size {' '.join(str(exc).split())} is neither 4 nor 8"
    else:
        text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _guarded(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except DebugInfoError:
        raise
    except _PARSE_ERRORS as exc:
        raise DebugInfoError(f"{what}: {_one_line(exc)}") from exc


def open_elf(source: Source) -> ELFFile:
    """An :class:`ELFFile` for ``source`` (a path, a binary stream or an ELFFile), validated.

    A path is read into memory so that no file handle outlives the call.
    Every section must lie inside the file.
    """
    if isinstance(source, ELFFile):
        elf = source
    else:
        if isinstance(source, (str, os.PathLike)):
            try:
                with open_regular(source) as f:
                    stream: BinaryIO = io.BytesIO(f.read())
            except NotRegularFileError as exc:
                raise DebugInfoError(str(exc.strerror)) from None
            except OSError as exc:
                raise DebugInfoError(f"cannot read: {exc.strerror or exc}") from None
        else:
            stream = source
        _check_header(stream)
        elf = _guarded("not a usable ELF file", lambda: ELFFile(stream))
    _guarded("bad section table", lambda: _check_sections(elf))
    return elf


def _file_size(stream: IO[bytes]) -> int:
    stream.seek(0, io.SEEK_END)
    return stream.tell()


def _check_header(stream: BinaryIO) -> None:
    # pyelftools reads the section header table while opening the file and
    # reports a truncated one obscurely, so check its bounds first.
    file_size = _file_size(stream)
    stream.seek(0)
    header = stream.read(EHDR_SIZE)
    stream.seek(0)
    if len(header) < EHDR_SIZE or header[:6] != b"\x7fELF\x01\x01":
        raise DebugInfoError("not an ELF32 little-endian file")
    (machine,) = struct.unpack_from("<H", header, 18)
    if machine != EM_386:
        raise DebugInfoError(f"not an i386 kernel (e_machine {machine}, expected {EM_386})")
    # e_shoff, e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    fields = struct.unpack_from("<IIHHHHHH", header, 32)
    shoff, shentsize, shnum, shstrndx = fields[0], *fields[5:]
    if shnum and shentsize != SHDR_SIZE:
        raise DebugInfoError(f"section header size is {shentsize}, not {SHDR_SIZE}")
    if shnum > MAX_VMLINUX_SECTIONS:
        raise DebugInfoError(
            f"{shnum} sections, more than a kernel has ({MAX_VMLINUX_SECTIONS} at most)"
        )
    end = shoff + shnum * SHDR_SIZE
    if end > file_size:
        raise DebugInfoError(
            f"section header table ends at {end:#x}, past the end of the file ({file_size:#x})"
        )
    if shnum and shstrndx >= shnum:
        raise DebugInfoError(f"section name table index {shstrndx} out of range")


def _check_sections(elf: ELFFile) -> None:
    file_size = _file_size(elf.stream)
    if elf.elfclass != 32 or not elf.little_endian:
        raise DebugInfoError("not an ELF32 little-endian file")
    for sec in elf.iter_sections():
        if sec["sh_type"] == "SHT_NOBITS":
            continue
        end = sec["sh_offset"] + sec["sh_size"]
        if end > file_size:
            raise DebugInfoError(
                f"section {sec.name or '#?'} ends at {end:#x}, past the end of the file "
                f"({file_size:#x})"
            )
        if sec["sh_flags"] & SHF_COMPRESSED:
            _check_compressed(elf, sec)


# gcc -gz: a section of sh_flags SHF_COMPRESSED starts with an Elf32_Chdr (ch_type,
# ch_size, ch_addralign); pyelftools inflates it on first use, trusting both.
SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1
_CHDR = struct.Struct("<III")
_ZLIB_MAX_RATIO = 1032  # deflate never expands to more than this many times its input


def _check_compressed(elf: ELFFile, sec: Section) -> None:
    name = sec.name or "#?"
    if sec["sh_size"] < _CHDR.size:
        raise DebugInfoError(f"section {name} is compressed but too short for its header")
    elf.stream.seek(sec["sh_offset"])
    ch_type, ch_size, _ = _CHDR.unpack(elf.stream.read(_CHDR.size))
    if ch_type != ELFCOMPRESS_ZLIB:
        raise DebugInfoError(
            f"section {name}: compression type {ch_type:#x} is not zlib ({ELFCOMPRESS_ZLIB})"
        )
    if ch_size > (sec["sh_size"] - _CHDR.size) * _ZLIB_MAX_RATIO:
        raise DebugInfoError(
            f"section {name}: uncompressed size {ch_size:#x} is more than zlib can make of "
            f"{sec['sh_size'] - _CHDR.size:#x} bytes"
        )


def load_symbols(source: Source) -> dict[str, SymbolInfo]:
    """Every named object, function and label of ``.symtab``.

    A global symbol wins over a local one of the same name.

    :raises DebugInfoError: no ``.symtab``, or a malformed one.
    """
    elf = open_elf(source)
    return _guarded("bad symbol table", lambda: _read_symbols(elf))


def _read_symbols(elf: ELFFile) -> dict[str, SymbolInfo]:
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        raise DebugInfoError("no .symtab section")
    # pyelftools reads past these mistakes silently (a name outside .strtab
    # comes back empty), so check what a symbol's meaning depends on.
    entsize = symtab["sh_entsize"]
    if entsize != SYM_SIZE or symtab["sh_size"] % SYM_SIZE:
        raise DebugInfoError(
            f".symtab: entry size {entsize} and size {symtab['sh_size']} do not fit "
            f"{SYM_SIZE}-byte symbols"
        )
    link = symtab["sh_link"]
    if not 0 < link < elf.num_sections() or elf.get_section(link)["sh_type"] != "SHT_STRTAB":
        raise DebugInfoError(f".symtab: sh_link {link} is not a string table")
    strtab_size = elf.get_section(link)["sh_size"]
    count = symtab["sh_size"] // SYM_SIZE
    if count > MAX_SYMBOLS:
        raise DebugInfoError(f".symtab: {count} symbols, more than a kernel has ({MAX_SYMBOLS})")
    if symtab["sh_info"] > count:
        raise DebugInfoError(f".symtab: first global {symtab['sh_info']} is past {count} symbols")
    out: dict[str, SymbolInfo] = {}
    local: set[str] = set()
    for index, sym in enumerate(symtab.iter_symbols()):
        if sym["st_name"] >= max(strtab_size, 1):
            raise DebugInfoError(f".symtab: symbol {index} has its name outside .strtab")
        info = sym["st_info"]
        if info["type"] in ("STT_SECTION", "STT_FILE") or not sym.name:
            continue
        # pyelftools decodes with "replace": U+FFFD marks bytes that were not UTF-8.
        if not sym.name.isprintable() or "\ufffd" in sym.name:
            raise DebugInfoError(
                f".symtab: symbol {index} (name at .strtab offset {sym['st_name']:#x}) "
                f"holds a control character or bytes that are not UTF-8"
            )
        is_local = info["bind"] == "STB_LOCAL"
        if sym.name in out and (is_local or sym.name not in local):
            continue
        (local.add if is_local else local.discard)(sym.name)
        kind = _SYMBOL_KINDS.get(info["type"], "notype")
        out[sym.name] = SymbolInfo(sym["st_value"], sym["st_size"], kind)
    return out


def load_debuginfo(source: Source) -> DebugInfo:
    """The types and variables described by the image's DWARF.

    :raises DebugInfoError: no DWARF, or DWARF this reader cannot make sense
        of; the message says where in ``.debug_info`` (the DIE's offset).
    """
    elf = open_elf(source)
    if not _guarded("bad section table", elf.has_dwarf_info):
        raise DebugInfoError("no DWARF debugging information (.debug_info)")
    converter = _guarded("bad DWARF", lambda: _Converter(elf))
    try:
        return converter.run()
    except DebugInfoError as exc:
        raise DebugInfoError(f"bad DWARF in .debug_info: {exc}") from None
    except _PARSE_ERRORS as exc:
        raise DebugInfoError(
            f"bad DWARF in .debug_info at {converter.where}: {_one_line(exc)}"
        ) from None


def load_vmlinux(
    path: str | os.PathLike[str], data: bytes | None = None
) -> tuple[dict[str, SymbolInfo], DebugInfo]:
    """The symbols and the DWARF types and variables of the vmlinux at ``path``
    (of ``data``, its bytes as read earlier, when given).

    :raises DebugInfoError: ``"NAME.vmlinux: what is wrong (where)"``, one line.
    """
    try:
        elf = open_elf(path if data is None else io.BytesIO(data))
        return load_symbols(elf), load_debuginfo(elf)
    except DebugInfoError as exc:
        raise DebugInfoError(f"{os.path.basename(os.fspath(path))}: {exc}") from None


class _Converter:
    """Builds model types from DIEs, each DIE converted once."""

    def __init__(self, elf: ELFFile) -> None:
        self._dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
        self._dies: dict[int, tuple[DIE, CompileUnit]] = {}
        self._done: dict[int, CType] = {}
        # DIEs on the conversion path since the last struct: a chain that
        # comes back to one of them without passing through a struct (whose
        # object exists before its members) is a cycle no C type can have.
        self._path: set[int] = set()
        self._void = Void()
        # What is being read, for the message when pyelftools fails there.
        self.where = "the first compile unit header"

    def run(self) -> DebugInfo:
        info = DebugInfo()
        self._index_dies()
        for offset, (die, _) in self._dies.items():
            self.where = f"DIE {offset:#x}"
            if die.tag == "DW_TAG_variable":
                self._variable(die, info)
            else:
                name = self._type_key(die)
                if name is not None:
                    self._register(info, name, self.convert(offset))
        self._check_types()
        return info

    def _index_dies(self) -> None:
        """Parse every DIE once, keeping ``where`` at the one being parsed."""
        next_cu = 0
        units = self._dwarf.iter_CUs()
        while True:
            self.where = f"the compile unit header at {next_cu:#x}"
            cu = next(units, None)
            if cu is None:
                return
            next_cu = cu.cu_offset + cu.size
            if cu["address_size"] != 4:
                raise DebugInfoError(f"compile unit at {cu.cu_offset:#x}: address size is not 4")
            pos = cu.cu_die_offset
            dies = cu.iter_DIEs()
            while True:
                self.where = f"DIE {pos:#x}"
                self._check_abbrev(cu, pos)
                try:
                    die = next(dies, None)
                except KeyError as exc:
                    # pyelftools maps the abbreviation's form codes through a dict
                    raise DebugInfoError(
                        f"DIE {pos:#x}: its abbreviation gives an attribute the unknown "
                        f"form {exc.args[0]!r}"
                    ) from None
                if die is None:
                    break
                pos = die.offset + die.size
                if not die.is_null():
                    self._dies[die.offset] = (die, cu)
                    if len(self._dies) > MAX_DIES:
                        raise DebugInfoError(
                            f"DIE {die.offset:#x}: more than {MAX_DIES} DIEs, more types and "
                            f"variables than a kernel's vmlinux describes"
                        )

    def _check_abbrev(self, cu: CompileUnit, pos: int) -> None:
        """The abbreviation code of the DIE at ``pos`` must be in the unit's table."""
        info = self._dwarf.debug_info_sec
        assert info is not None  # the DWARF was read from it
        stream = info.stream
        end = cu.cu_offset + cu.size
        if pos >= end:
            return
        stream.seek(pos)
        code, shift = 0, 0
        for byte in stream.read(min(10, end - pos)):
            code |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if not code:
            return  # a null entry, closing a list of children
        try:
            table = cu.get_abbrev_table()
        except _PARSE_ERRORS as exc:
            raise DebugInfoError(
                f"the .debug_abbrev table at {cu['debug_abbrev_offset']:#x} (of the compile "
                f"unit at {cu.cu_offset:#x}) cannot be read: {_one_line(exc)}"
            ) from None
        try:
            table.get_abbrev(code)
        except KeyError:
            raise DebugInfoError(
                f"DIE {pos:#x}: abbreviation code {code} is not in .debug_abbrev "
                f"(the table at {cu['debug_abbrev_offset']:#x})"
            ) from None

    def _check_types(self) -> None:
        """Refuse types no i386 build could have, naming the DIE of the first one."""
        offsets = {id(t): offset for offset, t in self._done.items()}
        try:
            check_types(list(self._done.values()))
        except LayoutError as exc:
            offset = offsets.get(id(exc.ctype))
            where = f"DIE {offset:#x}: " if offset is not None else ""
            raise DebugInfoError(f"{where}impossible type: {exc}") from None

    @staticmethod
    def _register(info: DebugInfo, name: str, ctype: CType) -> None:
        # A definition replaces a declaration of the same struct.
        old = info.types.get(name)
        if old is None or (isinstance(old, Struct) and not old.complete):
            info.types[name] = ctype

    def _type_key(self, die: DIE) -> str | None:
        name = _name(die)
        if name is None:
            return None
        if die.tag in ("DW_TAG_base_type", "DW_TAG_typedef"):
            return name
        if die.tag == "DW_TAG_structure_type":
            return f"struct {name}"
        if die.tag == "DW_TAG_union_type":
            return f"union {name}"
        if die.tag == "DW_TAG_enumeration_type":
            return f"enum {name}"
        return None

    def _variable(self, die: DIE, info: DebugInfo) -> None:
        loc = die.attributes.get("DW_AT_location")
        # DWARF 2/3 spell an expression as a block; other forms are location lists.
        if loc is None or not isinstance(loc.value, list):
            return
        expr = loc.value
        if len(expr) != 5 or expr[0] != DW_OP_addr:
            return
        spec = die
        if "DW_AT_specification" in die.attributes:
            spec = self._die(self._ref(die, "DW_AT_specification"), die, "DW_AT_specification")
        name = _name(die) or _name(spec)
        if name is None:
            raise DebugInfoError(f"variable DIE at {die.offset:#x} has no name")
        info.variables[name] = (int.from_bytes(bytes(expr[1:]), "little"), self._type_of(spec))

    # -- references -------------------------------------------------------

    def _ref(self, die: DIE, attr: str) -> int:
        value = die.attributes[attr]
        if value.form in _CU_RELATIVE_REFS:
            return value.value + die.cu.cu_offset
        if value.form == "DW_FORM_ref_addr":
            return value.value
        raise DebugInfoError(f"DIE at {die.offset:#x}: {attr} has form {value.form}")

    def _die(self, offset: int, referrer: DIE | None = None, attr: str = "") -> DIE:
        hit = self._dies.get(offset)
        if hit is None:
            source = (
                f"{_tag(referrer)} at {referrer.offset:#x}: {attr} refers"
                if referrer
                else "a reference points"
            )
            raise DebugInfoError(f"{source} to {offset:#x}, where no DIE starts")
        return hit[0]

    def _type_of(self, die: DIE) -> CType:
        if "DW_AT_type" not in die.attributes:
            return self._void
        target = self._ref(die, "DW_AT_type")
        self._die(target, die, "DW_AT_type")  # a dangling reference names its DIE
        return self.convert(target)

    # -- conversion -------------------------------------------------------

    def convert(self, offset: int) -> CType:
        """The model type for the DIE at ``offset`` (absolute in ``.debug_info``)."""
        done = self._done.get(offset)
        if done is not None:
            return done
        if offset in self._path:
            raise DebugInfoError(f"type DIE at {offset:#x} refers to itself")
        die = self._die(offset)
        if die.tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):
            return self._struct(die)
        self._path.add(offset)
        try:
            ctype = self._simple(die)
        finally:
            self._path.discard(offset)
        self._done[offset] = ctype
        return ctype

    def _simple(self, die: DIE) -> CType:
        tag = die.tag
        if tag == "DW_TAG_base_type":
            encoding = _attr(die, "DW_AT_encoding")
            name = _name(die) or "?"
            enc = _ENCODING_NAMES.get(encoding, "")
            return Base(name, _size(die), enc in _SIGNED_ENCODINGS, enc in _CHAR_ENCODINGS)
        if tag == "DW_TAG_pointer_type":
            size = _attr(die, "DW_AT_byte_size", 4)
            return Pointer(self._type_of(die), size)
        if tag == "DW_TAG_typedef":
            return Typedef(_name(die) or "?", self._type_of(die))
        if tag == "DW_TAG_array_type":
            return self._array(die)
        if tag == "DW_TAG_subroutine_type":
            params = [
                self._type_of(child)
                for child in die.iter_children()
                if child.tag == "DW_TAG_formal_parameter"
            ]
            return Function(self._type_of(die), params)
        if tag == "DW_TAG_enumeration_type":
            enumerators = [
                (_name(child) or "?", _attr(child, "DW_AT_const_value"))
                for child in die.iter_children()
                if child.tag == "DW_TAG_enumerator"
            ]
            return Enum(_name(die) or "", enumerators, _attr(die, "DW_AT_byte_size", 4))
        if tag in _TRANSPARENT_TAGS:
            return self._type_of(die)
        raise DebugInfoError(f"DIE at {die.offset:#x}: {_tag(die)} is not a type vmintro knows")

    def _array(self, die: DIE) -> CType:
        element = self._type_of(die)
        counts = []
        for child in die.iter_children():
            if child.tag != "DW_TAG_subrange_type":
                continue
            if "DW_AT_count" in child.attributes:
                counts.append(_attr(child, "DW_AT_count"))
            elif "DW_AT_upper_bound" in child.attributes:
                lower = _attr(child, "DW_AT_lower_bound", 0)
                counts.append(_attr(child, "DW_AT_upper_bound") - lower + 1)
            else:
                counts.append(0)  # a flexible array: `unsigned long map[]`
        if not counts:
            counts = [0]
        # int a[2][3] is one DIE with two subranges: an array of arrays.
        ctype: CType = element
        for count in reversed(counts):
            if count < 0:
                raise DebugInfoError(f"array DIE at {die.offset:#x} has {count} elements")
            ctype = Array(ctype, count)
        return ctype

    def _struct(self, die: DIE) -> Struct:
        s = Struct(_name(die), union=die.tag == "DW_TAG_union_type")
        self._done[die.offset] = s
        if "DW_AT_declaration" in die.attributes:
            return s
        saved, self._path = self._path, set()
        try:
            fields = [
                self._member(child) for child in die.iter_children() if child.tag == "DW_TAG_member"
            ]
        finally:
            self._path = saved
        align = max((f.type.align for f in fields), default=1)
        explicit = _attr(die, "DW_AT_alignment", align)  # __attribute__((aligned(N)))
        if explicit & (explicit - 1) or not 0 < explicit <= MAX_ALIGNMENT:
            raise DebugInfoError(f"struct DIE at {die.offset:#x}: alignment {explicit}")
        return s.define_at(fields, _size(die), max(align, explicit))

    def _member(self, die: DIE) -> Field:
        ctype = self._type_of(die)
        name = _name(die) or ""
        bit_size = _attr(die, "DW_AT_bit_size", 0)
        if not bit_size:
            return Field(name, ctype, self._member_location(die), volatile=self._volatile(die))
        if "DW_AT_data_bit_offset" in die.attributes:
            bits = _attr(die, "DW_AT_data_bit_offset")
        else:
            # DWARF 2/3 bitfield: DW_AT_bit_offset counts from the most
            # significant bit of a DW_AT_byte_size storage unit.
            unit = _attr(die, "DW_AT_byte_size", ctype.size)
            msb_offset = _attr(die, "DW_AT_bit_offset", 0)
            bits = self._member_location(die) * 8 + unit * 8 - msb_offset - bit_size
        unit_bytes = max(strip_typedefs(ctype).size, 1)
        offset = bits // (unit_bytes * 8) * unit_bytes
        return Field(name, ctype, offset, bit_size, bits - offset * 8)

    def _volatile(self, die: DIE) -> bool:
        """Whether the member's declared type is ``volatile``-qualified."""
        if "DW_AT_type" not in die.attributes:
            return False
        return self._die(self._ref(die, "DW_AT_type"), die).tag == "DW_TAG_volatile_type"

    @staticmethod
    def _member_location(die: DIE) -> int:
        attr = die.attributes.get("DW_AT_data_member_location")
        if attr is None:
            return 0  # union members
        if attr.form == "DW_FORM_exprloc" or isinstance(attr.value, list):
            expr = list(attr.value)
            if not expr or expr[0] != DW_OP_plus_uconst:
                raise DebugInfoError(f"member DIE at {die.offset:#x}: unsupported location")
            return _uleb(expr[1:])
        if not isinstance(attr.value, int) or attr.value < 0:
            raise DebugInfoError(f"member DIE at {die.offset:#x}: bad location")
        return attr.value


_ENCODING_NAMES = {
    0x02: "DW_ATE_boolean",
    0x05: "DW_ATE_signed",
    0x06: "DW_ATE_signed_char",
    0x07: "DW_ATE_unsigned",
    0x08: "DW_ATE_unsigned_char",
}


def _name(die: DIE) -> str | None:
    attr = die.attributes.get("DW_AT_name")
    if attr is None:
        return None
    value = attr.value
    if not isinstance(value, bytes):
        raise DebugInfoError(f"{_tag(die)} at {die.offset:#x}: DW_AT_name is not a string")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise DebugInfoError(
            f"{_tag(die)} at {die.offset:#x}: DW_AT_name {value[:40]!r} is not UTF-8"
        ) from None
    # Names reach terminals and pictures: a C name never holds control characters.
    if not text.isprintable():
        raise DebugInfoError(
            f"{_tag(die)} at {die.offset:#x}: DW_AT_name {value[:40]!r} holds a control character"
        )
    return text


def _tag(die: DIE) -> str:
    """The DIE's tag by name, or in hex when pyelftools does not know it."""
    return die.tag if isinstance(die.tag, str) else f"tag {die.tag:#x}"


def _attr(die: DIE, name: str, default: int | None = None) -> int:
    attr = die.attributes.get(name)
    if attr is None:
        if default is None:
            raise DebugInfoError(f"{die.tag} at {die.offset:#x} has no {name}")
        return default
    if not isinstance(attr.value, int) or isinstance(attr.value, bool):
        raise DebugInfoError(f"{die.tag} at {die.offset:#x}: {name} is not a constant")
    return attr.value


def _size(die: DIE) -> int:
    size = _attr(die, "DW_AT_byte_size")
    if size < 0:
        raise DebugInfoError(f"{die.tag} at {die.offset:#x} has negative size {size}")
    return size


def _uleb(data: list[int]) -> int:
    value = 0
    for shift, byte in enumerate(data):
        value |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            return value
    raise DebugInfoError("truncated LEB128 in a location expression")
