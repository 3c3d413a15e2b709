"""The plugin tests' toolkit: the images they use, the scenario of the HIGHMEM one,
and an opened image with its ground truth and ways to run a command on it.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import vmintro
from vmintro.commands import run
from vmintro.commands.discovery import MODULE_PREFIX
from vmintro.commands.render import part_to_json, render_text
from vmintro.program import Program

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"
SHIPPED = ("buddyinfo", "meminfo", "modules", "swapinfo", "vmallocinfo")

# Three swap areas (the middle one swapped off again), modules loaded and one
# unloaded, an ioremap and a mix of vmalloc/vfree, on 1 GiB: 128 MiB of HighMem.
HIGHMEM_SCENARIO = """\
name = "plugins-highmem"

[[step]]
op = "swapon"
device = 0x0302
size = "128M"

[[step]]
op = "swapon"
device = 0x0803
size = "64M"
priority = 5
label = "fast"

[[step]]
op = "swapon"
device = 0x0805
size = "32M"

[[step]]
op = "insmod"
name = "ext3"
size = 71424

[[step]]
op = "insmod"
name = "usbcore"
size = 58208

[[step]]
op = "ioremap"
phys = 0xf0000000
size = "2M"

[[step]]
op = "insmod"
name = "e100"
size = 22880

[[step]]
op = "rmmod"
name = "usbcore"

[[step]]
op = "swapoff"
label = "fast"

[[step]]
op = "random"
count = 40
min_size = "4K"
max_size = "200K"
free_ratio = 0.3

[[step]]
op = "vmalloc"
size = "300K"
"""
HIGHMEM_MODULE_SIZES = {"ext3": 71424, "e100": 22880}
DEMO_MODULE_SIZES = {"ext3": 71424, "jbd": 49952, "e100": 22880}


class Image:
    """An image opened for the tests: its program, ground truth and module sizes."""

    def __init__(self, path: Path, module_sizes: dict[str, int]) -> None:
        self.path = path
        self.prog: Program = vmintro.open(path)
        self.truth: dict[str, Any] = json.loads(path.with_suffix(".truth.json").read_text())
        self.module_sizes = module_sizes

    def text(self, line: str) -> str:
        """What ``line`` prints in the REPL."""
        return "\n".join(render_text(run(self.prog, line)))

    def parts(self, line: str) -> list[dict[str, Any]]:
        """The JSON parts of ``line``, in order."""
        return [part_to_json(p) for p in run(self.prog, line)]

    def json(self, line: str) -> dict[str, dict[str, Any]]:
        """The JSON parts of ``line``, by name (the last of a name)."""
        return {p["name"]: p for p in self.parts(line)}

    def rows(self, line: str) -> list[dict[str, Any]]:
        """The rows of the table ``line`` returns first."""
        return next(iter(self.json(line).values()))["rows"]

    def log_kb(self, pattern: str) -> list[int]:
        """Every ``NNNk`` that ``pattern`` (a regex with one group) finds in the printk log."""
        return [int(m.group(1)) for line in self.truth["log"] for m in re.finditer(pattern, line)]


def plugin_module(name: str) -> ModuleType:
    """The module of shipped plugin ``name``, as discovery imported it."""
    return sys.modules[MODULE_PREFIX + name]


class WideShorts:
    """``prog`` as a machine whose ``unsigned short`` has 4 bytes would describe it.

    Reads are recorded and answered with zeros (4-byte entries would run past a
    2-byte swap_map): a plugin that takes sizes from the program's types asks
    for twice the bytes, one that assumes 2 does not.
    """

    def __init__(self, prog: Program) -> None:
        self._prog = prog
        self.reads: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._prog, name)

    def __getitem__(self, name: str) -> Any:
        return self._prog[name]

    def type(self, name: str) -> Any:
        return self._prog.type("unsigned int" if name == "unsigned short" else name)

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        self.reads.append(size)
        return bytes(size)


# A directory of plugins: one that works, one whose command fails when run, and
# three that fail to load (and a private file that is never imported).
GOOD = '''
"""A working plugin."""
from vmintro.commands import Row, Table, Column, command

@command("goodcmd", help="a plugin command that works")
def goodcmd(prog, args):
    return Table([Column("n", "N", "d")], [Row(n=prog["nr_swapfiles"].value_())], name="good")
'''
BROKEN = {
    "syntaxerr.py": "def oops(:\n    pass\n",
    "raises.py": "raise RuntimeError('cannot start\\nat all')\n",
    "taken.py": textwrap.dedent(
        """
        from vmintro.commands import command

        @command("halftaken", help="registered, then taken back")
        def first(prog, args):
            return "first"

        @command("vmlist", help="a name a built-in has")
        def clash(prog, args):
            return "no"
        """
    ),
    "runtime.py": textwrap.dedent(
        """
        from vmintro.commands import command

        @command("boom", help="fails when run")
        def boom(prog, args):
            raise RuntimeError("walked off\\nthe end")
        """
    ),
    "good.py": GOOD,
    "_private.py": "raise SystemExit('never imported')\n",
}
ERRORS = {
    "raises": "vmintro: plugin raises: RuntimeError: cannot start at all",
    "syntaxerr": "vmintro: plugin syntaxerr: SyntaxError: invalid syntax (syntaxerr.py, line 1)",
    "taken": "vmintro: plugin taken: ValueError: command name 'vmlist' is already taken",
}


def make_dir(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path
