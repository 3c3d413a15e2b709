"""The C extension ``vmintro._speedups``, where it was built and is wanted.

``speedups`` is the module, or None where the extension was not built (an
install without a C compiler) or the environment sets ``VMINTRO_PURE_PYTHON``:
then every caller uses its Python form, which defines what the C form does.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["speedups"]


def _load() -> ModuleType | None:
    if os.environ.get("VMINTRO_PURE_PYTHON"):
        return None
    try:
        from vmintro import _speedups
    except ImportError:
        return None
    return _speedups


speedups = _load()
