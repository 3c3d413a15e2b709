"""``vmintro export (--isf | --raw | --lime | --elf64) [IMAGE] -o FILE``: an image for
other tools: volatility3's symbol table of its kernel, or its physical memory in a
container volatility3 (and others) open."""

from __future__ import annotations

import argparse
import json

from vmintro.cli.image import open_image, refuse_exercise
from vmintro.cli.parser import Parser, UsageExit, add_image_arguments
from vmintro.errors import EXIT_OK
from vmintro.escape import escape_text

__all__ = ["KINDS", "cmd_export", "parser"]

KINDS = {
    "isf": "volatility3's symbol table (JSON) of the image's kernel",
    "raw": "physical memory from 0 to the end of RAM, holes as zeros",
    "lime": "physical memory as LiME: each RAM range after its header",
    "elf64": "physical memory as a 64-bit ELF core (volatility3 reads no ELF32 core)",
}


def cmd_export(args: argparse.Namespace) -> int:
    """Exit 0, or 2 for an unreadable image or an output that cannot be written."""
    from vmintro.files import atomic_output, output_refusal, writes_over_image
    from vmintro.interop.containers import write_container
    from vmintro.interop.isf import isf_document

    refusal = output_refusal(args.output)  # before the image is read, as html -o
    if refusal:
        raise UsageExit(f"export: {args.output}: {refusal}")
    prog, name = open_image(args.image, args.vmlinux)
    refuse_exercise(prog, name, "export")
    if writes_over_image(prog.backend, args.output):
        raise UsageExit(f"export: {args.output} is a file of the image itself; nothing was written")
    try:
        with atomic_output(args.output) as out:
            if args.kind == "isf":
                if not prog.has_debuginfo:
                    raise UsageExit("export: --isf needs the image's vmlinux (its types)")
                out.write(json.dumps(isf_document(prog), indent=1, sort_keys=True).encode())
            else:
                write_container(prog, args.kind, out)
    except OSError as e:
        raise UsageExit(f"export: {args.output}: {e.strerror or e}") from None
    print(f"wrote {escape_text(args.output)}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="vmintro export",
        description="write an image for other tools: volatility3's symbol table (ISF) of its "
        "kernel, or its physical memory as a raw file, LiME or a 64-bit ELF core",
    )
    add_image_arguments(p)
    kinds = p.add_mutually_exclusive_group(required=True)
    for kind, what in KINDS.items():
        kinds.add_argument(f"--{kind}", dest="kind", action="store_const", const=kind, help=what)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write")
    p.set_defaults(func=cmd_export)
    return p
