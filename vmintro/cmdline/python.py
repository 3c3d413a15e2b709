"""Python in the session: ``!STATEMENT`` lines, and the statements of the ``py``
prompt (whose prompt-toolkit side is :mod:`vmintro.repl.pyprompt`).

Statements run in one namespace (:mod:`.namespace`) that lives as long as the
session. An expression's value is shown as the interactive interpreter shows
it, except that an :class:`~vmintro.object.Object` prints as gdb would (as in
drgn) and what ``run("CMD")`` returns prints as the command does. An exception
shows its traceback and the session goes on.
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any

from vmintro.cmdline.namespace import bind_program, python_namespace

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["LeavePython", "PythonSession"]


class LeavePython(Exception):
    """``exit()`` or ``quit()`` at the ``py`` prompt: back to vmintro's prompt."""


class _Leave:
    """``exit`` and ``quit`` in the session's namespace.

    Python's own close ``sys.stdin`` before raising SystemExit, which would take
    the terminal away from the vmintro prompt too.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Use {self.name}() or Ctrl-D to return to the vmintro prompt"

    def __call__(self, code: object = None) -> None:
        raise LeavePython


class PythonSession:
    """The namespace and the evaluation of Python source against it."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self._namespace: dict[str, Any] | None = None

    def move(self, prog: Program) -> None:
        """The session moved in time (``goto``): ``prog`` and ``run`` now read ``prog``."""
        self.prog = prog
        if self._namespace is not None:
            bind_program(self._namespace, prog)

    @property
    def namespace(self) -> dict[str, Any]:
        """Built on first use: importing every helper is not needed to start."""
        if self._namespace is None:
            self._namespace = python_namespace(self.prog)
            self._namespace["__name__"] = "__vmintro__"
            self._namespace["exit"] = _Leave("exit")
            self._namespace["quit"] = _Leave("quit")
        return self._namespace

    def _display(self, value: Any) -> None:
        from vmintro.commands.result import Output
        from vmintro.object import Object

        if value is None:
            return
        self.namespace["_"] = value
        # an Object as gdb prints it (as drgn does), run()'s output as the command prints it
        print(str(value) if isinstance(value, (Object, Output)) else repr(value))

    def run(self, source: str) -> bool:
        """Run one statement (as typed at ``>>>``); False when it raised."""
        try:
            code = compile(source, "<vmintro>", "single")
        except SyntaxError:
            traceback.print_exc(limit=0)
            return False
        return self.exec_code(code)

    def exec_code(self, code: Any, prompt: bool = False) -> bool:
        """Run compiled ``code``; False when it raised. At the ``py`` prompt
        (``prompt``), ``exit()`` raises :class:`LeavePython` to the prompt.
        """
        saved = sys.displayhook
        sys.displayhook = self._display
        try:
            exec(code, self.namespace)
        except LeavePython:
            if prompt:
                raise
            print("(already at the vmintro prompt: quit or Ctrl-D leaves vmintro)", file=sys.stderr)
            return False
        except SystemExit:
            print("(SystemExit ignored: use Ctrl-D or quit to leave)", file=sys.stderr)
            return False
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - show the user's traceback, keep the session
            _print_user_traceback()
            return False
        finally:
            sys.displayhook = saved
            sys.stdout.flush()
        return True


def _print_user_traceback() -> None:
    """The traceback from the user's code down, without vmintro's own frame."""
    etype, value, tb = sys.exc_info()
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    traceback.print_exception(etype, value, tb)
