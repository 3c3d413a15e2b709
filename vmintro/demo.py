"""Where the bundled demo image is: the checkout's ``images/``, or the user's cache.

Installed from a wheel there is no ``images/`` directory; the demo is then
generated once into the cache directory (same scenario and seed, so the same
bytes as the committed one).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from vmintro.image.format.names import image_paths

__all__ = ["default_image"]

_CHECKOUT_IMAGES = Path(__file__).resolve().parent.parent / "images"


def cache_dir() -> Path:
    env = os.environ.get("VMINTRO_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vmintro"))


def _complete(base: Path) -> bool:
    """Whether image ``base`` has its core and its vmlinux."""
    paths = image_paths(base)
    return paths["vmcore"].exists() and paths["vmlinux"].exists()


def default_image(note: Callable[[str], None] | None = None) -> Path:
    """Path (without extension) of the demo image, generating it on first use if needed;
    ``note`` is told, in one line, when and where it is generated.
    """
    checkout = _CHECKOUT_IMAGES / "demo"
    if _complete(checkout):
        return checkout
    from vmintro._version import __version__

    cached = cache_dir() / __version__ / "demo"
    if not _complete(cached):
        from vmintro.generate import generate

        if note is not None:
            note(
                f"this installed copy has no images/: generating the demo image once, "
                f"into {cached}.vmcore (and .vmlinux)"
            )
        cached.parent.mkdir(parents=True, exist_ok=True)
        generate(cached)
    return cached
