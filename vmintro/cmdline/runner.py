"""Run command lines for any front end: the REPL, ``vmintro -c``, standard input, and
the ``vm`` command of gdb and drgn.

A line may hold several commands (``;``), each with its own redirection or
pipe (:mod:`vmintro.cmdline.lines`: a C operator is never taken for one; a line
that reads both ways is refused whole, before any of its commands runs).
Results are rendered as text or JSON (:mod:`vmintro.commands.render`);
a failing command prints one line on the error stream and the next one runs.
The runner remembers the worst outcome as an exit status (:mod:`vmintro.errors`):
0 all went well, 1 a command failed or reported findings (``check``), 2 a command
was used wrongly (unknown, bad arguments).
"""

from __future__ import annotations

import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from vmintro.cmdline.lines import CommandLine, LineError, parse_command, split_commands
from vmintro.cmdline.output import SinkError, open_sink, pipe_status
from vmintro.cmdline.pager import StopOutput
from vmintro.cmdline.readings import ExpressionJudge
from vmintro.commands import render
from vmintro.commands.dispatch import Invocation, prepare, split_words
from vmintro.commands.registry import QuitRequested, UsageError
from vmintro.commands.render import (
    JsonTooLong,
    append_json,
    json_document,
    json_line,
    render_text,
)
from vmintro.commands.settings import settings
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, VmintroError
from vmintro.escape import escape_text

if TYPE_CHECKING:
    from vmintro.commands.result import Part
    from vmintro.program import Program

__all__ = ["Runner", "error_message"]


def error_message(command: str, error: BaseException) -> str:
    """One line for a failed command: ``vtop: read of 0x...: page not present``.

    vmintro's own errors (:class:`VmintroError`, :class:`CommandError` among them)
    are the message alone; anything else a command raises (a KeyError, an
    IndexError, ...) is a bug in it: ``internal error: KeyError: 'k'``, as the
    documentation promises (docs/guides/plugins.rst), so that it is not mistaken for
    an answer about the kernel.
    """
    if isinstance(error, VmintroError):
        text = str(error)
    else:
        text = f"internal error: {type(error).__name__}: {error}"
    text = " ".join(text.split())  # one line, whatever the message held
    if command and not text.startswith(f"{command}:"):
        text = f"{command}: {text}"
    return text


# Inside gdb or drgn, which have Python prompts of their own
_NO_PYTHON = (
    "Python lines are not available here: use the host's own Python (gdb's 'python', "
    "drgn's prompt) or 'vmintro run'"
)


