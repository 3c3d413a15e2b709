"""Which readings of a command line are valid: the judge :mod:`.lines` asks.

A command declares in the registry which of its arguments are C expressions
or addresses (``@command(..., expressions=("address",))``). A reading of a
line -- the whole line, or the part before a ``>``, ``>>`` or ``|`` -- is
*valid* when its command's parser accepts the words and each such argument
is valid: its words as one value, or without a last word that is a plain
number (a count: ``rd vmlist 4``), or each word one value
(``vtop c4800000 c4811000``). A *value* is

* bare hex digits (an address, as crash reads them: ``c4800000``);
* a type name (``whatis struct page``);
* a C expression that parses and types against the image: every name a
  variable, symbol or macro, every member and cast type one the image has
  (:func:`~vmintro.commands.expr.type_of`; nothing is read, nothing is kept).

So ``p jiffies > out.txt`` has only the redirect reading (``out`` is no
symbol) and ``p vmlist > 4096`` both.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vmintro.cmdline.lines import operators, word_spans
from vmintro.commands.dispatch import prepare, split_words
from vmintro.commands.registry import Command, UsageError, lookup

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["ExpressionJudge", "expression_command"]

_HEX = re.compile(r"[0-9a-fA-F]+")


def expression_command(text: str) -> Command | None:
    """The command ``text`` runs when its arguments are expressions, else None."""
    word = text.split(None, 1)[0] if text.strip() else ""
    name = word.partition("/")[0] or word  # gdb's p/x runs p
    try:
        cmd = lookup(name)
    except UsageError:
        return None
    return cmd if cmd.expressions else None


def _is_number(word: str) -> bool:
    try:
        int(word, 0)
    except ValueError:
        return False
    return True


def _find_run(words: list[str], run: list[str]) -> int | None:
    """Where ``run`` stands in ``words`` after the command word."""
    for i in range(1, len(words) - len(run) + 1):
        if words[i : i + len(run)] == run:
            return i
    return None


class ExpressionJudge:
    """The :class:`~vmintro.cmdline.lines.Judge` of command lines on ``prog``."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog

    def _arguments(self, text: str, cmd: Command) -> list[list[str]] | None:
        """The words of each expression argument ``text`` gives ``cmd``; None when
        its parser refuses them."""
        try:
            words = split_words(text)
            invocation = prepare(self.prog, words, text)
        except Exception:  # noqa: BLE001 - argparse, a plugin's type=: not a reading
            return None
        if invocation.command is not cmd:
            return []  # CMD --help runs help, which takes no expressions
        out = []
        for dest in cmd.expressions:
            value = getattr(invocation.args, dest, None)
            if isinstance(value, str):
                out.append([value])
            elif value:
                out.append([str(v) for v in value])
        return out

    def _value(self, text: str) -> bool:
        if _HEX.fullmatch(text):
            return True
        from vmintro.commands.expr import type_of  # the parser only once a line is judged

        try:
            type_of(self.prog, text)
            return True
        except Exception:  # noqa: BLE001 - any error (a name, a member, a syntax) is invalid
            pass
        try:
            self.prog.type(text)
            return True
        except Exception:  # noqa: BLE001 - no such type either
            return False

    def _values(self, words: list[str]) -> list[tuple[int, int]] | None:
        """The ranges of ``words`` that are values (see the module docstring), or None."""
        n = len(words)
        if self._value(" ".join(words)):
            return [(0, n)]
        if n > 1 and _is_number(words[-1]) and self._value(" ".join(words[:-1])):
            return [(0, n - 1)]
        if n > 1 and all(self._value(w) for w in words):
            return [(i, i + 1) for i in range(n)]
        return None

    def valid(self, text: str) -> bool | None:
        cmd = expression_command(text)
        if cmd is None:
            return None
        arguments = self._arguments(text, cmd)
        return arguments is not None and all(self._values(a) is not None for a in arguments)

    def spell(self, text: str) -> str:
        spans = word_spans(text)
        cmd = expression_command(text)
        try:
            words = split_words(text)
        except UsageError:
            words = []
        arguments = self._arguments(text, cmd) if cmd is not None else None
        wrapped: list[tuple[int, int]] = []
        if arguments and len(words) == len(spans):
            for argument in arguments:
                at = _find_run(words, argument)
                if at is None:
                    wrapped = []
                    break
                for lo, hi in self._values(argument) or [(0, len(argument))]:
                    start, end = spans[at + lo][0], spans[at + hi - 1][1]
                    if operators(text[start:end]):
                        wrapped.append((start, end))
        if not wrapped and len(spans) > 1:  # all the arguments, as one
            wrapped = [(spans[1][0], spans[-1][1])]
        out = text
        for start, end in sorted(wrapped, reverse=True):
            out = f"{out[:start]}({out[start:end]}){out[end:]}"
        return out
