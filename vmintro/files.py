"""Files on disk, safely: what a path is, opening an untrusted one, writing one whole.

Untrusted paths (a scenario, an image's files) are checked before they are
opened or replaced: a FIFO blocks whoever opens it, a device never ends, and
a directory cannot be renamed over. So a file to read is opened without
blocking (``O_NONBLOCK``) and checked with ``fstat`` before one byte is read
(:func:`open_regular`), and a file to write appears complete or not at all
(:func:`atomic_output`). This module sits below every layer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "FileTooLargeError",
    "NotRegularFileError",
    "atomic_output",
    "file_kind",
    "not_regular",
    "open_regular",
    "output_refusal",
    "read_regular",
    "writes_over_image",
]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def file_kind(mode: int) -> str:
    """What ``st_mode`` describes: ``"a FIFO"``, ``"a directory"``, ..., ``"a regular file"``."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def not_regular(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it exists and is no regular file (after symbolic links);
    None when it is one, or when nothing is there (a dangling link included)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) else file_kind(mode)


def output_refusal(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be a file written whole by :func:`atomic_output`, in words
    that follow the path (``"is a FIFO, not a file; nothing was written"``), or None.

    Anything there but a regular file (after symbolic links: a link to a device is
    the device) is refused, since the rename would replace a FIFO, a device or a
    socket by a file; so is a directory that is not there, which a writer does not
    create unasked. A link to a regular file gives way to the new file, as a rename does.
    """
    kind = not_regular(path)
    if kind:
        return f"is {kind}, not a file; nothing was written"
    parent = Path(path).parent
    if not parent.is_dir():
        return f"there is no directory {str(parent)!r}"
    return None


class NotRegularFileError(OSError):
    """The path exists but is not a regular file; ``strerror`` says what it is."""

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        super().__init__(errno.EINVAL, f"is {kind}, not a regular file", os.fspath(path))


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``open(path, "rb")`` for a regular file; anything else raises at once.

    :raises NotRegularFileError: ``path`` is a FIFO, a directory, a device or a socket.
    :raises OSError: ``path`` cannot be opened (missing, no permission).
    """
    # stat first: opening a socket fails with ENXIO, which says nothing useful.
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(path, file_kind(mode))
    fd = os.open(path, _OPEN_FLAGS)
    try:
        # fstat again: the path may have been replaced between the two calls.
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, file_kind(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class FileTooLargeError(OSError):
    """The file holds more bytes than its reader accepts; ``strerror`` says how many."""

    def __init__(self, path: str | os.PathLike[str], limit: int) -> None:
        super().__init__(errno.EFBIG, f"more than {limit} bytes", os.fspath(path))


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file ``path``, which holds at most ``limit`` of them.

    Checked as :func:`open_regular` checks, and never more than ``limit + 1`` bytes
    read: a sparse file of a terabyte costs no more than a small one.

    :raises FileTooLargeError: ``path`` holds more than ``limit`` bytes.
    :raises NotRegularFileError: ``path`` is a FIFO, a directory, a device or a socket.
    :raises OSError: ``path`` cannot be opened or read.
    """
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(path, limit)
    return data


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], temporary: str | os.PathLike[str] | None = None
) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file in the same directory, renamed on success.

    An exception (or an interrupt) leaves the old file, if any, untouched and
    no partial file behind. The temporary gets a fresh name unless the caller,
    who then owns that name, gives one.
    """
    target = Path(path)
    if temporary is None:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    else:
        tmp = os.fspath(temporary)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def writes_over_image(backend: object, path: str | os.PathLike[str]) -> bool:
    """Whether writing ``path`` would replace a file of the image ``backend`` reads
    (its core, vmlinux, truth or timeline): a writer refuses that, since the user
    asked for an output, not for the image to be destroyed."""
    from vmintro.image.format.names import is_file_of_image

    core = getattr(backend, "vmcore_path", None)
    return is_file_of_image(path, core, getattr(backend, "vmlinux_path", None))
