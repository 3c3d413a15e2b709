"""The image format, shared by the side that writes images and the side that reads them.

An image is three files (:mod:`.names`): an ELF32 core (ELF64 when it stores
frames above 4 GiB) and an ELF32 vmlinux (:mod:`.elf`), the core carrying a
VMCOREINFO note (:mod:`.vmcoreinfo`).
These modules say what the files are called and what they hold; they import
neither :mod:`vmintro.image.writer` nor :mod:`vmintro.image.reader`, so each
side checks the other against one definition.
"""
