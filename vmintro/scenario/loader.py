"""Scenarios: workloads as TOML data, validated before anything runs.

A scenario has an optional ``[machine]`` table (``ram``, ``highmem``, ``pae``,
``pse``, ``seed``) and a list of ``[[step]]`` tables, each with an ``op``::

    [[step]]
    op = "vmalloc"        # vmalloc | vmalloc_dma | vmalloc_32
    size = "64K"
    label = "buf"         # a name later steps use (vfree, iounmap)

A scenario is typed by hand or comes from someone else, so it is read as
untrusted: only a regular file of at most :data:`MAX_SCENARIO_BYTES`, a TOML
shape the parser handles in bounded time, and every field checked for its type
and range before the machine boots. Errors are one line naming the file, the
line of the offending ``[[step]]`` (when known), the step and the field.
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from vmintro.arch.x86 import parse_size
from vmintro.files import file_kind, not_regular
from vmintro.sim.anon import MAX_ANON
from vmintro.sim.faults import FAULT_CALLS as _CALLS
from vmintro.sim.faults import FAULTS
from vmintro.sim.pagecache import MAX_PAGE_CACHE
from vmintro.sim.swap import MAX_SWAP_BADPAGES
from vmintro.types.flags import PID_MAX

FAULT_KINDS = tuple(FAULTS)
FAULT_CALLS = tuple(_CALLS)

__all__ = [
    "MAX_SCENARIO_BYTES",
    "MAX_STEPS",
    "Scenario",
    "ScenarioError",
    "Step",
    "builtin_scenarios",
    "load_scenario",
    "machine_value",
    "parse_scenario",
]

BUILTIN_DIR = Path(__file__).with_name("builtin")
SCENARIO_SUFFIX = ".toml"  # a scenario file's name, and a built-in one's

# What a scenario may ask for. The kernel's own limits come first (an unsigned
# long, a 16-bit kdev_t, SWAP_FLAG_PRIO_MASK); the others bound the simulator's
# time and memory, far above any workload worth looking at.
MAX_SCENARIO_BYTES = 1 << 20
MAX_STEPS = 10_000
MAX_RANDOM_COUNT = 100_000
# the calls of all random steps together: some 2 minutes of generation (100,000 take 11 s)
MAX_RANDOM_TOTAL = 1_000_000
MAX_EXPORTS = 10_000
MAX_MODULE_SIZE = 64 << 20  # the simulator builds the module's image in memory
MAX_TEXT = 256  # names and labels
MAX_DESCRIPTION = 64 << 10
MAX_KEY_PARTS = 8  # a.b.c: tomllib's time grows with the square of a dotted key's length
MAX_NUMBER_TEXT = 32  # "0x..." or "64K" given as a string
ULONG_MAX = 0xFFFFFFFF
SEED_MAX = (1 << 64) - 1
MKSWAP_MIN_PAGES = 10  # mkswap: "swap area needs to be at least 40 KiB"
SWAP_MAX_PAGES = 1 << 32  # the header's last_page is an unsigned int


class ScenarioError(Exception):
    """A scenario file that cannot be run; the message is one line."""


_SIZE, _INT, _STR, _BOOL, _FLOAT = "size", "int", "str", "bool", "float"
_INTS = "list of int"


@dataclass(frozen=True)
class Field:
    """One key of a step or of ``[machine]``: its type, whether it must be given,
    and the range a value must fall in, with what that range is."""

    kind: str
    required: bool = False
    lo: float = 0
    hi: float = ULONG_MAX
    why: str = "an unsigned long"
    lines: bool = False  # a text of several lines (newlines and tabs allowed)
    items: int = 0  # a list of _INTS: at most this many, each in lo..hi


def _text(required: bool = False) -> Field:
    return Field(_STR, required, 1, MAX_TEXT, "characters")


_LABEL = _text()
_DESCRIPTION = Field(_STR, False, 0, MAX_DESCRIPTION, "characters", lines=True)
_BOOL_FIELD = Field(_BOOL)
_ULONG_SIZE = Field(_SIZE, True)
_PID = Field(_INT, hi=PID_MAX - 1, why="a pid: below PID_MAX")
_SOME_SIZE = Field(_SIZE)

OPS: dict[str, dict[str, Field]] = {
    "boot": {},
    "vmalloc": {"size": _ULONG_SIZE, "label": _LABEL},
    "vmalloc_dma": {"size": _ULONG_SIZE, "label": _LABEL},
    "vmalloc_32": {"size": _ULONG_SIZE, "label": _LABEL},
    "vfree": {"label": _LABEL, "addr": Field(_INT, why="a 32-bit address")},
    "ioremap": {
        "phys": Field(_INT, True, why="an unsigned long"),
        "size": _ULONG_SIZE,
        "nocache": _BOOL_FIELD,
        "label": _LABEL,
    },
    "iounmap": {"label": _text(True)},
    "swapon": {
        "device": Field(_INT, hi=0xFFFF, why="a 16-bit kdev_t"),
        "size": Field(
            _SIZE,
            True,
            MKSWAP_MIN_PAGES * 4096,
            SWAP_MAX_PAGES * 4096,
            "from mkswap's smallest swap area to a swap header's last page",
        ),
        "priority": Field(_INT, hi=0x7FFF, why="SWAP_FLAG_PRIO_MASK"),
        # mkswap's bad-block list: unsigned ints in the header's page
        "bad_pages": Field(_INTS, why="an unsigned int", items=MAX_SWAP_BADPAGES),
        "label": _LABEL,
    },
    "swapoff": {"label": _text(True)},
    "insmod": {
        "name": Field(_STR, True, 1, 63, "characters: the simulator reads 64 bytes of it"),
        "size": Field(_SIZE, True, hi=MAX_MODULE_SIZE, why="what the simulator builds a module of"),
        "exports": Field(_INT, hi=MAX_EXPORTS, why="exported symbols"),
    },
    # cleanup: the vmalloc step's label whose area the module's cleanup vfrees
    "rmmod": {"name": Field(_STR, True, 1, 63, "characters"), "cleanup": _LABEL},
    "random": {
        "count": Field(_INT, True, hi=MAX_RANDOM_COUNT, why="operations in one step"),
        "min_size": _SOME_SIZE,
        "max_size": _SOME_SIZE,
        "free_ratio": Field(_FLOAT, hi=1, why="a fraction"),
    },
    "fault": {
        "kind": Field(_STR, True, 1, 64, "characters"),
        "target": _LABEL,
        # the kernel call the fault is recorded under (a module's init or unload)
        "call": Field(_STR, False, 1, 64, "characters"),
        "cleanup": _LABEL,  # as rmmod's: the area a leaking unload's cleanup vfrees
    },
    # processes: a pid, or the label a fork or spawn step gave its child
    "fork": {"parent": _PID, "label": _LABEL},
    "spawn": {
        "name": Field(_STR, True, 1, 15, "characters: the task's comm holds 15"),
        "parent": _PID,
        "label": _LABEL,
    },
    "exit": {"pid": _PID, "label": _LABEL},
    "touch": {
        "pid": _PID,
        "task": _LABEL,
        "addr": Field(_INT, why="a 32-bit address"),
        "label": _LABEL,  # a vmalloc, ioremap or mmap step's area
        "offset": Field(_SIZE, why="an unsigned long"),
        # a user address: the process's own access, to every page of `size`
        "size": Field(_SIZE, lo=1, why="an unsigned long"),
        "write": _BOOL_FIELD,
    },
    # a process's anonymous memory: mmap(addr, size, PROT_READ|PROT_WRITE, MAP_PRIVATE)
    "mmap": {
        "pid": _PID,
        "task": _LABEL,
        "size": _ULONG_SIZE,
        "addr": Field(_INT, why="a 32-bit address"),
        "label": _LABEL,
    },
    # brk(current break + size): the heap grows (shrinks by size with shrink = true)
    "brk": {"pid": _PID, "task": _LABEL, "size": _ULONG_SIZE, "shrink": _BOOL_FIELD},
    # munmap(addr, size): do_munmap of part of a process's address space
    "munmap": {
        "pid": _PID,
        "task": _LABEL,
        "addr": Field(_INT, why="a 32-bit address"),
        "label": _LABEL,  # an mmap step's area
        "offset": Field(_SIZE, why="an unsigned long"),
        "size": _ULONG_SIZE,
    },
}
for _op, _fields in OPS.items():
    if _op != "boot":  # every step can make the kernel oops or hang
        _fields["allow_bug"] = _BOOL_FIELD

MACHINE_KEYS: dict[str, Field] = {
    "ram": Field(_SIZE, lo=-math.inf, hi=math.inf),  # MachineConfig says what RAM can be
    "highmem": _BOOL_FIELD,
    "pae": _BOOL_FIELD,
    "pse": _BOOL_FIELD,
    "seed": Field(_INT, hi=SEED_MAX, why="a 64-bit seed"),
    # the share of RAM the page cache holds when the steps begin (0: none at all)
    "page_cache": Field(_FLOAT, hi=MAX_PAGE_CACHE, why="a share of RAM"),
    # the share of RAM the boot's user processes hold in anonymous memory (0: none run)
    "anon": Field(_FLOAT, hi=MAX_ANON, why="a share of RAM"),
}


@dataclass
class Step:
    op: str
    args: dict[str, Any]
    index: int
    line: int  # 0 when not known

    def where(self, path: str) -> str:
        return f"{_at(path, self.line)}: step {self.index + 1} ({self.op})"


@dataclass
class Scenario:
    name: str
    path: str
    machine: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    machine_line: int = 0  # the line of the ``[machine]`` header; 0 when not known

    @property
    def machine_at(self) -> str:
        """Where the ``[machine]`` table is, as errors name it: ``path:line``."""
        return _at(self.path, self.machine_line)


def _at(path: str, line: int) -> str:
    return f"{path}:{line}" if line else path


def _show(value: Any) -> str:
    """A value as an error message may quote it: escaped, and short."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**24:
        return f"a {len(str(abs(value)))}-digit number"
    try:
        text = repr(value)  # escapes control and non-printable characters
    except RecursionError:
        return "a deeply nested value"
    return text if len(text) <= 40 else text[:37] + "..."


