"""The reference pages, generated from the code on every docs build.

Nothing here is typed by hand from the code: each page is written from what the
code declares, so adding a command, a helper, a scenario op or a fault kind
adds its entry the next time the docs are built.

* commands: the one command registry (:mod:`vmintro.commands.registry`), built-in
  commands and the shipped plugins alike: synopsis, options, aliases, the text
  ``help NAME`` prints, the crash and the gdb command it corresponds to (the
  registry entry's ``crash=`` and ``gdb=``, or "none" and why), and the JSON
  fields of the tables its module declares (module-level lists of ``Column``);
* the library: ``vmintro.__all__`` and ``vmintro.helpers.__all__`` (autodoc, with
  the kernel function each helper mirrors, as its docstring names it);
* the plugin API: ``vmintro.commands.__all__``;
* the scenario format: the loader's ``OPS`` and ``MACHINE_KEYS`` tables and the
  simulator's ``FAULTS`` (each fault's docstring);
* the file formats: every module of :mod:`vmintro.image.format`;
* the command line: ``vmintro`` and every subcommand of its entry point.

:func:`generate` writes the pages into ``docs/reference/generated/`` (not kept
in git). It imports no Sphinx, so the tests can call it too.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import re
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "OP_TEXT",
    "command_page_name",
    "generate",
    "helper_entries",
    "kernel_counterpart",
    "library_names",
]

GENERATED = "generated"

# What each scenario op does, in a sentence: the loader's table gives each op's
# fields, types and ranges but says nothing of what the op is. An op missing
# here is named on the page as undescribed, and tests/docs fails on it.
OP_TEXT: dict[str, str] = {
    "boot": "Nothing more: the machine boots before the first step anyway "
    "(``start_kernel``: bootmem, zones, ``mem_map``, the buddy allocator, "
    "``swapper_pg_dir``, the slab and VFS caches, the boot-time tasks, then the page "
    "cache the ``page_cache`` machine key asks for).",
    "vmalloc": "``vmalloc(size)``: a vm area from ``get_vm_area`` (first fit, a guard "
    "page after it), its pages from the buddy allocator (``GFP_KERNEL | __GFP_HIGHMEM``), "
    "mapped by ``vmalloc_area_pages``.",
    "vmalloc_dma": "``__vmalloc(size, GFP_KERNEL | GFP_DMA, PAGE_KERNEL)``: the pages "
    "come from ``ZONE_DMA`` (the first 16 MiB).",
    "vmalloc_32": "``vmalloc_32(size)``: ``GFP_KERNEL`` pages, from ``ZONE_NORMAL`` or "
    "``ZONE_DMA``, never from high memory.",
    "vfree": "``vfree(addr)``: the area given by its ``label`` (or ``addr``) is unlinked "
    "from ``vmlist``, its page tables cleared and its pages freed.",
    "ioremap": "``ioremap(phys, size)`` (``ioremap_nocache`` with ``nocache``): "
    "a ``VM_IOREMAP`` area whose PTEs map the device's physical range; no page is "
    "allocated.",
    "iounmap": "``iounmap``: undoes the ``ioremap`` of that ``label``.",
    "swapon": "``sys_swapon``: a swap area of ``size`` bytes on ``device``; its "
    "``swap_map`` (one ``unsigned short`` per page) is ``vmalloc``'ed. ``bad_pages`` is "
    "mkswap's bad-page list: each is marked SWAP_MAP_BAD; one not between 0 and the "
    "header's ``last_page`` makes the call fail with -EINVAL through ``bad_swap``.",
    "swapoff": "``sys_swapoff``: the swap area of that ``label`` is released and its "
    "``swap_map`` ``vfree``'d.",
    "insmod": "``sys_create_module`` + ``sys_init_module``: the module's memory "
    "(``struct module``, code, its exported symbols) is ``vmalloc``'ed by "
    "``module_map``.",
    "rmmod": "``sys_delete_module``: the module's cleanup runs (with ``cleanup``, the "
    "``label`` of a ``vmalloc`` step: it frees that area, a buffer its driver held, "
    "with ``vfree``), then the module is unlinked from ``module_list`` and its memory "
    "``vfree``'d (``module_unmap``).",
    "random": "A seeded mix of ``count`` ``vmalloc`` and ``vfree`` calls, sizes uniform "
    "in pages between ``min_size`` and ``max_size``, a ``vfree`` with probability "
    "``free_ratio``: fragmentation on demand.",
    "fault": "Injects a kernel bug of ``kind`` (one of the fault kinds below), on the "
    "area or module ``target`` when given; the ground truth records where. With "
    "``call`` (``sys_init_module``: the init of module ``target``, which it loads; "
    "``sys_delete_module``: the unload of module ``target``) the timeline records it "
    "as that call, as any other of its kind, the bug's writes inside it; without, as "
    "an entry ``fault`` of its own. ``cleanup``, as ``rmmod``'s: the area the "
    "unload's module cleanup frees with ``vfree`` before ``vmalloc_leak`` skips ``module_unmap``.",
    "fork": "``do_fork`` from the task ``parent`` (pid 1, init, unless given): a task "
    "and a copy of its ``mm_struct`` whose page directory ``pgd_alloc`` makes, copying "
    "the kernel entries of ``swapper_pg_dir`` as they are at that moment; ``label`` "
    "names the new task for later steps.",
    "spawn": "``do_fork`` then ``do_execve``: a new task named ``name`` (its ``comm``) "
    "with a fresh ``mm_struct`` and page directory.",
    "exit": "``do_exit`` of the task given by ``pid`` or ``label``: its mm is released "
    "(``mmput``, ``pgd_free``) and its parent reaps it. Exiting pid 1 panics, as in 2.4.20.",
    "touch": "A kernel-mode access from the context of the task ``pid`` (or ``task``, a "
    "label) to ``addr``, or to a vmalloc or ioremap step's area ``label`` plus "
    "``offset``: where that task's page directory lacks the kernel's entry, "
    "``do_page_fault``'s ``vmalloc_fault`` copies it from ``init_mm``; an address no "
    "area maps oopses (allowed with ``allow_bug``). Below ``TASK_SIZE`` it is the "
    "task's own access to every page of ``size`` (a write unless ``write`` is false), "
    "each through ``do_page_fault`` and ``handle_mm_fault``.",
    "mmap": "``mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)`` in "
    "the task ``pid`` (or ``task``, a label): ``do_mmap_pgoff`` makes or grows an "
    "anonymous area, at the hint ``addr`` if it is free, else first fit from "
    "``TASK_UNMAPPED_BASE``; ``label`` names it for ``touch`` and ``munmap``.",
    "brk": "``sys_brk(mm->brk + size)`` in the task ``pid`` (or ``task``): ``do_brk`` "
    "grows the heap; with ``shrink`` the break goes down by ``size`` through "
    "``do_munmap``.",
    "munmap": "``do_munmap(addr, size)`` in the task ``pid`` (or ``task``), at ``addr`` "
    "or an ``mmap`` step's ``label`` plus ``offset``: the areas it covers are freed, cut "
    "or split (``unmap_fixup``), their pages zapped and the page tables of spans left "
    "empty freed (``free_pgtables``); -EINVAL is the step's result, not a stop.",
}


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _literal(text: str, indent: str = "   ") -> str:
    """``text`` as a reST literal block body (the ``::`` goes before it)."""
    body = textwrap.indent(text.rstrip() or "(none)", indent, lambda line: True)
    return "\n" + body + "\n"


def _code(text: str) -> str:
    """Inline literal text; reST has no escape inside ````...````, so backquotes go."""
    return "``" + text.replace("`", "'") + "``" if text else ""


def _cell(text: str) -> str:
    return " ".join(text.split())


def command_page_name(name: str) -> str:
    """The document name (within ``generated/commands``) of command ``name``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


