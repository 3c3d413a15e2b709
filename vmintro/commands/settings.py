"""Per-program session settings that commands read and ``set`` changes.

They belong to a :class:`~vmintro.program.Program` (held weakly), so a command
stays a function of ``(prog, args)`` and two images never share settings; the
moments of one image's timeline (``prog.at(n)``) are one session's, and share them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["Settings", "settings", "settings_py"]


@dataclass
class Settings:
    """``radix``: how ``p`` and ``struct`` print integers (10 or 16);
    ``scroll``: whether long interactive output goes through the pager;
    ``values``: the ``$N`` value history of ``p``.
    """

    radix: int = 10
    scroll: bool = True
    values: list[Any] = field(default_factory=list)


_SETTINGS: weakref.WeakKeyDictionary[Program, Settings] = weakref.WeakKeyDictionary()


def settings(prog: Program) -> Settings:
    """The settings of ``prog``, created with the defaults on first use; the moments
    of an image's timeline (``prog.at(n)``) share the image's, so ``goto`` keeps
    the radix and the ``$N`` values."""
    from vmintro.timeline.moments import root_of

    prog = root_of(prog)
    s = _SETTINGS.get(prog)
    if s is None:
        s = _SETTINGS[prog] = Settings()
    return s


def settings_py(assignments: dict[str, Any]) -> str:
    """The script of ``set``/``hex``/``dec``: the settings commands read, one per image.

    A script prints numbers as it formats them (``f"{v:#x}"``); these settings are
    what the commands it runs through the library read.
    """
    lines = [
        "from vmintro.commands.settings import settings\n",
        "s = settings(prog)  # what p and struct read: radix; the pager: scroll",
    ]
    lines += [f"s.{name} = {value!r}" for name, value in assignments.items()]
    lines.append('print("radix", s.radix, "scroll", "on" if s.scroll else "off")')
    return "\n".join(lines) + "\n"
