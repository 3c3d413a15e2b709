"""Reading the core's VMINTRO note: what made the image (version, scenario, seed, machine).

The note is untrusted like the rest of the core: at most
:data:`GENERATOR_NOTE_MAX` bytes of UTF-8 JSON, an object whose values are
numbers, booleans, null, printable strings or lists of those.
"""

from __future__ import annotations

from typing import Any

from vmintro.untrusted_json import parse_json

__all__ = ["GENERATOR_NOTE_MAX", "parse_generator_note"]

# The generator's note is a few hundred bytes: version, scenario, seed, machine.
GENERATOR_NOTE_MAX = 64 << 10
GENERATOR_STRING_MAX = 4096
_GENERATOR_DEPTH = 2  # an object of values and lists of values


def _check_generator_value(key: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _check_generator_value(key, item)
        return
    if isinstance(value, str):
        if len(value) > GENERATOR_STRING_MAX:
            raise ValueError(f"{key} is a string of {len(value)} characters")
        if not value.isprintable():
            raise ValueError(f"{key} holds a control character")
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise ValueError(f"{key} is a JSON {type(value).__name__}, not a value or a list")


def parse_generator_note(desc: bytes) -> dict[str, Any]:
    """The VMINTRO note (the generator's version, scenario, seed, machine) as a dict.

    The note is untrusted like the rest of the core: at most
    :data:`GENERATOR_NOTE_MAX` bytes of UTF-8 JSON, an object whose values are
    numbers, booleans, null, printable strings or lists of those.

    :raises ValueError: saying what is wrong, in one line.
    """
    if len(desc) > GENERATOR_NOTE_MAX:
        raise ValueError(f"{len(desc)} bytes, more than {GENERATOR_NOTE_MAX}")
    generator = parse_json(desc.rstrip(b"\0"), _GENERATOR_DEPTH)
    if not isinstance(generator, dict):
        raise ValueError(f"a JSON {type(generator).__name__}, not an object")
    for key, value in generator.items():
        if not key.isprintable() or len(key) > GENERATOR_STRING_MAX:
            raise ValueError(f"key {key[:40]!r} is not a printable name")
        _check_generator_value(key, value)
    return generator
