"""JSON from an untrusted source (a core's note, an exercise's files), parsed with bounds.

The json module recurses once per level of nesting, so a few thousand ``[`` end in
a RecursionError: how deeply the text nests is counted first (:func:`json_depth`),
without recursing, and text deeper than its reader's format is refused before it
is parsed. This module sits below every layer.
"""

from __future__ import annotations

import json
import os
from typing import Any

from vmintro.files import read_regular

__all__ = ["json_depth", "load_json_file", "parse_json"]


def json_depth(text: str, limit: int) -> int:
    """How deeply ``text``'s arrays and objects nest, counting no further than ``limit + 1``.

    Counted before parsing: the json module recurses once per level and a
    few thousand ``[`` end in a RecursionError.
    """
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json(text: str | bytes, depth: int) -> Any:
    """``json.loads(text)`` for text (bytes: UTF-8) whose arrays and objects nest at
    most ``depth`` deep.

    :raises ValueError: saying what is wrong, in one line.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as e:
            raise ValueError(f"not UTF-8 text (byte {e.start})") from None
    if json_depth(text, depth) > depth:
        raise ValueError(f"JSON nested more than {depth} deep")
    try:
        return json.loads(text)
    except ValueError as e:  # a 5000-digit number too: Python's limit on int()
        raise ValueError(f"not valid JSON ({' '.join(str(e).split())[:120]})") from None


def load_json_file(path: str | os.PathLike[str], limit: int, depth: int) -> Any:
    """The JSON of the regular file ``path``: at most ``limit`` bytes of UTF-8, nested
    at most ``depth`` deep (:func:`parse_json`).

    :raises OSError: ``path`` cannot be read, is no regular file, or is too large
        (:func:`vmintro.files.read_regular`); ``strerror`` says which.
    :raises ValueError: the text is no such JSON, saying why in one line.
    """
    return parse_json(read_regular(path, limit), depth)
