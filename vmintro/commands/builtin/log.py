"""``log [-m]``: the kernel's printk buffer, as crash's ``log`` (and ``dmesg``) show it.

2.4.20's ``kernel/printk.c`` keeps a ring ``char log_buf[LOG_BUF_LEN]`` and three
indices that only grow: ``log_start`` (what ``syslog`` reads next), ``log_end``
(where the next character goes) and ``logged_chars`` (how many the ring holds,
at most ``LOG_BUF_LEN``); character ``i`` lives at ``log_buf[i & (LOG_BUF_LEN - 1)]``.
``do_syslog``'s read-all (``dmesg``) takes the ``logged_chars`` characters before
``log_end``. Each line starts with its level, ``<4>``; ``-m`` keeps it, as crash's
``log -m`` does.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.escape import escape_text
from vmintro.types.model import Array, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["NO_LOG_BUF", "log_lines"]

NO_LOG_BUF = "log: this image has no log_buf (its kernel kept no printk buffer in memory)"

_LEVEL = re.compile(rb"<([0-7])>")


def log_lines(prog: Program) -> list[tuple[int | None, str]]:
    """(level or None, text) of every line ``log_buf`` holds, oldest first, as
    ``do_syslog(3)`` reads them; a last line without its newline is kept.

    :raises CommandError: the image has no ``log_buf``, or a ring no kernel sets up.
    """
    if "log_buf" not in prog or "log_end" not in prog or "logged_chars" not in prog:
        raise CommandError(NO_LOG_BUF)
    buf = prog["log_buf"]
    t = strip_typedefs(buf.type_)
    size = t.count if isinstance(t, Array) else 0
    if size <= 0 or size & (size - 1) or size > 1 << 20:
        raise CommandError(f"log: log_buf of {size} bytes: LOG_BUF_LEN is a power of two")
    end = prog["log_end"].value_()
    count = min(prog["logged_chars"].value_(), size)
    ring = prog.read(buf.address_, size)  # type: ignore[arg-type]
    first = (end - count) & (size - 1)
    raw = (ring[first:] + ring[:first])[:count] if count else b""
    lines = []
    for line in raw.split(b"\n"):
        m = _LEVEL.match(line)
        level = int(m.group(1)) if m else None
        text = line[m.end() :] if m else line
        lines.append((level, escape_text(text)))
    if lines and raw.endswith(b"\n"):
        lines.pop()  # the split's empty tail after the last newline
    return lines


def _with_level(row: Row) -> str:
    level = row["level"]
    return row["text"] if level is None else f"<{level}>{row['text']}"


_LOG_PY = """\
from vmintro.object import sizeof

buf = prog["log_buf"]  # char log_buf[LOG_BUF_LEN], a ring
size = sizeof(buf)
ring = prog.read(buf.address_, size)
end = prog["log_end"].value_()  # indices only grow: log_buf[i & (LOG_BUF_LEN - 1)]
count = min(prog["logged_chars"].value_(), size)
first = (end - count) & (size - 1)
text = (ring[first:] + ring[:first])[:count].decode(errors="replace")
for line in text.splitlines():
    print(line{strip})
"""


def _log_py(prog: Program, args: argparse.Namespace) -> str | None:
    if "log_buf" not in prog:
        return None
    strip = "" if args.levels else '[3:] if line[:1] == "<" and line[2:3] == ">" else line'
    return _LOG_PY.format(strip=strip)


@command(
    "log",
    crash="`log`",
    gdb="`lx-dmesg` of Linux's gdb scripts (4.0 and later; 2.4 has none)",
    help="the kernel's printk buffer (log_buf), oldest line first",
    args=[arg("-m", "--levels", action="store_true", help="show each line's <level>")],
    py=_log_py,
)
def log(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """Print the messages the kernel's log_buf holds, as dmesg and crash's log
    do: the last logged_chars characters before log_end, oldest first. -m keeps
    each line's level prefix (<4> is KERN_WARNING, printk's default). An image
    whose kernel kept no log_buf (images written before vmintro kept one) says
    so in one line, and an empty buffer prints "log_buf is empty".
    """
    if "log_buf" not in prog:
        # an image written before its kernel kept the ring in memory: nothing to read
        yield Text(NO_LOG_BUF, name="log_empty", data={"lines": 0, "log_buf": False})
        return
    lines = log_lines(prog)
    if not lines:
        yield Text("log_buf is empty", name="log_empty", data={"lines": 0, "log_buf": True})
        return
    text = (
        Column("text", "TEXT", text=_with_level, json=True)
        if args.levels
        else Column("text", "TEXT")
    )
    columns = [Column("level"), text]
    rows = [Row(level=lv, text=t) for lv, t in lines]
    yield Table(columns, rows, name="log", header=False)
