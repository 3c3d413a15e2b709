"""Scenarios: workloads as TOML data, validated before anything runs.

A scenario has an optional ``[machine]`` table (``ram``, ``highmem``, ``pae``,
``pse``, ``seed``) and a list of ``[[step]]`` tables, each with an ``op``::

    [[step]]
    op = "vmalloc"        # vmalloc | vmalloc_dma | vmalloc_32
    size = "64K"
    label = "buf"         # a name later steps use (vfree, iounmap)

Errors name the file, the line of the offending ``[[step]]`` and the step.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from vmintro.arch.x86 import parse_size
from vmintro.sim.faults import FAULTS

FAULT_KINDS = tuple(FAULTS)

__all__ = ["Scenario", "ScenarioError", "Step", "builtin_scenarios", "load_scenario"]

BUILTIN_DIR = Path(__file__).with_name("builtin")


class ScenarioError(Exception):
    """A scenario file that cannot be run; the message is one line."""


# op -> {key: (type, required)}; "size" types accept "64K"-style strings.
_SIZE, _INT, _STR, _BOOL, _FLOAT = "size", "int", "str", "bool", "float"
OPS: dict[str, dict[str, tuple[str, bool]]] = {
    "boot": {},
    "vmalloc": {"size": (_SIZE, True), "label": (_STR, False), "allow_bug": (_BOOL, False)},
    "vmalloc_dma": {"size": (_SIZE, True), "label": (_STR, False), "allow_bug": (_BOOL, False)},
    "vmalloc_32": {"size": (_SIZE, True), "label": (_STR, False), "allow_bug": (_BOOL, False)},
    "vfree": {"label": (_STR, False), "addr": (_INT, False)},
    "ioremap": {
        "phys": (_INT, True),
        "size": (_SIZE, True),
        "nocache": (_BOOL, False),
        "label": (_STR, False),
        "allow_bug": (_BOOL, False),
    },
    "iounmap": {"label": (_STR, True)},
    "swapon": {
        "device": (_INT, False),
        "size": (_SIZE, True),
        "priority": (_INT, False),
        "label": (_STR, False),
    },
    "swapoff": {"label": (_STR, True)},
    "insmod": {"name": (_STR, True), "size": (_SIZE, True), "exports": (_INT, False)},
    "rmmod": {"name": (_STR, True)},
    "random": {
        "count": (_INT, True),
        "min_size": (_SIZE, False),
        "max_size": (_SIZE, False),
        "free_ratio": (_FLOAT, False),
    },
    "fault": {"kind": (_STR, True), "target": (_STR, False)},
}
MACHINE_KEYS = {"ram": _SIZE, "highmem": _BOOL, "pae": _BOOL, "pse": _BOOL, "seed": _INT}


@dataclass
class Step:
    op: str
    args: dict[str, Any]
    index: int
    line: int

    def where(self, path: str) -> str:
        return f"{path}:{self.line}: step {self.index + 1} ({self.op})"


@dataclass
class Scenario:
    name: str
    path: str
    machine: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)


def _convert(value: Any, kind: str, what: str) -> Any:
    if kind == _SIZE:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return parse_size(value)
            except ValueError as e:
                raise ScenarioError(f"{what}: {e}") from None
    elif kind == _INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                pass
    elif kind == _BOOL and isinstance(value, bool):
        return value
    elif kind == _STR and isinstance(value, str):
        return value
    elif kind == _FLOAT and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ScenarioError(f"{what}: expected {kind}, got {value!r}")


def parse_scenario(text: str, path: str) -> Scenario:
    """Validate a scenario's text; nothing is run."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    step_lines = [
        n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*step\s*\]\]", line)
    ]
    unknown = set(data) - {"machine", "step", "name", "description"}
    if unknown:
        raise ScenarioError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    scen = Scenario(name=str(data.get("name", Path(path).stem)), path=path)
    machine = data.get("machine", {})
    if not isinstance(machine, dict):
        raise ScenarioError(f"{path}: [machine] must be a table")
    for key, value in machine.items():
        if key not in MACHINE_KEYS:
            raise ScenarioError(f"{path}: [machine]: unknown key '{key}'")
        scen.machine[key] = _convert(value, MACHINE_KEYS[key], f"{path}: [machine] {key}")
    steps = data.get("step", [])
    if not isinstance(steps, list):
        raise ScenarioError(f"{path}: 'step' must be an array of tables ([[step]])")
    for i, raw in enumerate(steps):
        line = step_lines[i] if i < len(step_lines) else 0
        where = f"{path}:{line}: step {i + 1}"
        if not isinstance(raw, dict) or "op" not in raw:
            raise ScenarioError(f"{where}: missing 'op'")
        op = raw["op"]
        if op not in OPS:
            raise ScenarioError(f"{where}: unknown op '{op}' (known: {', '.join(sorted(OPS))})")
        if op == "boot" and i != 0:
            raise ScenarioError(f"{where} (boot): boot can only be the first step")
        spec = OPS[op]
        args = {}
        for key, value in raw.items():
            if key == "op":
                continue
            if key not in spec:
                raise ScenarioError(f"{where} ({op}): unknown key '{key}'")
            args[key] = _convert(value, spec[key][0], f"{where} ({op}) {key}")
        for key, (_, required) in spec.items():
            if required and key not in args:
                raise ScenarioError(f"{where} ({op}): missing '{key}'")
        if op == "fault" and args["kind"] not in FAULT_KINDS:
            raise ScenarioError(
                f"{where} (fault): unknown kind '{args['kind']}' (known: {', '.join(FAULT_KINDS)})"
            )
        if op == "vfree" and ("label" in args) == ("addr" in args):
            raise ScenarioError(f"{where} (vfree): give exactly one of 'label' or 'addr'")
        scen.steps.append(Step(op, args, i, line))
    return scen


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file, or a built-in one by name (``demo``)."""
    p = Path(path)
    if not p.exists() and (BUILTIN_DIR / f"{path}.toml").exists():
        p = BUILTIN_DIR / f"{path}.toml"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file") from None
    return parse_scenario(text, str(path))


def builtin_scenarios() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))