def _bound(b: float, kind: str) -> str:
    """A range's end as a person writes it: 40K, 64M, 0xffffffff, 10000."""
    if b in (ULONG_MAX, SEED_MAX):
        return f"{int(b):#x}"
    if kind == _SIZE and b:
        for shift, suffix in ((40, "T"), (30, "G"), (20, "M"), (10, "K")):
            if not b % (1 << shift):
                return f"{int(b) >> shift}{suffix}"
    return f"{b:g}" if kind == _FLOAT else str(int(b))


def _in_range(value: float, f: Field, what: str) -> None:
    if not f.lo <= value <= f.hi:
        lo, hi = _bound(f.lo, f.kind), _bound(f.hi, f.kind)
        raise ScenarioError(f"{what}: {_show(value)} is out of range: {lo} to {hi} ({f.why})")


_LAYOUT = str.maketrans("", "", "\n\t")


def _convert(value: Any, f: Field, what: str) -> Any:
    """``value`` as ``f`` wants it, or a one-line error naming ``what``."""
    if f.kind == _INTS:
        if not isinstance(value, list):
            raise ScenarioError(f"{what}: expected a list of numbers, got {_show(value)}")
        if len(value) > f.items:
            raise ScenarioError(f"{what}: {len(value)} entries (at most {f.items} fit)")
        each = Field(_INT, lo=f.lo, hi=f.hi, why=f.why)
        return [_convert(v, each, f"{what}[{n}]") for n, v in enumerate(value)]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if f.kind in (_SIZE, _INT):
        if isinstance(value, str):
            try:
                if len(value) > MAX_NUMBER_TEXT:
                    raise ValueError("too long")
                value = parse_size(value) if f.kind == _SIZE else int(value, 0)
            except ValueError:
                bad = f"bad size {_show(value)} (expected e.g. 64K, 4M)"
                if f.kind == _INT:
                    bad = f"{_show(value)} is not a number (expected e.g. 42 or 0x2a)"
                raise ScenarioError(f"{what}: {bad}") from None
        elif not (isinstance(value, int) and not isinstance(value, bool)):
            raise ScenarioError(f"{what}: expected {f.kind}, got {_show(value)}")
        _in_range(value, f, what)
        return value
    if f.kind == _FLOAT and number:
        if math.isnan(value):
            raise ScenarioError(f"{what}: expected a number, got nan")
        _in_range(value, f, what)
        return float(value)
    if f.kind == _BOOL and isinstance(value, bool):
        return value
    if f.kind == _STR and isinstance(value, str):
        if not f.lo <= len(value) <= f.hi:
            raise ScenarioError(
                f"{what}: {_show(value)} has {len(value)} characters; "
                f"{int(f.lo)} to {int(f.hi)} are allowed"
            )
        if not (value.translate(_LAYOUT) if f.lines else value).isprintable():
            raise ScenarioError(f"{what}: {_show(value)} has characters that do not print")
        return value
    raise ScenarioError(f"{what}: expected {f.kind}, got {_show(value)}")


