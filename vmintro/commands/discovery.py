"""Finding and loading plugins: modules that register commands when imported.

Sources, in the order they load:

1. every ``*.py`` module of the shipped plugins: the checkout's top-level
   ``plugins/`` directory, or, installed from a wheel, the ``vmintro_plugins``
   directory the wheel puts beside the package (the same files);
2. every ``*.py`` module of each ``--plugin-dir DIR``, in the order given;
3. every entry point of group ``vmintro.plugins`` of the installed packages
   (a module, whose import registers its commands, or a callable, called with
   no arguments to register them), by entry-point name.

Within a directory, modules load in name order; names starting with ``_`` or
``.`` are skipped, so a directory can hold private files. A plugin's name is
its file name without ``.py`` (or its entry-point name); the first plugin of a
name wins and a later one is reported.

The shipped plugins are indexed (``index.json`` beside them, written by
``python -m vmintro.commands.index``): a plugin the index still describes has its
commands registered from there and is imported when one of them is first wanted,
so that a session starts without importing them. A plugin the index does not
describe (new, or whose declarations changed since) is imported at once.

Each source loads once per process. A plugin that fails to import, or whose
registration raises (a command name already taken, say), is reported in one
line -- recorded for the ``plugins`` command and written once to standard
error as ``vmintro: plugin NAME: ERROR`` -- and contributes no command; the
others load as usual. A shipped plugin imported late that fails is reported the
same way then, and the command that wanted it fails with that line.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vmintro.commands.registry import (
    CommandError,
    command_names,
    forget_plugin_errors,
    record_plugin_error,
    register_pending,
    unregister,
)
from vmintro.escape import escape_text

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from vmintro.commands.index import Entry

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGIN_DIR",
    "Plugin",
    "load_plugins",
    "loaded_plugins",
    "unload_plugins",
]

ENTRY_POINT_GROUP = "vmintro.plugins"
# Plugin modules live under this prefix in sys.modules; the wheel installs the shipped
# plugins as the package of that name.
MODULE_PREFIX = "vmintro_plugins."
_BESIDE = Path(__file__).resolve().parents[2]
# The checkout's plugins/, found beside the package as vmintro/demo.py finds images/.
# Installed from a wheel, the directory beside the package is site-packages, where a
# "plugins" directory would be someone else's: only a checkout's (with its
# pyproject.toml) is ours, and installed the shipped plugins are vmintro_plugins/
# (setup.py maps plugins/ to that package).
_IN_CHECKOUT = (_BESIDE / "pyproject.toml").is_file()
PLUGIN_DIR = _BESIDE / ("plugins" if _IN_CHECKOUT else MODULE_PREFIX.rstrip("."))


@dataclass(frozen=True)
class Plugin:
    """One plugin: where it came from and what it added, or why it failed.

    ``source`` is the module's file, or ``entry point VALUE (DIST)``;
    ``commands`` the names of the commands it registered; ``error`` the one-line
    reason it failed to load (None when it loaded); ``module`` the name it was
    imported as.
    """

    name: str
    source: str
    commands: tuple[str, ...] = ()
    error: str | None = None
    module: str | None = None


_PLUGINS: dict[str, Plugin] = {}  # by source key: a resolved path or an entry point
_BY_NAME: dict[str, str] = {}  # plugin name -> source key of the plugin that has it
_entry_points_loaded = False


def loaded_plugins() -> list[Plugin]:
    """Every plugin tried so far, in the order they loaded (failed ones included)."""
    return list(_PLUGINS.values())


def load_plugins(
    extra_dirs: Iterable[str | os.PathLike[str]] = (),
    err: TextIO | None = None,
    indexed: bool = True,
) -> list[Plugin]:
    """Load the plugins of ``plugins/``, of ``extra_dirs`` and of the entry points.

    Sources already loaded are not loaded again, so calling this twice is cheap
    and a later call only adds new directories. Failures are written to ``err``
    (standard error by default) as they happen. The shipped plugins that their
    index describes are imported when first wanted, unless ``indexed`` is false.

    :return: every plugin tried so far (see :func:`loaded_plugins`).
    """
    global _entry_points_loaded
    stream = err if err is not None else sys.stderr
    command_names()  # the built-in commands first: a plugin cannot take their names
    entries: Mapping[str, tuple[Entry, ...]] = {}
    if indexed:
        from vmintro.commands.index import plugin_entries

        entries = plugin_entries(PLUGIN_DIR)
    _load_directory(PLUGIN_DIR, explicit=False, err=stream, indexed=entries, late_err=err)
    for directory in extra_dirs:
        _load_directory(Path(directory), explicit=True, err=stream)
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for ep in _entry_points():
            _load_entry_point(ep, stream)
    return loaded_plugins()


def unload_plugins() -> None:
    """Forget every plugin: unregister its commands, drop its module and its error.

    The next :func:`load_plugins` loads them afresh (tests; a session that reloads).
    """
    global _entry_points_loaded
    for plugin in _PLUGINS.values():
        for name in plugin.commands:
            unregister(name)
        if plugin.module is not None and plugin.module.startswith(MODULE_PREFIX):
            sys.modules.pop(plugin.module, None)
    forget_plugin_errors([p.source for p in _PLUGINS.values() if p.error is not None])
    _PLUGINS.clear()
    _BY_NAME.clear()
    _SHIPPED.files.clear()
    _entry_points_loaded = False


# -- sources -----------------------------------------------------------------------------


def _load_directory(
    directory: Path,
    explicit: bool,
    err: TextIO,
    indexed: Mapping[str, tuple[Entry, ...]] | None = None,
    late_err: TextIO | None = None,
) -> None:
    if not directory.is_dir():
        if explicit:  # the shipped plugins may be absent (a bare copy); a named directory not
            key = str(directory.resolve())
            if key not in _PLUGINS:
                _fail(key, str(directory), str(directory), "not a directory", err)
        return
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith(("_", ".")):
            continue
        key = str(path.resolve())
        if key not in _PLUGINS:
            entries = None if indexed is None else indexed.get(path.stem)
            _load_file(path, key, err, entries, late_err)


def _load_file(
    path: Path,
    key: str,
    err: TextIO,
    entries: tuple[Entry, ...] | None = None,
    late_err: TextIO | None = None,
) -> None:
    """Load the plugin module at ``path``; with ``entries`` (its commands, as its index
    names them) register those and import it when one is first wanted, reporting a
    failure then to ``late_err`` (standard error as it is then, when None)."""
    name = path.stem
    module_name = MODULE_PREFIX + name

    def load() -> str:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        # In sys.modules while it runs, as any import: dataclasses and pickle look it up.
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module_name

    if entries is None or not _defer(key, name, path, module_name, entries, late_err):
        _register(key, name, str(path), load, err)


class _ShippedPlugins:
    """The import system's finder of the shipped plugins whose import is put off
    (:func:`_defer`): each by its module name (``vmintro_plugins.meminfo``), from its
    file; and, where nothing else provides it (a checkout that is not installed), the
    package ``vmintro_plugins`` itself, as the namespace package of their directory.

    First on ``sys.meta_path``, so that a plugin imported when first wanted and one
    imported by name (``from vmintro_plugins.meminfo import ...`` in the code ``--py``
    shows) are the same import: one module, run once, under the import system's lock
    of that module when two threads want it at once.
    """

    def __init__(self) -> None:
        self.files: dict[str, Path] = {}

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        where = self.files.get(fullname)
        if where is not None:
            return importlib.util.spec_from_file_location(fullname, where)
        if fullname != _PACKAGE or not self.files:
            return None
        for finder in sys.meta_path:  # an installed vmintro_plugins is found as usual
            find = getattr(finder, "find_spec", None)
            if finder is not self and find is not None and find(fullname, None) is not None:
                return None
        spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
        spec.submodule_search_locations = [str(PLUGIN_DIR)]
        return spec


_PACKAGE = MODULE_PREFIX.rstrip(".")
_SHIPPED = _ShippedPlugins()
# One late import at a time: a plugin that fails is reported once, not once per thread.
_LATE = threading.RLock()


def _defer(
    key: str,
    name: str,
    path: Path,
    module_name: str,
    entries: tuple[Entry, ...],
    late_err: TextIO | None,
) -> bool:
    """Register the commands ``entries`` of plugin ``name`` (the file ``path``) as
    its index names them, the module imported when one of them is first wanted; False,
    having registered none, when the plugin's name or a command's is taken (the plugin
    is then imported now, which reports the clash as it does for any plugin).
    """
    if name in _BY_NAME or module_name in sys.modules:
        return False
    source = str(path)

    def pend(command: str, aliases: tuple[str, ...], summary: str) -> None:
        register_pending(command, aliases, summary, module_name, load_when_wanted)

    def load_when_wanted() -> None:
        with _LATE:
            failed = _PLUGINS[key].error if key in _PLUGINS else None
            if failed is not None:  # another thread's import of it failed meanwhile
                raise CommandError(f"plugin {name}: {failed}")
            try:
                importlib.import_module(module_name)
            except KeyboardInterrupt:  # Ctrl-C while it imports: the next use tries again
                for command, aliases, summary in entries:
                    unregister(command)  # what it registered before the interrupt, too
                    pend(command, aliases, summary)
                raise
            except BaseException as e:  # noqa: BLE001 - reported as any plugin's (sys.exit too)
                for command, _aliases, _summary in entries:
                    unregister(command)
                message = _one_line(e)
                stream = late_err if late_err is not None else sys.stderr
                _fail(key, name, source, message, stream)
                raise CommandError(f"plugin {name}: {message}") from None

    added: list[str] = []
    try:
        for command, aliases, summary in entries:
            pend(command, aliases, summary)
            added.append(command)
    except ValueError:
        for command in added:
            unregister(command)
        return False
    if _SHIPPED not in sys.meta_path:
        sys.meta_path.insert(0, _SHIPPED)
    _SHIPPED.files[module_name] = path
    _PLUGINS[key] = Plugin(name, source, tuple(sorted(added)), None, module_name)
    _BY_NAME[name] = key
    return True


def _entry_points() -> list[EntryPoint]:
    if not _may_declare_entry_points():
        return []  # importlib.metadata takes longer to import than the look took
    from importlib.metadata import entry_points

    unique = {(ep.name, ep.value): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return [unique[k] for k in sorted(unique)]


def _may_declare_entry_points() -> bool:
    """Whether an installed distribution may declare an entry point of the group.

    A quick look at where importlib.metadata looks: the ``*.dist-info`` and
    ``*.egg-info`` directories in each directory on ``sys.path``, and their
    ``entry_points.txt``. Only when none names the group is the answer no; whatever
    the look cannot see into (a zip file on ``sys.path``, a finder of distributions
    other than the path's) answers yes, and importlib.metadata then decides.
    """
    from importlib.machinery import PathFinder

    for finder in sys.meta_path:
        if finder is not PathFinder and hasattr(finder, "find_distributions"):
            return True
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            return True  # a zip file: importlib.metadata reads inside it
        except OSError:
            continue  # no such directory: nothing there
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), "rb") as f:
                    if ENTRY_POINT_GROUP.encode() in f.read():
                        return True
            except OSError:
                continue  # no entry points (or an egg-info file)
    return False


def _load_entry_point(ep: EntryPoint, err: TextIO) -> None:
    dist = getattr(ep, "dist", None)
    source = f"entry point {ep.value}" + (f" ({dist.name})" if dist is not None else "")
    key = f"entry point {ep.name} = {ep.value}"

    def load() -> str:
        obj = ep.load()
        if not inspect.ismodule(obj):
            if not callable(obj):
                raise TypeError(f"{ep.value} is neither a module nor a callable")
            obj()  # a register() function: its calls to @command do the work
        return ep.module

    _register(key, ep.name, source, load, err)


# -- registering, and reporting failures -------------------------------------------------


def _register(key: str, name: str, source: str, load: Any, err: TextIO) -> None:
    """Run ``load`` and note the commands it added; on failure, take them back."""
    if name in _BY_NAME:
        other = _PLUGINS[_BY_NAME[name]].source
        _fail(key, name, source, f"a plugin named '{name}' is already loaded from {other}", err)
        return
    before = set(command_names())
    try:
        module = load()
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - any failure of a plugin is reported (not Ctrl-C)
        for command in command_names():  # a half-registered plugin would be confusing: none
            if command not in before:
                unregister(command)
        _fail(key, name, source, _one_line(e), err)
        return
    added = tuple(sorted(c for c in command_names() if c not in before))
    _PLUGINS[key] = Plugin(name, source, added, None, module)
    _BY_NAME[name] = key


def _fail(key: str, name: str, source: str, message: str, err: TextIO) -> None:
    _PLUGINS[key] = Plugin(name, source, (), message)
    record_plugin_error(source, message)
    try:
        # a plugin's file name and its error's text are anybody's: escaped, as the
        # 'plugins' listing shows them
        err.write(escape_text(f"vmintro: plugin {name}: {message}") + "\n")
        err.flush()
    except (OSError, ValueError):  # a stream closed since: the error is still recorded
        pass


def _one_line(error: BaseException) -> str:
    """``SyntaxError: invalid syntax (broken.py, line 3)``, ``ValueError: ...``."""
    if isinstance(error, SyntaxError):
        where = Path(error.filename).name if error.filename else "?"
        text = f"{error.msg} ({where}, line {error.lineno})"
    else:
        text = str(error)
    kind = type(error).__name__
    text = " ".join(text.split())
    return f"{kind}: {text}" if text else kind
