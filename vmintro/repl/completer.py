"""Tab completion: commands, symbols, type names, struct members, Python names.

* the first word: command names, aliases, ``py`` and ``pipe``;
* a word starting with ``-``: the command's options (``kmem -<Tab>``);
* after a ``>`` or ``>>`` that redirects: file names; after a ``|`` that pipes:
  nothing (a shell command); where the operator may be C as well (the command
  takes expressions, :mod:`vmintro.cmdline.lines`), the expression's completions too;
  after ``pipe`` (or a leading ``|``): the command, as at the start of a line;
* ``help``: command names; ``set``: settings and their values; ``diff``: file names;
* ``struct TYPE``: struct tags and typedefs, then ``TYPE.member`` (and after
  each ``,``); ``list -o``/``-s``: the same ``STRUCT.MEMBER`` forms;
* ``ptype``/``whatis``: type names as C spells them (``struct page``);
* everything else: symbols, variables and macros, and after ``->`` or ``.`` the
  members of the expression's type (``vmlist->ne``, ``mem_map[3].fl``);
* ``!`` lines and the ``py`` prompt: Python names and attributes.
"""

from __future__ import annotations

import re
import rlcompleter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from vmintro.cmdline.lines import (
    PIPE_WORD,
    LineError,
    Operator,
    command_spans,
    explicit_pipe,
    find_delimiter,
    operators,
)
from vmintro.cmdline.readings import expression_command
from vmintro.commands.registry import UsageError, lookup, names
from vmintro.errors import VmintroError
from vmintro.types.model import Pointer, Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program
    from vmintro.types.model import CType

__all__ = [
    "PythonCompleter",
    "VmintroCompleter",
    "expression_start",
    "python_completions",
]

_TYPE_COMMANDS = {"struct", "union"}
_DECL_COMMANDS = {"ptype", "whatis"}
_FILE_COMMANDS = {"diff"}  # whose arguments name files (another image)
_SETTINGS = {"radix": ["10", "16"], "scroll": ["on", "off"]}
_PY_SEPARATORS = " ()[],=+-*/%<>!&|^~:;"


def expression_start(text: str) -> int:
    """Where the postfix expression ending ``text`` starts (``*vmlist->ne`` -> at ``v``)."""
    depth = 0
    i = len(text)
    while i > 0:
        ch = text[i - 1]
        if ch in "])":
            depth += 1
        elif ch in "[(":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0:
            if ch == ">" and i >= 2 and text[i - 2] == "-":
                i -= 1  # both characters of '->'
            elif not (ch.isalnum() or ch in "_.$"):
                break
        i -= 1
    return i


def _struct_of(ctype: CType) -> Struct | None:
    t = strip_typedefs(ctype)
    if isinstance(t, Pointer):
        t = strip_typedefs(t.target)
    return t if isinstance(t, Struct) else None


def _member_names(struct: Struct) -> list[str]:
    return [f.name for f in struct.fields if f.name]


def _word(text: str, seps: str) -> str:
    for sep in seps:
        text = text.rsplit(sep, 1)[-1]
    return text


