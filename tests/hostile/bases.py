"""The images the fuzzer starts from, and where their fields lie in the files.

Everything here reads the *unmutated* bundled images, with pyelftools and vmintro's
own reader: finding a field through its symbol and its type is what lets a mutation
aim at ``vmlist->next`` or a member's ``DW_AT_data_member_location`` instead of a
random byte. Nothing here ever opens a mutated file.
"""

from __future__ import annotations

import functools
import io
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

import vmintro
from vmintro.errors import FaultError, VmintroError
from vmintro.program import Program
from vmintro.types.model import Array, Base, CType, Enum, Pointer, Struct, strip_typedefs

__all__ = [
    "BaseImage",
    "DwarfAttr",
    "Facts",
    "Field",
    "Note",
    "TextField",
    "base_images",
]

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"

MAX_LIST = 64  # entries followed on a list of the unmutated image (one of them has a cycle)
MAX_ARRAY = 64  # elements of a big array offered as targets, a fixed sample of them


@dataclass(frozen=True)
class Facts:
    """Addresses the entry points are asked about, taken from the unmutated image."""

    area: int  # the first vmalloc area's address
    vm_struct: int  # the vm_struct vmlist points at
    paddr: int  # the physical address behind ``area``

    @property
    def pfn(self) -> int:
        return self.paddr >> 12


@dataclass(frozen=True)
class Field:
    """A scalar of kernel memory that the core stores: where it is and what it holds."""

    group: str  # "vmlist", "pages", "pgdat", "pagetables", ...
    path: str  # "vmlist[2].next", "contig_page_data.node_zones[1].size"
    vaddr: int
    offset: int  # in the vmcore file
    size: int
    value: int
    pointer: bool
    owner: int  # address of the structure holding it: a pointer there makes a cycle


@dataclass(frozen=True)
class TextField:
    """A NUL-terminated string of kernel memory (a zone's or a module's name)."""

    path: str
    offset: int  # in the vmcore file
    room: int  # bytes the core stores from there on, up to a limit


@dataclass(frozen=True)
class Note:
    """One ELF note of the core, as read from the unmutated file."""

    name: bytes  # without the NUL
    type: int
    desc: bytes
    header_offset: int  # file offset of n_namesz


@dataclass(frozen=True)
class DwarfAttr:
    """One attribute value in ``.debug_info``: its DIE and where its bytes are."""

    name: str
    form: str
    tag: str
    die: int  # the DIE's offset in .debug_info
    parent: int | None  # the enclosing DIE's offset
    value: object  # as pyelftools decodes it (a name's text for DW_FORM_strp)
    raw: int  # the number stored (0 for forms that store none, as DW_FORM_exprloc)
    offset: int  # file offset of the value's first byte
    length: int  # bytes the value takes


def struct_type(prog: Program, name: str) -> Struct:
    """The struct ``name`` of the unmutated image's types."""
    ctype = strip_typedefs(prog.type(name))
    assert isinstance(ctype, Struct), name
    return ctype


def base_stems() -> list[Path]:
    """``images/demo`` and ``images/exercises/*/NAME``, in a fixed order seeds index into."""
    stems = [IMAGES / "demo"]
    stems += sorted(p.with_suffix("") for p in (IMAGES / "exercises").glob("*/*.vmcore"))
    return stems


@functools.cache
def base_images() -> tuple[BaseImage, ...]:
    return tuple(BaseImage(stem) for stem in base_stems())


def _leb128_length(data: bytes, offset: int) -> int:
    n = 0
    while data[offset + n] & 0x80:
        n += 1
    return n + 1


_FIXED_FORMS = {
    "DW_FORM_data1": 1,
    "DW_FORM_ref1": 1,
    "DW_FORM_flag": 1,
    "DW_FORM_data2": 2,
    "DW_FORM_ref2": 2,
    "DW_FORM_data4": 4,
    "DW_FORM_ref4": 4,
    "DW_FORM_strp": 4,
    "DW_FORM_addr": 4,
    "DW_FORM_sec_offset": 4,
    "DW_FORM_ref_addr": 4,
    "DW_FORM_data8": 8,
    "DW_FORM_flag_present": 0,
}


