"""``vmintro map [IMAGE] [-o FILE] [--area ADDR]``: the REPL's ``map`` on one image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmintro.cli.image import open_image, refuse_exercise
from vmintro.cli.parser import Parser, UsageExit, add_image_arguments
from vmintro.errors import EXIT_FAILED, EXIT_OK

__all__ = ["cmd_map", "parser"]


def cmd_map(args: argparse.Namespace) -> int:
    """Exit 0, 1 when the image cannot give what was asked (a corrupt vmlist: what
    was read, then the error; an address in no area), 2 for an unreadable image or
    an output that cannot be written.
    """
    from vmintro.commands.builtin.map import OutputError, map_parts
    from vmintro.commands.registry import UsageError
    from vmintro.commands.render import render_text
    from vmintro.errors import VmintroError

    prog, name = open_image(args.image, args.vmlinux)
    refuse_exercise(prog, name, "map")
    title = f"{Path(name).name}: {prog.osrelease}, {prog.ram_size >> 20} MiB"
    try:
        for part in map_parts(prog, args.area, args.output, title, args.moments):
            # the map, or with -o "wrote FILE" as export -o and the session's map -o say it
            print("\n".join(render_text([part])))  # escaped, as every command's text
    except (OutputError, UsageError) as e:
        # as vmintro generate reports its -o: a bad argument, not a failed request
        raise UsageExit(str(e)) from None
    except VmintroError as e:
        # what a failing command of -c prints and returns (one line, status 1)
        sys.stdout.flush()
        sys.stderr.write(f"vmintro: map: {' '.join(str(e).split())}\n")
        return EXIT_FAILED
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    from vmintro.commands.builtin.map import AREA_HELP, DIFF_HELP, OUTPUT_HELP

    p = Parser(
        prog="vmintro map",
        description="draw the kernel virtual address space (Figure 8.1 of Gorman's chapter 8); "
        "the same as the REPL's map",
    )
    add_image_arguments(p)
    p.add_argument("-o", "--output", "--svg", metavar="FILE", help=OUTPUT_HELP)
    p.add_argument("--area", metavar="ADDR", help=AREA_HELP)
    p.add_argument("--diff", nargs="+", metavar="N", dest="moments", help=DIFF_HELP)
    p.set_defaults(func=cmd_map)
    return p