def machine_value(key: str, value: Any, what: str) -> Any:
    """A ``[machine]`` value given elsewhere (``--seed`` on the command line), checked
    as the scenario's own would be.

    :raises ScenarioError: one line naming ``what``.
    """
    return _convert(value, MACHINE_KEYS[key], what)


# -- the TOML text ------------------------------------------------------------------------

# Strings and comments, which may hold any character; what is outside them is keys,
# values and punctuation. A quote inside a multi-line string is content unless two
# more follow it, so each character has one reading and a string that never ends
# costs one scan.
_STRING_OR_COMMENT = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"{3,5}'  # multi-line basic, with escapes
    r"|'''(?:[^']|'(?!''))*'{3,5}"  # multi-line literal
    r'|"(?:[^"\\\n]|\\.)*"'  # basic
    r"|'[^'\n]*'"  # literal
    r"|#[^\n]*"  # comment
)
# A run of key characters, dots and blanks: a dotted key (or a float, with one dot).
_KEY_RUN_BREAK = re.compile(r"[^A-Za-z0-9_\-\x00. \t]+")
_STEP_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*step[ \t]*\]\]", re.M)
_MACHINE_HEADER = re.compile(r"^[ \t]*\[\[?[ \t]*machine[ \t]*\]", re.M)


def _blank_strings(text: str) -> str:
    """``text`` with each string and comment reduced to a NUL (its newlines kept)."""
    return _STRING_OR_COMMENT.sub(lambda m: "\0" + "\n" * m.group().count("\n"), text)


