"""The explorer's documents: what the page starts from, each moment, each walk.

:class:`Explorer` answers the server's routes, computing each snapshot once;
:func:`file_document` is everything ``vmintro html`` embeds, since a file has
no server to ask: the snapshot, and the walk of every page of every vm area
(what clicking a page shows; a typed address inside one of them shows its page's
walk).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmintro.explorer.data import SCHEMA, snapshot, vtop

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["Explorer", "MomentError", "file_document"]

# Walks a file embeds at most: a few MiB of JSON (a walk is ~1 KiB)
MAX_FILE_WALKS = 4096


class MomentError(LookupError):
    """A moment the image does not have (no timeline, or no such entry): one line."""


class Explorer:
    """One image's explorer: its documents, each computed once."""

    def __init__(self, prog: Program, title: str) -> None:
        self.prog = prog
        self.title = title
        self._snapshot: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        """What the page starts from: the image as it is, and its timeline (None)."""
        if self._snapshot is None:
            self._snapshot = snapshot(self.prog, self.title)
        return {
            "schema": SCHEMA,
            "title": self.title,
            "mode": "server",
            "snapshot": self._snapshot,
            "timeline": None,
        }

    def moment(self, n: int) -> dict[str, Any]:
        raise MomentError(f"no entry {n}: this image has no timeline")

    def walk(self, addr: int, at: int | None = None) -> dict[str, Any]:
        """``vtop ADDR --json`` on the image."""
        if at is not None:
            raise MomentError(f"no entry {at}: this image has no timeline")
        return vtop(self.prog, addr)


def file_document(prog: Program, title: str) -> dict[str, Any]:
    """Everything a self-contained file needs: the snapshot and its areas' walks."""
    document = Explorer(prog, title).document()
    document["mode"] = "file"
    walks: dict[str, Any] = {}
    for area in document["snapshot"]["areas"]:
        for va, _pfn, _zone in area["pages"]:
            if len(walks) >= MAX_FILE_WALKS:
                break
            walks[f"{va:x}"] = vtop(prog, va)
    document["walks"] = walks
    return document
