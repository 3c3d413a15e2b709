"""The command registry: the :func:`command` decorator, lookup and argument parsing.

Built-in commands live one per module in :mod:`vmintro.commands.builtin`. The
first time the registry is consulted it takes their names, aliases and summaries
from the package's index (:mod:`vmintro.commands.index`), importing nothing, and
imports a command's module when the command itself is first wanted: starting a
session costs no command module and none of what they import. A module the index
does not describe as it is now is imported then instead. A plugin module registers
its own commands with the same decorator when it is imported.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vmintro.errors import VmintroError

__all__ = [
    "Arg",
    "Command",
    "OneOf",
    "CommandError",
    "QuitRequested",
    "UsageError",
    "arg",
    "command",
    "command_names",
    "commands",
    "forget_plugin_errors",
    "lookup",
    "names",
    "one_of",
    "plugin_errors",
    "record_plugin_error",
    "register_pending",
    "unregister",
]

CommandFunc = Callable[..., Any]


class CommandError(VmintroError):
    """A command that cannot do what was asked; the message is one line."""


class UsageError(CommandError):
    """An unknown command or arguments it does not accept."""


class QuitRequested(Exception):
    """Raised by ``quit``: the interface ends the session."""


@dataclass(frozen=True)
class Arg:
    """One argument of a command, as :meth:`argparse.ArgumentParser.add_argument` takes it.

    ``synopsis`` is how the argument reads in the synopsis when the command reads
    its words itself: ``"expression"`` for one expression written in several
    words, ``"address [count]"`` for words that end in an optional count.
    """

    flags: tuple[str, ...]
    options: dict[str, Any]
    synopsis: str | None = None


def arg(*flags: str, synopsis: str | None = None, **options: Any) -> Arg:
    """Declare an argument: ``arg("address", help="a kernel virtual address")``,
    ``arg("-p", "--physical", action="store_true")``; ``synopsis`` as in :class:`Arg`.
    """
    return Arg(flags, options, synopsis)


@dataclass(frozen=True)
class OneOf:
    """Arguments that exclude each other, shown ``[-v | -p | -f]`` (``(...)`` when required)."""

    args: tuple[Arg, ...]
    required: bool = False


def one_of(*args: Arg, required: bool = False) -> OneOf:
    """Declare arguments of which at most one (with ``required``, exactly one) is given."""
    return OneOf(args, required)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, with an argument's own synopsis where it declares one."""

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        synopsis = getattr(action, "synopsis", None)
        if synopsis:
            return synopsis
        return super()._format_args(action, default_metavar)


def _add(container: Any, a: Arg) -> None:
    action = container.add_argument(*a.flags, **a.options)
    action.synopsis = a.synopsis


