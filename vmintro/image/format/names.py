"""The files of an image, and where a replacement stages the new ones.

An image ``NAME`` is ``NAME.vmcore``, ``NAME.vmlinux`` and ``NAME.truth.json``,
and, unless it was generated without one, ``NAME.timeline``
(:mod:`.timeline`). The generator replaces them as a set
(:mod:`vmintro.image.writer`): it writes the new files as ``.NAME.new.vmcore``
and so on beside them, the core last, then renames them over the old ones, the
core last again. A new set without a timeline removes the old one before its
core is staged, so a core is never beside a timeline of another set that the
writer left there. While the staged core
``.NAME.new.vmcore`` exists, the staged set is the image: its files that are
not yet renamed are at their staged names, the others already at their own.
:func:`current_paths` applies that rule, so a reader opens one whole set at
every instant, even after a generator was killed half-way through the renames.

An image is named ``NAME`` or by its core ``NAME.vmcore``
(:func:`core_path`); the reader takes the vmlinux beside the core
(:func:`vmlinux_beside`) unless told another. Both sides use these names;
this module imports neither.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "COMMIT_ORDER",
    "EXTENSIONS",
    "core_path",
    "current_paths",
    "image_paths",
    "is_file_of_image",
    "is_image",
    "reader_files",
    "set_of_core",
    "staged_files",
    "staged_paths",
    "vmlinux_beside",
]

EXTENSIONS = {
    "vmcore": ".vmcore",
    "vmlinux": ".vmlinux",
    "truth": ".truth.json",
    "timeline": ".timeline",
}
# The order the staged files are renamed into place: the core, which says which
# set the image is, last.
COMMIT_ORDER = ("vmlinux", "truth", "timeline", "vmcore")


def _base(path: str | os.PathLike[str]) -> Path:
    b = Path(path)
    return b.with_suffix("") if b.suffix in (".vmcore", ".vmlinux") else b


def image_paths(base: str | os.PathLike[str]) -> dict[str, Path]:
    """The files of image ``base`` (a path without extension, or one of its files);
    the timeline is optional, the others are always there."""
    b = _base(base)
    return {kind: b.parent / (b.name + ext) for kind, ext in EXTENSIONS.items()}


def staged_paths(base: str | os.PathLike[str]) -> dict[str, Path]:
    """Where a replacement of image ``base`` stages each new file: ``.NAME.new.vmcore``..."""
    b = _base(base)
    return {kind: b.parent / f".{b.name}.new{ext}" for kind, ext in EXTENSIONS.items()}


def current_paths(base: str | os.PathLike[str]) -> dict[str, Path]:
    """Where each file of image ``base`` is now: at its staged name while a
    replacement is committing the staged set and has not renamed that file yet,
    else at its own name."""
    final, staged = image_paths(base), staged_paths(base)
    if not os.path.isfile(staged["vmcore"]):
        return final
    return {kind: staged[kind] if os.path.isfile(staged[kind]) else final[kind] for kind in final}


def staged_files(vmcore: str | os.PathLike[str]) -> tuple[Path, Path] | None:
    """The core and vmlinux of the staged set of the image whose core is ``vmcore``
    (``NAME.vmcore``), while a replacement is committing it; else None."""
    core = Path(vmcore)
    if core.suffix != ".vmcore" or core != image_paths(core)["vmcore"]:
        return None  # a core of another name: no image set around it
    now = current_paths(core)
    return (now["vmcore"], now["vmlinux"]) if now["vmcore"] != core else None


def set_of_core(core: str | os.PathLike[str]) -> dict[str, Path]:
    """Where each file of the set a reader's core belongs to is now: for a staged
    core ``.NAME.new.vmcore`` (:func:`reader_files` opens it while a replacement
    commits), :func:`current_paths` of ``NAME``, some files of which are already
    renamed into place; for any other core, the files beside it."""
    p = Path(core)
    prefix, suffix = ".", ".new" + EXTENSIONS["vmcore"]
    if p.name.startswith(prefix) and p.name.endswith(suffix) and len(p.name) > len(suffix) + 1:
        base = p.parent / p.name[len(prefix) : -len(suffix)]
        if staged_paths(base)["vmcore"] == p:
            return current_paths(base)
    return image_paths(p)


def is_file_of_image(
    path: str | os.PathLike[str],
    core: str | os.PathLike[str] | None,
    vmlinux: str | os.PathLike[str] | None = None,
) -> bool:
    """Whether ``path`` is one of the files of the image whose core a reader opened
    (its set, staged or in place, and the vmlinux it reads): a writer asked to write
    there would destroy the image it is reading."""
    if core is None:
        return False
    files = [*set_of_core(core).values(), *image_paths(core).values()]
    if vmlinux is not None:
        files.append(Path(vmlinux))
    target = Path(path).resolve()
    return any(f.resolve() == target for f in files)


def core_path(image: str | os.PathLike[str]) -> Path:
    """The core an image argument names: ``NAME.vmcore`` for ``NAME``, unless ``NAME``
    is itself a file or already ends in ``.vmcore``."""
    p = Path(image)
    if p.suffix != EXTENSIONS["vmcore"] and not p.exists():
        return p.with_name(p.name + EXTENSIONS["vmcore"])
    return p


def is_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an image whose core is there: ``NAME.vmcore`` itself, or
    ``NAME`` with ``NAME.vmcore`` beside it."""
    given = Path(path)
    core = EXTENSIONS["vmcore"]
    return (given.suffix == core and given.exists()) or Path(os.fspath(path) + core).exists()


def vmlinux_beside(vmcore: str | os.PathLike[str]) -> Path:
    """``NAME.vmlinux`` next to ``NAME.vmcore`` (or next to ``NAME`` given bare)."""
    return image_paths(vmcore)["vmlinux"]


def reader_files(image: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The core and the vmlinux a reader opens for ``image`` (``NAME``, ``NAME.vmcore``
    or a core of any name) at this instant: those of the staged set while a
    replacement is committing it (:func:`staged_files`), else the core and the
    vmlinux beside it."""
    core = core_path(image)
    return staged_files(core) or (core, vmlinux_beside(core))
