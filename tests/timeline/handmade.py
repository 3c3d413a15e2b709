"""Hand-made timelines for an existing image: writes planned forward, the truth kept.

A plan is a list of entries, each a list of ``(pfn, offset, data)`` writes. The
frames it touches start (after boot) from bytes the caller gives; the writes are
applied forward to a model of those frames, each recording the bytes before and
after; a last entry writes every touched frame to what the image holds, so the
image is the timeline's last moment. ``states[n][pfn]`` is the model after entry
``n``: the oracle for ``prog.at(n)``, computed forward, never by undoing writes.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy

from vmintro.image.format.timeline import (
    WRITE_DTYPE,
    ZERO,
    Entry,
    Result,
    Timeline,
    encode_timeline,
)

PAGE = 4096
DEMO = Path(__file__).resolve().parents[2] / "images" / "demo"
PATHS = (
    ("vmalloc", "__vmalloc", "vmalloc_area_pages", "alloc_area_pmd", "alloc_area_pte", "set_pte"),
    ("vfree", "vmfree_area_pages", "free_area_pmd", "free_area_pte", "ptep_get_and_clear"),
)

Plan = list[list[tuple[int, int, bytes]]]


@dataclass
class Handmade:
    timeline: Timeline
    states: list[dict[int, bytes]]


def copy_image(src: Path, dst_dir: Path, name: str = "img") -> Path:
    """A copy of image ``src`` (its three files) as ``dst_dir/name``."""
    for ext in (".vmcore", ".vmlinux", ".truth.json"):
        shutil.copyfile(f"{src}{ext}", dst_dir / f"{name}{ext}")
    return dst_dir / name


def build(
    core: Path, ram_size: int, image: dict[int, bytes], boot: dict[int, bytes], plan: Plan
) -> Handmade:
    """The timeline of ``plan`` over frames holding ``boot`` after boot, ``image`` at the end."""
    model = {pfn: bytearray(boot[pfn]) for pfn in image}
    states = [{pfn: bytes(b) for pfn, b in model.items()}]
    data = bytearray()
    records = []
    entries = [Entry(0, 0, "start_kernel", (), Result("void", None, None), 0, 0)]

    def stored(b: bytes) -> int:
        if not any(b):
            return ZERO
        data.extend(b)
        return len(data) - len(b)

    full_plan = [*plan, [(pfn, 0, image[pfn]) for pfn in sorted(image)]]
    for number, writes in enumerate(full_plan, start=1):
        first = len(records)
        for pfn, offset, new in writes:
            old = bytes(model[pfn][offset : offset + len(new)])
            model[pfn][offset : offset + len(new)] = new
            path = 1 if number % 2 == 0 else 0  # vfree's path in vfree's entries
            records.append((number, path, pfn, offset, len(new), stored(old), stored(new)))
        call = "vfree" if number % 2 == 0 else "vmalloc"
        args = (("addr", 0xD0800000),) if call == "vfree" else (("size", 4096 * number),)
        result = (
            Result("void", None, None) if call == "vfree" else Result("address", 0xD0800000, None)
        )
        entries.append(Entry(number, number, call, args, result, first, len(records) - first))
        states.append({pfn: bytes(b) for pfn, b in model.items()})
    t = Timeline(
        tuple(entries),
        PATHS,
        numpy.array(records, WRITE_DTYPE),
        bytes(data),
        ram_size,
        hashlib.sha256(core.read_bytes()).digest(),
    )
    return Handmade(t, states)


def write(base: Path, t: Timeline) -> Path:
    """``base.timeline``, encoded."""
    path = base.parent / f"{base.name}.timeline"
    path.write_bytes(encode_timeline(t))
    return path


def image_with_timeline(src: Path, dst_dir: Path, name: str = "img") -> Path:
    """A copy of image ``src`` with a hand-made timeline of four entries (boot, two
    vmalloc/vfree entries writing the two frames before RAM's last, and the entry
    that leaves them as the image holds them): something to move in for tests of
    commands, whose answers the frames far from every kernel structure do not change."""
    from vmintro.backends.image import ImageBackend

    base = copy_image(src, dst_dir, name)
    backend = ImageBackend(base)
    ram = backend.facts().ram_size
    frames = [ram // PAGE - 3, ram // PAGE - 2]
    image = {pfn: backend.read_phys(pfn * PAGE, PAGE) for pfn in frames}
    backend.close()
    plan: Plan = [
        [(frames[0], 0, b"\x63\x41\xff\x07"), (frames[1], PAGE - 8, b"abcdefgh")],
        [(frames[0], 0, bytes(4)), (frames[0], 2, b"zz")],
    ]
    made = build(Path(f"{base}.vmcore"), ram, image, {pfn: bytes(PAGE) for pfn in frames}, plan)
    write(base, made.timeline)
    return base
