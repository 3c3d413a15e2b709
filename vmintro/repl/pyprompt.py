"""The prompt-toolkit session of the ``py`` prompt: Python highlighting and completion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, InMemoryHistory

from vmintro.repl.completer import PythonCompleter
from vmintro.repl.lexer import python_lexer
from vmintro.repl.toolbar import python_toolbar

if TYPE_CHECKING:
    from vmintro.repl.python import PythonSession

__all__ = ["python_prompt_session"]


def python_prompt_session(python: PythonSession, history_path: str | None) -> PromptSession:
    history = FileHistory(history_path) if history_path else InMemoryHistory()
    return PromptSession(
        history=history,
        lexer=python_lexer(),
        completer=PythonCompleter(lambda: python.namespace),
        complete_while_typing=False,
        bottom_toolbar=python_toolbar(python.prog),
    )
