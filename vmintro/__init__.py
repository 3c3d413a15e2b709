"""vmintro: introspection of a simulated Linux 2.4.20 i386 memory manager.

    >>> import vmintro
    >>> prog = vmintro.open("images/demo")
    >>> prog["vmlist"].addr
    Object(prog, 'void *', address=0xc1234564)

Names are imported on first use, so ``import vmintro`` stays cheap.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vmintro.errors import CorruptionError, FaultError
    from vmintro.livekernel import live
    from vmintro.object import Object, cast, container_of
    from vmintro.program import Program
    from vmintro.timeline.diff import diff
    from vmintro.timeline.history import Write, blame, history
    from vmintro.timeline.source import NoTimelineError, TimelineError

__all__ = [
    "CorruptionError",
    "FaultError",
    "NoTimelineError",
    "Object",
    "Program",
    "TimelineError",
    "Write",
    "blame",
    "cast",
    "container_of",
    "diff",
    "history",
    "live",
    "open",
]

_LAZY = {
    "CorruptionError": "vmintro.errors",
    "FaultError": "vmintro.errors",
    "Object": "vmintro.object",
    "Program": "vmintro.program",
    "cast": "vmintro.object",
    "container_of": "vmintro.object",
    "diff": "vmintro.timeline.diff",
    "NoTimelineError": "vmintro.timeline.source",
    "TimelineError": "vmintro.timeline.source",
    "Write": "vmintro.timeline.history",
    "blame": "vmintro.timeline.history",
    "history": "vmintro.timeline.history",
    "live": "vmintro.livekernel",
}


if not TYPE_CHECKING:  # to the type checker, a name the imports above lack is a mistake

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'vmintro' has no attribute '{name}'")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def open(vmcore: str | os.PathLike[str], vmlinux: str | os.PathLike[str] | None = None) -> Program:
    """The program of an image: ``NAME.vmcore`` (or ``NAME``) with ``NAME.vmlinux`` beside it.

    :raises vmintro.backends.image.ImageError: when a file is missing or malformed.
    """
    from vmintro.program import Program

    return Program.from_files(vmcore, vmlinux)