_BACKQUOTED = re.compile(r"`([^`]+)`")
NOT_GIVEN = "not given by the command's author"


def counterpart_text(text: str) -> str:
    """A registry entry's ``crash=`` or ``gdb=`` text in reST: its commands as literals."""
    # a literal next to a letter needs an escaped space in reST ("``source``\\ s")
    literal = _BACKQUOTED.sub(lambda m: "\\ " + _code(m.group(1)) + "\\ ", " ".join(text.split()))
    return re.sub(r"(^|\s)\\ |\\ (?=[\s,.;:)]|$)", r"\1", literal) or NOT_GIVEN


def equivalent(cmd: Any) -> str:
    """The crash and gdb counterparts of ``cmd``, as its registry entry gives them."""
    return f"crash: {counterpart_text(cmd.crash)}; gdb: {counterpart_text(cmd.gdb)}"


def json_columns(cmd: Any) -> list[tuple[str, list[str]]]:
    """(declaration, JSON field names) of every list of ``Column`` the command's module
    holds at module level (its own or one it imports), in name order."""
    from vmintro.commands.result import Column

    namespace = getattr(cmd.func, "__globals__", {})  # the module that defined it
    found = []
    for attr in sorted(namespace):
        value = namespace[attr]
        if isinstance(value, list) and value and all(isinstance(c, Column) for c in value):
            found.append((attr, [c.name for c in value if c.in_json]))
    return found


