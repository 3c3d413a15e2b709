"""Where a :class:`~vmintro.program.Program` gets memory, symbols, types and facts from.

* :mod:`.base`: the :class:`~.base.Backend` protocol, the typed
  :class:`~.base.MachineFacts` every backend gives, and
  :class:`~.base.TableBackend`, which holds what was read at start-up.
* :mod:`.vmlinux`: the one loader of a kernel's symbols and types, from its
  vmlinux (checked against the core's VMCOREINFO) or from the note alone.
* :mod:`.image`: an image on disk, ``NAME.vmcore`` and ``NAME.vmlinux``.
* :mod:`.gdb`: the image a gdb session has open, or gdb's live target.
* :mod:`.drgn`: physical memory through a drgn ``Program``.

Backends read with :mod:`vmintro.image.reader` only: none imports the writer
or the simulator.
"""