class Runner:
    """Executes lines against ``prog``; ``python`` runs ``!`` lines when given."""

    def __init__(
        self,
        prog: Program,
        out: TextIO | None = None,
        err: TextIO | None = None,
        json: bool = False,
        interactive: bool = False,
        python: Callable[[str], bool] | None = None,
    ) -> None:
        self.prog = prog
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.json = json
        self.interactive = interactive
        self.python = python
        self.status = EXIT_OK
        self.debug = bool(os.environ.get("VMINTRO_DEBUG"))
        self.judge = ExpressionJudge(prog)
        # told of every move in time (goto, step, back): the Python namespace, the prompt
        self.on_move: list[Callable[[Program], None]] = []

    def move(self, prog: Program) -> None:
        """Read ``prog`` (a moment of the same image) from the next command on: the
        moment is the session's, so every command after ``goto`` reads that moment."""
        self.prog = prog
        for listener in self.on_move:
            listener(prog)

    def _fail(self, message: str, status: int) -> int:
        self.out.flush()
        # one line, escaped: it quotes what was typed or read (a script's line, a name)
        self.err.write(escape_text(message) + "\n")
        self.err.flush()
        self.status = max(self.status, status)
        return status

    def run_line(self, line: str) -> int:
        """Run every command of ``line``; the worst status of them.

        :raises QuitRequested: from ``quit`` (the rest of the line is skipped).
        :raises KeyboardInterrupt: after closing the output of the command it stopped.
        """
        commands = split_commands(line)
        # every command's redirection is settled first: a line with an ambiguous
        # part runs nothing, so it creates no file and starts no shell command
        refused = [e for e in map(self._refusal, commands) if e is not None]
        for error in refused:
            self._fail(f"vmintro: {error}", EXIT_USAGE)
        if refused:
            return EXIT_USAGE
        worst = EXIT_OK
        for text in commands:
            worst = max(worst, self.run_command(text))
        return worst

    def _refusal(self, text: str) -> LineError | None:
        try:
            parse_command(text, self.judge)
        except LineError as e:
            return e
        return None

    def run_command(self, text: str) -> int:
        try:
            # again: a command before this one may have changed a reading ($, set)
            line = parse_command(text, self.judge)
        except LineError as e:
            return self._fail(f"vmintro: {e}", EXIT_USAGE)
        if line.text == "py" and line.redirect is None and line.pipe is None:
            # the REPL's loop handles 'py' itself; anywhere else there is no terminal
            if self.python is None:
                return self._fail(f"py: {_NO_PYTHON}", EXIT_USAGE)
            return self._fail(
                "py: the Python prompt needs a terminal; use !STATEMENT or 'vmintro run'",
                EXIT_USAGE,
            )
        if line.python:
            if self.python is None:
                return self._fail(f"vmintro: {_NO_PYTHON}", EXIT_USAGE)
            ok = self.python(line.text)
            return EXIT_OK if ok else self._fail_quietly()
        try:
            words = split_words(line.text)
            invocation = prepare(self.prog, words, line.text)
        except UsageError as e:
            return self._fail(error_message("", e), EXIT_USAGE)
        except VmintroError as e:  # an address argument that does not evaluate
            return self._fail(error_message(words[0] if words else "", e), EXIT_FAILED)
        return self._execute(invocation, line)

    def _fail_quietly(self) -> int:
        """A failure already shown: a Python line's traceback, a shell command's
        message, findings printed."""
        self.status = max(self.status, EXIT_FAILED)
        return EXIT_FAILED

    def _pager_rows(self, line: CommandLine) -> int | None:
        if not (self.interactive and line.redirect is None and line.pipe is None):
            return None
        if not settings(self.prog).scroll or not _is_terminal(self.out):
            return None
        return shutil.get_terminal_size().lines

    def _execute(self, invocation: Invocation, line: CommandLine) -> int:
        name = invocation.command.name
        as_json = self.json or invocation.json
        try:
            with open_sink(line, self.out, self._pager_rows(line), self.prog.backend) as sink:
                if as_json:
                    error = self._json(invocation, sink.write_line)
                else:
                    error = self._text(invocation.parts(), sink.write_line)
                if error is None:
                    sink.finish()  # 'vmlist > f' of nothing still makes f, as a shell does
        except SinkError as e:
            return self._fail(str(e), EXIT_FAILED)
        finally:
            if invocation.moved_to is not None:
                self.move(invocation.moved_to)
        if error is None:
            # the shell has said why on stderr ("nosuchcmd: not found"); only the status is ours.
            # Findings (check's) are the output itself: the status of vmintro check, no line.
            failed = pipe_status(sink) != 0 or invocation.findings
            return self._fail_quietly() if failed else EXIT_OK
        if self.debug:
            traceback.print_exception(error, file=self.err)
        status = EXIT_USAGE if isinstance(error, UsageError) else EXIT_FAILED
        return self._fail(error_message(name, error), status)

    @staticmethod
    def _text(parts: Iterator[Part], write: Callable[[str], None]) -> BaseException | None:
        """Stream the lines; an error stops the command after what it printed."""
        lines = render_text(parts)
        try:
            for text in lines:
                write(text)
        except StopOutput:
            pass
        except (QuitRequested, SinkError, KeyboardInterrupt):
            raise
        except BaseException as e:  # noqa: BLE001 - any failure of a command is reported, not
            return e  # fatal: a plugin's sys.exit() or BaseException is one
        finally:
            lines.close()  # stop the command's generators (Ctrl-C, pager 'q')
        return None

    @staticmethod
    def _json(invocation: Invocation, write: Callable[[str], None]) -> BaseException | None:
        """One document per command, written whole (with the error, if any)."""
        results: list[dict[str, Any]] = []
        error: BaseException | None = None
        room = render.MAX_JSON_ROWS  # rows the document may take, over all its tables
        name = invocation.command.name
        try:
            try:
                for part in invocation.parts():
                    room = append_json(results, part, room)
            except (QuitRequested, KeyboardInterrupt, MemoryError):
                raise
            except BaseException as e:  # noqa: BLE001 - reported in the document and on stderr
                error = e
            line = _json_line(invocation.line, results, name, error)
        except MemoryError:  # collecting or encoding, within the rows' bound: the host's limit
            results.clear()
            error = JsonTooLong(_NO_MEMORY)
            line = _json_line(invocation.line, results, name, error)
        try:
            write(line)
        except StopOutput:
            pass
        return error


_NO_MEMORY = "its JSON document does not fit in this host's free memory: ask for less, or for text"


def _json_line(
    line: str, results: list[dict[str, Any]], command: str, error: BaseException | None
) -> str:
    """The JSON line of command ``command`` (typed as ``line``) with ``results`` and
    ``error``."""
    message = error_message(command, error) if error else None
    return json_line(json_document(line, results, message))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
