"""What the timeline commands share: an entry as text and as JSON, and a move in time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmintro.commands.result import Move
from vmintro.escape import escape_text
from vmintro.timeline.moments import require_timeline

if TYPE_CHECKING:
    from vmintro.image.format.timeline import Entry, Result
    from vmintro.program import Program

__all__ = ["call_text", "entry_data", "entry_line", "move_py", "move_to", "result_text"]

# Arguments shown in hex: addresses (the kernel's own parameter names)
_HEX_ARGS = ("addr", "address", "objp", "phys", "phys_addr", "offset", "page", "pfn")


def _arg_text(name: str, value: int | str) -> str:
    if isinstance(value, str):
        return f'{name}="{escape_text(value)}"'
    hexed = name in _HEX_ARGS or name.endswith("addr")
    return f"{name}={value:#x}" if hexed and value >= 0 else f"{name}={value}"


def call_text(entry: Entry) -> str:
    """``vmalloc(size=65536)``; boot is ``boot``."""
    if entry.number == 0:
        return "boot"
    return f"{entry.call}({', '.join(_arg_text(n, v) for n, v in entry.args)})"


def result_text(result: Result) -> str:
    """The result as the kernel returned it: ``0xc8800000``, ``NULL``, ``-ENOMEM``,
    ``12``, nothing for void, or the BUG()/oops/hang message."""
    kind, value = result.kind, result.value
    text = escape_text(result.text) if result.text else ""
    if kind == "address" and value is not None:
        return f"{value:#x}"
    if kind == "null":
        return "NULL"
    if kind == "errno":
        return f"-{text}" if text else str(value)
    if kind == "int":
        return str(value)
    if kind == "void":
        return ""
    return f"{kind.upper() if kind == 'bug' else kind}: {text}"


def entry_data(entry: Entry) -> dict[str, Any]:
    """An entry as JSON shows it."""
    r = entry.result
    return {
        "entry": entry.number,
        "step": entry.step,
        "call": escape_text(entry.call),
        "args": {n: escape_text(v) if isinstance(v, str) else v for n, v in entry.args},
        "result": {
            "kind": r.kind,
            "value": r.value,
            "text": escape_text(r.text) if r.text is not None else None,
        },
        "writes": entry.write_count if entry.number else None,
    }


def entry_line(entry: Entry) -> str:
    """``step 3: vmalloc(size=65536) = 0xc8800000, 312 writes``."""
    if entry.number == 0:
        return "boot (its writes are not itemized)"
    result = result_text(entry.result)
    returned = f" = {result}" if result else ""
    return f"step {entry.step}: {call_text(entry)}{returned}, {entry.write_count} writes"


def move_to(prog: Program, n: int) -> Move:
    """The part that moves the session to entry ``n`` (of ``prog``'s image), and says where."""
    timeline = require_timeline(prog)
    target = prog.at(n)
    last = len(timeline.entries) - 1
    entry = timeline.entries[n]
    where = " (the image itself)" if n == last else " (the booted kernel)" if n == 0 else ""
    return Move(
        f"entry {n}/{last}{where}: {entry_line(entry)}",
        name="moment",
        data={"moment": n, "last": last, **entry_data(entry)},
        program=target,
    )


def move_py(prog: Program, n: int) -> str:
    """The script of a move to entry ``n``: a script has no session, it names the moment."""
    require_timeline(prog)
    return f"""\
from vmintro.timeline.moments import require_timeline

prog = prog.at({n})  # the kernel just after entry {n}: every read of prog after this sees it
entry = require_timeline(prog).entries[{n}]  # the call the timeline recorded
print({n}, entry.step, entry.call, dict(entry.args), entry.result.kind, entry.result.value)
"""