def _option_rows(cmd: Any) -> list[tuple[str, str]]:
    parser = cmd.parser
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if action.option_strings:
            flags = ", ".join(action.option_strings)
            if action.nargs != 0:
                flags += " " + formatter._format_args(action, action.dest.upper())
        else:
            flags = formatter._format_args(action, action.dest)
        text = formatter._expand_help(action) if action.help else ""
        if action.help == argparse.SUPPRESS:
            continue
        rows.append((flags, text))
    return rows


def _origin(cmd: Any) -> str:
    if cmd.builtin:
        return f"built in: ``{cmd.origin}``"
    source = cmd.origin.rsplit(".", 1)[-1]
    if cmd.origin.startswith("vmintro_plugins."):
        return f"shipped plugin ``plugins/{source}.py``"
    return f"plugin ``{cmd.origin}``"


def command_page(cmd: Any) -> str:
    out = [f".. _cmd-{command_page_name(cmd.name)}:\n", _title(cmd.name)]
    out.append(f"{cmd.help}\n")
    fields = [(":Synopsis:", _code(cmd.usage()))]
    if cmd.aliases:
        fields.append((":Aliases:", ", ".join(_code(a) for a in cmd.aliases)))
    fields.append((":crash:", counterpart_text(cmd.crash)))
    fields.append((":gdb:", counterpart_text(cmd.gdb)))
    fields.append((":Defined:", _origin(cmd)))
    declared = json_columns(cmd)
    if declared:
        text = "; ".join(
            f"{', '.join(_code(n) for n in names)} (``{where}``)" for where, names in declared
        )
        fields.append((":JSON fields:", text))
    out.append("\n".join(f"{k} {v}" for k, v in fields) + "\n")
    rows = _option_rows(cmd)
    out.append(_title("Arguments and options", "-"))
    out.append(".. list-table::\n   :widths: 30 70\n")
    for flags, text in rows:
        out.append(f"   * - {_code(flags)}\n     - {_cell(text) or ' '}")
    out.append("")
    out.append(_title(f"help {cmd.name}", "-"))
    out.append("What ``help " + cmd.name + "`` prints::\n" + _literal(cmd.help_text()))
    return "\n".join(out) + "\n"


def commands_index(cmds: list[Any]) -> str:
    out = [
        ".. _commands:\n",
        _title("Commands"),
        "Every command of the registry (:mod:`vmintro.commands.registry`): the built-in "
        "ones and those of the shipped plugins. They run at the REPL's prompt, with "
        "``vmintro -c``, in gdb's ``vm`` and drgn's ``%vm``, and from scripts with "
        '``run("CMD")``. Each takes ``--json`` (see :ref:`json-output`).\n',
        ".. list-table::\n   :header-rows: 1\n   :widths: 15 15 70\n",
        "   * - command\n     - crash and gdb\n     - what it shows",
    ]
    for cmd in cmds:
        page = command_page_name(cmd.name)
        out.append(
            f"   * - :ref:`{cmd.name} <cmd-{page}>`\n     - {equivalent(cmd)}\n"
            f"     - {_cell(cmd.help)}"
        )
    out.append("\n.. toctree::\n   :hidden:\n")
    out.extend(f"   commands/{command_page_name(c.name)}" for c in cmds)
    return "\n".join(out) + "\n"


