"""The interactive session: the prompt, and the loop that runs what is typed.

Ctrl-C at the prompt clears the line; during a command it stops the command
(its partial output stays) and the prompt returns. Ctrl-D (or ``quit``) ends
the session. History persists in ``~/.vmintro_history`` (``VMINTRO_HISTORY``
overrides it; the ``py`` prompt keeps its own beside it, ending in ``-py``).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, DynamicCompleter
from prompt_toolkit.history import FileHistory
from prompt_toolkit.lexers import DynamicLexer, Lexer
from prompt_toolkit.styles import Style

from vmintro.cmdline.python import PythonSession
from vmintro.errors import EXIT_OK, VmintroError
from vmintro.repl.banner import banner
from vmintro.repl.lexer import STYLE, CommandLexer
from vmintro.repl.toolbar import prompt, toolbar

if TYPE_CHECKING:
    from collections.abc import Callable

    from vmintro.cmdline.runner import Runner
    from vmintro.program import Program

__all__ = ["PROMPT", "history_path", "run_repl"]

PROMPT = "vmintro> "


def history_path() -> str:
    return os.environ.get("VMINTRO_HISTORY") or str(Path.home() / ".vmintro_history")


def _known_command(word: str) -> bool:
    """Whether ``word`` runs something (the lexer's question, asked on every key)."""
    return word in _command_words()


@functools.cache
def _command_words() -> frozenset[str]:
    from vmintro.cmdline.lines import PIPE_WORD
    from vmintro.commands.registry import names

    return frozenset((*names(), "py", PIPE_WORD))


# What the first prompt does not need, imported once it is drawn (in the background,
# with the DWARF): the line runner (with the commands' registry and the reading of
# lines the lexer needs, which it imports), the completer and the ``py`` prompt.
_AFTER_PROMPT_MODULES = (
    "vmintro.cmdline.runner",
    "vmintro.repl.completer",
    "vmintro.repl.pyprompt",
)


def _load_types(prog: Program) -> None:
    """Read the image's DWARF now if opening put it off (``ImageBackend.load_types``).

    :raises vmintro.backends.image.ImageError: it cannot be read, or the vmlinux is
        of another build than the core.
    """
    load = getattr(prog.backend, "load_types", None)
    if load is not None:
        load()


def _after_first_prompt(
    prog: Program, stop: Callable[[VmintroError], None], done: Callable[[], None]
) -> None:
    """In the background: read the vmlinux's DWARF and check it against the core
    (``stop`` ends the session with what is wrong), then import the timeline's
    modules and read it (``prefetch``)."""
    try:
        _load_types(prog)
    except VmintroError as e:
        stop(e)
        return
    for module in _AFTER_PROMPT_MODULES:
        importlib.import_module(module)
    from vmintro.timeline.moments import prefetch

    prefetch(prog, done)


class _Lines:
    """What runs the typed lines: ``runner`` when given (an exercise's), else a
    :class:`~vmintro.cmdline.runner.Runner` made when the first line is read, since
    drawing the first prompt does not need its modules."""

    def __init__(self, prog: Program, python: PythonSession, runner: Runner | None) -> None:
        self._prog = prog
        self._python = python
        self._runner = runner
        if runner is not None:
            runner.on_move.append(python.move)

    @property
    def prog(self) -> Program:
        """The session's moment: the runner's program (``goto`` moves it) once there is one."""
        return self._prog if self._runner is None else self._runner.prog

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            from vmintro.cmdline.runner import Runner

            self._runner = Runner(self._prog, interactive=True, python=self._python.run)
            self._runner.on_move.append(self._python.move)  # `goto` moves py's prog too
        return self._runner


def run_repl(
    prog: Program, image: str, show_banner: bool = True, runner: Runner | None = None
) -> int:
    """Read, run, repeat until Ctrl-D or ``quit``; the exit status (EXIT_OK).

    An image opened with its DWARF put off (``defer_types``) has it read once the
    first prompt is drawn; what :func:`_load_types` raises then ends the session.

    ``runner`` runs the lines when given (an exercise's, which allows fewer commands
    and, without Python, takes ``py`` to refuse it).
    """
    python = PythonSession(prog)
    lines = _Lines(prog, python, runner)

    @functools.cache
    def completer() -> Completer:
        from vmintro.repl.completer import VmintroCompleter  # at the first Tab

        return VmintroCompleter(prog, lambda: python.namespace)

    @functools.cache
    def command_lexer() -> Lexer:
        from vmintro.cmdline.readings import ExpressionJudge  # at the first key

        return CommandLexer(_known_command, ExpressionJudge(prog))

    def lexer() -> Lexer | None:
        # an empty line is drawn alike without it (prompt-toolkit's plain lexer)
        return command_lexer() if session.default_buffer.text else None

    history = history_path()
    session: PromptSession[str] = PromptSession(
        history=FileHistory(history),
        completer=DynamicCompleter(completer),
        complete_while_typing=False,
        lexer=DynamicLexer(lexer),
        style=Style.from_dict(STYLE),
        bottom_toolbar=toolbar(lambda: lines.prog, image),
    )
    prompt_text = prompt(lambda: lines.prog, PROMPT)
    app = session.app

    def stop(error: VmintroError) -> None:
        # from the background thread: the prompt ends raising the error (a prompt
        # that is not running finds it when the next line is read)
        def end() -> None:
            if app.is_running and not app.is_done:
                app.exit(exception=error)

        loop = app.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(end)
            except RuntimeError:  # the prompt's loop has just closed
                pass

    def after_first_prompt(_: object) -> None:
        # once the first prompt is drawn, never before it: the vmlinux's DWARF is read
        # and checked, then the timeline read, checked and indexed, while the user
        # types (the prompt then shows the moment); their modules (pyelftools, numpy)
        # are imported in the background too, so that the prompt answers the first
        # keys at once
        app.after_render -= after_first_prompt
        threading.Thread(
            target=_after_first_prompt,
            args=(prog, stop, app.invalidate),
            name="vmintro-after-prompt",
            daemon=True,
        ).start()

    app.after_render += after_first_prompt
    if show_banner:
        print(banner(prog, image))
    while True:
        try:
            line = session.prompt(prompt_text)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            _load_types(prog)  # what is typed runs on a vmlinux checked against the core
        except KeyboardInterrupt:  # while it waits for the DWARF: the line is dropped
            print("\n^C: interrupted", file=sys.stderr)
            continue
        runner = lines.runner
        from vmintro.commands.registry import QuitRequested  # with the runner's modules

        if line.strip() == "py" and runner.python is not None:
            from vmintro.repl.pyprompt import python_prompt

            python_prompt(python, None if history == os.devnull else history + "-py")
            continue
        try:
            runner.run_line(line)
        except KeyboardInterrupt:
            sys.stdout.flush()
            print("\n^C: interrupted", file=sys.stderr)
        except QuitRequested:
            break
    _load_types(prog)  # a vmlinux of another build ends the session with status 2
    return EXIT_OK
