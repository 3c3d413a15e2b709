"""What a path is, in the words an error message uses: "a directory", "a FIFO", ...

Untrusted paths (a scenario, an image's files) are checked before they are
opened or replaced: a FIFO blocks whoever opens it, a device never ends, and
a directory cannot be renamed over. This module sits below every layer.
"""

from __future__ import annotations

import os
import stat

__all__ = ["file_kind", "not_regular"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


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
