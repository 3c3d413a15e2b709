"""Highlighting of the input line: commands, numbers and redirections; Python
(pygments) after ``!`` and in the ``py`` prompt.

A ``>``, ``>>`` or ``|`` is styled as a redirection only where the runner
would take it for one (:func:`vmintro.cmdline.lines.redirection`, with the same
judge), and in red where the line reads both ways and would be refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer, PygmentsLexer

if TYPE_CHECKING:
    from vmintro.cmdline.lines import Judge

__all__ = ["CommandLexer", "STYLE", "python_lexer"]

STYLE = {
    "command": "bold ansiblue",
    "unknown": "ansired",
    "number": "ansicyan",
    "redirect": "bold ansimagenta",
    "option": "ansigreen",
    "ambiguous": "bold ansiwhite bg:ansired",
}

_TOKENS = re.compile(r"(?P<number>\b(?:0[xX][0-9a-fA-F]+|\d+)\b)|(?P<option>(?<!\S)-\w+)")


def python_lexer() -> PygmentsLexer:
    """pygments' Python lexer, imported when first needed."""
    from pygments.lexers.python import PythonLexer

    return PygmentsLexer(PythonLexer)


def _python_fragments(source: str) -> StyleAndTextTuples:
    from prompt_toolkit.styles.pygments import pygments_token_to_classname
    from pygments import lex
    from pygments.lexers.python import PythonLexer

    out: StyleAndTextTuples = []
    for token, text in lex(source, PythonLexer()):
        out.append((f"class:{pygments_token_to_classname(token)}", text))
    if out and out[-1][1].endswith("\n") and not source.endswith("\n"):
        out[-1] = (out[-1][0], out[-1][1][:-1])  # pygments adds a final newline
    return out


def _operator_marks(line: str, judge: Judge) -> dict[int, tuple[int, str]]:
    """``start: (end, style)`` of the ``;``, redirections and ambiguous operators of
    ``line``."""
    # not imported before the REPL's first prompt, whose empty line has no operator
    from vmintro.cmdline.lines import Ambiguous, LineError, command_spans, operators, redirection

    marks: dict[int, tuple[int, str]] = {}
    for start, end in command_spans(line):
        if end < len(line):
            marks[end] = (end + 1, "class:redirect")  # the ';'
        text = line[start:end]
        try:
            at = redirection(text, judge)
        except Ambiguous:
            for op in operators(text):
                marks[start + op.start] = (start + op.end, "class:ambiguous")
            continue
        except LineError:  # not finished yet ('vmlist >'): nothing is a redirection
            continue
        if at is not None:
            marks[start + at[0]] = (start + at[1], "class:redirect")
    return marks


class CommandLexer(Lexer):
    """Styles one command line; ``known`` tells command words apart, ``judge`` the
    redirections from C operators, as the runner does."""

    def __init__(self, known: Callable[[str], bool], judge: Judge) -> None:
        self.known = known
        self.judge = judge

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        lines = document.lines

        def get_line(number: int) -> StyleAndTextTuples:
            return self.lex_line(lines[number]) if number < len(lines) else []

        return get_line

    def lex_line(self, line: str) -> StyleAndTextTuples:
        stripped = line.lstrip()
        lead = line[: len(line) - len(stripped)]
        if not stripped:
            return [("", line)]
        if stripped.startswith("!"):
            return [("", lead), ("class:redirect", "!"), *_python_fragments(stripped[1:])]
        word = stripped.split(None, 1)[0]
        style = "class:command" if self.known(word) else "class:unknown"
        out: StyleAndTextTuples = [("", lead), (style, word)]
        begin = len(lead) + len(word)
        marks = _operator_marks(line, self.judge)
        tokens = _TOKENS.finditer(line, begin)
        spans = [(m.start(), m.end(), f"class:{m.lastgroup}") for m in tokens]
        spans = [s for s in spans if not any(a <= s[0] < b for a, (b, _) in marks.items())]
        spans += [(a, b, style) for a, (b, style) in marks.items() if a >= begin]
        pos = begin
        for start, end, style in sorted(spans):
            out.append(("", line[pos:start]))
            out.append((style, line[start:end]))
            pos = end
        out.append(("", line[pos:]))
        return out
