"""The indexes of the built-in commands and of the shipped plugins: each module's
commands, named without importing the module.

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

The shipped plugins (the checkout's ``plugins/``, installed as ``vmintro_plugins``)
have the same index, ``index.json`` in their directory, read the same way by plugin
discovery (:mod:`vmintro.commands.discovery`): a session starts without importing
them either. Plugins of a ``--plugin-dir`` or of an entry point have none and are
imported when they load.

``python -m vmintro.commands.index`` rewrites both files from the modules as they are
(tests/commands/test_cmd_index.py fails while the first is out of date,
tests/plugins/test_plugin_index.py while the second is).
"""

from __future__ import annotations

import json
import os
import re
import zlib
from typing import Any

__all__ = [
    "INDEX_PATH",
    "Entry",
    "current_entries",
    "describe",
    "describe_plugins",
    "plugin_entries",
    "write_index",
]

# (name, aliases, summary) of one command
Entry = tuple[str, tuple[str, ...], str]

# the file name of an index, in the directory of the modules it describes
_INDEX_FILE = "index.json"
_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "builtin")
INDEX_PATH = os.path.join(_FOLDER, _INDEX_FILE)


# A declaration: a top-level @command( decorator up to the def it decorates.
_DECLARATION = re.compile(rb"^@command\(.*?^(?:async )?def ", re.MULTILINE | re.DOTALL)


def _checksum(module: str, folder: str = _FOLDER) -> int | None:
    """The CRC-32 of the declarations of module ``module`` of ``folder`` (the built-in
    commands' by default), or of its whole source when it has none at the top level
    (None when it cannot be read)."""
    try:
        with open(os.path.join(folder, f"{module}.py"), "rb") as f:
            source = f.read()
    except OSError:
        return None
    declarations = [m.group() for m in _DECLARATION.finditer(source)]
    return zlib.crc32(b"\0".join(declarations) if declarations else source)


def current_entries() -> dict[str, tuple[Entry, ...]]:
    """The indexed commands of every built-in command module whose source the index
    still describes."""
    return _fresh_entries(INDEX_PATH, _FOLDER)


def plugin_entries(folder: str | os.PathLike[str]) -> dict[str, tuple[Entry, ...]]:
    """The indexed commands of every shipped plugin of ``folder`` (the plugins'
    directory) whose source its ``index.json`` still describes."""
    return _fresh_entries(os.path.join(folder, _INDEX_FILE), os.fspath(folder))


def _fresh_entries(path: str, folder: str) -> dict[str, tuple[Entry, ...]]:
    try:
        with open(path, encoding="utf-8") as f:
            modules: dict[str, Any] = json.load(f)["modules"]
        fresh: dict[str, tuple[Entry, ...]] = {}
        for module, record in modules.items():
            if _checksum(module, folder) == record["crc32"]:
                fresh[module] = tuple(
                    (str(name), tuple(map(str, aliases)), str(summary))
                    for name, aliases, summary in record["commands"]
                )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no usable index: every module is imported, as without one
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


def describe_plugins() -> dict[str, Any]:
    """What the shipped plugins' index should hold, read from the plugins themselves
    (each imported, none from the index): every plugin is unloaded first, and none is
    loaded afterwards."""
    from pathlib import Path

    from vmintro.commands.discovery import PLUGIN_DIR, load_plugins, unload_plugins
    from vmintro.commands.registry import lookup

    unload_plugins()
    try:
        plugins = load_plugins(indexed=False)
        shipped = [p for p in plugins if Path(p.source).parent == PLUGIN_DIR]
        modules: dict[str, Any] = {}
        for plugin in sorted(shipped, key=lambda p: p.name):
            if plugin.error is not None:
                raise ValueError(f"plugin {plugin.name}: {plugin.error}")
            modules[plugin.name] = {
                "crc32": _checksum(plugin.name, os.fspath(PLUGIN_DIR)),
                "commands": [
                    [c.name, list(c.aliases), c.help] for c in map(lookup, plugin.commands)
                ],
            }
    finally:
        unload_plugins()
    return {"modules": modules}


def _write(path: str | os.PathLike[str], modules: dict[str, Any]) -> None:
    lines = [f" {json.dumps(m)}: {json.dumps(r, ensure_ascii=False)}" for m, r in modules.items()]
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"modules": {\n' + ",\n".join(lines) + "\n}}\n")


def write_index(path: str = INDEX_PATH) -> None:
    """Write :func:`describe`'s index to ``path`` (the package's index by default)."""
    _write(path, describe()["modules"])


def write_plugin_index() -> str:
    """Write :func:`describe_plugins`'s index into the shipped plugins' directory; its path."""
    from vmintro.commands.discovery import PLUGIN_DIR

    path = os.path.join(PLUGIN_DIR, _INDEX_FILE)
    _write(path, describe_plugins()["modules"])
    return path


if __name__ == "__main__":
    write_index()
    print(f"wrote {INDEX_PATH}")
    print(f"wrote {write_plugin_index()}")
