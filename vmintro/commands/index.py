"""The index of the built-in commands: each command module's commands, named without
importing the module.

``vmintro/commands/builtin/index.json`` holds, for each command module, a CRC-32
of its declarations (the ``@command(...)`` decorators, each to the ``def`` it
decorates) and the name, aliases and one-line summary of each command it
registers. The registry (:mod:`vmintro.commands.registry`) takes the commands of a
module from here while the module's declarations still have that checksum, and
imports the module when one of its commands is first wanted; a module that is new,
or whose declarations changed since the index was written, is imported at once, as
every module was before there was an index. Starting a session so imports no
command module, nor numpy, the checkers or the timeline that they import. A change
to a command's body leaves the index as it is; a declaration that takes its name or
summary from elsewhere (a constant) is not seen by the checksum, but is by the test.

``python -m vmintro.commands.index`` rewrites the file from the modules as they are
(tests/commands/test_cmd_index.py fails while it is out of date).
"""

from __future__ import annotations

import json
import os
import re
import zlib
from typing import Any

__all__ = ["INDEX_PATH", "Entry", "current_entries", "describe", "write_index"]

# (name, aliases, summary) of one command
Entry = tuple[str, tuple[str, ...], str]

_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "builtin")
INDEX_PATH = os.path.join(_FOLDER, "index.json")


# A declaration: a top-level @command( decorator up to the def it decorates.
_DECLARATION = re.compile(rb"^@command\(.*?^(?:async )?def ", re.MULTILINE | re.DOTALL)


def _checksum(module: str) -> int | None:
    """The CRC-32 of command module ``module``'s declarations, or of its whole source
    when it has none at the top level (None when it cannot be read)."""
    try:
        with open(os.path.join(_FOLDER, f"{module}.py"), "rb") as f:
            source = f.read()
    except OSError:
        return None
    declarations = [m.group() for m in _DECLARATION.finditer(source)]
    return zlib.crc32(b"\0".join(declarations) if declarations else source)


def current_entries() -> dict[str, tuple[Entry, ...]]:
    """The indexed commands of every module whose source the index still describes."""
    try:
        with open(INDEX_PATH, encoding="utf-8") as f:
            modules: dict[str, Any] = json.load(f)["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # no usable index: every module is imported, as without one
    fresh: dict[str, tuple[Entry, ...]] = {}
    for module, record in modules.items():
        if _checksum(module) == record["crc32"]:
            fresh[module] = tuple(
                (name, tuple(aliases), summary) for name, aliases, summary in record["commands"]
            )
    return fresh


def describe() -> dict[str, Any]:
    """What the index should hold: every command module's checksum and commands, read
    from the modules themselves (each imported)."""
    from vmintro.commands.builtin import module_names
    from vmintro.commands.registry import commands

    prefix = "vmintro.commands.builtin."
    every = [c for c in commands() if c.builtin]
    modules: dict[str, Any] = {}
    for module in module_names():
        modules[module] = {
            "crc32": _checksum(module),
            "commands": [
                [c.name, list(c.aliases), c.help] for c in every if c.origin == prefix + module
            ],
        }
    return {"modules": modules}


def write_index(path: str = INDEX_PATH) -> None:
    """Write :func:`describe`'s index to ``path`` (the package's index by default)."""
    modules = describe()["modules"]
    lines = [f" {json.dumps(m)}: {json.dumps(r, ensure_ascii=False)}" for m, r in modules.items()]
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"modules": {\n' + ",\n".join(lines) + "\n}}\n")


if __name__ == "__main__":
    write_index()
    print(f"wrote {INDEX_PATH}")
