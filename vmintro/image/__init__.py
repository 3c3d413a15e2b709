"""An image on disk: ``NAME.vmcore``, ``NAME.vmlinux`` and ``NAME.truth.json``.

Three packages, one per side of the files:

* :mod:`vmintro.image.format`: what the files are called and what they hold
  (ELF, the notes, the VMCOREINFO keys). It imports neither side.
* :mod:`vmintro.image.writer`: a simulated kernel frozen and written out as a
  set of files. It alone sees the simulator.
* :mod:`vmintro.image.reader`: the files read back, trusting nothing in them.
  It never imports the writer or the simulator: the types come from the
  vmlinux's DWARF, the machine's facts from the core's notes.
"""
