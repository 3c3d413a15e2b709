"""The bottom toolbar: the image, its paging mode and the session settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vmintro.commands.settings import settings

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["image_summary", "python_toolbar", "toolbar"]


def image_summary(prog: Program) -> str:
    """``2.4.20 i386 2-level, 64 MiB``."""
    mode = "PAE" if prog.pae else ("HIGHMEM" if prog.highmem else "2-level")
    return f"{prog.osrelease} i386 {mode}, {prog.ram_size >> 20} MiB"


def toolbar(prog: Program, image: str) -> Callable[[], str]:
    """The toolbar of the command prompt (a function: settings may change)."""

    def text() -> str:
        state = settings(prog)
        scroll = "on" if state.scroll else "off"
        return (
            f" {image}  |  {image_summary(prog)}  |  radix {state.radix}  |  scroll {scroll}"
            "  |  help, py, Ctrl-D quits "
        )

    return text


def python_toolbar(prog: Program) -> str:
    return f" py  |  {image_summary(prog)}  |  prog and the helpers in scope; Ctrl-D returns "
