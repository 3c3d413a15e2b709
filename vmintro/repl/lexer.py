"""Highlighting of the input line: commands, numbers and redirections; Python
(pygments) after ``!`` and in the ``py`` prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer, PygmentsLexer

__all__ = ["CommandLexer", "STYLE", "python_lexer"]

STYLE = {
    "command": "bold ansiblue",
    "unknown": "ansired",
    "number": "ansicyan",
    "redirect": "bold ansimagenta",
    "option": "ansigreen",
}

_TOKENS = re.compile(
    r"(?P<number>\b(?:0[xX][0-9a-fA-F]+|\d+)\b)|(?P<redirect>>>?|\||;)|(?P<option>(?<!\S)-\w+)"
)


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


class CommandLexer(Lexer):
    """Styles one command line; ``known`` tells command words apart."""

    def __init__(self, known: Callable[[str], bool]) -> None:
        self.known = known

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
        rest = stripped[len(word) :]
        pos = 0
        for m in _TOKENS.finditer(rest):
            if m.group("redirect") == ">" and m.start() > 0 and rest[m.start() - 1] == "-":
                continue  # '->' is C
            out.append(("", rest[pos : m.start()]))
            out.append((f"class:{m.lastgroup}", m.group(0)))
            pos = m.end()
        out.append(("", rest[pos:]))
        return out
