"""``vmintro``'s entry point: the subcommand from the first word, its parser, its run."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from vmintro.cli.parser import UsageExit, fail
from vmintro.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

__all__ = ["SUBCOMMANDS", "build_parser", "main"]


def _parser_of(module: str, *args: str) -> Callable[[], argparse.ArgumentParser]:
    """The parser of ``vmintro.cli.MODULE``, imported only when its word is typed."""

    def build() -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = importlib.import_module(f"vmintro.cli.{module}").parser(
            *args
        )
        return parser

    return build


# The first word of the command line, and the parser of what follows it; without
# one of these words, the session's (-c, standard input, the REPL).
SUBCOMMANDS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "check": _parser_of("check"),
    "exercise": _parser_of("exercise"),
    "export": _parser_of("export"),
    "map": _parser_of("map"),
    "gdb-script": _parser_of("gdb_script"),
    "generate": _parser_of("generate"),
    "html": _parser_of("explorer", "html"),
    "repl": _parser_of("session", "vmintro repl"),
    "run": _parser_of("run"),
    "serve": _parser_of("explorer", "serve"),
}


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser for ``argv`` and the words it parses (the subcommand name removed)."""
    words = list(argv)
    if words and words[0] in SUBCOMMANDS:
        return SUBCOMMANDS[words[0]](), words[1:]
    return _parser_of("session")(), words


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vmintro ARGV`` (``sys.argv[1:]`` by default); the exit status."""
    parser, words = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(words)
    try:
        status: int = args.func(args)
    except UsageExit as e:
        return fail(str(e), EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`vmintro ... | head`): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return status
