"""Finding an image's timeline, loading it, and checking that it is the image's.

The timeline of the image whose core is ``NAME.vmcore`` is ``NAME.timeline``
beside it, or wherever a replacement of the image has it now
(:func:`~vmintro.image.format.names.set_of_core`). It is read on first use,
never when the image opens: an image without one, or with one that cannot be
used, reads exactly as it does alone. A file that is damaged (the
format module's checks), records a machine of another size, or was recorded
for another core (its SHA-256 of the core differs) is refused with one
:class:`TimelineError` line naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from vmintro.errors import VmintroError
from vmintro.image.format.names import set_of_core

if TYPE_CHECKING:
    from vmintro.backends.base import Backend
    from vmintro.image.format.timeline import Timeline

__all__ = [
    "MAX_TIMELINE_BYTES",
    "NoTimelineError",
    "TimelineError",
    "core_of",
    "load_timeline",
    "timeline_path",
]

# The largest timeline file read: far above what any workload writes (10,000
# vmalloc/vfree calls on a 4 GiB machine take under 60 MiB), so a file claiming
# more is not read into memory at all.
MAX_TIMELINE_BYTES = 1 << 30
_CHUNK = 1 << 20


class TimelineError(VmintroError):
    """A timeline that cannot be used (damaged, or another image's); one line."""


class NoTimelineError(VmintroError):
    """The image has no timeline, or the Program is of no image at all; one line."""


def core_of(backend: Backend) -> Path | None:
    """The core file a backend reads (an image's, gdb's, drgn's), or None (live memory)."""
    core = getattr(backend, "vmcore_path", None)
    if core is None:
        drgn_prog = getattr(backend, "drgn_prog", None)
        core = getattr(drgn_prog, "core_dump_path", None) if drgn_prog is not None else None
        if getattr(backend, "is_live", False):
            core = None
    return Path(core) if core else None


def timeline_path(core: Path) -> Path:
    """``NAME.timeline`` beside ``NAME.vmcore``; of a staged core, the set's timeline
    wherever the replacement has it now (staged, or already renamed into place)."""
    return set_of_core(core)["timeline"]


def load_timeline(path: Path, core: Path, ram_size: int) -> Timeline | None:
    """The timeline at ``path`` checked against ``core`` and its RAM; None when
    there is no such file.

    :raises TimelineError: unreadable, damaged, too large, or of another image.
    """
    from concurrent.futures import ThreadPoolExecutor

    from vmintro.files import open_regular
    from vmintro.image.format.timeline import TimelineFormatError, decode_timeline

    name = str(path)  # as the user's image path gives it: the file, wherever it is
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_TIMELINE_BYTES:
                raise TimelineError(
                    f"{name}: {size} bytes, more than any timeline holds"
                    f" ({MAX_TIMELINE_BYTES >> 20} MiB at most)"
                )
            raw = f.read(MAX_TIMELINE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as e:  # a FIFO, a directory or a device is refused, never waited on
        raise TimelineError(f"{name}: cannot read: {e.strerror}") from None
    # The core's digest is computed while the file decodes: hashing and inflating both
    # run outside the interpreter's lock, so on two cores they overlap.
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(core_digest, core)
        try:
            timeline = decode_timeline(raw)
        except TimelineFormatError as e:
            hashing.cancel()
            raise TimelineError(f"{name}: {' '.join(str(e).split())}") from None
        except MemoryError:  # within the bounds, yet more than this machine has free
            hashing.cancel()
            raise TimelineError(
                f"{name}: not enough memory to inflate its {len(raw)} bytes"
            ) from None
        digest = hashing.result()
    if timeline.ram_size != ram_size:
        raise TimelineError(
            f"{name} does not belong to {core.name}: it records {timeline.ram_size:#x} bytes"
            f" of RAM, the core {ram_size:#x}"
        )
    if digest != timeline.core_digest:
        raise TimelineError(
            f"{name} does not belong to {core.name}: it was recorded for a core with SHA-256"
            f" {timeline.core_digest.hex()[:16]}..., this one's is {digest.hex()[:16]}..."
        )
    return timeline


def core_digest(core: Path) -> bytes:
    """SHA-256 of the core file, as the timeline records it.

    :raises TimelineError: when the core cannot be read.
    """
    from vmintro.files import open_regular

    h = hashlib.sha256()
    try:
        with open_regular(core) as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except OSError as e:
        raise TimelineError(
            f"{core.name}: cannot read it to check its timeline: {e.strerror}"
        ) from None
    return h.digest()
