"""The ``py`` prompt: ``>>>``/``...`` with Python highlighting and completion (prompt-toolkit).

The statements run in the session's :class:`~vmintro.cmdline.python.PythonSession`,
the namespace ``!`` lines use too.
"""

from __future__ import annotations

import codeop
import sys
import traceback
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, InMemoryHistory

from vmintro.cmdline.python import LeavePython
from vmintro.repl.completer import PythonCompleter
from vmintro.repl.lexer import python_lexer
from vmintro.repl.toolbar import python_toolbar

if TYPE_CHECKING:
    from vmintro.cmdline.python import PythonSession

__all__ = ["python_prompt", "python_prompt_session"]


def python_prompt_session(python: PythonSession, history_path: str | None) -> PromptSession[str]:
    history = FileHistory(history_path) if history_path else InMemoryHistory()
    return PromptSession(
        history=history,
        lexer=python_lexer(),
        completer=PythonCompleter(lambda: python.namespace),
        complete_while_typing=False,
        bottom_toolbar=python_toolbar(python.prog),
    )


def python_prompt(python: PythonSession, history_path: str | None = None) -> None:
    """Read and run Python statements in ``python`` until Ctrl-D, ``exit()`` or ``quit()``."""
    session = python_prompt_session(python, history_path)
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
            python.exec_code(code, prompt=True)
        except LeavePython:
            return
        except KeyboardInterrupt:
            print("KeyboardInterrupt", file=sys.stderr)
