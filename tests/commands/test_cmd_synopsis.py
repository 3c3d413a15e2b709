"""Every command's synopsis (``help CMD``) says what its parser accepts, no more, no less.

From each synopsis the test reads the options and the positional arguments and
checks, on the demo image: each option listed is accepted (an example line
uses it and runs); an argument shown ``X [X ...]`` takes two values, each the
same as given alone; an argument shown once refuses a second value; options
shown as alternatives (``[-x | -d]``) refuse to be given together, and
options that set the same thing are shown so; an option not listed is refused.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vmintro
from vmintro.commands import CommandError, QuitRequested, prepare, run, split_words
from vmintro.commands.discovery import load_plugins, unload_plugins
from vmintro.commands.registry import commands, lookup
from vmintro.program import Program

DEMO = Path(__file__).resolve().parents[2] / "images" / "demo"

# Lines using every option and form each synopsis lists; ``{tmp}`` is a scratch directory,
# ``{area_frame}`` and the like addresses of the demo (conftest's at_symbols).
EXAMPLES: dict[str, list[str]] = {
    "buddyinfo": ["buddyinfo", "buddyinfo --json"],
    "check": ["check", "check --json"],
    "help": ["help", "help vtop", "help --json"],
    "kmem": [
        "kmem -v",
        "kmem -v {area}",
        "kmem -p {area_page}",
        "kmem -p -P {area_frame}",
        "kmem -f",
        "kmem -f --json",
        "kmem {area+16}",
        "kmem -P {area_frame}",
        "kmem -s",
        "kmem -s size-32",
        "kmem -S size-64",
        "kmem -i",
    ],
    "dec": ["dec", "dec --json"],
    "eval": ["eval 1024*1024", "eval -b 0x12", "eval --json vmlist"],
    "hex": ["hex", "hex --json", "dec"],
    "mod": ["mod", "mod ext3", "mod --json"],
    "search": [
        "search 0x{area_struct}",
        "search -s {vmlist_page} -e {vmlist_page+4096} -m 0xfff 0x{area_struct}",
        "search -s {vmlist_page} -l 4096 0x{area_struct}",
        "search -p -h 0x8000",
        "search -w -l 16 0",
        "search -c size-128",
        "search --json 0x{area_struct}",
    ],
    "x": ["x/4wx vmlist", "x &vmlist", "x --json vmlist"],
    "log": ["log", "log -m", "log --json"],
    "sim": [
        "sim vmalloc 8K",
        "sim ioremap 0xe0000000 8K --nocache",
        "sim alloc_pages 0 --gfp GFP_KERNEL",
        "sim --json kmalloc 64",
    ],
    "save": ["save {tmp}/saved", "save --json {tmp}/again"],
    "list": [
        "list -o vm_struct.next *vmlist",
        "list -o 12 -s vm_struct.size *vmlist",
        "list -H -o page.list contig_page_data.node_zones[1].free_area[0].free_list",
        "list -h -o page.list contig_page_data.node_zones[1].free_area[0].free_list.next",
        "list --json -o vm_struct.next *vmlist",
    ],
    "map": ["map", "map --area c4800000", "map -o {tmp}/map.svg", "map --json", "map --diff 0 1"],
    "meminfo": ["meminfo", "meminfo --json"],
    "modules": ["modules", "modules --json"],
    "p": ["p vmlist->size", "p -x vmlist->size", "p -d vmlist", "p/x vmlist", "p --json vmlist"],
    "page": [
        "page {area}",
        "page -P {area_frame}",
        "page -n {area_pfn}",
        "page -c 2 {area_frame}",
        "page --json {area_frame}",
    ],
    "plugins": ["plugins", "plugins --json"],
    "ptov": ["ptov {area_frame}", "ptov --json {area_frame}"],
    "ptype": ["ptype struct page", "ptype -o struct vm_struct", "ptype --json vmlist"],
    "quit": ["quit", "quit --json"],
    "rd": [
        "rd vmlist",
        "rd vmlist 8",
        "rd -8 vmlist 4",
        "rd -16 vmlist",
        "rd -32 vmlist",
        "rd -64 vmlist",
        "rd -a contig_page_data.node_zones[1].name",
        "rd -p {area_frame}",
        "rd -s zone_table 3",
        "rd --json vmlist",
    ],
    "set": ["set", "set radix", "set scroll on", "set --json"],
    "struct": [
        "struct vm_struct",
        "struct vm_struct *vmlist",
        "struct vm_struct *vmlist 2",
        "struct -o vm_struct",
        "struct -x vm_struct *vmlist",
        "struct -d vm_struct *vmlist",
        "struct --json vm_struct *vmlist",
    ],
    "swapinfo": ["swapinfo", "swapinfo --json"],
    "sym": ["sym vmlist", "sym -l", "sym -q vmlist", "sym --json vmlist"],
    "vmallocinfo": ["vmallocinfo", "vmallocinfo --json"],
    "vmlist": ["vmlist", "vmlist c4800000", "vmlist --json"],
    "vtop": ["vtop c4800000", "vtop --json c4800000", "vtop -c 1 c4800000"],
    "ps": ["ps", "ps -k", "ps -u", "ps 1", "ps --json"],
    "vm": ["vm", "vm 1", "vm -p 1", "vm --json 1 2"],
    "whatis": ["whatis vmlist", "whatis struct page", "whatis --json vmlist"],
    "timeline": ["timeline", "timeline -c vmalloc", "timeline -p -s 8 3ffd000", "timeline --json"],
    "goto": ["goto 0", "goto end", "goto --json 1"],
    "step": ["step", "step 1", "step --json"],
    "back": ["back", "back 1", "back --json"],
    "history": ["history vmlist", "history -p -s 8 3ffd000", "history --json vmlist"],
    "blame": ["blame vmlist", "blame -p -s 8 3ffd000", "blame --json vmlist"],
    "diff": ["diff 0", "diff 0 1", "diff -s --json 0", f"diff --vmlinux {DEMO}.vmlinux {DEMO}"],
}

# For each argument shown ``X [X ...]`` or ``[X ...]``: the command line before the
# values, and two values it takes.
SEVERAL: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("kmem", "address"): ("kmem -p", ["{area_page}", "{area_frame}"]),
    ("mod", "name"): ("mod", ["ext3", "jbd"]),
    # the first vm_struct's next and the second's: each found once
    ("search", "value"): ("search -s {area_struct} -l 64", ["vmlist->next", "vmlist->next->next"]),
    ("page", "target"): ("page", ["{area_frame}", "c4811000"]),
    ("ptov", "address"): ("ptov", ["{area_frame}", "8000000"]),
    ("sym", "target"): ("sym", ["vmlist", "init_mm"]),
    ("vmlist", "address"): ("vmlist", ["c4800000", "c4811000"]),
    ("vtop", "address"): ("vtop", ["c4800000", "c4811000"]),
    ("ps", "target"): ("ps", ["1", "2"]),
    ("vm", "target"): ("vm", ["1", "2"]),
}


# For each command whose arguments are shown once: a line with one value too many.
ONE_TOO_MANY: dict[str, str] = {
    "sim": "sim vmalloc 8K 8K",
    "save": "save a b",
    "help": "help vtop ptov",
    "eval": "eval 1 2",
    "x": "x/4wx vmlist 2",
    "list": "list -o vm_struct.next *vmlist c10b6200",
    "p": "p vmlist->size 4",
    "ptype": "ptype struct page vmlist",
    "rd": "rd vmlist 4 4",
    "set": "set radix 16 16",
    "struct": "struct vm_struct *vmlist 2 2",
    "whatis": "whatis vmlist mem_map",
    "timeline": "timeline vmlist mem_map",
    "goto": "goto 1 2",
    "step": "step 1 2",
    "back": "back 1 2",
    "history": "history vmlist mem_map",
    "blame": "blame vmlist mem_map",
    "diff": "diff 0 1 2",
}


@pytest.fixture(scope="module")
def prog(tmp_path_factory: pytest.TempPathFactory) -> Program:
    """The demo image at entry 1 of a timeline (the examples of step and back need a
    moment to move from); every other command runs on that moment as on the image."""
    from timeline.handmade import image_with_timeline

    return vmintro.open(image_with_timeline(DEMO, tmp_path_factory.mktemp("synopsis"))).at(1)


@pytest.fixture(scope="module", autouse=True)
def shipped_plugins() -> Iterator[None]:
    """The plugins of plugins/ too: their synopses are commands' like any other."""
    unload_plugins()
    load_plugins(err=io.StringIO())
    yield
    unload_plugins()