# gdb's /FMT: a slash and letters
_FORMAT = re.compile(r"/[A-Za-z]+")
# a word starting with '-' that is no option name: a negative number (-1, -0x10) or
# another expression (-(1 + 2), -~0, -!x, -$1, -*p, -&x)
_NOT_AN_OPTION = re.compile(r"-[0-9(~!$*&].*", re.DOTALL)


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of exiting."""

    def _parse_optional(self, arg_string: str) -> Any:
        # argparse reads "-1" as an option once a command has options that look like
        # negative numbers (rd's -8, -32), and "-0x10" or "-(1+2)" always: "rd -p -1"
        # then said "the following arguments are required", "p -(1+2)" "unrecognized
        # arguments". A negative number or expression that is not one of the command's
        # options is an argument, which the command reports as bad if it is.
        if _NOT_AN_OPTION.fullmatch(arg_string) and arg_string not in self._option_string_actions:
            return None
        return super()._parse_optional(arg_string)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {(message or '').strip() or 'bad arguments'}")


@dataclass
class Command:
    """A registered command: ``func(prog, args)`` returns parts (see :mod:`.result`)."""

    name: str
    func: CommandFunc
    help: str
    args: tuple[Arg | OneOf, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""
    origin: str = ""
    formats: str | Callable[[str], Any] = ""
    expressions: tuple[str, ...] = ()
    # the body of the script --py prints, from the parsed arguments (showcode.py)
    py: Callable[[Any, argparse.Namespace], str | None] | None = None
    # what a crash or a gdb user types for the same answer: a command in backquotes
    # (`kmem -v`), or "none: " and why; "" when the command's author did not say
    crash: str = ""
    gdb: str = ""
    _parser: argparse.ArgumentParser | None = field(default=None, repr=False)

    @property
    def builtin(self) -> bool:
        return self.origin.startswith("vmintro.commands.builtin.")

    @property
    def parser(self) -> argparse.ArgumentParser:
        """The argument parser, built on first use (start-up stays cheap)."""
        if self._parser is None:
            parser = _Parser(
                prog=self.name,
                description=self.description or self.help,
                add_help=False,
                formatter_class=_Formatter,
            )
            for a in self.args:
                if isinstance(a, OneOf):
                    group = parser.add_mutually_exclusive_group(required=a.required)
                    for member in a.args:
                        _add(group, member)
                else:
                    _add(parser, a)
            parser.add_argument("--json", action="store_true", help="print the result as JSON")
            self._parser = parser
        return self._parser

    def parse(self, argv: Sequence[str]) -> argparse.Namespace:
        """``argv`` (the words after the command name) as a namespace.

        A command with ``formats`` takes gdb's ``/FMT`` as its first word
        (``p /x vmlist``; ``p/x`` reaches here split, see :func:`.dispatch.prepare`):
        the letter is ``args.format`` (None without one).

        :raises UsageError: for arguments the command does not take.
        """
        words = list(argv)
        fmt = None
        # without formats, only what reads as one (/x, /xx) is refused as a /FMT: a word
        # such as /tmp/img is an argument (a file name: diff /tmp/img)
        first = words[0] if words else ""
        if len(first) > 1 and first.startswith("/") and (self.formats or _FORMAT.fullmatch(first)):
            if not self.formats:
                raise UsageError(f"{self.name}: takes no /FMT")
            fmt = words.pop(0)[1:]
            if callable(self.formats):  # a whole /NFU spec, read by the command (gdb's x)
                args = self.parser.parse_args(words)
                args.format = self.formats(fmt)
                return args
            if len(fmt) != 1 or fmt not in self.formats:
                raise UsageError(
                    f'{self.name}: undefined output format "{fmt}" (one of {self.formats})'
                )
        args = self.parser.parse_args(words)
        if self.formats:
            args.format = None if callable(self.formats) else fmt
        return args

    def options(self) -> list[str]:
        """Every option the command takes, as typed (``-p``, ``--physical``, ``--json``)."""
        return [flag for action in self.parser._actions for flag in action.option_strings]

    def usage(self) -> str:
        # one line however long, as crash's synopses are: argparse would wrap it at
        # the terminal's width, and a wrapped synopsis reads as two
        parser = self.parser
        formatter = _Formatter(prog=self.name, width=1 << 16)
        formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
        usage = formatter.format_help().removeprefix("usage: ").strip()
        if self.formats:  # gdb's p/x: the format joins the name
            usage = f"{self.name}[/FMT]" + usage.removeprefix(self.name)
        return usage

    def help_text(self) -> str:
        """The text ``help NAME`` shows: synopsis, description and options."""
        import textwrap  # not before the REPL's first prompt

        body = self.parser.format_help()
        _, _, rest = body.partition("\n")
        also = f"\n\nALIASES\n  {', '.join(self.aliases)}" if self.aliases else ""
        return (
            f"NAME\n  {self.name} - {self.help}\n\nSYNOPSIS\n"
            + textwrap.indent(self.usage(), "  ")
            + also
            + "\n"
            + rest.rstrip()
        )


@dataclass(frozen=True)
class _Pending:
    """A command known from an index (a built-in one's, or a shipped plugin's) whose
    module is not imported yet."""

    name: str
    aliases: tuple[str, ...]
    help: str
    origin: str  # the module that registers it when imported
    # what imports it, when not importlib.import_module(origin) (a plugin's file); it
    # raises CommandError when the module fails
    load: Callable[[], object] | None = None


_BUILTIN = "vmintro.commands.builtin."
_COMMANDS: dict[str, Command | _Pending] = {}
_ALIASES: dict[str, str] = {}
_PLUGIN_ERRORS: list[tuple[str, str]] = []
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True  # set first: the modules call register() while importing
    from vmintro.commands.builtin import module_names
    from vmintro.commands.index import current_entries

    indexed = current_entries()
    for module in module_names():
        entries = indexed.get(module)
        if entries is None:  # new, or changed since the index was written
            importlib.import_module(_BUILTIN + module)
            continue
        for name, aliases, summary in entries:
            _enter(_Pending(name, aliases, summary, _BUILTIN + module))


def _import_pending(entry: _Pending) -> None:
    """Import the module of ``entry``, whose decorators replace its pending entries."""
    if entry.load is None:
        importlib.import_module(entry.origin)
    else:
        entry.load()


def _loaded(entry: Command | _Pending) -> Command:
    """The command of ``entry``, its module imported first when it was pending.

    :raises CommandError: the module failed (a plugin's), or did not register the
        command its index names.
    """
    if isinstance(entry, Command):
        return entry
    _import_pending(entry)
    cmd = _COMMANDS.get(entry.name)
    if not isinstance(cmd, Command):
        raise CommandError(
            f"{entry.origin} did not register '{entry.name}', which the command index names "
            "(python -m vmintro.commands.index rewrites it)"
        )
    return cmd


def register_pending(
    name: str, aliases: Sequence[str], help: str, origin: str, load: Callable[[], object]
) -> None:
    """Add command ``name`` of module ``origin`` as an index names it, its module
    imported by ``load()`` when the command is first wanted (a shipped plugin's).

    :raises ValueError: when the name or an alias is taken, or is no word.
    """
    _load_builtins()
    _enter(_Pending(name, tuple(aliases), help, origin, load))


def command(
    name: str,
    *,
    help: str,
    args: Sequence[Arg | OneOf] = (),
    aliases: Sequence[str] = (),
    description: str | None = None,
    formats: str | Callable[[str], Any] = "",
    expressions: Sequence[str] = (),
    py: Callable[[Any, argparse.Namespace], str | None] | None = None,
    crash: str = "",
    gdb: str = "",
) -> Callable[[CommandFunc], CommandFunc]:
    """Register the decorated ``func(prog, args)`` as command ``name``.

    ``help`` is the one-line summary; ``description`` (default: the function's
    docstring) the longer text of ``help NAME``; ``formats`` the letters of
    gdb's ``/FMT`` the command takes (``p/x``), as ``args.format``, or a function
    reading a whole ``/FMT`` word into ``args.format`` (``x/8wx``);
    ``expressions`` the arguments (by ``dest``) whose words are C expressions or
    addresses, where ``>`` and ``|`` may be operators rather than a redirection
    (see :mod:`vmintro.cmdline.lines`); ``py(prog, args)`` the statements of the
    script ``CMD --py`` prints (see :mod:`vmintro.commands.showcode`); ``crash`` and
    ``gdb`` what a crash or a gdb user types for the same answer, a command in
    backquotes (```kmem -v```) or ``"none: "`` and why (the reference shows both).

    :raises ValueError: when the name or an alias is taken.
    """

    def decorate(func: CommandFunc) -> CommandFunc:
        doc = description if description is not None else (func.__doc__ or "")
        register(
            Command(
                name=name,
                func=func,
                help=help,
                args=tuple(args),
                aliases=tuple(aliases),
                description=inspect.cleandoc(doc),
                origin=func.__module__,
                formats=formats,
                expressions=tuple(expressions),
                py=py,
                crash=crash,
                gdb=gdb,
            )
        )
        return func

    return decorate


def register(cmd: Command) -> None:
    """Add ``cmd`` (the decorator's work, for callers building a :class:`Command`)."""
    _load_builtins()  # the built-in names first, whoever registers first: none is taken
    pending = _COMMANDS.get(cmd.name)
    if isinstance(pending, _Pending) and pending.origin == cmd.origin:
        unregister(cmd.name)  # its module, imported now, registers it in full
    _enter(cmd)


def _enter(entry: Command | _Pending) -> None:
    """Enter ``entry`` under its name and its aliases.

    :raises ValueError: when one of them is taken, or is no word.
    """
    for word in (entry.name, *entry.aliases):
        if word in _COMMANDS or word in _ALIASES:
            raise ValueError(f"command name '{word}' is already taken")
        if not word or any(c.isspace() for c in word):
            raise ValueError(f"bad command name {word!r}")
    _COMMANDS[entry.name] = entry
    for alias in entry.aliases:
        _ALIASES[alias] = entry.name


def unregister(name: str) -> None:
    """Remove command ``name`` and its aliases (a plugin being unloaded, a test)."""
    cmd = _COMMANDS.pop(name, None)
    if cmd is not None:
        for alias in cmd.aliases:
            _ALIASES.pop(alias, None)


def lookup(word: str) -> Command:
    """The command called ``word`` or aliased so.

    :raises UsageError: naming the closest command when there is no such one.
    """
    _load_builtins()
    name = _ALIASES.get(word, word)
    cmd = _COMMANDS.get(name)
    if cmd is None:
        import difflib  # not before the REPL's first prompt

        close = difflib.get_close_matches(word, names(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(f"{word}: command not found{hint}")
    return _loaded(cmd)


def commands() -> list[Command]:
    """Every registered command, by name (every command module imported, a shipped
    plugin's too)."""
    _load_builtins()
    pending = {e.origin: e for e in _COMMANDS.values() if isinstance(e, _Pending)}
    for origin in sorted(pending):
        try:
            _import_pending(pending[origin])
        except CommandError:
            pass  # a plugin that failed: reported, and its commands are gone
    return [_loaded(_COMMANDS[n]) for n in sorted(_COMMANDS)]


def command_names() -> list[str]:
    """Every registered command's name (no alias), importing no command module."""
    _load_builtins()
    return sorted(_COMMANDS)


def names() -> list[str]:
    """Every word that runs a command: names and aliases (importing no command module)."""
    _load_builtins()
    return sorted([*_COMMANDS, *_ALIASES])


def record_plugin_error(source: str, message: str) -> None:
    """Note a plugin that failed to load, for the ``plugins`` command to report."""
    _PLUGIN_ERRORS.append((source, message))


def plugin_errors() -> list[tuple[str, str]]:
    """(source, message) of every plugin that failed to load, in order."""
    return list(_PLUGIN_ERRORS)


def forget_plugin_errors(sources: Sequence[str]) -> None:
    """Drop the errors of ``sources`` (plugins being unloaded, to be tried again)."""
    gone = set(sources)
    _PLUGIN_ERRORS[:] = [e for e in _PLUGIN_ERRORS if e[0] not in gone]
