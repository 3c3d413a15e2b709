"""The ``vmintro`` subcommands beyond the session: ``check``, ``exercise``, ``map``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

__all__ = ["check_parser", "exercise_parser", "map_parser"]


def cmd_check(args: argparse.Namespace) -> int:
    from vmintro.checkrun import check_images

    return check_images(args.images, sys.stdout, as_json=args.json, jobs=args.jobs)


def check_parser(parser_class: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = parser_class(
        prog="vmintro check",
        description="check vmlist, the vmalloc page tables, mem_map and the buddy lists; "
        "exit 0 when clean, 1 on findings, 2 when an image cannot be read",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="NAME or NAME.vmcore")
    p.add_argument("--json", action="store_true", help="findings as one JSON document, one line")
    p.add_argument("-j", "--jobs", type=int, default=1, help="images checked in parallel")
    p.set_defaults(func=cmd_check)
    return p


def _exercise_dir(name: str) -> Path:
    from vmintro.exercises.location import exercises_root

    root = exercises_root()
    path = root / name
    if not (path / "answer.json").exists():
        known = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir()))
        raise LookupError(f"no exercise '{name}' (known: {known})")
    return path


def cmd_exercise(args: argparse.Namespace) -> int:
    from vmintro.exercises.catalog import EXERCISES
    from vmintro.exercises.verify import AnswerError, verify_answer

    if args.action == "list":
        from vmintro.exercises.location import exercises_root

        root = exercises_root()
        for ex in EXERCISES:
            print(f"{ex.name:<20} {ex.title}  ({root / ex.name})")
        return EXIT_OK
    if not args.name:
        sys.stderr.write(f"vmintro: exercise {args.action} needs a NAME\n")
        return EXIT_USAGE
    try:
        path = _exercise_dir(args.name)
    except LookupError as e:
        sys.stderr.write(f"vmintro: {e.args[0]}\n")
        return EXIT_USAGE
    if args.action == "show":
        print((path / "README.md").read_text(), end="")
        return EXIT_OK
    if args.answer is None:
        sys.stderr.write("vmintro: exercise verify needs NAME and ANSWER\n")
        return EXIT_USAGE
    try:
        right = verify_answer(path, args.answer)
    except AnswerError as e:
        sys.stderr.write(f"vmintro: {e}\n")
        return EXIT_USAGE
    print("right" if right else "wrong")
    return EXIT_OK if right else EXIT_FAILED


def exercise_parser(parser_class: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = parser_class(
        prog="vmintro exercise",
        description="post-mortem exercises: list them, show one, verify an answer "
        "(exit 0 right, 1 wrong)",
    )
    p.add_argument("action", choices=["list", "show", "verify"])
    p.add_argument("name", nargs="?")
    p.add_argument("answer", nargs="?", help="a number (decimal or 0x-hex), a word, or a list")
    p.set_defaults(func=cmd_exercise)
    return p


def cmd_map(args: argparse.Namespace) -> int:
    """The REPL's ``map`` on one image. Exit 0, 1 when the image cannot give what was
    asked (a corrupt vmlist: what was read, then the error; an address in no area),
    2 for an unreadable image or an output that cannot be written.
    """
    from vmintro.cli import UsageExit, open_image
    from vmintro.commands.builtin.map import OutputError, map_parts
    from vmintro.commands.render import render_text
    from vmintro.errors import VmintroError

    prog, name = open_image(args.image, args.vmlinux)
    title = f"{Path(name).name}: {prog.osrelease}, {prog.ram_size >> 20} MiB"
    try:
        for part in map_parts(prog, args.area, args.output, title):
            if args.output is None:
                print("\n".join(render_text([part])))  # escaped, as every command's text
    except OutputError as e:
        # as vmintro generate reports its -o: a bad argument, not a failed request
        raise UsageExit(str(e)) from None
    except VmintroError as e:
        # what a failing command of -c prints and returns (one line, status 1)
        sys.stdout.flush()
        sys.stderr.write(f"vmintro: map: {' '.join(str(e).split())}\n")
        return EXIT_FAILED
    return EXIT_OK


def map_parser(parser_class: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    from vmintro.commands.builtin.map import AREA_HELP, OUTPUT_HELP

    p = parser_class(
        prog="vmintro map",
        description="draw the kernel virtual address space (Figure 8.1 of Gorman's chapter 8); "
        "the same as the REPL's map",
    )
    p.add_argument("image", nargs="?", help="NAME or NAME.vmcore (default: the demo image)")
    p.add_argument("--vmlinux", metavar="FILE", help="the kernel's vmlinux, if not beside the core")
    p.add_argument("-o", "--output", "--svg", metavar="FILE", help=OUTPUT_HELP)
    p.add_argument("--area", metavar="ADDR", help=AREA_HELP)
    p.set_defaults(func=cmd_map)
    return p