def _synopsis(name: str, prog: Any) -> str:
    """The synopsis line ``help NAME`` shows."""
    [part] = run(prog, f"help {name}")
    lines = part.text.splitlines()  # type: ignore[union-attr]
    return lines[lines.index("SYNOPSIS") + 1].strip()


def _groups(synopsis: str) -> list[str]:
    """The top-level bracketed groups and words of a synopsis."""
    out, depth, current = [], 0, ""
    for ch in synopsis:
        if ch == " " and depth == 0:
            if current:
                out.append(current)
            current = ""
            continue
        depth += ch in "[("
        depth -= ch in "])"
        current += ch
    return [*out, current] if current else out


def _options(synopsis: str) -> list[list[str]]:
    """Each option group, as its alternatives: ``[-x | -q TEXT]`` -> ``["-x", "-q TEXT"]``."""
    groups = []
    for g in _groups(synopsis)[1:]:
        inner = g.strip("[]()")
        if inner.startswith("-"):
            groups.append(inner.split(" | "))
    return groups


def _flag(alternative: str, tmp: Path) -> list[str]:
    """The words of an option as given: its flag, then a value for its metavar."""
    flag, *metavar = alternative.split()
    return [flag, *(VALUES[m].format(tmp=tmp) for m in metavar)]


# A value for each option's metavar.
VALUES = {
    "TEXT": "vm",
    "COUNT": "2",
    "OFFSET": "12",
    "STRUCT": "vm_struct",
    "FILE": "{tmp}/out.svg",
    "ADDR": "c4800000",
    "START": "c0211000",
    "END": "c0212000",
    "LENGTH": "16",
    "MASK": "0xfff",
    "PID|TASK": "1",
}


