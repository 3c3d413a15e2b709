"""``vmintro serve IMAGE`` and ``vmintro html IMAGE -o FILE``: the explorer in a browser."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from vmintro.cli.image import open_image, refuse_exercise
from vmintro.cli.parser import Parser, UsageExit, add_image_arguments, fail, warn
from vmintro.errors import EXIT_FAILED, EXIT_OK, NoDebugInfoError
from vmintro.escape import escape_text

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["cmd_html", "cmd_serve", "parser"]

LOOPBACK = "127.0.0.1"


def _types_missing(prog: Program, command: str) -> int | None:
    """Without a vmlinux no view has its types (areas, zones, struct page): say so in
    one line, as map does, before anything is written or served."""
    if prog.has_debuginfo:
        return None
    missing = NoDebugInfoError("the views of the explorer are unknown")
    return fail(f"{command}: {missing}", EXIT_FAILED)


def _title(prog_name: str, osrelease: str, ram_size: int) -> str:
    return f"{Path(prog_name).name}: {osrelease}, {ram_size >> 20} MiB"


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C ends it with status 0)."""
    from vmintro.explorer.server import is_loopback, make_server

    if not 0 <= args.port <= 65535:
        raise UsageExit(f"serve: --port {args.port}: not a port (0 to 65535)")
    prog, name = open_image(args.image, args.vmlinux)
    refuse_exercise(prog, name, "serve")
    missing = _types_missing(prog, "serve")
    if missing is not None:
        return missing
    try:
        server = make_server(
            prog, _title(name, prog.osrelease, prog.ram_size), args.host, args.port
        )
    except OSError as e:
        raise UsageExit(f"serve: cannot listen on {args.host}:{args.port}: {e.strerror}") from None
    if not is_loopback(args.host):
        warn(
            f"serve: listening on {args.host}, not only this machine: anyone who can reach "
            "it can read this image"
        )
    # computed before the address is given: the first paint is quick
    for error in server.explorer.document()["snapshot"]["errors"]:
        warn(f"serve: {error}")  # the page says it too; it is served all the same
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    print(f"http://{shown}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _check_output(output: str, image: str, vmlinux: str | None) -> None:
    """Refuse, before anything is read, what the other writers refuse: a directory,
    anything but a regular file, a directory that is not there, and the image's own files."""
    from vmintro.files import output_refusal
    from vmintro.image.format.names import core_path, is_file_of_image

    if not output or output.endswith(("/", os.sep)) or os.path.isdir(output):
        raise UsageExit(f"html: {output!r} is a directory: give -o FILE.html")
    refusal = output_refusal(output)
    if refusal:
        raise UsageExit(f"html: {output}: {refusal}")
    if is_file_of_image(output, core_path(image), vmlinux):
        raise UsageExit(f"html: {output} is a file of the image itself; nothing was written")


def cmd_html(args: argparse.Namespace) -> int:
    from vmintro.explorer.document import file_document
    from vmintro.explorer.page import self_contained
    from vmintro.files import atomic_output

    prog, name = open_image(args.image, args.vmlinux)
    refuse_exercise(prog, name, "html")
    _check_output(args.output, name, args.vmlinux)
    missing = _types_missing(prog, "html")
    if missing is not None:
        return missing
    document = file_document(prog, _title(name, prog.osrelease, prog.ram_size))
    html = self_contained(document)
    try:
        with atomic_output(args.output) as f:
            f.write(html.encode())
    except OSError as e:
        raise UsageExit(f"html: {args.output}: {e.strerror}") from None
    print(f"wrote {escape_text(args.output)}", flush=True)
    # as map does on a corrupt vmlist: what could be read is drawn, then what could not
    for note in document["notes"]:  # what a file leaves out: said, and no failure
        warn(f"html: note: {note}")
    errors = document["snapshot"]["errors"]
    for error in errors:
        warn(f"html: {error}")
    return EXIT_FAILED if errors else EXIT_OK


def parser(which: str) -> argparse.ArgumentParser:
    if which == "serve":
        p = Parser(
            prog="vmintro serve",
            description="serve the explorer of IMAGE (address space, page walks, physical "
            "memory, buddy lists) on this machine and print its URL; Ctrl-C stops it",
        )
        add_image_arguments(p)
        p.add_argument("--port", type=int, default=8000, metavar="N",
                       help="the port (default 8000; 0: any free one)")  # fmt: skip
        p.add_argument("--host", default=LOOPBACK, metavar="ADDR",
                       help="the address to listen on (default 127.0.0.1: this machine only; "
                       "another is served with a warning)")  # fmt: skip
        p.set_defaults(func=cmd_serve)
        return p
    p = Parser(
        prog="vmintro html",
        description="write the explorer of IMAGE as one self-contained HTML file (the data "
        "inside, no server, no network), written whole or not at all",
    )
    add_image_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    p.set_defaults(func=cmd_html)
    return p
