"""Writing an image: ``NAME.vmcore``, ``NAME.vmlinux`` and ``NAME.truth.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from vmintro.image.elf32 import atomic_output
from vmintro.image.spec import ImageSpec
from vmintro.image.vmcore import write_vmcore
from vmintro.image.vmlinux import write_vmlinux

__all__ = ["ImageWriteError", "image_paths", "write_image"]


class ImageWriteError(Exception):
    """A machine the image format cannot hold (one line, no file written)."""


def image_paths(base: str | os.PathLike[str]) -> dict[str, Path]:
    """The three files of image ``base`` (a path without extension)."""
    b = Path(base)
    if b.suffix in (".vmcore", ".vmlinux"):
        b = b.with_suffix("")
    return {
        "vmcore": b.with_name(b.name + ".vmcore"),
        "vmlinux": b.with_name(b.name + ".vmlinux"),
        "truth": b.with_name(b.name + ".truth.json"),
    }


def write_image(spec: ImageSpec, base: str | os.PathLike[str]) -> dict[str, Path]:
    """Write all three files, each atomically; returns their paths."""
    paths = image_paths(base)
    try:
        write_vmlinux(spec, paths["vmlinux"])
        write_vmcore(spec, paths["vmcore"])
    except ValueError as e:  # the writers refuse what ELF32 cannot express
        raise ImageWriteError(f"{paths['vmcore'].name}: {e}") from None
    text = json.dumps(spec.truth, indent=1, sort_keys=True) + "\n"
    with atomic_output(paths["truth"]) as f:
        f.write(text.encode())
    return paths
