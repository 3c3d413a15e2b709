"""The VMINTRO note (the generator's JSON) is bounded and checked like the rest of the core.

Before, a note of a few thousand ``[`` gave a RecursionError traceback in
every entry point.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_files import assert_refused, copy_demo, run_vmintro, set_vmintro_note

import vmintro
from vmintro.backends.image import ImageError as BackendImageError
from vmintro.image.reader.core import CoreFile, ImageError
from vmintro.image.reader.generator_note import parse_generator_note

NESTED = b"[" * 5000 + b"]" * 5000


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    base = copy_demo(tmp_path, "nested")
    set_vmintro_note(Path(f"{base}.vmcore"), NESTED)
    return base


@pytest.mark.parametrize(
    ("desc", "message"),
    [
        (NESTED, "JSON nested more than 2 deep"),
        (b'{"a": {"b": {"c": 1}}}', "JSON nested more than 2 deep"),
        (b'{"a": {"b": 1}}', "a is a JSON dict, not a value or a list"),
        (b'"[[[["', 'a JSON str, not an object'),
        (b'{"seed": 1' + b"0" * 5000 + b"}", "not valid JSON"),
        (b'{"scenario": "\\u001b]0;owned\\u0007"}', "scenario holds a control character"),
        (b'{"x": "' + b"a" * 5000 + b'"}', "x is a string of 5000 characters"),
        (b"\xff{}", "not UTF-8 text (byte 0)"),
        (b"{" + b" " * (70 << 10) + b"}", "71682 bytes, more than 65536"),
    ],
    ids=["deep", "nested objects", "object value", "string", "huge number", "escape", "long",
         "utf-8", "size"],
)  # fmt: skip
def test_bad_notes_are_refused(desc: bytes, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_generator_note(desc)
    assert message in str(info.value)


def test_what_the_generator_writes_passes() -> None:
    note = {"version": "0.1.0", "scenario": "demo", "seed": 20, "ram": 1 << 26, "pae": False,
            "arguments": ["--ram", "64M"], "title": "café"}  # fmt: skip
    assert parse_generator_note(json.dumps(note).encode() + b"\0") == note


def test_library_refuses_a_deeply_nested_note(nested: Path) -> None:
    with pytest.raises(ImageError, match=r"^nested\.vmcore: VMINTRO note: JSON nested more"):
        CoreFile(f"{nested}.vmcore")
    with pytest.raises(BackendImageError, match=r"^nested\.vmcore: VMINTRO note: JSON nested"):
        vmintro.open(nested)


@pytest.mark.parametrize(
    "args",
    [["-c", "vmlist", "{base}"], ["check", "{base}"], ["map", "{base}", "-o", "{out}"]],
    ids=["-c", "check", "map"],
)
def test_entry_points_refuse_a_deeply_nested_note(
    nested: Path, args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out.svg"
    proc = run_vmintro(*(a.format(base=nested, out=out) for a in args))
    assert_refused(proc, "nested.vmcore: VMINTRO note: JSON nested more than 2 deep")
    assert not out.exists()