class BaseImage:
    """A bundled image: its bytes, the facts commands are asked about, its fields."""

    def __init__(self, stem: Path) -> None:
        self.stem = stem
        self.name = stem.name
        self.core = (stem.parent / f"{stem.name}.vmcore").read_bytes()
        self.vmlinux = (stem.parent / f"{stem.name}.vmlinux").read_bytes()

    def __repr__(self) -> str:
        return f"<BaseImage {self.name}>"

    # -- the unmutated image through vmintro's reader --------------------------------------

    @functools.cached_property
    def prog(self) -> Program:
        return vmintro.open(str(self.stem))

    def _chain(self, head: str, struct: str) -> list[int]:
        """The structures linked from global ``head`` by ``next``, in order, stopping at a
        repeat (one exercise has a cycle) or at a pointer to memory nothing maps (one has
        a wild ``next``)."""
        prog, seen, out = self.prog, set[int](), list[int]()
        node = prog[head].value_()
        next_offset = struct_type(prog, struct).offsetof("next")
        while node and node not in seen and len(out) < MAX_LIST:
            try:
                following = prog.read_u32(node + next_offset)
            except FaultError:
                break
            seen.add(node)
            out.append(node)
            node = following
        return out

    @functools.cached_property
    def vm_structs(self) -> list[int]:
        return self._chain("vmlist", "struct vm_struct")

    @functools.cached_property
    def facts(self) -> Facts:
        prog = self.prog
        first = self.vm_structs[0]
        area = prog.read_u32(first + struct_type(prog, "struct vm_struct").offsetof("addr"))
        return Facts(area=area, vm_struct=first, paddr=prog.translate(area))

    @functools.cached_property
    def segments(self) -> list[tuple[int, int, int]]:
        """(p_paddr, p_offset, p_filesz) of each PT_LOAD of the core."""
        elf = ELFFile(io.BytesIO(self.core))
        return [
            (s["p_paddr"], s["p_offset"], s["p_filesz"])
            for s in elf.iter_segments()
            if s["p_type"] == "PT_LOAD"
        ]

    def file_offset(self, vaddr: int, size: int = 1) -> int | None:
        """Where the core stores ``size`` bytes at kernel address ``vaddr``, if it does."""
        try:
            paddr = self.prog.translate(vaddr)
        except VmintroError:
            return None
        for start, offset, length in self.segments:
            if start <= paddr and paddr + size <= start + length:
                return offset + paddr - start
        return None

    # -- kernel memory ---------------------------------------------------------------------

    def _leaves(
        self, group: str, path: str, ctype: CType, vaddr: int, owner: int
    ) -> Iterator[Field]:
        t = strip_typedefs(ctype)
        if isinstance(t, Struct):
            for f in t.fields:
                if f.bit_size:
                    continue
                yield from self._leaves(group, f"{path}.{f.name}", f.type, vaddr + f.offset, vaddr)
        elif isinstance(t, Array):
            element = strip_typedefs(t.element)
            if isinstance(element, Base) and element.size == 1:
                return  # char arrays: text, not numbers
            indexes = list(range(t.count))
            if t.count > MAX_ARRAY:
                indexes = sorted(random.Random(path).sample(indexes, MAX_ARRAY))
            for i in indexes:
                yield from self._leaves(
                    group, f"{path}[{i}]", t.element, vaddr + i * element.size, owner
                )
        elif isinstance(t, (Base, Enum, Pointer)) and t.size in (1, 2, 4, 8):
            offset = self.file_offset(vaddr, t.size)
            if offset is None:
                return
            value = int.from_bytes(self.core[offset : offset + t.size], "little")
            yield Field(group, path, vaddr, offset, t.size, value, isinstance(t, Pointer), owner)

    def _struct_fields(self, group: str, path: str, type_name: str, vaddr: int) -> list[Field]:
        return list(self._leaves(group, path, self.prog.type(type_name), vaddr, vaddr))

    @functools.cached_property
    def fields(self) -> dict[str, list[Field]]:
        """Every scalar a mutation may aim at, by group."""
        prog = self.prog
        groups: dict[str, list[Field]] = {}
        for sym in prog.symbols():
            if sym.name in ("swapper_pg_dir", "pg0", "pg1", "empty_zero_page"):
                continue  # page tables have a group of their own; the zero page is data
            try:
                var = prog.variable(sym.name)
                vaddr, ctype = var.address_, var.type_
            except VmintroError:
                continue
            group = _global_group(sym.name)
            leaves = self._leaves(group, sym.name, ctype, vaddr, vaddr)
            groups.setdefault(group, []).extend(f for f in leaves if self._in_use(f.path))
        groups["vmlist"] = [
            f
            for i, node in enumerate(self.vm_structs)
            for f in self._struct_fields("vmlist", f"vmlist[{i}]", "struct vm_struct", node)
        ]
        groups["pages"] = self._page_fields()
        groups["modules"] = groups.get("modules", []) + self._module_fields()
        groups["pagetables"] = self._page_table_fields()
        groups["swap"] = groups.get("swap", []) + self._swap_map_fields()
        return {k: v for k, v in groups.items() if v}

    def _in_use(self, path: str) -> bool:
        """Whether anything reads the field: not swap_info past the next free slot, not
        the zonelists (the allocator's, which no command walks)."""
        if path.startswith("swap_info["):
            return int(path[10 : path.index("]")]) <= self.prog["nr_swapfiles"].value_()
        return ".node_zonelists[" not in path

    def _page_fields(self) -> list[Field]:
        """struct page of the frames behind the first areas, of free-list heads, of a few
        fixed frames."""
        prog = self.prog
        mem_map = prog["mem_map"].value_()
        size = prog.type("struct page").size
        max_mapnr = prog["max_mapnr"].value_()
        pfns = {0, max_mapnr - 1, self.facts.pfn}
        pfns.update(random.Random(self.name).sample(range(max_mapnr), 4))
        list_offset = struct_type(prog, "struct page").offsetof("list")
        zones = prog["contig_page_data"].member_("node_zones")
        for z in range(len(zones.value_())):
            for order in range(10):
                head = zones[z].member_("free_area")[order].member_("free_list")
                first = head.member_("next").value_()
                if first != head.address_:
                    pfns.add((first - list_offset - mem_map) // size)
        out = []
        for pfn in sorted(p for p in pfns if 0 <= p < max_mapnr):
            out += self._struct_fields(
                "pages", f"mem_map[{pfn}]", "struct page", mem_map + pfn * size
            )
        return out

    def _modules(self) -> list[int]:
        return self._chain("module_list", "struct module")

    def _module_fields(self) -> list[Field]:
        return [
            f
            for i, m in enumerate(self._modules())
            for f in self._struct_fields("modules", f"module_list[{i}]", "struct module", m)
        ]

    def _page_table_fields(self) -> list[Field]:
        """Every entry the walks of the first and the last area's pages read, and the
        lowmem entry of the kernel image."""
        prog = self.prog
        out: dict[int, Field] = {}
        last = self.vm_structs[-1]
        addr_offset = struct_type(prog, "struct vm_struct").offsetof("addr")
        vaddrs = [self.facts.area, self.facts.area + 0x1000, prog.read_u32(last + addr_offset)]
        vaddrs.append(prog.symbol("vmlist").address)
        for vaddr in vaddrs:
            walk = prog.follow_pte(vaddr)
            for step in walk.steps:
                if step.entry_vaddr is None:
                    continue
                offset = self.file_offset(step.entry_vaddr, walk.entry_size)
                if offset is None:
                    continue
                value = int.from_bytes(self.core[offset : offset + walk.entry_size], "little")
                path = f"{step.level}[{step.index}] for {vaddr:#x}"
                out[offset] = Field(
                    "pagetables", path, step.entry_vaddr, offset, walk.entry_size, value, False, 0
                )
        return list(out.values())

    def _swap_map_fields(self) -> list[Field]:
        """A few entries of each swap area's swap_map (vmalloc'ed: it sits in an area)."""
        prog = self.prog
        out = []
        for i in range(prog["nr_swapfiles"].value_()):
            si = prog["swap_info"][i]
            base, count = si.member_("swap_map").value_(), si.member_("max").value_()
            if not base or not count:
                continue
            picks = {0, 1, count - 1} | set(
                random.Random(f"{self.name}{i}").sample(range(count), 4)
            )
            for j in sorted(picks):
                vaddr = base + 2 * j
                offset = self.file_offset(vaddr, 2)
                if offset is None:
                    continue
                value = int.from_bytes(self.core[offset : offset + 2], "little")
                out.append(
                    Field(
                        "swap",
                        f"swap_info[{i}].swap_map[{j}]",
                        vaddr,
                        offset,
                        2,
                        value,
                        False,
                        base,
                    )
                )
        return out

    @functools.cached_property
    def texts(self) -> list[TextField]:
        """The zone and module names: text the commands print."""
        prog = self.prog
        pointers = []
        zones = prog["contig_page_data"].member_("node_zones")
        for z in range(len(zones.value_())):
            pointers.append((f"node_zones[{z}].name", zones[z].member_("name").value_()))
        name_offset = struct_type(prog, "struct module").offsetof("name")
        for i, m in enumerate(self._modules()):
            pointers.append((f"module_list[{i}].name", prog.read_u32(m + name_offset)))
        out = []
        for path, vaddr in pointers:
            offset, room = self.file_offset(vaddr), 0
            while room < 256 and self.file_offset(vaddr + room) is not None:
                room += 1
            if offset is not None:
                out.append(TextField(path, offset, room))
        return out

    # -- ELF notes -------------------------------------------------------------------------

    @functools.cached_property
    def note_segment(self) -> tuple[int, list[Note]]:
        """The PT_NOTE's index among the program headers, and its notes."""
        elf = ELFFile(io.BytesIO(self.core))
        for index, seg in enumerate(elf.iter_segments()):
            if seg["p_type"] != "PT_NOTE":
                continue
            notes, pos, end = [], seg["p_offset"], seg["p_offset"] + seg["p_filesz"]
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", self.core, pos)
                name_at = pos + 12
                desc_at = name_at + (namesz + 3) // 4 * 4
                name = self.core[name_at : name_at + namesz].rstrip(b"\0")
                notes.append(Note(name, ntype, self.core[desc_at : desc_at + descsz], pos))
                pos = desc_at + (descsz + 3) // 4 * 4
            return index, notes
        raise AssertionError(f"{self.name}: no PT_NOTE")

    # -- the vmlinux -----------------------------------------------------------------------

    @functools.cached_property
    def sections(self) -> dict[str, tuple[int, int, int]]:
        """name -> (file offset of its section header, sh_offset, sh_size)."""
        elf = ELFFile(io.BytesIO(self.vmlinux))
        shoff, shentsize = elf["e_shoff"], elf["e_shentsize"]
        return {
            s.name: (shoff + i * shentsize, s["sh_offset"], s["sh_size"])
            for i, s in enumerate(elf.iter_sections())
        }

    @functools.cached_property
    def symtab_entries(self) -> list[tuple[str, int]]:
        """(name, file offset of its Elf32_Sym) of every symbol."""
        elf = ELFFile(io.BytesIO(self.vmlinux))
        symtab = elf.get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        start = symtab["sh_offset"]
        return [(s.name, start + 16 * i) for i, s in enumerate(symtab.iter_symbols())]

    @functools.cached_property
    def dwarf(self) -> tuple[list[DwarfAttr], list[int]]:
        """Every attribute of ``.debug_info`` with where its value is, and the file offsets
        of the compilation units' headers."""
        elf = ELFFile(io.BytesIO(self.vmlinux))
        info = elf.get_dwarf_info()
        start = self.sections[".debug_info"][1]
        attrs, units = [], []
        for cu in info.iter_CUs():
            units.append(start + cu.cu_offset)
            for die in cu.iter_DIEs():
                parent = die.get_parent()
                for attr in die.attributes.values():
                    offset = start + attr.offset
                    length = _FIXED_FORMS.get(attr.form)
                    if length is None:
                        length = _value_length(self.vmlinux, offset, attr.form)
                    attrs.append(
                        DwarfAttr(
                            attr.name,
                            attr.form,
                            str(die.tag),
                            die.offset,
                            parent.offset if parent is not None else None,
                            attr.value,
                            attr.raw_value if isinstance(attr.raw_value, int) else 0,
                            offset,
                            length,
                        )
                    )
        return attrs, units


def _value_length(data: bytes, offset: int, form: str) -> int:
    if form in ("DW_FORM_udata", "DW_FORM_sdata"):
        return _leb128_length(data, offset)
    if form == "DW_FORM_exprloc":
        n = _leb128_length(data, offset)
        return n + sum((data[offset + i] & 0x7F) << (7 * i) for i in range(n))
    raise AssertionError(f"unexpected form {form}")


def _global_group(name: str) -> str:
    if name.startswith(("swap", "nr_swap", "total_swap")):
        return "swap"
    if name in ("contig_page_data", "pgdat_list", "zone_table", "contig_bootmem_data"):
        return "pgdat"
    if name in ("kernel_module", "module_list"):
        return "modules"
    if name in ("cache_cache", "cache_sizes", "init_mm"):
        return "kernel"
    return "mm"  # mem_map, max_mapnr, vmlist, high_memory, the pfn limits
