"""The kernel over time, reading side: an image's timeline, its moments, and who wrote what.

An image is the kernel's last moment; its ``NAME.timeline`` (format:
:mod:`vmintro.image.format.timeline`) lists every write each kernel entry point
made to RAM. This package reads it for a :class:`~vmintro.program.Program`:

* :mod:`.source`: finding the file beside the core, loading it on first use and
  refusing one that is damaged or belongs to another image (one line; the image
  alone keeps working);
* :mod:`.index`: the write records by frame, and a frame's bytes at any moment;
* :mod:`.moments`: ``prog.timeline``, ``prog.at(n)`` and ``prog.moment``,
  each moment a Program over an :class:`~.overlay.OverlayBackend`;
* :mod:`.history`: :func:`history` and :func:`blame`, the writes to some bytes.

Nothing here imports the simulator or the writer.
"""

from __future__ import annotations

from vmintro.timeline.history import Write, blame, entries_touching, history, iter_history
from vmintro.timeline.source import NoTimelineError, TimelineError

__all__ = [
    "NoTimelineError",
    "TimelineError",
    "Write",
    "blame",
    "entries_touching",
    "history",
    "iter_history",
]
