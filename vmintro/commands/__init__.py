"""The command layer: crash-style commands, independent of any user interface.

Each command is a function of ``(prog, args)`` -- ``prog`` a
:class:`~vmintro.program.Program`, ``args`` the :class:`argparse.Namespace` of
its declared arguments -- that returns its results as data: a :class:`Table`
of :class:`Row` s under declared :class:`Column` s, a :class:`Text`, or an
iterable (a generator, say) of them. It never prints and never reads
``sys.argv``; the REPL, ``vmintro -c`` and other front ends render the parts
as text or as JSON (:mod:`vmintro.commands.render`).

Registering a command (the API plugins use)
-------------------------------------------
A command is a decorated function; ``docs/reference/examples/bigareas.py`` in the
source tree is a complete one (the plugin guide shows it, and the test suite runs it)::

    @command("bigareas", help="vmalloc areas of at least a given size",
             args=[arg("min_size", type=int, nargs="?", default=0, help="bytes")])
    def bigareas(prog, args):
        return Table([Column("addr", "ADDRESS", "08x")], rows, name="bigareas")

* :func:`command` ``(name, *, help, args=(), aliases=(), description=None,
  formats="", expressions=(), py=None)`` registers the function (``py(prog, args)``
  gives the statements of the script ``CMD --py`` prints); :func:`arg` takes what
  :meth:`argparse.ArgumentParser.add_argument` takes, plus ``synopsis=`` (how
  an argument whose words the command reads itself shows in ``help``);
  :func:`one_of` ``(arg, arg, ..., required=False)`` declares arguments that
  exclude each other; ``formats`` the letters of gdb's ``/FMT`` (``p/x``).
  Every command also gets ``--json``, and ``-h``/``--help`` shows its help.
* :class:`Column` ``(name, header, fmt, width, align, text=None, json=None)``:
  ``name`` is the row key and JSON field, ``header`` the text heading (None:
  JSON only), ``fmt`` a format spec or a function of the value, ``text`` a
  function of the whole row for a computed text cell.
* :class:`Table` ``(columns, rows, name, title=None, header=True,
  blank_before=False, findings=False)``; ``rows`` may be a generator, so long
  walks stream and stop at Ctrl-C; ``findings=True`` says the rows are problems
  found in the image, and the command's exit status is then 1, as ``check``'s.
  :class:`Text` ``(text, name, data=None)``: ``data`` is what JSON shows
  instead of the text.
* Raise :class:`CommandError` (one line) for a request that cannot be met;
  :class:`~vmintro.errors.FaultError` and the other library errors are shown
  the same way. :class:`UsageError` marks bad arguments (exit status 2).
* :func:`run` ``(prog, line)`` runs a command line and returns its parts (an
  :class:`Output`: a list whose ``text``, and ``str()``, is what the command prints).

Expressions (``mem_map + 0x100``, ``vmlist->next``) are evaluated by
:func:`vmintro.commands.expr.evaluate`; address arguments are read by
:func:`vmintro.commands.argtypes.parse_address`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmintro.lazy import from_modules, package_dir

if TYPE_CHECKING:
    from vmintro.commands.dispatch import Invocation, prepare, run, split_words
    from vmintro.commands.registry import (
        Command,
        CommandError,
        QuitRequested,
        UsageError,
        arg,
        command,
        commands,
        lookup,
        names,
        one_of,
        unregister,
    )
    from vmintro.commands.result import Column, Move, Output, Row, Table, Text

__all__ = [
    "Column",
    "Command",
    "CommandError",
    "Invocation",
    "Move",
    "Output",
    "QuitRequested",
    "Row",
    "Table",
    "Text",
    "UsageError",
    "arg",
    "command",
    "commands",
    "lookup",
    "names",
    "one_of",
    "prepare",
    "run",
    "split_words",
    "unregister",
]

# The modules whose names these are, in the order a name is looked for: each is
# imported when one of its names is first wanted (PEP 562), so the REPL draws its first
# prompt with only this package's settings imported.
_MODULES = ("registry", "result", "dispatch")


if not TYPE_CHECKING:  # to the type checker, a name the imports above lack is a mistake

    def __getattr__(name: str) -> Any:
        if name not in __all__:  # registry's register(), say, is not this package's
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return from_modules(__name__, _MODULES, name, globals())


def __dir__() -> list[str]:
    return package_dir(globals(), __all__)
