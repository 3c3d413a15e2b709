"""``prog.timeline``, ``prog.at(n)`` and ``prog.moment``: an image at any entry of its timeline.

Every Program of an image shares one :class:`ImageTimeline`, held for the
image's own Program (its *root*): the timeline (loaded and checked on first
use), the write index (built on first move), the moments made so far and the
frames reconstructed for them. A moment is an ordinary
:class:`~vmintro.program.Program` over an
:class:`~vmintro.timeline.overlay.OverlayBackend`, so every command, helper
and plugin reads it as it reads the image, with translation caches, cached
pages and per-program state of its own.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.errors import VmintroError
from vmintro.timeline.overlay import OverlayBackend
from vmintro.timeline.source import (
    NoTimelineError,
    TimelineError,
    core_of,
    load_timeline,
    timeline_path,
)

if TYPE_CHECKING:
    from pathlib import Path

    from vmintro.image.format.timeline import Timeline
    from vmintro.program import Program
    from vmintro.timeline.index import WriteIndex

__all__ = [
    "ImageTimeline",
    "NoSuchEntryError",
    "image_timeline",
    "prefetch",
    "moment_of",
    "program_at",
    "require_timeline",
    "root_of",
    "shown_moment",
    "timeline_of",
]

# Moments kept per image (each a Program with its own caches), most recent last
MOMENTS_KEPT = 16
# Reconstructed frames kept per image: 32 MiB
PAGES_KEPT = 8192


class NoSuchEntryError(VmintroError, IndexError):
    """A moment the timeline does not have; one line."""


class ImageTimeline:
    """The timeline of one image and what is derived from it, shared by its moments."""

    def __init__(self, root: Program) -> None:
        self.core: Path | None = core_of(root.backend)
        self.path: Path | None = timeline_path(self.core) if self.core is not None else None
        self.ram_size = root.ram_size
        self.base = root.backend
        self._loaded = False
        self._lock = threading.RLock()
        self._timeline: Timeline | None = None
        self._error: TimelineError | None = None
        self._index: WriteIndex | None = None
        self.moments: OrderedDict[int, Program] = OrderedDict()
        self._pages: OrderedDict[tuple[int, int], bytes] = OrderedDict()

    @property
    def timeline(self) -> Timeline | None:
        """The timeline, loaded and checked on first use; None when the image has none.

        :raises TimelineError: (every time) when the file cannot be used.
        """
        with self._lock:  # the REPL may be reading it in the background (prefetch)
            if not self._loaded:
                if self.path is not None and self.core is not None:
                    try:
                        self._timeline = load_timeline(self.path, self.core, self.ram_size)
                    except TimelineError as e:
                        self._error = e
                self._loaded = True
        if self._error is not None:
            raise TimelineError(str(self._error))
        return self._timeline

    def require(self) -> Timeline:
        """The timeline, or :class:`NoTimelineError` saying why there is none."""
        t = self.timeline
        if t is None:
            if self.path is None:
                raise NoTimelineError("no timeline: this program reads no image file")
            raise NoTimelineError(
                f"no timeline: {self.path.name} is not beside {self.core.name if self.core else ''}"
                " (the image was generated without one)"
            )
        return t

    @property
    def index(self) -> WriteIndex:
        """The write records by frame, built on first use."""
        with self._lock:
            if self._index is None:
                from vmintro.timeline.index import WriteIndex

                self._index = WriteIndex(self.require())
            return self._index

    def page_at(self, pfn: int, moment: int) -> bytes:
        """Frame ``pfn`` just after entry ``moment`` (kept for the next read)."""
        key = (moment, pfn)
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
            return page
        current = self.base.read_phys(pfn * PAGE_SIZE, PAGE_SIZE)
        with self._lock:  # the index keeps frames' histories, which prefetch builds too
            page = self.index.page_at(pfn, moment, current)
        self._pages[key] = page
        if len(self._pages) > PAGES_KEPT:
            self._pages.popitem(last=False)
        return page

    @property
    def loaded(self) -> bool:
        """Whether the timeline was read, and is usable."""
        return self._timeline is not None

    @property
    def last(self) -> int:
        """The number of the last entry: the moment the image itself shows."""
        return len(self.require().entries) - 1


def root_of(prog: Program) -> Program:
    """The Program of the image itself that ``prog`` is a moment of (``prog`` if none)."""
    backend = prog.backend
    return backend.root if isinstance(backend, OverlayBackend) else prog


def image_timeline(prog: Program) -> ImageTimeline:
    """The shared timeline state of ``prog``'s image (made on first use, nothing loaded).

    It is kept on the image's own Program, not in a table here, so that an image
    and its moments are freed together once nothing holds them.
    """
    root = root_of(prog)
    state = root._timeline_state
    if state is None:
        state = root._timeline_state = ImageTimeline(root)
    return state


def timeline_of(prog: Program) -> Timeline | None:
    """``prog.timeline``: the image's timeline, or None when it has none.

    :raises TimelineError: when the image's timeline file is damaged or another image's.
    """
    return image_timeline(prog).timeline


def require_timeline(prog: Program) -> Timeline:
    """The image's timeline; :class:`NoTimelineError` (one line) when there is none."""
    return image_timeline(prog).require()


