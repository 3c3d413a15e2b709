"""Opening an image's files: regular files only, never a FIFO or a device.

``open()`` on a FIFO blocks until a writer comes, and reading a character
device such as ``/dev/zero`` never ends, so an image path is opened without
blocking (``O_NONBLOCK``) and checked with ``fstat`` before one byte is read.
Anything but a regular file is refused with what the path is instead.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from vmintro.filekinds import file_kind

__all__ = ["NotRegularFileError", "open_regular"]

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


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