def _check_shape(bare: str, path: str) -> None:
    """Refuse a dotted key too long for the parser to take in bounded time."""
    for number, line in enumerate(bare.split("\n"), 1):
        if line.count(".") <= MAX_KEY_PARTS:
            continue
        for run in _KEY_RUN_BREAK.split(line):
            if run.count(".") >= MAX_KEY_PARTS:
                raise ScenarioError(
                    f"{_at(path, number)}: a dotted key of {run.count('.') + 1} parts "
                    f"(at most {MAX_KEY_PARTS} are allowed)"
                )


def _parse_toml(text: str, path: str) -> tuple[dict[str, Any], str]:
    """The parsed document and ``text`` with its strings blanked (for line numbers)."""
    bare = _blank_strings(text)
    _check_shape(bare, path)
    try:
        return tomllib.loads(text), bare
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: not valid TOML: values nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts
        raise ScenarioError(f"{path}: not valid TOML: a number with too many digits") from None


def _lines_of(header: re.Pattern[str], bare: str) -> list[int]:
    """The line numbers where ``header`` matches, in one pass over the text."""
    lines, line, pos = [], 1, 0
    for m in header.finditer(bare):
        line += bare.count("\n", pos, m.start())
        pos = m.start()
        lines.append(line)
    return lines


# -- the document -------------------------------------------------------------------------


def parse_scenario(text: str, path: str) -> Scenario:
    """Validate a scenario's text; nothing is run."""
    data, bare = _parse_toml(text, path)
    step_lines = _lines_of(_STEP_HEADER, bare)
    machine_line = next(iter(_lines_of(_MACHINE_HEADER, bare)), 0)
    unknown = set(data) - {"machine", "step", "name", "description"}
    if unknown:
        shown = ", ".join(_show(k) for k in sorted(unknown)[:3])
        raise ScenarioError(f"{path}: unknown top-level key(s): {shown}")
    stem = Path(path).stem[:MAX_TEXT]
    name = data.get("name", stem if stem and stem.isprintable() else "scenario")
    scen = Scenario(
        name=_convert(name, _text(), f"{path}: name"), path=path, machine_line=machine_line
    )
    if "description" in data:
        _convert(data["description"], _DESCRIPTION, f"{path}: description")
    machine, machine_at = data.get("machine", {}), scen.machine_at
    if not isinstance(machine, dict):
        raise ScenarioError(f"{machine_at}: [machine] must be a table")
    for key, value in machine.items():
        if key not in MACHINE_KEYS:
            raise ScenarioError(f"{machine_at}: [machine]: unknown key {_show(key)}")
        scen.machine[key] = _convert(value, MACHINE_KEYS[key], f"{machine_at}: [machine] {key}")
    steps = data.get("step", [])
    if not isinstance(steps, list):
        raise ScenarioError(f"{path}: 'step' must be an array of tables ([[step]])")
    if len(steps) > MAX_STEPS:
        raise ScenarioError(f"{path}: {len(steps)} steps (at most {MAX_STEPS} are allowed)")
    for i, raw in enumerate(steps):
        line = step_lines[i] if len(step_lines) == len(steps) else 0
        scen.steps.append(_parse_step(raw, i, line, path))
    calls = sum(int(step.args["count"]) for step in scen.steps if step.op == "random")
    if calls > MAX_RANDOM_TOTAL:
        raise ScenarioError(
            f"{path}: its random steps make {calls} calls together "
            f"(at most {MAX_RANDOM_TOTAL} are allowed)"
        )
    return scen


