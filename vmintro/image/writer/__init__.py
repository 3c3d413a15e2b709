"""Writing an image from a simulated kernel.

:mod:`.snapshot` freezes the kernel into an :class:`~.spec.ImageSpec`;
:mod:`.vmcore` (with :mod:`.vmcoreinfo`) and :mod:`.vmlinux` (with
:mod:`.dwarf`, over the ELF structures of :mod:`.elf32`) turn it into bytes;
:mod:`.install` replaces an image's files as one set.
"""
