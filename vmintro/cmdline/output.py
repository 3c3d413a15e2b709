"""Where a command's lines go: the terminal (paged), a file, or a shell pipe.

A file is opened, and a shell command started, only when the command writes
its first line, or ends well without any (``vmlist > f`` of an empty list
still makes ``f``): a command that fails before printing anything creates no
file and runs no shell command.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Iterator
from typing import IO, Protocol, TextIO

from vmintro.cmdline.lines import CommandLine
from vmintro.cmdline.pager import Pager, StopOutput
from vmintro.files import writes_over_image

__all__ = ["PAGER_VARIABLE", "Sink", "SinkError", "open_sink", "pipe_status"]

# The environment variable naming a pager program to use instead of the built-in one
PAGER_VARIABLE = "VMINTRO_PAGER"


class SinkError(Exception):
    """The file or shell command could not be opened or written: one line."""


class Sink(Protocol):
    def write_line(self, line: str) -> None:
        """Write one line; raise :class:`StopOutput` when no more is wanted.

        :raises SinkError: when the file cannot be opened or written.
        """

    def finish(self) -> None:
        """The command succeeded: open the file (start the shell command) if no
        line has yet."""


class _Terminal:
    """``out`` itself, through a pager of ``rows`` lines when given."""

    def __init__(self, out: TextIO, rows: int | None) -> None:
        self.out = out
        self.pager = Pager(out, rows) if rows else None

    def write_line(self, line: str) -> None:
        if self.pager is not None:
            self.pager.write_line(line)
            return
        try:
            self.out.write(line + "\n")
        except BrokenPipeError:
            raise StopOutput from None

    def finish(self) -> None:
        if self.pager is not None:
            self.pager.finish()


class _File:
    """A file, opened (truncated, or for appending) at the first line."""

    def __init__(self, path: str, append: bool) -> None:
        self.path = path
        self.append = append
        self.file: IO[str] | None = None

    def _failed(self, e: OSError) -> SinkError:
        return SinkError(f"vmintro: {self.path}: {e.strerror or e}")

    def _open(self) -> IO[str]:
        if self.file is None:
            try:
                self.file = open(self.path, "a" if self.append else "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
            except OSError as e:
                raise self._failed(e) from None
        return self.file

    def write_line(self, line: str) -> None:
        f = self._open()
        try:
            f.write(line + "\n")
        except OSError as e:
            raise self._failed(e) from None

    def finish(self) -> None:
        self._open()

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()  # its last lines are written here: a full disk says so
            except OSError as e:
                raise self._failed(e) from None


class _Pipe:
    """A shell command reading our lines, started at the first line; its output
    goes where ours would."""

    def __init__(self, command: str, out: TextIO) -> None:
        self.command = command
        self.out = out
        self.proc: subprocess.Popen[str] | None = None
        self.captured = False
        self.returncode: int | None = None  # the shell's, once closed

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None:
            out = self.out
            try:
                out.flush()
                target: int | None = out.fileno()
            except (AttributeError, OSError, io.UnsupportedOperation):
                target = None  # not a real file: collect the output and copy it
            self.captured = target is None
            try:
                self.proc = subprocess.Popen(
                    self.command,
                    shell=True,
                    stdin=subprocess.PIPE,
                    stdout=target if target is not None else subprocess.PIPE,
                    text=True,
                )
            except OSError as e:
                raise SinkError(f"vmintro: {self.command}: {e.strerror or e}") from None
        return self.proc

    def write_line(self, line: str) -> None:
        proc = self._start()
        try:
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
        except (BrokenPipeError, OSError):
            raise StopOutput from None

    def finish(self) -> None:
        self._start()

    def close(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        if self.captured:
            assert self.proc.stdout is not None
            self.out.write(self.proc.stdout.read())
        self.returncode = self.proc.wait()


def pipe_status(sink: Sink) -> int:
    """The exit status of the shell command a closed sink piped into; 0 for other sinks.

    A shell pipeline's status is its last command's: ``vmlist | nosuchcmd`` failed.
    """
    return (sink.returncode or 0) if isinstance(sink, _Pipe) else 0


@contextlib.contextmanager
def open_sink(
    line: CommandLine, out: TextIO, pager_rows: int | None = None, backend: object = None
) -> Iterator[Sink]:
    """The sink for ``line``'s output: its file, its pipe, a pager of
    ``pager_rows`` lines (when given: the built-in one, or the shell command
    ``$VMINTRO_PAGER`` names), or ``out`` itself. The file or pipe opens at the
    first line or at :meth:`Sink.finish`, never before.

    :raises SinkError: the file is one of the image ``backend`` reads (its core is
        mapped: writing it would pull the session's memory from under it).
    """
    if line.redirect is not None or line.pipe is not None:
        sink: _File | _Pipe
        if line.redirect is not None:
            if writes_over_image(backend, line.redirect):
                raise SinkError(
                    f"vmintro: {line.redirect} is a file of the image itself; nothing was written"
                )
            sink = _File(line.redirect, line.append)
        else:
            sink = _Pipe(line.pipe or "", out)
        try:
            yield sink
        finally:
            sink.close()
        return
    external = os.environ.get(PAGER_VARIABLE, "").strip()
    if pager_rows and external:
        # the reader's own pager (less, most, $PAGER) gets the output, as a pipe does
        pager = _Pipe(external, out)
        try:
            yield pager
        finally:
            pager.close()
        return
    try:
        yield _Terminal(out, pager_rows)
    finally:
        with contextlib.suppress(BrokenPipeError):
            out.flush()
