"""A package's names imported from its modules when first wanted (PEP 562).

``vmintro.commands`` and ``vmintro.helpers`` gather the names of their modules without
importing them all: a module-level ``__getattr__`` calls :func:`from_modules`, which
imports the modules in the package's order until one has the name.

This module imports nothing from vmintro: every layer may use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

__all__ = ["from_modules", "package_dir"]


def from_modules(package: str, modules: Iterable[str], name: str, namespace: dict[str, Any]) -> Any:
    """``name`` from the first of ``package``'s ``modules`` whose ``__all__`` has it,
    kept in ``namespace`` (the package's globals) so that the next use finds it at once.

    :raises AttributeError: no module of them has it.
    """
    for module in modules:
        defined = importlib.import_module(f"{package}.{module}")
        if name in defined.__all__:
            value = getattr(defined, name)
            namespace[name] = value
            return value
    raise AttributeError(f"module {package!r} has no attribute {name!r}")


def package_dir(namespace: dict[str, Any], names: Iterable[str]) -> list[str]:
    """What ``dir()`` of the package lists: its public ``names``, the submodules
    imported so far and its dunders, not what its ``__init__`` imports for itself
    (``Any``, ``TYPE_CHECKING``, :func:`from_modules`)."""
    package = namespace["__name__"]
    own = {
        n
        for n, v in namespace.items()
        if n.startswith("__") or (isinstance(v, ModuleType) and v.__name__ == f"{package}.{n}")
    }
    return sorted(own.union(names))
