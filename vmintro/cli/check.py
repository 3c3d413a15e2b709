"""``vmintro check IMAGE...``: the post-mortem checker over many images."""

from __future__ import annotations

import argparse
import sys

from vmintro.cli.parser import Parser, add_image_arguments

__all__ = ["cmd_check", "parser"]


def cmd_check(args: argparse.Namespace) -> int:
    from vmintro.checkrun import check_images

    return check_images(
        args.images, sys.stdout, as_json=args.json, jobs=args.jobs, vmlinux=args.vmlinux
    )


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="vmintro check",
        description="check vmlist, the vmalloc page tables, mem_map and the buddy lists; "
        "exit 0 when clean, 1 on findings, 2 when an image cannot be read",
    )
    add_image_arguments(p, image="many")
    p.add_argument("--json", action="store_true", help="findings as one JSON document, one line")
    p.add_argument("-j", "--jobs", type=int, default=1, help="images checked in parallel")
    p.set_defaults(func=cmd_check)
    return p
