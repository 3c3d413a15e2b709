"""Command lines, for every front end: the REPL, ``vmintro -c``, standard input, and
the ``vm`` command of gdb and drgn.

* :mod:`.runner` -- :class:`~vmintro.cmdline.runner.Runner` runs a line's commands
  (``;``) and renders their parts as text or JSON, with its exit status;
* :mod:`.lines` -- splitting a line: ``;``, ``!`` Python, ``>``, ``>>``, ``|`` and
  ``pipe``, with :mod:`.readings` saying which readings of a C operator are valid;
* :mod:`.output` -- where a command's lines go (terminal, file, shell pipe), with
  :mod:`.pager` for long output at a terminal;
* :mod:`.python` and :mod:`.namespace` -- ``!`` lines, the ``py`` prompt's statements
  and ``vmintro run``'s namespace.

Nothing here imports prompt-toolkit, the interactive REPL (:mod:`vmintro.repl`) or
the command line's argument parsing (:mod:`vmintro.cli`): gdb and drgn load this
package and nothing of theirs.
"""
