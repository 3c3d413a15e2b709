"""Driving ``vmintro repl`` through a real pseudo-terminal (pexpect), for the tests."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"
HERE = Path(__file__).resolve().parent


class Repl:
    """A ``vmintro repl`` in a real pseudo-terminal (pexpect)."""

    # A new prompt (not a redraw while typing) starts by turning bracketed paste on;
    # at a moment of the image's timeline it says which (vmintro [42/10000]>).
    PROMPT = re.compile(r"\x1b\[\?2004h[^\n]*?vmintro(?: \[\d+/\d+\])?>")
    PY_PROMPT = re.compile(r"\x1b\[\?2004h[^\n]*?>>>")

    def __init__(self, child: Any) -> None:
        self.child = child

    def prompt(self) -> str:
        """Wait for the prompt; what came before it.

        The pause lets prompt-toolkit switch the terminal to raw mode before
        control keys are sent (in cooked mode Ctrl-D would mean end of file).
        """
        self.child.expect(self.PROMPT)
        time.sleep(0.15)
        return self.child.before

    def py_prompt(self) -> str:
        self.child.expect(self.PY_PROMPT)
        time.sleep(0.15)
        return self.child.before

    def complete(self, typed: str, shown: str) -> None:
        """Type ``typed`` and Tab, then wait until the line is drawn ending in ``shown``.

        A key typed at once after Tab can reach prompt-toolkit in the same read, before
        the completion it started has run: the line is then taken as typed, as a user
        typing that fast would find it. Waiting for the completed line is what a user
        does; the colours the lexer gives the words may come between its characters.
        """
        self.child.send(typed + "\t")
        between = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"
        self.child.expect(between.join(re.escape(c) for c in typed + shown))

    def run(self, line: str) -> str:
        """Type ``line``, return its output (up to the next prompt)."""
        self.child.sendline(line)
        return self.prompt()


def spawn_repl(
    history: Path,
    *extra: str,
    rows: int = 200,
    preload: str | None = None,
    quiet: bool = True,
    image: Path = DEMO,
    **env: str,
) -> Repl:
    """``vmintro repl`` on ``image`` (the demo); ``preload`` imports a module first (a plugin)."""
    import pexpect

    environment = {
        **os.environ,
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "TERM": "xterm",
        "VMINTRO_HISTORY": str(history),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        **env,
    }
    code = "import sys; from vmintro.cli import main; sys.exit(main(sys.argv[1:]))"
    if preload:
        code = f"import {preload}; " + code
    child = pexpect.spawn(
        sys.executable,
        ["-c", code, "repl", *(["-q"] if quiet else []), str(image), *extra],
        env=environment,
        encoding="utf-8",
        dimensions=(rows, 200),
        timeout=20,
    )
    return Repl(child)
