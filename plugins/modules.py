"""``modules``: the loaded modules, as ``/proc/modules`` lists them, with their vm areas.

``module_list`` runs newest first and ends at ``kernel_module`` (the kernel
itself, which ``/proc/modules`` never shows); the walk stops there, as 2.4.20's
``get_module_list`` does. Each module is ``vmalloc``'ed by ``create_module``
(``module_map``), its ``struct module`` at the start of its area, so the area
is the one holding the module's address; ``size`` is what ``create_module``
asked for, the area that rounded up to pages plus a guard page.

The state words are /proc/modules': ``(deleted)``; when running,
``(autoclean)`` and/or ``(unused)`` (never used: no ``MOD_USED_ONCE``);
otherwise ``(initializing)`` or ``(uninitialized)``; then the names of the
modules that depend on it in brackets. The use count shows as -1 when the
module has a ``can_unload`` function, as there.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro import Object
from vmintro.commands import Column, Row, Table, command
from vmintro.helpers import (
    MOD_FLAGS,
    decode_module_flags,
    find_vm_area,
    for_each_module,
    module_name,
    singly_linked,
)

if TYPE_CHECKING:
    from vmintro import Program

MAX_MODULES = 1 << 16  # far more than fit in the vmalloc range: a bound for corrupt lists


def state_words(flags: int) -> list[str]:
    """The words /proc/modules prints after the use count."""
    if flags & MOD_FLAGS["MOD_DELETED"]:
        return ["deleted"]
    if flags & MOD_FLAGS["MOD_RUNNING"]:
        words = ["autoclean"] if flags & MOD_FLAGS["MOD_AUTOCLEAN"] else []
        return words + ([] if flags & MOD_FLAGS["MOD_USED_ONCE"] else ["unused"])
    if flags & MOD_FLAGS["MOD_INITIALIZING"]:
        return ["initializing"]
    return ["uninitialized"]


def referrers(prog: Program, mod: Object) -> list[str]:
    """Names of the modules on ``mod->refs`` (those that depend on it)."""
    first = mod.refs.value_()
    if not first:
        return []
    # prog.type is typed CType; a struct's has offsetof
    next_ref = prog.type("struct module_ref").offsetof("next_ref")  # type: ignore[attr-defined]
    ptr = prog.type("struct module_ref *")
    chain = singly_linked(prog, first, next_ref, "module refs", MAX_MODULES)
    return [module_name(Object(prog, ptr, ref).ref) for ref in chain]


def shown_use_count(prog: Program, mod: Object) -> int:
    """``uc.usecount``, or -1 for a module with ``can_unload`` (``mod_member_present``)."""
    end = prog.type("struct module").offsetof("can_unload") + 4  # type: ignore[attr-defined]
    if mod.size_of_struct.value_() >= end and mod.can_unload.value_():
        return -1
    return mod.uc.usecount.counter.value_()


def module_rows(prog: Program) -> Iterator[Row]:
    """One row per module, in list order (newest first)."""
    for mod in for_each_module(prog):
        flags = mod.flags.value_()
        area = find_vm_area(prog, mod.value_())
        yield Row(
            name=module_name(mod),
            size=mod.size.value_(),
            usecount=mod.uc.usecount.counter.value_(),
            shown_count=shown_use_count(prog, mod),
            flags=flags,
            flag_names=decode_module_flags(flags),
            state=state_words(flags),
            refs=referrers(prog, mod),
            module=mod.value_(),
            area=area.addr.value_() if area is not None else None,
            area_size=area.size.value_() if area is not None else None,
            nsyms=mod.nsyms.value_(),
            ndeps=mod.ndeps.value_(),
        )


def proc_tail(row: Row) -> str:
    """``(unused) [ext3]``: the state words and the referring modules."""
    words = " ".join(f"({w})" for w in row["state"])
    refs = f" [{' '.join(row['refs'])}]" if row["refs"] else ""
    return words + refs


def _count(row: Row) -> str:
    # /proc/modules prints the count only for a running module
    return f"{row['shown_count']}" if row["flags"] & MOD_FLAGS["MOD_RUNNING"] else ""


COLUMNS = [
    Column("name", "NAME", "", 20),
    Column("size", "SIZE", "d", 8, ">"),
    Column("usecount", "USED", width=4, align=">", text=_count, json=True),
    Column("shown_count"),
    Column("module", "MODULE", "08x", 8),
    Column("area", "VM_AREA", "08x", 8),
    Column("area_size", "AREA_SIZE", "d", 9, ">"),
    Column("flags"),
    Column("flag_names"),
    Column("state", "STATE", text=proc_tail, json=True),
    Column("refs"),
    Column("nsyms"),
    Column("ndeps"),
]


def _py(prog: Program, args: argparse.Namespace) -> str:
    return f"""\
from vmintro.helpers import MOD_FLAGS
from {__name__} import module_rows, proc_tail  # this plugin's own functions

for row in module_rows(prog):  # module_list, newest first, kernel_module left out
    running = row["flags"] & MOD_FLAGS["MOD_RUNNING"]  # the count only for a running module
    print(row["name"], row["size"], row["shown_count"] if running else "",
          f"{{row['module']:08x}}", f"{{row['area']:08x}}", row["area_size"], proc_tail(row))
"""


@command(
    "modules",
    crash="`mod`",
    gdb="`lx-lsmod` of Linux's gdb scripts (4.0 and later; 2.4 has none)",
    help="loaded modules and their vm areas, like /proc/modules",
    aliases=["lsmod"],
    py=_py,
)
def modules(prog: Program, args: argparse.Namespace) -> Table:
    """Each module of module_list (newest first, the kernel left out): name,
    size, use count, the struct module's address, the vm area that holds it
    (address and size, guard page included) and its state as /proc/modules
    words, with the modules that depend on it.

    JSON columns: name size usecount shown_count module area area_size flags
    flag_names state refs nsyms ndeps.
    """
    return Table(COLUMNS, module_rows(prog), name="modules")
