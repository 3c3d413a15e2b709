"""The ``vmintro`` command line.

::

    vmintro [IMAGE]                      the REPL (the bundled demo image by default)
    vmintro -c "vmlist; vtop c8801000" [IMAGE]
    vmintro [IMAGE] < commands.txt       commands from standard input
    vmintro --json -c "vmlist" [IMAGE]   every result as JSON (one document a line)
    vmintro repl [IMAGE]
    vmintro run SCRIPT.py [IMAGE] [ARGS...]
    vmintro generate -o images/NAME [--ram 128M] [--highmem] [--pae] ...
    vmintro check [--vmlinux FILE] IMAGE...
    vmintro map [IMAGE] [-o FILE] [--area ADDR]
    vmintro exercise list|show|verify ...
    vmintro gdb-script [-o FILE]

One module a subcommand (:mod:`.session` for the default, ``-c``, standard input and
``repl``; :mod:`.run`, :mod:`.generate`, :mod:`.check`, :mod:`.map`,
:mod:`.exercise`, :mod:`.gdb_script`), each with its ``parser()``; :mod:`.entry`
picks one from the first word and imports it then. They share :mod:`.parser`
(one-line usage errors, the image arguments ``IMAGE`` and ``--vmlinux FILE`` that
every subcommand opening an image takes) and :mod:`.image` (opening the image or
the demo). Commands themselves run through :mod:`vmintro.cmdline`, as in gdb and drgn.

Exit status (:mod:`vmintro.errors`): 0 success, 1 a command (or script) failed or
reported findings, 2 bad usage or a bad image (one line on stderr, no traceback).
"""

from vmintro.cli.entry import main

__all__ = ["main"]
