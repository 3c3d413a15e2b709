"""ELF little-endian i386, as an image's two files use it (``elf.h``'s names).

The core (``NAME.vmcore``) is an ``ET_CORE`` of ``PT_NOTE`` and ``PT_LOAD``
segments; the vmlinux (``NAME.vmlinux``) an ``ET_EXEC`` of sections. The sizes
are those of the 32-bit structures (``Elf32_Ehdr`` is 52 bytes, and so on);
the writer's structure definitions are checked against them.

The core is ELF32 unless it stores a frame at or above 4 GiB (a PAE machine
with more RAM), which an ``Elf32_Phdr``'s 32-bit ``p_paddr`` cannot name: then
it is ELF64 with ``e_machine`` still ``EM_386``, as kexec-tools writes the core
headers of such an i386 machine (:func:`core_elf_class`). Notes are the same
in both classes: ``Elf64_Nhdr`` is three 32-bit words, as ``Elf32_Nhdr``.
"""

from __future__ import annotations

__all__ = [
    "EHDR64_SIZE",
    "EHDR_SIZE",
    "ELF32_ADDRESS_LIMIT",
    "ELF32_EHDR_TAIL",
    "ELF32_PHDR",
    "ELF64_EHDR_TAIL",
    "ELF64_PHDR",
    "ELFCLASS32",
    "ELFCLASS64",
    "ELFDATA2LSB",
    "EM_386",
    "ET_CORE",
    "ET_EXEC",
    "EV_CURRENT",
    "NHDR_SIZE",
    "NOTE_VMCOREINFO",
    "NOTE_VMINTRO",
    "NT_VMCOREINFO",
    "NT_VMINTRO",
    "PF_R",
    "PF_W",
    "PF_X",
    "PHDR64_SIZE",
    "PHDR_SIZE",
    "PT_LOAD",
    "PT_NOTE",
    "PT_NULL",
    "SHDR64_SIZE",
    "SHDR_SIZE",
    "SHF_ALLOC",
    "SHF_EXECINSTR",
    "SHF_WRITE",
    "SHN_ABS",
    "SHN_UNDEF",
    "SHT_NOBITS",
    "SHT_NULL",
    "SHT_PROGBITS",
    "SHT_STRTAB",
    "SHT_SYMTAB",
    "STB_GLOBAL",
    "STB_LOCAL",
    "STT_FUNC",
    "STT_NOTYPE",
    "STT_OBJECT",
    "STT_SECTION",
    "SYM_SIZE",
    "core_elf_class",
]

# e_ident
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
EV_CURRENT = 1
# e_type, e_machine
ET_EXEC = 2
ET_CORE = 4
EM_386 = 3

# sizeof(Elf32_Ehdr), sizeof(Elf32_Phdr), sizeof(Elf32_Shdr), sizeof(Elf32_Sym), sizeof(Elf32_Nhdr)
EHDR_SIZE = 52
PHDR_SIZE = 32
SHDR_SIZE = 40
SYM_SIZE = 16
NHDR_SIZE = 12
# A vmlinux has a few dozen sections: a table of more is refused before any name in it
# is looked up, each lookup scanning the name table.
MAX_VMLINUX_SECTIONS = 4096
# sizeof(Elf64_Ehdr), sizeof(Elf64_Phdr), sizeof(Elf64_Shdr)
EHDR64_SIZE = 64
PHDR64_SIZE = 56
SHDR64_SIZE = 64

# ``struct`` formats: each class's ELF header after e_ident (e_type .. e_shstrndx)
# and its program header, in the field order of elf.h. Elf64_Phdr moves p_flags
# up to second place, for alignment.
ELF32_EHDR_TAIL = "<HHIIIIIHHHHHH"
ELF64_EHDR_TAIL = "<HHIQQQIHHHHHH"
ELF32_PHDR = "<IIIIIIII"  # type, offset, vaddr, paddr, filesz, memsz, flags, align
ELF64_PHDR = "<IIQQQQQQ"  # type, flags, offset, vaddr, paddr, filesz, memsz, align

# The first physical address an ELF32 core cannot name.
ELF32_ADDRESS_LIMIT = 1 << 32


def core_elf_class(stored_end: int) -> int:
    """The class of a core whose stored frames end at physical ``stored_end``.

    ELFCLASS64 exactly when a stored frame lies at or above 4 GiB, else
    ELFCLASS32. kexec-tools' ``get_core_type`` (kexec/arch/i386/crashdump-x86.c)
    makes the same choice from the last RAM range (``end > 0xFFFFFFFF``);
    deciding by what is stored keeps every core whose frames fit in 32 bits
    ELF32, as all images were before.
    """
    return ELFCLASS64 if stored_end > ELF32_ADDRESS_LIMIT else ELFCLASS32


# Program headers
PT_NULL = 0
PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4

# Sections and symbols
SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_NOBITS = 8
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0
SHN_ABS = 0xFFF1
STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3

# The core's notes: (name, type). VMCOREINFO has type 0, as the kernel writes it;
# the generator's note (version, scenario, seed, machine as JSON) is vmintro's own.
NOTE_VMCOREINFO = "VMCOREINFO"
NT_VMCOREINFO = 0
NOTE_VMINTRO = "VMINTRO"
NT_VMINTRO = 1
