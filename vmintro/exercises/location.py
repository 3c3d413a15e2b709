"""Where an exercise is: the checkout's ``images/exercises/NAME``, or built into the
user's cache on first use (an installed package has no ``images/``, and the checkout
ships only a subset), or a directory given by its path (a student's graded variant).

A first-use build draws its variant from a fresh random key that is never written
down (:func:`vmintro.exercises.keys.fresh_key`): only the slow hash of its answer
is kept, so each user's cache holds a variant of its own that nobody can rebuild.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

__all__ = [
    "CHECKOUT_DIR",
    "EXERCISE_DEPTH",
    "EXERCISE_FILE",
    "EXERCISE_MAX",
    "EXERCISE_NAME",
    "CacheError",
    "README_FILE",
    "README_MAX",
    "cache_root",
    "exercise_dir",
]

# images/exercises of the checkout this package runs from (absent when installed alone)
CHECKOUT_DIR = Path(__file__).resolve().parent.parent.parent / "images" / "exercises"
EXERCISE_FILE = "exercise.json"
# an exercise's name as its files and its core's note give it: a word of the catalog's
# form, never printed as it is otherwise (it comes from a file, and names a directory)
EXERCISE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
README_FILE = "README.md"
# An exercise's directory is untrusted (a student's graded variant comes by mail): its
# exercise.json and README are a few KiB; larger ones are refused, never read whole.
EXERCISE_MAX = 64 << 10
README_MAX = 64 << 10
# exercise.json's deepest value: the object's hints, a hint, its commands
EXERCISE_DEPTH = 4


def cache_root() -> Path:
    from vmintro._version import __version__
    from vmintro.demo import cache_dir

    return cache_dir() / __version__ / "exercises"


def _complete(path: Path) -> bool:
    name = path.name
    return all(
        (path / f).is_file()
        for f in (EXERCISE_FILE, "answer.json", f"{name}.vmcore", f"{name}.vmlinux")
    )


class CacheError(LookupError):
    """An exercise neither shipped nor in the cache, and the cache cannot take it: one
    line naming what is wrong (VMINTRO_CACHE_DIR a file, a directory not writable)."""


def exercise_dir(name: str) -> Path:
    """The directory of exercise ``name`` (a catalog name, or the path of an exercise
    directory), building the practice variant into the cache if needed (said on stderr).

    :raises LookupError: for a name that is neither.
    :raises CacheError: it must be built and the cache cannot be written.
    """
    given = Path(name)
    # whatever is there (a FIFO, a link to a device): the actions say what is wrong with it
    if os.path.lexists(given / EXERCISE_FILE):
        return given
    from vmintro.exercises.catalog import by_name

    ex = by_name(name)  # LookupError naming the known ones
    shipped = CHECKOUT_DIR / name
    if _complete(shipped):
        return shipped
    cached = cache_root() / name
    if not _complete(cached):
        from vmintro.escape import escape_text
        from vmintro.exercises.build import build_exercise
        from vmintro.exercises.keys import fresh_key
        from vmintro.image.writer.install import ImageWriteError

        where = escape_text(str(cached))
        print(f"vmintro: building exercise {name} once, into {where}", file=sys.stderr)
        try:
            build_exercise(ex, cached.parent, fresh_key())
        except OSError as e:  # a cache that is a file, or cannot be written
            raise CacheError(f"{e.filename or cached}: {e.strerror}") from None
        except ImageWriteError as e:
            raise CacheError(str(e)) from None
    return cached