# -- the library and the helpers ---------------------------------------------------------

_LEADING_NAME = re.compile(r"^``([A-Za-z_][A-Za-z0-9_]*)``\s*:")


def kernel_counterpart(func: Any) -> str | None:
    """The kernel function or macro a helper mirrors, as its docstring names it first
    (``\\`\\`vmalloc_to_page\\`\\`: ...``); None for a helper the kernel has no one name for."""
    doc = inspect.getdoc(func) or ""
    match = _LEADING_NAME.match(doc)
    return match.group(1) if match else None


def helper_entries() -> list[tuple[str, str, Any]]:
    """(module, name, object) of every public helper: each helpers module's ``__all__``."""
    import vmintro.helpers as helpers

    entries = []
    for info in sorted(pkgutil.iter_modules(helpers.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"vmintro.helpers.{info.name}")
        for name in getattr(module, "__all__", ()):
            entries.append((module.__name__, name, getattr(module, name)))
    return entries


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.split("\n\n")[0]
    return _cell(first)


def helpers_page() -> str:
    entries = helper_entries()
    out = [
        ".. _helpers:\n",
        _title("Helpers"),
        "``vmintro.helpers``: functions named after the 2.4.20 kernel functions and macros "
        "they mirror (every name here is in scope at the ``py`` prompt and in "
        "``vmintro run`` scripts). The *mirrors* column is the kernel function a helper's "
        "docstring names first; a dash marks a walk or a convenience the kernel has no "
        "single function for.\n",
        ".. list-table::\n   :header-rows: 1\n   :widths: 25 20 55\n",
        "   * - helper\n     - mirrors\n     - summary",
    ]
    for module, name, obj in entries:
        if inspect.isclass(obj):
            ref = f":class:`~{module}.{name}`"
            mirrors = None
            summary = _summary(obj)
        elif callable(obj):
            ref = f":func:`~{module}.{name}`"
            mirrors = kernel_counterpart(obj)
            summary = _summary(obj)
        else:
            ref = f":data:`~{module}.{name}`"
            mirrors = name
            summary = f"constant, ``{obj!r}``"
        out.append(f"   * - {ref}\n     - {_code(mirrors) if mirrors else '—'}\n     - {summary}")
    out.append("")
    current = None
    for module, name, obj in entries:
        if module != current:
            current = module
            out.append(_title(f"``{module}``", "-"))
            out.append(f".. automodule:: {module}\n   :no-members:\n")
        if inspect.isclass(obj):
            out.append(f".. autoclass:: {module}.{name}\n   :members:\n")
        elif callable(obj):
            out.append(f".. autofunction:: {module}.{name}\n")
        else:
            out.append(f".. py:data:: {module}.{name}\n   :value: {obj!r}\n")
            out.append(f"   The kernel's ``{name}``.\n")
    return "\n".join(out) + "\n"


def library_names() -> list[tuple[str, str]]:
    """(module, name) of the library's public API: ``vmintro.__all__``."""
    import vmintro

    return [(vmintro._LAZY.get(n, "vmintro"), n) for n in vmintro.__all__]


def _autodoc(module: str, name: str) -> str:
    obj = getattr(importlib.import_module(module), name)
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return f".. autoexception:: {module}.{name}\n"
    if inspect.isclass(obj):
        return f".. autoclass:: {module}.{name}\n   :members:\n"
    return f".. autofunction:: {module}.{name}\n"


def _library_order(entry: tuple[str, str]) -> tuple[int, str]:
    """``open`` first, then the classes, the functions, and the exceptions last."""
    module, name = entry
    obj = getattr(importlib.import_module(module), name)
    if name == "open":
        return 0, name
    if inspect.isclass(obj):
        return (3 if issubclass(obj, BaseException) else 1), name
    return 2, name


def library_page() -> str:
    out = [
        ".. _library:\n",
        _title("The library"),
        "What ``import vmintro`` gives (``vmintro.__all__``): open an image, read typed "
        "objects, translate addresses, as drgn's ``Program`` and ``Object`` do. The "
        "helpers are on :ref:`their own page <helpers>`.\n",
    ]
    for module, name in sorted(library_names(), key=_library_order):
        out.append(_autodoc(module, name))
    return "\n".join(out) + "\n"


def plugin_api_page() -> str:
    import vmintro.commands as api

    out = [
        ".. _plugin-api-names:\n",
        _title("Plugin API: every name"),
        "``vmintro.commands.__all__``, what a plugin imports to declare and run commands "
        "(see :ref:`plugins` for discovery and an example).\n",
    ]
    for name in api.__all__:
        obj = getattr(api, name)
        module = obj.__module__ if hasattr(obj, "__module__") else "vmintro.commands"
        out.append(_autodoc(module, name))
    return "\n".join(out) + "\n"


# -- the scenario format ----------------------------------------------------------------


def _field_range(f: Any) -> str:
    from vmintro.scenario import loader

    if f.kind in ("bool",):
        return "true or false"
    if f.kind == "str":
        return f"{int(f.lo)} to {int(f.hi)} {f.why}"
    if f.lo == float("-inf"):
        return _ram_range()
    lo, hi = loader._bound(f.lo, f.kind), loader._bound(f.hi, f.kind)
    return f"{lo} to {hi} ({f.why})"


def _ram_range() -> str:
    """What RAM a machine may have, in the words of the machine's own check."""
    from vmintro.arch.x86 import MachineConfig

    said = []
    for pae in (False, True):
        try:
            MachineConfig(ram=1 << 62, highmem=pae, pae=pae)
        except ValueError as e:
            said.append(str(e).partition(": it must be ")[2])
    return "; ".join(said)


def _fields_table(fields: dict[str, Any]) -> list[str]:
    if not fields:
        return ["(no fields)\n"]
    out = [
        ".. list-table::\n   :header-rows: 1\n   :widths: 20 10 12 58\n",
        "   * - field\n     - type\n     - required\n     - range",
    ]
    for key, f in fields.items():
        out.append(
            f"   * - ``{key}``\n     - {f.kind}\n     - {'yes' if f.required else 'no'}\n"
            f"     - {_field_range(f)}"
        )
    out.append("")
    return out


def scenario_page() -> str:
    from vmintro.check import FAULT_FINDINGS
    from vmintro.scenario import loader
    from vmintro.sim.faults import FAULTS

    out = [
        ".. _scenario-format:\n",
        _title("The scenario format"),
        "Written from the scenario loader's own tables (``vmintro.scenario.loader.OPS`` and "
        "``MACHINE_KEYS``) and the simulator's fault table (``vmintro.sim.faults.FAULTS``); "
        "the loader checks every field against them before the machine boots.\n",
        ".. automodule:: vmintro.scenario.loader\n   :no-members:\n",
        "Sizes are bytes, or a number with ``K``, ``M``, ``G``; integers may be "
        "written ``0x...``. Top-level keys besides ``[machine]`` and ``[[step]]``: "
        "``name`` and ``description`` (text).\n",
        _title("[machine]", "-"),
        "Command-line options (``--ram``, ``--highmem``, ``--pae``, ``--no-pse``, "
        "``--seed``, ``--page-cache``) win over these.\n",
        *_fields_table(loader.MACHINE_KEYS),
        _title("Steps", "-"),
        "Each ``[[step]]`` has an ``op`` and that op's fields. ``allow_bug = true`` on any "
        "step but ``boot`` lets the step oops or hang the kernel and keeps the machine.\n",
    ]
    for op, fields in loader.OPS.items():
        out.append(f".. _op-{op}:\n")
        out.append(_title(f'op = "{op}"', "~"))
        out.append((OP_TEXT.get(op) or "**Not described yet.**") + "\n")
        out.extend(_fields_table(fields))
    out.append(".. _fault-kinds:\n")
    out.append(_title("Fault kinds", "-"))
    out.append(
        '``op = "fault"`` with ``kind`` one of these; each is injected as the real bug '
        "would leave memory (the docstring of its injector):\n"
    )
    out.append(".. list-table::\n   :header-rows: 1\n   :widths: 20 55 25\n")
    out.append("   * - kind\n     - what the kernel bug does\n     - what ``check`` reports")
    for kind, func in FAULTS.items():
        found = ", ".join(f"``{f}``" for f in FAULT_FINDINGS.get(kind, ())) or "nothing declared"
        out.append(f"   * - ``{kind}``\n     - {_cell(inspect.getdoc(func) or '')}\n     - {found}")
    out.append("")
    out.append(
        "The :ref:`post-mortem guide <postmortem>` shows each on an image: what ``check``, "
        "``vmlist`` and ``vtop`` print, and how to reason from there.\n"
    )
    out.append("")
    return "\n".join(out) + "\n"


# -- the file formats ------------------------------------------------------------------


def format_modules() -> list[str]:
    """Every module of :mod:`vmintro.image.format`, the one home of each file format."""
    import vmintro.image.format as fmt

    return [
        f"vmintro.image.format.{m.name}"
        for m in sorted(pkgutil.iter_modules(fmt.__path__), key=lambda m: m.name)
        if not m.name.startswith("_")
    ]


def formats_page() -> str:
    import vmintro.image.format as fmt

    out = [
        ".. _formats:\n",
        _title("File formats"),
        "From the modules of ``vmintro.image.format``, each the one home of a format: "
        "what the writer produces and the reader accepts.\n",
        f".. automodule:: {fmt.__name__}\n   :no-members:\n",
    ]
    for module in format_modules():
        out.append(_title(f"``{module}``", "-"))
        out.append(f".. automodule:: {module}\n   :members:\n")
    return "\n".join(out) + "\n"


# -- the command line ---------------------------------------------------------------


def cli_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """(what is typed, its parser) for ``vmintro`` and every subcommand of the entry point."""
    from vmintro.cli.entry import SUBCOMMANDS, build_parser

    found = [("vmintro", build_parser([])[0])]
    found.extend((f"vmintro {word}", build()) for word, build in SUBCOMMANDS.items())
    return found


def cli_page() -> str:
    out = [
        ".. _command-line:\n",
        _title("The command line"),
        "``vmintro`` and its subcommands (``vmintro.cli.entry.SUBCOMMANDS``), each with what "
        "``-h`` prints. The commands of a session (``vmintro -c``, the REPL) are on "
        ":ref:`commands`.\n",
    ]
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the page is the same anywhere
    try:
        for typed, parser in cli_parsers():
            out.append(f".. _cli-{command_page_name(typed.replace(' ', '-'))}:\n")
            out.append(_title(f"``{typed}``", "-"))
            out.append("::\n" + _literal(parser.format_help()))
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    return "\n".join(out) + "\n"


# -- writing --------------------------------------------------------------------------

PAGES: dict[str, Callable[[], str]] = {
    "cli": cli_page,
    "helpers": helpers_page,
    "library": library_page,
    "plugin_api": plugin_api_page,
    "scenario": scenario_page,
    "formats": formats_page,
}


def _write(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")  # unchanged pages keep their time
    written.append(path)


def load_commands() -> list[Any]:
    """Every registered command, the shipped plugins' included."""
    from vmintro.commands.discovery import load_plugins
    from vmintro.commands.registry import commands

    load_plugins()
    return commands()


def generate(docs_dir: Path) -> list[Path]:
    """Write every generated page under ``docs_dir/reference/generated``; remove stale ones.

    :return: the pages written.
    """
    root = docs_dir / "reference" / GENERATED
    written: list[Path] = []
    cmds = load_commands()
    for cmd in cmds:
        _write(root / "commands" / f"{command_page_name(cmd.name)}.rst", command_page(cmd), written)
    _write(root / "commands.rst", commands_index(cmds), written)
    for name, page in PAGES.items():
        _write(root / f"{name}.rst", page(), written)
    keep = set(written)
    for old in _rst_files(root):
        if old not in keep:
            old.unlink()
    return written


def _rst_files(root: Path) -> Iterable[Path]:
    return sorted(root.rglob("*.rst")) if root.is_dir() else []
