"""``diff N [M]`` and ``diff IMAGE_B``: what changed between two moments, in kernel terms.

The library's :func:`vmintro.timeline.diff.diff`, from moment N of the image's
timeline to moment M (by default the one the session shows), or from the
session's kernel to another image of the same machine.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.registry import CommandError, UsageError, arg, command
from vmintro.commands.result import Text
from vmintro.errors import VmintroError
from vmintro.escape import escape_text

if TYPE_CHECKING:
    from vmintro.program import Program
    from vmintro.timeline.diff import Diff

__all__ = ["diff_programs", "moment_number", "resolve_moments"]


def moment_number(word: str) -> int | str | None:
    """An entry number (decimal, or hex with ``0x``, as counts are read), ``"end"``,
    or None for a word that is neither."""
    text = word.strip()
    if text == "end":
        return text
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        return None


def resolve_moments(prog: Program, first: str, second: str | None) -> tuple[Program, Program]:
    """The programs of moments ``first`` and ``second`` (default: the one ``prog`` shows).

    :raises CommandError: for an image without a usable timeline or an entry it has not.
    """
    from vmintro.timeline.moments import require_timeline

    last = len(require_timeline(prog).entries) - 1

    def at(word: str) -> Program:
        n = moment_number(word)
        if n is None:
            raise UsageError(f"diff: '{escape_text(word)}' is not an entry number (0 to {last})")
        n = last if n == "end" else n
        assert isinstance(n, int)
        if not 0 <= n <= last:
            raise CommandError(f"diff: no entry {n}: the timeline has entries 0 to {last}")
        return prog.at(n)

    return at(first), (at(second) if second is not None else prog)


def _image_named(word: str) -> bool:
    """Whether ``word`` names an image on disk (its core exists)."""
    from vmintro.image.format.names import reader_files

    try:
        core, _ = reader_files(word)
    except (OSError, ValueError):
        return False
    return core.exists()


def _open_image(word: str, vmlinux: str | None) -> Program:
    """The other image, opened as the main image is: untrusted, refused in one line."""
    import vmintro
    from vmintro.backends.image import ImageError
    from vmintro.exercises.policy import NOT_AVAILABLE, image_policy

    try:
        other = vmintro.open(word, vmlinux)
    except ImageError as e:  # an input that cannot be read: usage's status, as the main image
        raise UsageError(str(e)) from None
    policy = image_policy(other)  # an exercise's image keeps its rules as the other side too
    if policy is not None:
        raise UsageError(
            f"diff: {escape_text(word)}: exercise {policy.exercise}: diff: {NOT_AVAILABLE}"
        )
    return other


def diff_programs(prog: Program, target: str, second: str | None, vmlinux: str | None) -> Diff:
    """The diff ``diff TARGET [SECOND]`` asks for, from the session's program."""
    from vmintro.timeline.diff import diff

    number = moment_number(target)
    if number is not None:
        if vmlinux is not None:
            raise UsageError("diff: --vmlinux goes with an image, not with entry numbers")
        if _image_named(target):
            raise UsageError(
                f"diff: ambiguous: '{escape_text(target)}' is entry {target} or image "
                f"'{escape_text(target)}': write 'diff ./{escape_text(target)}' for the image"
            )
        a, b = resolve_moments(prog, target, second)
        return diff(a, b)
    if second is not None:
        raise UsageError("diff: IMAGE_B takes no second argument (diff N M compares entries)")
    return diff(prog, _open_image(target, vmlinux))


def _diff_py(prog: Program, args: argparse.Namespace) -> str:
    diff_programs(prog, args.target, args.second, args.vmlinux)  # refused as the command is
    number = moment_number(args.target)
    if number is not None:
        from vmintro.timeline.moments import require_timeline

        last = len(require_timeline(prog).entries) - 1
        old = f"prog.at({last if number == 'end' else number})"
        second = moment_number(args.second) if args.second is not None else None
        new = "prog" if second is None else f"prog.at({last if second == 'end' else second})"
        imports = "from vmintro import diff\n\n"
    else:
        old = "prog"
        vmlinux = f", {args.vmlinux!r}" if args.vmlinux else ""
        new = f"vmintro.open({args.target!r}{vmlinux})  # another image of the same machine"
        imports = "import vmintro\nfrom vmintro import diff\n\n"
    return (
        imports
        + f"changes = diff({old}, {new})  # areas, page tables, frames, free lists, pages\n"
        + f"print(changes.text(summary={args.summary}))  # .to_json(): every change as data\n"
    )


@command(
    "diff",
    crash="none: crash reads one dump at a time",
    gdb="none: gdb compares no two states",
    help="what changed between two moments: diff N [M] (entries), diff IMAGE_B (images)",
    args=[
        arg("target", metavar="N|IMAGE_B", help="an entry of the timeline, or another image"),
        arg("second", nargs="?", metavar="M", help="the later entry (default: the current one)"),
        arg("-s", "--summary", action="store_true", help="only the counts of each part"),
        arg("--vmlinux", metavar="FILE", help="IMAGE_B's vmlinux, when not beside its core"),
    ],
    py=_diff_py,
)
def diff_(prog: Program, args: argparse.Namespace) -> Iterator[Text]:
    """The structural difference of two moments of one machine, in kernel terms:
    vmlist areas added, removed, resized or remapped (with their vm_struct);
    entries of swapper_pg_dir set, changed or cleared over the kernel range, by
    virtual address, and page tables allocated or freed; frames allocated and
    freed by the buddy allocator (blocks by zone and order, and what took them:
    a vmalloc area, a page table); free-list blocks per zone and order and each
    zone's free_pages; struct page flags and counts; modules and swap areas.

    diff N [M]     from entry N of the image's timeline to entry M (default:
                   the moment the session shows; end: the image itself)
    diff IMAGE_B   from the session's kernel to another image of the same
                   machine (another run of the scenario, say); two different
                   machines are refused, naming what differs

    Lines are marked + (added, set, allocated), - (removed, cleared, freed) and
    ~ (changed). Only frames whose bytes differ are decoded. JSON gives every
    change as data (diff --json). A part that cannot be read whole (a corrupt
    vmlist) is named under "error:", the others are complete, and the command
    fails after printing it.
    """
    try:
        result = diff_programs(prog, args.target, args.second, args.vmlinux)
    except CommandError:
        raise
    except VmintroError as e:  # different machines, no timeline, a damaged one
        raise CommandError(f"diff: {e}") from None
    yield Text(result.text(summary=args.summary), "diff", data=result.to_json(summary=args.summary))
    if result.errors:  # shown above; the status says the picture is partial, as map's does
        more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
        raise CommandError(f"diff: {result.errors[0]}{more}")
