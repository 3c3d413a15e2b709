"""Reading an image's files: the core (:mod:`.core`), its VMCOREINFO (:mod:`.vmcoreinfo`)
and generator notes (:mod:`.generator_note`), and the vmlinux's symbols and DWARF
(:mod:`.debuginfo`).

Every reader trusts nothing in a file and fails with one line naming the file
and the fault. Nothing here imports :mod:`vmintro.image.writer`, the
simulator or the kernel types the simulator is built from.
"""
