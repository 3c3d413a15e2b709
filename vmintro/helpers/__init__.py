"""Kernel helpers, named after the 2.4.20 functions and macros they mirror.

Each module keeps a sorted ``__all__``; this package gathers them, and the
REPL's Python mode puts every name here in scope.
"""

from vmintro.helpers import buddy, fs, memory, mm, module, pid, slab, vmalloc
from vmintro.helpers import list as _list
from vmintro.helpers.buddy import *  # noqa: F403
from vmintro.helpers.fs import *  # noqa: F403
from vmintro.helpers.list import *  # noqa: F403
from vmintro.helpers.memory import *  # noqa: F403
from vmintro.helpers.mm import *  # noqa: F403
from vmintro.helpers.module import *  # noqa: F403
from vmintro.helpers.pid import *  # noqa: F403
from vmintro.helpers.slab import *  # noqa: F403
from vmintro.helpers.vmalloc import *  # noqa: F403

__all__ = sorted(
    {
        *buddy.__all__,
        *fs.__all__,
        *_list.__all__,
        *memory.__all__,
        *mm.__all__,
        *module.__all__,
        *pid.__all__,
        *slab.__all__,
        *vmalloc.__all__,
    }
)
