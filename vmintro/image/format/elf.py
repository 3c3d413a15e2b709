"""ELF32 little-endian i386, as an image's two files use it (``elf.h``'s names).

The core (``NAME.vmcore``) is an ``ET_CORE`` of ``PT_NOTE`` and ``PT_LOAD``
segments; the vmlinux (``NAME.vmlinux``) an ``ET_EXEC`` of sections. The sizes
are those of the 32-bit structures (``Elf32_Ehdr`` is 52 bytes, and so on);
the writer's structure definitions are checked against them.
"""

from __future__ import annotations

__all__ = [
    "EHDR_SIZE",
    "ELFCLASS32",
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
    "PHDR_SIZE",
    "PT_LOAD",
    "PT_NOTE",
    "PT_NULL",
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
]

# e_ident
ELFCLASS32 = 1
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
