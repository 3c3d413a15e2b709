"""The prompt and the bottom toolbar: the image, the moment of its timeline the
session reads, its paging mode and the session settings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from vmintro.commands.settings import settings

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["image_summary", "moment_text", "prompt", "python_toolbar", "toolbar"]


def image_summary(prog: Program) -> str:
    """``2.4.20 i386 2-level, 64 MiB``."""
    mode = "PAE" if prog.pae else ("HIGHMEM" if prog.highmem else "2-level")
    return f"{prog.osrelease} i386 {mode}, {prog.ram_size >> 20} MiB"


def moment_text(prog: Program) -> str:
    """``42/10000``: the entry of the timeline ``prog`` shows and the last one, once
    the timeline is loaded (nothing is read for the prompt); else empty."""
    # Until something has imported the timeline's moments no timeline is read, and
    # there is no moment to show: the first prompt is drawn without importing them (and
    # numpy with them). While the REPL's background read imports them, their module is
    # in sys.modules but unfinished: its function is taken as far as it is defined,
    # never through an import, which would wait for the other thread's.
    moments = sys.modules.get("vmintro.timeline.moments")
    shown_moment = getattr(moments, "shown_moment", None)
    if shown_moment is None:
        return ""
    shown = shown_moment(prog)
    return "" if shown is None else f"{shown[0]}/{shown[1]}"


def prompt(current: Callable[[], Program], plain: str) -> Callable[[], str]:
    """The command prompt: ``plain`` (``vmintro> ``), which becomes
    ``vmintro [42/10000]> `` once the image's timeline is loaded (a function:
    ``goto`` changes it); ``current`` gives the program the session reads now."""
    name = plain.rstrip("> ")

    def text() -> str:
        moment = moment_text(current())
        return f"{name} [{moment}]> " if moment else plain

    return text


def toolbar(current: Callable[[], Program], image: str) -> Callable[[], str]:
    """The toolbar of the command prompt (a function: settings and the moment change);
    ``current`` gives the program the session reads now."""

    def text() -> str:
        prog = current()
        state = settings(prog)
        scroll = "on" if state.scroll else "off"
        moment = moment_text(prog)
        at = f"  |  entry {moment}" if moment else ""
        return (
            f" {image}{at}  |  {image_summary(prog)}  |  radix {state.radix}  |  scroll {scroll}"
            "  |  help, py, Ctrl-D quits "
        )

    return text


def python_toolbar(prog: Program) -> str:
    return f" py  |  {image_summary(prog)}  |  prog and the helpers in scope; Ctrl-D returns "
