"""``set [NAME [VALUE]]``: session settings (``set radix 16``, ``set scroll off``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.commands.registry import UsageError, arg, command
from vmintro.commands.result import Column, Row, Table
from vmintro.commands.settings import Settings, settings, settings_py

if TYPE_CHECKING:
    from vmintro.program import Program

_ON = {"on": True, "off": False}


def _table(state: Settings, names: list[str]) -> Table:
    shown = {
        "radix": f"{state.radix} ({'hex' if state.radix == 16 else 'decimal'})",
        "scroll": "on" if state.scroll else "off",
    }
    return Table(
        [Column("name", "NAME", "", 8), Column("value", "VALUE")],
        [Row(name=n, value=shown[n]) for n in names],
        name="settings",
    )


def _set_py(prog: Program, args: argparse.Namespace) -> str:
    if args.name is None or args.value is None:
        return settings_py({})
    if args.name == "radix":
        if args.value not in ("10", "16"):
            raise UsageError("set: radix is 10 or 16")
        return settings_py({"radix": int(args.value)})
    if args.value not in _ON:
        raise UsageError("set: scroll is on or off")
    return settings_py({"scroll": _ON[args.value]})


@command(
    "set",
    crash="`set`",
    gdb="`set`",
    help="show or change a setting: radix 10|16, scroll on|off",
    args=[
        arg("name", nargs="?", choices=("radix", "scroll"), help="radix or scroll"),
        arg("value", nargs="?", help="radix: 10 or 16; scroll: on or off"),
    ],
    py=_set_py,
)
def set_(prog: Program, args: argparse.Namespace) -> Table:
    """radix: the base p and struct print integers in (crash's output radix).
    scroll: whether long output in a terminal goes through the pager.
    Without a value, shows the setting; without a name, all of them.
    """
    state = settings(prog)
    if args.name is None:
        return _table(state, ["radix", "scroll"])
    if args.value is not None:
        if args.name == "radix":
            if args.value not in ("10", "16"):
                raise UsageError("set: radix is 10 or 16")
            state.radix = int(args.value)
        else:
            if args.value not in _ON:
                raise UsageError("set: scroll is on or off")
            state.scroll = _ON[args.value]
    return _table(state, [args.name])
