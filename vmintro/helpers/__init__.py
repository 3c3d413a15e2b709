"""Kernel helpers, named after the 2.4.20 functions and macros they mirror.

Each module keeps a sorted ``__all__``; this package gathers them, and the
REPL's Python mode puts every name here in scope.

A module is imported when one of its names is first wanted (PEP 562), so that a
plugin naming a few helpers (``from vmintro.helpers import for_each_zone``) does
not import them all before the REPL's first prompt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vmintro.lazy import from_modules, package_dir

if TYPE_CHECKING:  # what the type checker sees: every module's names, as imported below
    from vmintro.helpers.buddy import *  # noqa: F403
    from vmintro.helpers.fs import *  # noqa: F403
    from vmintro.helpers.list import *  # noqa: F403
    from vmintro.helpers.memory import *  # noqa: F403
    from vmintro.helpers.mm import *  # noqa: F403
    from vmintro.helpers.module import *  # noqa: F403
    from vmintro.helpers.pid import *  # noqa: F403
    from vmintro.helpers.slab import *  # noqa: F403
    from vmintro.helpers.vmalloc import *  # noqa: F403

# Every helper module, in the order a name is looked for: those that import fewer of
# the others first (memory imports five of them). No name is in two modules' __all__.
_MODULES = ("list", "mm", "buddy", "module", "vmalloc", "fs", "pid", "slab", "memory")


def _names_of(module: str) -> list[str]:
    names: list[str] = importlib.import_module(f"{__name__}.{module}").__all__
    return names


def _every_name() -> list[str]:
    return sorted({n for module in _MODULES for n in _names_of(module)})


if not TYPE_CHECKING:  # to the type checker, a name the imports above lack is a mistake

    def __getattr__(name: str) -> Any:
        if name == "__all__":
            every = globals()["__all__"] = _every_name()
            return every
        if name in _MODULES:  # `from vmintro.helpers import mm`: the module itself
            return importlib.import_module(f"{__name__}.{name}")
        return from_modules(__name__, _MODULES, name, globals())


def __dir__() -> list[str]:
    return package_dir(globals(), [*_every_name(), *_MODULES])