def _parse_step(raw: Any, i: int, line: int, path: str) -> Step:
    where = f"{_at(path, line)}: step {i + 1}"
    if not isinstance(raw, dict) or "op" not in raw:
        raise ScenarioError(f"{where}: missing 'op'")
    op = raw["op"]
    if not isinstance(op, str):
        raise ScenarioError(f"{where}: 'op' must be a string, got {_show(op)}")
    if op not in OPS:
        raise ScenarioError(f"{where}: unknown op {_show(op)} (known: {', '.join(sorted(OPS))})")
    if op == "boot" and i != 0:
        raise ScenarioError(f"{where} (boot): boot can only be the first step")
    spec = OPS[op]
    args = {}
    for key, value in raw.items():
        if key == "op":
            continue
        if key not in spec:
            raise ScenarioError(f"{where} ({op}): unknown key {_show(key)}")
        args[key] = _convert(value, spec[key], f"{where} ({op}) {key}")
    for key, f in spec.items():
        if f.required and key not in args:
            raise ScenarioError(f"{where} ({op}): missing '{key}'")
    if op == "fault" and args["kind"] not in FAULT_KINDS:
        raise ScenarioError(
            f"{where} (fault): unknown kind {_show(args['kind'])} (known: {', '.join(FAULT_KINDS)})"
        )
    if op == "fault" and args.get("call", FAULT_CALLS[0]) not in FAULT_CALLS:
        raise ScenarioError(
            f"{where} (fault): unknown call {_show(args['call'])} (known: {', '.join(FAULT_CALLS)})"
        )
    if op == "vfree" and ("label" in args) == ("addr" in args):
        raise ScenarioError(f"{where} (vfree): give exactly one of 'label' or 'addr'")
    if op == "exit" and ("label" in args) == ("pid" in args):
        raise ScenarioError(f"{where} (exit): give exactly one of 'pid' or 'label'")
    if op in ("touch", "mmap", "brk", "munmap") and ("pid" in args) == ("task" in args):
        raise ScenarioError(f"{where} ({op}): give exactly one of 'pid' or 'task'")
    if op in ("touch", "munmap"):
        if ("label" in args) == ("addr" in args):
            raise ScenarioError(f"{where} ({op}): give exactly one of 'addr' or 'label'")
        if "addr" in args and "offset" in args:
            raise ScenarioError(f"{where} ({op}): 'offset' goes with 'label', not 'addr'")

    return Step(op, args, i, line)


# -- the file -----------------------------------------------------------------------------

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def read_scenario_file(path: str | os.PathLike[str]) -> str:
    """The text of a scenario file: a regular file only (a FIFO would block, a
    device never end), of at most :data:`MAX_SCENARIO_BYTES`, in UTF-8."""
    shown = os.fspath(path)
    try:
        kind = not_regular(path)
        if kind:
            raise ScenarioError(f"{shown}: is {kind}, not a scenario file")
        fd = os.open(path, _OPEN_FLAGS)  # never blocks, even if a FIFO took the name since
    except OSError as e:
        raise ScenarioError(f"{shown}: cannot read: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode  # the name may have been replaced since the stat
        if not stat.S_ISREG(mode):
            raise ScenarioError(f"{shown}: is {file_kind(mode)}, not a scenario file")
        chunks, size = [], 0
        while size <= MAX_SCENARIO_BYTES:
            chunk = os.read(fd, MAX_SCENARIO_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise ScenarioError(f"{shown}: cannot read: {e.strerror}") from None
    finally:
        os.close(fd)
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{shown}: larger than {MAX_SCENARIO_BYTES >> 20} MiB: not a scenario")
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ScenarioError(f"{shown}:{line}: not UTF-8 text") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file, or a built-in one by name (``demo``)."""
    p = Path(path)
    builtin = BUILTIN_DIR / f"{path}{SCENARIO_SUFFIX}"
    if not os.path.lexists(p) and builtin.is_file():
        p = builtin
    return parse_scenario(read_scenario_file(p), str(path))


def builtin_scenarios() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob(f"*{SCENARIO_SUFFIX}"))