def moment_of(prog: Program) -> int | None:
    """``prog.moment``: the entry ``prog`` shows the kernel just after; for the image
    itself its last entry, None when it has no timeline."""
    if isinstance(prog.backend, OverlayBackend):
        return prog.backend.moment
    state = image_timeline(prog)
    return None if state.timeline is None else state.last


def shown_moment(prog: Program) -> tuple[int, int] | None:
    """``(moment, last entry)`` of ``prog`` once its image's timeline is loaded and
    usable, without loading it (the prompt asks on every redraw); else None."""
    state = root_of(prog)._timeline_state
    if state is None or not state.loaded:
        return None
    last = state.last
    moment = prog.backend.moment if isinstance(prog.backend, OverlayBackend) else last
    return moment, last


def prefetch(prog: Program, done: Callable[[], None]) -> threading.Thread | None:
    """Read, check and index the timeline of ``prog``'s image in a background thread,
    then call ``done`` (the REPL starts this once its first prompt is drawn, so that
    the first ``goto`` finds the work done); None when the image has no timeline file.

    What goes wrong is not reported here: the command that uses the timeline reports
    it, in one line, as it would have without this.
    """
    state = image_timeline(prog)
    if state.path is None or not state.path.is_file():
        return None

    def work() -> None:
        try:
            if state.timeline is not None:
                with state._lock:  # as page_at reads the frames' histories
                    state.index.warm()
        except Exception:  # noqa: BLE001, S110 - the command using it says what is wrong
            pass
        finally:
            done()

    thread = threading.Thread(target=work, name="vmintro-timeline", daemon=True)
    thread.start()
    return thread


def program_at(prog: Program, n: int) -> Program:
    """``prog.at(n)``: the image's kernel just after entry ``n`` (0 is the booted
    kernel; the last entry is the image itself).

    :raises NoTimelineError: the image has no timeline.
    :raises TimelineError: its timeline cannot be used.
    :raises NoSuchEntryError: ``n`` is not an entry of it.
    """
    n = operator.index(n)
    root = root_of(prog)
    state = image_timeline(root)
    last = state.last
    if not 0 <= n <= last:
        raise NoSuchEntryError(f"no entry {n}: the timeline has entries 0 to {last}")
    if n == last:
        return root
    moment = state.moments.get(n)
    if moment is not None:
        state.moments.move_to_end(n)
        return moment
    from vmintro.program import Program

    state.index  # noqa: B018 - built before the program, whose start reads memory
    moment = Program(
        OverlayBackend(root, state, n), cache_pages=True, accelerated=root._speedups is not None
    )
    state.moments[n] = moment
    if len(state.moments) > MOMENTS_KEPT:
        state.moments.popitem(last=False)
    return moment
