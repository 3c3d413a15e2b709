"""Where the exercises are: the checkout's ``images/exercises``, or built into the cache."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHECKOUT_DIR", "exercises_root"]

# images/exercises of the checkout this package runs from (absent when installed alone)
CHECKOUT_DIR = Path(__file__).resolve().parent.parent.parent / "images" / "exercises"


def exercises_root() -> Path:
    """The exercise directories; installed without a checkout, they are built on first use.

    Built in the cache, each exercise gets a fresh salt; its answer is the same.
    """
    if CHECKOUT_DIR.is_dir():
        return CHECKOUT_DIR
    from vmintro._version import __version__
    from vmintro.demo import cache_dir
    from vmintro.exercises.build import build_all

    root = cache_dir() / __version__ / "exercises"
    if not root.is_dir():
        build_all(root)
    return root
