"""The C extensions ``vmintro._speedups`` (the reader's) and ``vmintro._simspeedups``
(the simulator's), where they were built and are wanted.

``speedups`` and ``simspeedups`` are the modules, or None where the extension was
not built (an install without a C compiler) or the environment sets
``VMINTRO_PURE_PYTHON``: then every caller uses its Python form, which defines
what the C form does.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["simspeedups", "speedups"]


def _load(name: str) -> ModuleType | None:
    if os.environ.get("VMINTRO_PURE_PYTHON"):
        return None
    try:
        return importlib.import_module(f"vmintro.{name}")
    except ImportError:
        return None


speedups = _load("_speedups")
simspeedups = _load("_simspeedups")
