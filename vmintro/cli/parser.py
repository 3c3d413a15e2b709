"""What every ``vmintro`` subcommand parses with: one-line usage errors, and the
arguments that name an image, said the same way everywhere.
"""

from __future__ import annotations

import argparse
import sys
from typing import Literal, NoReturn

from vmintro.errors import EXIT_USAGE
from vmintro.escape import escape_text

__all__ = ["Parser", "UsageExit", "add_image_arguments", "add_plugin_dir_option", "fail", "warn"]

IMAGE_HELP = "NAME or NAME.vmcore"
VMLINUX_HELP = "the kernel's vmlinux (default: NAME.vmlinux beside the core)"


class UsageExit(Exception):
    """Bad usage or a bad image: one line, exit status :data:`~vmintro.errors.EXIT_USAGE`."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status EXIT_USAGE, as
    every other error of the tool."""

    def error(self, message: str) -> NoReturn:
        # the words typed (a file name from a glob, say) are shown escaped, as any name
        text = escape_text(f"{message} (see '{self.prog} --help')")
        self.exit(EXIT_USAGE, f"vmintro: {text}\n")


def warn(message: str) -> None:
    """``vmintro: MESSAGE`` on stderr, its control characters escaped: a message names
    files, which a directory listing may have handed over with escape sequences."""
    sys.stderr.write(f"vmintro: {escape_text(message)}\n")


def fail(message: str, status: int) -> int:
    """Say ``message`` in one line on stderr and return ``status``."""
    warn(message)
    return status


def add_image_arguments(
    parser: argparse.ArgumentParser, image: Literal["one", "many", "option"] = "one"
) -> None:
    """The image a subcommand opens, and ``--vmlinux FILE``: every subcommand that
    opens an image takes them from here.

    ``image`` is ``"one"`` for an optional ``image`` (the demo image by default),
    ``"many"`` for one or more ``images``, ``"option"`` for ``-i IMAGE`` (``vmintro
    run``, whose positional arguments are the script's).
    """
    if image == "many":
        parser.add_argument("images", nargs="+", metavar="IMAGE", help=IMAGE_HELP)
    elif image == "option":
        parser.add_argument(
            "-i", "--image", help="the image (else the first argument if it is one)"
        )
    else:
        parser.add_argument("image", nargs="?", help=f"{IMAGE_HELP} (default: the demo image)")
    parser.add_argument("--vmlinux", metavar="FILE", help=VMLINUX_HELP)


def add_plugin_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin-dir", dest="plugin_dirs", action="append", default=[], metavar="DIR",
        help="load the plugins of DIR too (repeatable)",
    )  # fmt: skip