class VmintroCompleter(Completer):
    """Completion of command lines against ``prog``; ``python`` supplies the namespace
    for ``!`` lines (built on first use).
    """

    def __init__(self, prog: Program, python: Callable[[], dict[str, Any]]) -> None:
        self.prog = prog
        self.python = python
        self._symbols: list[str] | None = None
        self._paths = PathCompleter(expanduser=True)

    # -- the vocabularies, computed on the first Tab ---------------------------------------

    def symbols(self) -> list[str]:
        if self._symbols is None:
            from vmintro.commands.expr import macros

            found = {s.name for s in self.prog.symbols()}
            found.update(macros(self.prog))
            self._symbols = sorted(found)
        return self._symbols

    def struct_names(self) -> list[str]:
        """What ``struct`` takes: tags without their keyword, and typedefs of structs."""
        out = []
        for name, ctype in self.prog.types().items():
            if name.startswith(("struct ", "union ")):
                out.append(name.split(" ", 1)[1])
            elif isinstance(strip_typedefs(ctype), Struct):
                out.append(name)
        return sorted(set(out))

    def type_names(self) -> list[str]:
        return sorted(self.prog.types())

    def members_of(self, type_name: str) -> list[str]:
        from vmintro.commands.builtin._types import lookup_type

        try:
            struct = _struct_of(lookup_type(self.prog, type_name))
        except VmintroError:
            return []
        return _member_names(struct) if struct else []

    # -- completion --------------------------------------------------------------------------

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        stripped = text.lstrip()
        if stripped.startswith("!"):
            word = _word(text, _PY_SEPARATORS)
            for match in python_completions(self.python(), stripped[1:]):
                yield Completion(match, start_position=-len(word))
            return
        start = command_spans(text)[-1][0]
        try:
            yield from self._command(text[start:].lstrip(), event)
        except VmintroError:
            # the vmlinux's DWARF, read after the first prompt, could not be used: the
            # session ends saying why (run_repl), and Tab offers nothing meanwhile
            return

    def _command(self, text: str, event: CompleteEvent) -> Iterable[Completion]:
        """Completions at the end of ``text``, one command (the part after ``;``)."""
        words = text.split()
        current = "" if text.endswith(" ") or not text else words[-1]
        if len(words) == 0 or (len(words) == 1 and current):
            yield from self._matches([*names(), "py", PIPE_WORD], current)
            return
        try:
            pipe = explicit_pipe(text)
        except LineError:  # 'pipe -d' without its delimiter yet
            return
        if pipe is not None:
            rest, delimiter = pipe
            if find_delimiter(rest, delimiter) is None:  # else: in the shell command
                yield from self._command(rest, event)
            return
        ops = operators(text)
        if ops:
            yield from self._after_operator(text, ops, event)
            return
        command = words[0]
        previous = words[-2] if current else words[-1]
        if current.startswith("-"):
            options = list(self._matches(self._options(command), current))
            if options or current == "-":
                yield from options
                return
        yield from self._argument(command, words, previous, current, text)

    def _after_operator(
        self, text: str, ops: list[Operator], event: CompleteEvent
    ) -> Iterable[Completion]:
        """After a top-level ``>``, ``>>`` or ``|``: what the runner would take it for."""
        if expression_command(text) is None:
            # crash's reading: the first operator redirects, or pipes into the shell
            if ops[0].kind != "|":
                yield from self._file_names(text[ops[0].end :], event)
            return
        last = ops[-1]  # C or a redirection: both, until the line is run
        target = text[last.end :].lstrip()
        if last.kind != "|":
            yield from self._file_names(target, event)
        # C only after an operand: 'vmlist > ' can only redirect
        operands = [w for w in text[: last.start].split()[1:] if not w.startswith("-")]
        if operands and not target.startswith(("'", '"')):
            yield from self._expression(text)

    def _file_names(self, target: str, event: CompleteEvent) -> Iterable[Completion]:
        """prompt_toolkit's file names for the (last) word of ``target``."""
        word = target.split()[-1] if target.strip() and not target.endswith(" ") else ""
        word = word.lstrip("'\"")
        yield from self._paths.get_completions(Document(word), event)

    @staticmethod
    def _options(command: str) -> list[str]:
        """The options ``command`` declares (``p/x`` is ``p``)."""
        try:
            return lookup(command.partition("/")[0] or command).options()
        except UsageError:
            return []

    def _argument(
        self, command: str, words: list[str], previous: str, current: str, line: str
    ) -> Iterable[Completion]:
        if command == "help":
            yield from self._matches(names(), current)
        elif command == "set":
            if len(words) == 1 or (len(words) == 2 and current):
                yield from self._matches(list(_SETTINGS), current)
            else:
                yield from self._matches(_SETTINGS.get(words[1], []), current)
        elif command in _TYPE_COMMANDS and _first_positional(words, current):
            yield from self._type_member(current)
        elif command == "list" and previous in ("-o", "-s", "--offset", "--struct"):
            yield from self._type_member(current)
        elif command in _FILE_COMMANDS:  # diff IMAGE_B, --vmlinux FILE: file names
            yield from self._file_names(current, CompleteEvent())
        elif command in _DECL_COMMANDS and previous in ("struct", "union"):
            yield from self._matches(self.struct_names(), current)
        elif command in _DECL_COMMANDS and len(words) <= 2:
            yield from self._matches(self.type_names() + self.symbols(), current)
        else:
            yield from self._expression(line)

    def _type_member(self, current: str) -> Iterable[Completion]:
        """``TYPE``, then ``TYPE.member`` and ``TYPE.member,member``."""
        if "." not in current:
            yield from self._matches(self.struct_names(), current)
            return
        type_name, _, rest = current.partition(".")
        partial = rest.rsplit(",", 1)[-1]
        yield from self._matches(self.members_of(type_name), partial)

    def _expression(self, line: str) -> Iterable[Completion]:
        """Symbols, or members after ``->``/``.`` (the base's type, nothing read)."""
        from vmintro.commands.expr import type_of

        start = expression_start(line)
        fragment = line[start:]
        m = re.search(r"(->|\.)(\w*)$", fragment)
        if m is None:
            word = re.search(r"[\w$]*$", fragment).group(0)  # type: ignore[union-attr]
            yield from self._matches(self.symbols(), word)
            return
        base = fragment[: m.start()]
        try:
            struct = _struct_of(type_of(self.prog, base))
        except VmintroError:
            return
        if struct is not None:
            yield from self._matches(_member_names(struct), m.group(2))

    @staticmethod
    def _matches(candidates: Iterable[str], prefix: str) -> Iterable[Completion]:
        for c in candidates:
            if c.startswith(prefix):
                yield Completion(c, start_position=-len(prefix))


def _first_positional(words: list[str], current: str) -> bool:
    """Whether the word being completed is the command's first non-option argument."""
    done = [w for w in (words[1:-1] if current else words[1:]) if not w.startswith("-")]
    return not done and not current.startswith("-")


def python_completions(namespace: dict[str, Any], text: str) -> list[str]:
    """Names and attributes (``prog.ty``, ``vmlist.ne``) completing ``text``'s last word."""
    word = _word(text, _PY_SEPARATORS)
    completer = rlcompleter.Completer(namespace)
    out = []
    for state in range(1000):
        try:
            match = completer.complete(word, state)
        except Exception:  # noqa: BLE001 - evaluating an attribute chain may fail
            break
        if match is None:
            break
        out.append(match.rstrip("("))
    return out


class PythonCompleter(Completer):
    """Completion for the ``py`` prompt."""

    def __init__(self, namespace: Callable[[], dict[str, Any]]) -> None:
        self.namespace = namespace

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        word = _word(text, _PY_SEPARATORS)
        for match in python_completions(self.namespace(), text):
            yield Completion(match, start_position=-len(word))
