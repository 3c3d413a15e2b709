"""Python in the session: ``!STATEMENT`` lines and the ``py`` prompt.

Statements run in one namespace (:mod:`.namespace`) that lives as long as the
session. An expression's value is shown as the interactive interpreter shows
it, except that an :class:`~vmintro.object.Object` prints as gdb would (as in
drgn). An exception shows its traceback and the session goes on.
"""

from __future__ import annotations

import codeop
import sys
import traceback
from typing import TYPE_CHECKING, Any

from vmintro.repl.namespace import python_namespace

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["PythonSession"]


class PythonSession:
    """The namespace and the evaluation of Python source against it."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self._namespace: dict[str, Any] | None = None

    @property
    def namespace(self) -> dict[str, Any]:
        """Built on first use: importing every helper is not needed to start."""
        if self._namespace is None:
            self._namespace = python_namespace(self.prog)
            self._namespace["__name__"] = "__vmintro__"
        return self._namespace

    def _display(self, value: Any) -> None:
        from vmintro.object import Object

        if value is None:
            return
        self.namespace["_"] = value
        print(str(value) if isinstance(value, Object) else repr(value))

    def run(self, source: str) -> bool:
        """Run one statement (as typed at ``>>>``); False when it raised."""
        try:
            code = compile(source, "<vmintro>", "single")
        except SyntaxError:
            traceback.print_exc(limit=0)
            return False
        return self.exec_code(code)

    def exec_code(self, code: Any) -> bool:
        saved = sys.displayhook
        sys.displayhook = self._display
        try:
            exec(code, self.namespace)
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

    def prompt(self, history_path: str | None = None) -> None:
        """The ``py`` prompt: ``>>>``/``...`` with Python highlighting, until Ctrl-D."""
        from vmintro.repl.pyprompt import python_prompt_session

        session = python_prompt_session(self, history_path)
        lines: list[str] = []
        print("Python with prog and the helpers in scope; Ctrl-D returns to vmintro.")
        while True:
            try:
                text = session.prompt("... " if lines else ">>> ")
            except KeyboardInterrupt:
                lines = []
                continue
            except EOFError:
                print()
                return
            lines.append(text)
            source = "\n".join(lines)
            try:
                code = codeop.compile_command(source, "<vmintro>", "single")
            except (SyntaxError, ValueError, OverflowError):
                traceback.print_exc(limit=0)
                lines = []
                continue
            if code is None:
                continue  # an unfinished block: read on
            lines = []
            try:
                self.exec_code(code)
            except KeyboardInterrupt:
                print("KeyboardInterrupt", file=sys.stderr)


def _print_user_traceback() -> None:
    """The traceback from the user's code down, without vmintro's own frame."""
    etype, value, tb = sys.exc_info()
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    traceback.print_exception(etype, value, tb)
