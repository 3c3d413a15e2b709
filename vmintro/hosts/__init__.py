"""vmintro inside other debuggers: the gdb and drgn front ends.

* :mod:`.gdb` -- gdb's ``vm`` commands and ``$vm_*`` convenience functions,
  installed by :mod:`.gdb_script`, the file ``vmintro gdb-script`` writes;
* :mod:`.drgn` -- the drgn plugin (entry point ``vmintro`` in ``drgn.plugins``):
  the vmlinux finder and ``%vm``; :mod:`.drgn_helpers` -- the 2.4.20 helpers
  on a drgn ``Program``.

Both run command lines through :mod:`vmintro.cmdline` and read through
:mod:`vmintro.backends`; nothing here imports prompt-toolkit or the REPL. Each
module imports its debugger's Python module (``gdb``, ``drgn``), so this package
imports none of them itself.
"""
