"""Transcripts in the docs: the blocks tests/docs runs, and how a page marks them.

Three directives mark what the test suite executes (``tests/docs``) and compares
with what the page shows; the Sphinx extension (:mod:`vmintro_docs`) renders them
as ordinary literal blocks::

    .. vmintro-repl:: images/demo

       vmintro> vmlist 0xc4811000
       VM_STRUCT  ADDRESS RANGE             SIZE
       c10b6200   c4811000 - c4824000      77824

    .. vmintro-script:: images/demo

       for area in for_each_vm_area(prog):
           print(hex(area.addr))
       --- output ---
       0xc4800000
       ...

    .. vmintro-shell::

       $ vmintro check images/demo
       clean

The argument names the image the commands run against: ``NAME`` (``NAME.vmcore``
and ``NAME.vmlinux`` beside it, from the top of the checkout) or a scenario
``FILE.toml``, which the runner generates into a temporary image first (its
path shown as ``FILE``, the name ``vmintro generate -o FILE`` would give it). A
``vmintro-repl`` block is a session: each line starting with the REPL's prompt
(``vmintro> ``, or ``vmintro [1/2]> `` once a timeline is loaded) runs through
the runner ``vmintro -c`` uses, and the lines up to the next prompt are what it
prints (its error line included). A ``vmintro-script`` block is what
``vmintro run SCRIPT IMAGE`` runs (``prog`` and every helper in scope), then a
line ``--- output ---`` and what it prints. A ``vmintro-shell`` block runs each
``$ vmintro ...`` line as ``vmintro.cli.main`` (in-process: the same code as the
command), with ``$OUT`` standing for an empty directory of the block's own, where
its commands may write files. Paths inside the checkout are shown relative to it.

This module only reads and rewrites the page text; it imports neither Sphinx
nor vmintro.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "KINDS",
    "OUTPUT_MARK",
    "PROMPT",
    "SHELL_PROMPT",
    "Block",
    "Step",
    "parse_blocks",
    "parse_steps",
    "rewrite",
]

PROMPT = "vmintro> "
SHELL_PROMPT = "$ "
OUTPUT_MARK = "--- output ---"
KINDS = ("repl", "script", "shell")

# The REPL's prompt, which shows the moment of the timeline once it is loaded
# ("vmintro [1/2]> "); a transcript line starting with it is a command.
_REPL_PROMPT = re.compile(r"^vmintro(?: \[[^\]\n]*\])?> ")
_DIRECTIVE = re.compile(r"^(?P<indent>[ ]*)\.\. vmintro-(?P<kind>[a-z]+)::[ ]*(?P<arg>\S*)[ ]*$")


@dataclass
class Step:
    """One thing to run (a command line, or a whole script) and what it printed."""

    source: str
    output: list[str] = field(default_factory=list)
    prompt: str = PROMPT


@dataclass
class Block:
    """One marked block of a page: ``lines[first:last]`` is its indented body."""

    path: Path
    kind: str
    image: str
    line: int  # 1-based line of the directive, for messages
    first: int
    last: int
    indent: str
    body: list[str]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def parse_blocks(path: Path, text: str | None = None) -> list[Block]:
    """Every marked block of the page at ``path``.

    :raises ValueError: naming the line of a block that is malformed.
    """
    if text is None:
        text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, kind, image = match["indent"], match["kind"], match["arg"]
        where = f"{path}:{i + 1}"
        if kind not in KINDS:
            raise ValueError(f"{where}: unknown block vmintro-{kind} (one of {', '.join(KINDS)})")
        if kind != "shell" and not image:
            raise ValueError(f"{where}: vmintro-{kind} needs the image it runs against")
        j = i + 1
        first = None
        last = j
        while j < len(lines):
            line = lines[j]
            if line.strip():
                if len(line) - len(line.lstrip(" ")) <= len(indent):
                    break
                if first is None:
                    first = j
                last = j + 1
            j += 1
        if first is None:
            raise ValueError(f"{where}: vmintro-{kind} block has no body")
        body_lines = lines[first:last]
        body_indent = min(len(x) - len(x.lstrip(" ")) for x in body_lines if x.strip())
        body = [x[body_indent:].rstrip() for x in body_lines]
        blocks.append(Block(path, kind, image, i + 1, first, last, " " * body_indent, body))
        i = last
    return blocks


def parse_steps(block: Block) -> list[Step]:
    """What ``block`` runs, each with the output the page shows for it.

    :raises ValueError: for a block whose first line is not a command (or a script
        without its ``--- output ---`` line).
    """
    if block.kind == "script":
        if OUTPUT_MARK not in block.body:
            raise ValueError(f"{block.where}: a script block needs a line {OUTPUT_MARK!r}")
        at = block.body.index(OUTPUT_MARK)
        return [Step("\n".join(block.body[:at]).strip("\n") + "\n", _trim(block.body[at + 1 :]))]
    steps: list[Step] = []
    for line in block.body:
        prompt = _prompt_of(block.kind, line)
        if prompt is not None:
            steps.append(Step(line[len(prompt) :], prompt=prompt))
        elif not steps:
            first = PROMPT if block.kind == "repl" else SHELL_PROMPT
            raise ValueError(f"{block.where}: the block must start with {first.strip()!r}")
        else:
            steps[-1].output.append(line)
    for step in steps:
        step.output = _trim(step.output)
    return steps


def _prompt_of(kind: str, line: str) -> str | None:
    """The prompt ``line`` starts with, if it is a command line of a ``kind`` block."""
    if kind == "repl":
        match = _REPL_PROMPT.match(line + " ")  # a bare prompt lost its trailing blank
        return match.group() if match else None
    if line.startswith(SHELL_PROMPT) or line == SHELL_PROMPT.rstrip():
        return SHELL_PROMPT
    return None


def _trim(lines: list[str]) -> list[str]:
    out = [x.rstrip() for x in lines]
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


def render_body(block: Block, steps: list[Step]) -> list[str]:
    """The body lines of ``block`` showing ``steps`` and their outputs."""
    if block.kind == "script":
        return [*steps[0].source.rstrip("\n").split("\n"), OUTPUT_MARK, *steps[0].output]
    body: list[str] = []
    for step in steps:
        body.append((step.prompt + step.source).rstrip())
        body.extend(step.output)
    return body


def rewrite(text: str, replacements: list[tuple[Block, list[str]]]) -> str:
    """``text`` with each block's body replaced by the given lines (same indentation)."""
    lines = text.split("\n")
    for block, body in sorted(replacements, key=lambda r: r[0].first, reverse=True):
        new = [(block.indent + x).rstrip() if x else "" for x in body]
        lines[block.first : block.last] = new
    return "\n".join(lines)
