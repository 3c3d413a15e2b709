"""The built-in commands, one module each; the registry imports them on first use.

Every module of this package whose name does not start with ``_`` is a command
module: a new one is found by being here, with no list to keep. ``_``-named
modules (``_pages``, ``_types``) are what the commands share. ``index.json``
names each module's commands so that a session starts without importing them
(:mod:`vmintro.commands.index`); a module it does not describe, a new one or one
whose ``@command`` declarations changed, is imported at start until
``python -m vmintro.commands.index`` rewrites it.
"""

from __future__ import annotations

import os

__all__ = ["module_names"]


def module_names() -> list[str]:
    """The command modules of this package, by name (the order they register in): its
    ``*.py`` files, listed with os.listdir (not pkgutil, whose import a session's start
    would pay).

    Written with literals only: once its command modules are imported, ``list`` and
    ``set`` in this package's namespace are the modules of those commands.
    """
    found = {
        name[:-3]
        for folder in __path__
        for name in _listdir(folder)
        if name.endswith(".py") and name[:-3].isidentifier() and not name.startswith("_")
    }
    return sorted(found)


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []
