"""Where a command's lines go: the terminal (paged), a file, or a shell pipe."""

from __future__ import annotations

import contextlib
import io
import subprocess
from collections.abc import Iterator
from typing import Protocol, TextIO

from vmintro.repl.lines import CommandLine
from vmintro.repl.pager import Pager, StopOutput

__all__ = ["Sink", "open_sink", "pipe_status"]


class Sink(Protocol):
    def write_line(self, line: str) -> None:
        """Write one line; raise :class:`StopOutput` when no more is wanted."""


class _Stream:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write_line(self, line: str) -> None:
        try:
            self.out.write(line + "\n")
        except BrokenPipeError:
            raise StopOutput from None


class _Pipe:
    """A shell command reading our lines; its output goes where ours would."""

    def __init__(self, command: str, out: TextIO) -> None:
        self.out = out
        try:
            out.flush()
            target: int | None = out.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            target = None  # not a real file: collect the output and copy it
        self.proc = subprocess.Popen(
            command,
            shell=True,
            stdin=subprocess.PIPE,
            stdout=target if target is not None else subprocess.PIPE,
            text=True,
        )
        self.captured = target is None
        self.returncode: int | None = None  # the shell's, once closed

    def write_line(self, line: str) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line + "\n")
        except (BrokenPipeError, OSError):
            raise StopOutput from None

    def close(self) -> int:
        with contextlib.suppress(BrokenPipeError, OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        if self.captured:
            assert self.proc.stdout is not None
            self.out.write(self.proc.stdout.read())
        self.returncode = self.proc.wait()
        return self.returncode


def pipe_status(sink: Sink) -> int:
    """The exit status of the shell command a closed sink piped into; 0 for other sinks.

    A shell pipeline's status is its last command's: ``vmlist | nosuchcmd`` failed.
    """
    return (sink.returncode or 0) if isinstance(sink, _Pipe) else 0


@contextlib.contextmanager
def open_sink(line: CommandLine, out: TextIO, pager_rows: int | None = None) -> Iterator[Sink]:
    """The sink for ``line``'s output: its file, its pipe, a pager of
    ``pager_rows`` lines (when given), or ``out`` itself.

    :raises OSError: when the file cannot be opened.
    """
    if line.redirect is not None:
        with open(line.redirect, "a" if line.append else "w", encoding="utf-8") as f:
            yield _Stream(f)
        return
    if line.pipe is not None:
        pipe = _Pipe(line.pipe, out)
        try:
            yield pipe
        finally:
            pipe.close()
        return
    try:
        yield Pager(out, pager_rows) if pager_rows else _Stream(out)
    finally:
        with contextlib.suppress(BrokenPipeError):
            out.flush()
