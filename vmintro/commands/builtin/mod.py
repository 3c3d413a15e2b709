"""``mod``: the loaded modules as crash lists them::

 MODULE   NAME                      SIZE  OBJECT FILE
c494e000  e100                     22880  (not loaded)
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Column, Row, Table
from vmintro.helpers import for_each_module, module_name

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

_COLUMNS = [
    Column("module", " MODULE", "x", 8),
    Column("name", "NAME", "", 20),
    Column("size", "SIZE", "d", 9, ">"),
    Column("object_file", "OBJECT FILE"),
]


def _row(mod: Object) -> Row:
    return Row(
        module=int(mod), name=module_name(mod), size=mod.size.value_(), object_file="(not loaded)"
    )


def _mod_py(prog: Program, args: argparse.Namespace) -> str:
    show = '    print(f"{mod.value_():x}  {module_name(mod)}  {mod.size.value_()}  (not loaded)")\n'
    code = "from vmintro.helpers import for_each_module, module_name\n\n"
    if not args.name:
        return code + "for mod in for_each_module(prog):  # module_list, newest first\n" + show
    return (
        code
        + "by_name = {module_name(mod): mod for mod in for_each_module(prog)}\n"
        + f"for mod in [by_name[name] for name in {tuple(args.name)!r}]:\n"
        + show
    )


@command(
    "mod",
    crash="`mod`",
    gdb="`lx-lsmod` of Linux's gdb scripts (4.0 and later; 2.4 has none)",
    help="loaded modules: struct module address, name, size (crash's mod)",
    args=[arg("name", nargs="*", help="only these modules")],
    py=_mod_py,
)
def mod(prog: Program, args: argparse.Namespace) -> Table:
    """One line per module on module_list, newest first, as crash's mod: the
    address of its struct module (the start of its vmalloc'ed memory), its
    name and size in bytes. OBJECT FILE says "(not loaded)": no module object
    files exist for this kernel model, so their symbols cannot be loaded.
    With names, those modules, in the order given.
    """
    mods = list(for_each_module(prog))
    if args.name:
        by_name = {module_name(m): m for m in mods}
        for name in args.name:
            if name not in by_name:
                raise CommandError(f"mod: {name}: no such module")
        mods = [by_name[name] for name in args.name]  # in the order asked, as crash's
    return Table(_COLUMNS, (_row(m) for m in mods), name="mod")