def _positionals(synopsis: str) -> str:
    """The synopsis without its name and options."""
    words = _groups(synopsis)[1:]
    return " ".join(g for g in words if not g.strip("[]()").startswith("-"))


def _names() -> list[str]:
    unload_plugins()
    load_plugins(err=io.StringIO())
    try:
        return [c.name for c in commands()]
    finally:
        unload_plugins()


NAMES = _names()


def _run(prog: Any, line: str) -> list[Any]:
    try:
        return run(prog, line)
    except QuitRequested:
        return []


def test_every_command_has_examples() -> None:
    assert sorted(EXAMPLES) == sorted(NAMES)


@pytest.fixture
def example(at_symbols, tmp_path: Path):
    """``example(line)``: an example line with ``{tmp}`` the scratch directory and each
    address named in braces the demo's (at_symbols)."""
    return lambda line: at_symbols(line.replace("{tmp}", str(tmp_path)))


@pytest.mark.parametrize("name", NAMES)
def test_each_listed_option_is_accepted(prog, example, name: str) -> None:
    synopsis = _synopsis(name, prog)
    lines = [example(line) for line in EXAMPLES[name]]
    used = {word for line in lines for word in split_words(line)[1:]}
    for alternatives in _options(synopsis):
        for alternative in alternatives:
            flag = alternative.split()[0]
            assert flag in used, f"{synopsis}: no example uses {flag}"
    for line in lines:
        _run(prog, line)  # raises if the line is refused or fails


@pytest.mark.parametrize("name", NAMES)
def test_options_not_listed_are_refused(prog, example, name: str) -> None:
    synopsis = _synopsis(name, prog)
    listed = {alt.split()[0] for alts in _options(synopsis) for alt in alts}
    cmd = lookup(name)
    for flag, action in cmd.parser._option_string_actions.items():
        # each flag is listed, or is another spelling of one listed
        assert listed & set(action.option_strings), f"{synopsis}: {flag} is not listed"
    base = split_words(example(EXAMPLES[name][0]))
    with pytest.raises(CommandError):
        prepare(prog, [*base, "-z"])


@pytest.mark.parametrize("name", NAMES)
def test_alternatives_exclude_each_other(prog, example, tmp_path: Path, name: str) -> None:
    """Options shown ``[-a | -b]`` refuse to come together, ``(-a | -b)`` to be left
    out; options that set the same thing (the last would silently win) are shown as
    alternatives."""
    synopsis = _synopsis(name, prog)
    for alternatives in _options(synopsis):
        first = alternatives[0].split()[0]
        line = next(line for line in EXAMPLES[name] if first in split_words(line))
        words = split_words(example(line))
        for other in alternatives[1:]:
            with pytest.raises(CommandError):
                prepare(prog, [words[0], *_flag(other, tmp_path), *words[1:]])
    for group in _groups(synopsis)[1:]:
        if group.startswith("(-"):
            with pytest.raises(CommandError):
                prepare(prog, [name])
    by_dest: dict[str, set[str]] = {}
    for action in lookup(name).parser._actions:
        if action.option_strings:
            by_dest.setdefault(action.dest, set()).add(action.option_strings[0])
    shown = [{alt.split()[0] for alt in alts} for alts in _options(synopsis)]
    for dest, flags in by_dest.items():
        assert any(flags <= alts for alts in shown), f"{synopsis}: {sorted(flags)} set {dest}"


@pytest.mark.parametrize("name", NAMES)
def test_arguments_take_as_many_values_as_shown(prog, results, at_symbols, name: str) -> None:
    synopsis = _synopsis(name, prog)
    shown = _positionals(synopsis)
    # "X [X ...]" and "[X ...]": several values of X
    pattern = r"(?:^|\s)(\w+) \[\1 \.\.\.\]|\[(\w+) \.\.\.\]"
    several = [a or b for a, b in re.findall(pattern, shown)]
    assert sorted(several) == sorted(arg for cmd, arg in SEVERAL if cmd == name), synopsis
    for arg in several:
        prefix, values = SEVERAL[(name, arg)]
        prefix, values = at_symbols(prefix), [at_symbols(v) for v in values]
        alone = [results(f"{prefix} {v}") for v in values]
        assert all(alone), f"{synopsis}: a value that gives nothing alone proves nothing"
        each = [item for rows in alone for item in rows]
        assert results(f"{prefix} {' '.join(values)}") == each, synopsis
    if several:
        return
    # shown once (or not at all): one value more is refused, never silently dropped or joined
    line = ONE_TOO_MANY[name] if shown else f"{EXAMPLES[name][0]} c4800000"
    with pytest.raises(CommandError):
        _run(prog, line)
