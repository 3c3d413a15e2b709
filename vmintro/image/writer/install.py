"""Writing an image: ``NAME.vmcore``, ``NAME.vmlinux``, ``NAME.truth.json`` and
``NAME.timeline`` (when there is one), as one set.

No rename of several files is atomic, so a set is replaced in two phases (the
names are :mod:`vmintro.image.format.names`'):

1. **Stage.** Each new file is written to ``.NAME.new.EXT.tmp``, flushed to
   disk and renamed to ``.NAME.new.EXT``, the core last. The timeline carries
   the SHA-256 of the core it belongs to, so it is staged between the core's
   writing and the core's rename (a set without one removes the old set's
   timeline there instead). Until the staged core exists, the staged files are
   leftovers nobody reads: the image is the old set.
2. **Commit.** The staged files are renamed over ``NAME.EXT``, the core last.
   While the staged core exists, readers take the staged set (each file at its
   staged name until it is renamed), so from the end of phase 1 on the image
   is the new set, at every instant and after a kill at any point.

Writers into one directory take turns (a lock on the directory, which the
kernel drops when a writer dies), and each first finishes what a killed one
left there for its image: a staged set is committed, leftovers are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, cast

from vmintro.files import atomic_output, not_regular
from vmintro.image.format.names import COMMIT_ORDER, image_paths, staged_paths
from vmintro.image.writer.spec import ImageSpec
from vmintro.image.writer.vmcore import vmcore_writer
from vmintro.image.writer.vmlinux import build_vmlinux

__all__ = ["ImageWriteError", "check_output", "image_paths", "install_image", "write_image"]

LOCK_WAIT = 300.0  # seconds another writer of the same directory may keep us waiting
LEGACY_TEMP_AGE = 600.0  # seconds: older atomic temporaries of these names are abandoned


class ImageWriteError(Exception):
    """An image that cannot be written (one line, no file written)."""


def _temporary(staged: Path) -> Path:
    return staged.with_name(staged.name + ".tmp")


def check_output(base: str | os.PathLike[str]) -> dict[str, Path]:
    """The files image ``base`` will be, once it is sure they can be written there.

    ``base`` must name a file in a directory that exists (``DIR/NAME``), and no
    file of the image may exist as anything but a regular file.

    :raises ImageWriteError: naming what is wrong, before anything is written.
    """
    raw = os.fspath(base)
    if not raw:
        raise ImageWriteError("the image name is empty: give DIR/NAME")
    last = re.split(r"[/\\]" if os.altsep else "/", raw)[-1]
    if last in ("", ".", ".."):
        raise ImageWriteError(f"{raw!r} names a directory, not an image: give DIR/NAME")
    if os.path.isdir(raw):
        raise ImageWriteError(f"{raw!r} is a directory, not an image: give DIR/NAME")
    paths = image_paths(raw)
    directory = paths["vmcore"].parent
    if not directory.is_dir():
        if os.path.lexists(directory):
            raise ImageWriteError(f"{raw!r}: {str(directory)!r} is not a directory")
        raise ImageWriteError(f"{raw!r}: there is no directory {str(directory)!r}")
    staged = staged_paths(raw)
    ours = [*paths.values(), *staged.values(), *map(_temporary, staged.values())]
    for path in ours:
        kind = not_regular(path)
        if kind:
            raise ImageWriteError(f"{path}: is {kind}, not a file of an image; nothing was written")
    return paths


def write_image(
    spec: ImageSpec,
    base: str | os.PathLike[str],
    timeline: Callable[[bytes], bytes] | None = None,
) -> dict[str, Path]:
    """Write ``spec`` as image ``base``, replacing any old one as a set; returns the paths.

    ``timeline`` gives the timeline file's bytes for the SHA-256 of the core
    written; without it the image has no timeline.

    :raises ImageWriteError: the machine cannot be written as a core (its
        memory does not match it, or an ELF32 core would pass 4 GiB), or
        ``base`` cannot be an image (nothing is written).
    """
    paths = check_output(base)
    try:
        vmlinux = build_vmlinux(spec)
        vmcore = vmcore_writer(spec)
    except ValueError as e:  # the writers refuse what the ELF formats cannot express
        raise ImageWriteError(f"{paths['vmcore'].name}: {e}") from None
    truth = (json.dumps(spec.truth, indent=1, sort_keys=True) + "\n").encode()
    contents = {"vmlinux": _bytes(vmlinux), "truth": _bytes(truth), "vmcore": vmcore}
    return install_image(base, contents, timeline)


def _bytes(data: bytes) -> Callable[[BinaryIO], None]:
    def write(f: BinaryIO) -> None:
        f.write(data)

    return write


def install_image(
    base: str | os.PathLike[str],
    contents: Mapping[str, Callable[[BinaryIO], None]],
    timeline: Callable[[bytes], bytes] | None = None,
) -> dict[str, Path]:
    """Replace image ``base``'s files by ``contents`` (kind -> what writes the file,
    the core among them) as one set, as this module's docstring says; returns the
    paths written. ``timeline`` gives the timeline's bytes for the core's SHA-256;
    without it the new set has none.

    :raises ImageWriteError: ``base`` cannot be an image, or another writer of
        the directory has held it too long; nothing is written.
    :raises OSError: a write or rename failed. Before the commit nothing has
        changed; during it the image is already the new set.
    """
    paths = check_output(base)
    staged = staged_paths(base)
    kinds = [kind for kind in COMMIT_ORDER if kind in contents]
    if timeline is not None:
        kinds.insert(kinds.index("vmcore"), "timeline")
    with _writers_take_turns(paths["vmcore"].parent):
        _finish_earlier_writer(base)
        check_output(base)  # again, now that no other writer is at work here
        try:
            for kind in kinds:
                if kind not in ("vmcore", "timeline"):
                    _stage(staged[kind], contents[kind])
            _stage_core(base, contents["vmcore"], timeline)
        except BaseException:
            if not os.path.isfile(staged["vmcore"]):  # not staged: the old set stands
                _remove_leftovers(base)
            raise
        _sync_directory(paths["vmcore"].parent)
        _commit(base)
    return {kind: paths[kind] for kind in kinds}


def _stage(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """``path`` written through its temporary: complete and on disk, or not there."""
    with atomic_output(path, _temporary(path)) as f:
        write(f)


def _stage_core(
    base: str | os.PathLike[str],
    write: Callable[[BinaryIO], None],
    timeline: Callable[[bytes], bytes] | None,
) -> None:
    """Stage the core, and between its writing and its rename the timeline of it
    (or, for a set without one, remove the old set's)."""
    paths, staged = image_paths(base), staged_paths(base)
    with atomic_output(staged["vmcore"], _temporary(staged["vmcore"])) as f:
        hashing = _Hashing(f)
        write(cast(BinaryIO, hashing))
        if timeline is not None:
            _stage(staged["timeline"], _bytes(timeline(hashing.sha256.digest())))
        elif os.path.lexists(paths["timeline"]):
            os.unlink(paths["timeline"])  # no core of the new set may sit beside it


class _Hashing:
    """A file being written, and the SHA-256 of what was written to it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.f.write(data)


def _commit(base: str | os.PathLike[str]) -> None:
    """Rename a staged set over the image, the core last."""
    paths, staged = image_paths(base), staged_paths(base)
    for kind in COMMIT_ORDER:
        if os.path.lexists(staged[kind]):
            os.replace(staged[kind], paths[kind])
    _sync_directory(paths["vmcore"].parent)


def _finish_earlier_writer(base: str | os.PathLike[str]) -> None:
    """Complete what a writer killed while replacing image ``base`` left behind."""
    if os.path.isfile(staged_paths(base)["vmcore"]):
        _commit(base)  # its staged set is already the image: finish renaming it
    _remove_leftovers(base)


def _remove_leftovers(base: str | os.PathLike[str]) -> None:
    """Remove what a replacement of ``base`` stages, and old atomic temporaries of its
    files (the names earlier versions wrote through) once abandoned."""
    for path in staged_paths(base).values():
        for leftover in (path, _temporary(path)):
            if os.path.lexists(leftover) and not os.path.isdir(leftover):
                os.unlink(leftover)
    paths = image_paths(base)
    directory = paths["vmcore"].parent
    names = "|".join(re.escape(p.name) for p in paths.values())
    legacy = re.compile(rf"\.(?:{names})\.[A-Za-z0-9_]{{8}}\.tmp")
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if not legacy.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime > LEGACY_TEMP_AGE:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _sync_directory(directory: Path) -> None:
    """Make the renames in ``directory`` durable (where the system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _writers_take_turns(directory: Path) -> Iterator[None]:
    """Hold the directory's lock: one image writer at a time in it.

    Where the system has no such lock (no ``fcntl``, a file system without
    ``flock``), the writer goes on alone.
    """
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except (ImportError, OSError):
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ImageWriteError(
                        f"{str(directory)!r}: another process has been writing an image "
                        f"there for {LOCK_WAIT:.0f} s; nothing was written"
                    ) from None
                time.sleep(0.05)
            except OSError:
                break  # no flock on this file system
        yield
    finally:
        os.close(fd)
