"""A timeline whose data section is a zip bomb: a few MiB of zeros declaring
gigabytes. The data a timeline holds is what its write records reference, so a
larger declared size is refused before anything is inflated, in one line naming
the file; and a timeline that cannot be read is refused once, not read again by
every command.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from generate_cli import vmintro_cli

import vmintro.image.format.timeline as fmt
from vmintro.backends.image import ImageBackend
from vmintro.errors import EXIT_FAILED
from vmintro.program import Program
from vmintro.timeline import TimelineError

from .handmade import DEMO, copy_image

_HEADER = struct.Struct("<8sHHQ32sIIII8I32s")
_SECTIONS = ("entries", "paths", "writes", "data")
_EXTRA = 64 << 20  # zeros past the data the records reference: 64 KiB once deflated


def _bomb(raw: bytes, extra: int) -> bytes:
    """Timeline file ``raw`` with ``extra`` zero bytes after its data, its sizes and
    checksum made to agree, as a crafted file's would."""
    fields = list(_HEADER.unpack_from(raw))
    sizes, body, at = fields[9:17], raw[_HEADER.size :], 0
    stored = {}
    for i, k in enumerate(_SECTIONS):
        stored[k] = body[at : at + sizes[2 * i]]
        at += sizes[2 * i]
    data = zlib.decompress(stored["data"])
    packer = zlib.compressobj(9)
    stored["data"] = packer.compress(data) + packer.compress(bytes(extra)) + packer.flush()
    fields[8] = fields[16] = len(data) + extra
    fields[15] = len(stored["data"])
    head = _HEADER.pack(*fields[:17], bytes(32))[: _HEADER.size - 32]
    new_body = b"".join(stored[k] for k in _SECTIONS)
    digest = hashlib.sha256(head)
    digest.update(new_body)
    return head + digest.digest() + new_body


@pytest.fixture(scope="module")
def bombed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = copy_image(DEMO, tmp_path_factory.mktemp("bomb"), "demo")
    Path(f"{image}.timeline").write_bytes(_bomb(Path(f"{DEMO}.timeline").read_bytes(), _EXTRA))
    return image


def test_data_past_what_the_records_reference_is_refused_before_inflating() -> None:
    raw = _bomb(Path(f"{DEMO}.timeline").read_bytes(), _EXTRA)
    with pytest.raises(fmt.TimelineFormatError) as e:
        fmt.decode_timeline(raw)
    assert "data section: declares" in str(e.value), e.value
    assert "the write records reference" in str(e.value) and "\n" not in str(e.value)


def test_goto_on_a_bomb_says_so_in_one_line_naming_the_file(bombed: Path) -> None:
    proc = vmintro_cli("-c", "goto 5", str(bombed))
    assert "Traceback" not in proc.stderr and proc.returncode == EXIT_FAILED, proc.stderr
    assert proc.stderr.splitlines() == [
        f"goto: {bombed}.timeline: data section: declares {_declared(bombed)} bytes,"
        f" the write records reference {_declared(bombed) - _EXTRA}"
    ]


def _declared(image: Path) -> int:
    return int(_HEADER.unpack_from(Path(f"{image}.timeline").read_bytes())[8])


def test_a_timeline_too_large_for_memory_is_refused_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory while inflating: one line, and no command reads the file again."""
    image = copy_image(DEMO, tmp_path, "demo")
    shutil.copyfile(f"{DEMO}.timeline", f"{image}.timeline")
    calls = []

    def out_of_memory(raw: bytes) -> fmt.Timeline:
        calls.append(len(raw))
        raise MemoryError("Unable to allocate output buffer.")

    monkeypatch.setattr(fmt, "decode_timeline", out_of_memory)
    prog = Program(ImageBackend(image))
    for _ in range(3):
        with pytest.raises(
            TimelineError, match="^" + re.escape(f"{image}.timeline: not enough memory")
        ):
            _ = prog.timeline
    assert len(calls) == 1
