"""The file that loads vmintro into gdb, which ``vmintro gdb-script`` writes
(:mod:`vmintro.cli.gdb_script`) and prints the path of.

::

    gdb -x "$(vmintro gdb-script)" images/demo.vmlinux images/demo.vmcore
    (gdb) source /path/printed/by/vmintro-gdb-script.py       # or later, inside gdb

gdb embeds its own Python, which need not be the interpreter vmintro is
installed in: on Debian, gdb runs ``/usr/bin/python3`` while vmintro may live
in a virtual environment or a pyenv build, and gdb's Python then has neither
vmintro nor pyelftools, construct and numpy. So the file is written for the
installation that runs ``vmintro gdb-script``; it records

* the directory holding the ``vmintro`` package, and imports ``vmintro`` from
  it alone (a checkout's other top-level directories, ``tests/`` or
  ``plugins/``, never reach gdb's ``sys.path``);
* the directories holding this interpreter's copies of the dependencies. When
  gdb's Python has the same major and minor version, :func:`bootstrap`
  imports exactly those copies (numpy's compiled modules need the same
  version); otherwise gdb's Python must have them installed itself, and
  :func:`bootstrap` says so in one message naming what to install.

Run it again after moving the installation; the file is rewritten each time.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEPENDENCIES", "bootstrap", "default_path", "loader_source", "write_loader"]

# Top-level modules the gdb commands import beyond the standard library, with
# what to install for each (the REPL's prompt-toolkit is not needed in gdb).
DEPENDENCIES = {
    "elftools": "pyelftools>=0.31",
    "construct": "construct>=2.10,<2.11",
    "numpy": "numpy>=1.24",
}

LOADER_NAME = "vmintro-gdb.py"

_LOADER = """\
# vmintro inside gdb: the 'vm' commands and the $vm_* functions ('help vm').
# Written by 'vmintro gdb-script' (vmintro {version}) for the installation below.
# Use: gdb -x THIS_FILE NAME.vmlinux NAME.vmcore, or 'source THIS_FILE' in gdb.
import importlib.machinery
import importlib.util
import sys

VMINTRO_PARENT = {parent!r}
DEPENDENCY_PATHS = {paths!r}
PYTHON = {python!r}

if "vmintro" not in sys.modules:
    # vmintro alone from there, not the whole directory on sys.path
    _spec = importlib.machinery.PathFinder.find_spec("vmintro", [VMINTRO_PARENT])
    if _spec is None or _spec.loader is None:
        raise ImportError(
            f"no vmintro package in {{VMINTRO_PARENT}}: run 'vmintro gdb-script' again"
        )
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["vmintro"] = _module
    _spec.loader.exec_module(_module)

from vmintro.hosts.gdb_script import bootstrap  # noqa: E402

bootstrap(DEPENDENCY_PATHS, PYTHON)
"""


def _dependency_paths() -> list[str]:
    """The directories this interpreter imports each dependency from."""
    paths: list[str] = []
    for name in DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        parent = str(Path(next(iter(spec.submodule_search_locations))).resolve().parent)
        if parent not in paths:
            paths.append(parent)
    return paths


def loader_source() -> str:
    """The text of the loader for this installation of vmintro and this interpreter."""
    import vmintro
    from vmintro._version import __version__

    # the directory holding the package, wherever in it this module sits
    parent = str(Path(vmintro.__file__).resolve().parent.parent)
    return _LOADER.format(
        version=__version__,
        parent=parent,
        paths=_dependency_paths(),
        python=tuple(sys.version_info[:2]),
    )


def default_path() -> Path:
    """Where the loader goes by default: ``gdb/vmintro-gdb.py`` in vmintro's cache directory."""
    from vmintro.demo import cache_dir

    return cache_dir() / "gdb" / LOADER_NAME


def write_loader(path: str | os.PathLike[str] | None = None) -> Path:
    """Write the loader (atomically: gdb may be reading the old one) and return its path.

    Only the default path's directory, vmintro's own cache, is created; a path
    given is written where it says, with the mode a plain ``open()`` gives.
    """
    from vmintro.files import atomic_output

    if path is None:
        target = default_path()
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        target = Path(path)
    with atomic_output(target) as f:
        f.write(loader_source().encode())
    return target.resolve()


# -- inside gdb ------------------------------------------------------------------------


def _import_from(name: str, paths: Sequence[str]) -> bool:
    """Import top-level module ``name`` from ``paths`` alone; False (nothing kept) on failure."""
    spec = importlib.machinery.PathFinder.find_spec(name, list(paths))
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 - an unusable copy: fall back to gdb's own
        for key in [k for k in sys.modules if k == name or k.startswith(f"{name}.")]:
            del sys.modules[key]
        return False
    return True


def ensure_dependencies(paths: Sequence[str], python: Sequence[int]) -> None:
    """Make vmintro's dependencies importable in this (gdb's) Python.

    With the same Python version as the installation that wrote the loader,
    its copies are imported (the versions vmintro was installed with);
    otherwise, or if that fails, this Python's own.

    :raises ImportError: naming what is missing and how to install it.
    """
    same = tuple(sys.version_info[:2]) == tuple(python)
    missing = []
    for name, requirement in DEPENDENCIES.items():
        if name in sys.modules or (same and _import_from(name, paths)):
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(requirement)
    if missing:
        here = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        wanted = ".".join(str(n) for n in python)
        raise ImportError(
            f"vmintro needs {', '.join(missing)} in gdb's Python ({here}; vmintro was "
            f"installed for Python {wanted}): install them for it, e.g. "
            f"{here} -m pip install --break-system-packages " + " ".join(f"'{r}'" for r in missing)
        )


def bootstrap(paths: Sequence[str], python: Sequence[int]) -> None:
    """What the loader runs inside gdb: the dependencies, then the ``vm`` commands."""
    ensure_dependencies(paths, python)
    from vmintro.hosts import gdb

    gdb.install()
