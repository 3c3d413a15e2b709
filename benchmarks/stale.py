"""Whether a benchmark's kept image was made by the code being measured.

The benchmarks keep the images they generate (``--workdir``) and reuse them: an image
that an earlier checkout wrote would measure today's reader on yesterday's machine (a
core of another size, another vmlinux). Each kept image has a ``BASE.source`` beside it
with a digest of the package's sources that made it; one that is missing or differs
means the image is made again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vmintro"
SUFFIXES = (".py", ".c", ".h", ".json", ".toml")


def source_digest() -> str:
    """SHA-256 over every source file of the package, by path and content."""
    h = hashlib.sha256()
    for path in sorted(p for p in PACKAGE.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def current(base: str | Path, *suffixes: str) -> bool:
    """``BASE`` has its files (``.vmcore`` and ``suffixes``) and this code made them."""
    stamp = Path(f"{base}.source")
    files = [Path(f"{base}{s}") for s in (".vmcore", *suffixes)]
    return (
        all(f.exists() for f in files)
        and stamp.exists()
        and stamp.read_text().strip() == source_digest()
    )


def record(base: str | Path) -> None:
    """Note that this code made ``BASE``."""
    Path(f"{base}.source").write_text(source_digest() + "\n")
