"""``vmintro gdb-script [-o FILE]``: write the file that loads vmintro into gdb
(:mod:`vmintro.hosts.gdb_script`) and print its path."""

from __future__ import annotations

import argparse

from vmintro.cli.parser import Parser, fail
from vmintro.errors import EXIT_OK, EXIT_USAGE
from vmintro.escape import escape_text

__all__ = ["cmd_gdb_script", "parser"]


def cmd_gdb_script(args: argparse.Namespace) -> int:
    from vmintro.files import output_refusal
    from vmintro.hosts.gdb_script import default_path, write_loader

    # a path given is checked as every writer's -o; the default's directory is made
    refusal = output_refusal(args.output) if args.output is not None else None
    if refusal:
        return fail(f"{args.output}: {refusal}", EXIT_USAGE)
    try:
        path = write_loader(args.output)
    except OSError as e:
        return fail(f"{args.output or default_path()}: {e.strerror}", EXIT_USAGE)
    print(escape_text(str(path)))
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    from vmintro.hosts.gdb_script import default_path

    p = Parser(
        prog="vmintro gdb-script",
        description="write the file that adds vmintro's 'vm' commands to gdb, and print "
        'its path: gdb -x "$(vmintro gdb-script)" NAME.vmlinux NAME.vmcore',
    )
    p.add_argument("-o", "--output", help=f"write it here (default: {default_path()})")
    p.set_defaults(func=cmd_gdb_script)
    return p
