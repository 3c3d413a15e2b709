"""Opening the image a subcommand names, or the bundled demo image."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from vmintro.cli.parser import UsageExit
from vmintro.escape import escape_text

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["open_image", "refuse_exercise", "scenario_hint"]


def open_image(
    image: str | None, vmlinux: str | None = None, defer_types: bool = False
) -> tuple[Program, str]:
    """The program of ``image`` (the demo image when None) and the name to show.

    ``vmlinux`` names the kernel's debug file when it is not ``NAME.vmlinux``
    beside the core. ``defer_types`` reads its DWARF on first use
    (:class:`~vmintro.backends.image.ImageBackend`), where an unusable one
    raises :class:`~vmintro.backends.image.ImageError`.

    :raises UsageExit: with ``demo.vmcore: ...`` for a missing or malformed image, or
        a demo image that cannot be generated.
    """
    from vmintro.backends.image import ImageBackend, ImageError
    from vmintro.program import Program

    path = image if image is not None else _demo_image()
    try:
        return Program(ImageBackend(path, vmlinux, defer_types=defer_types)), path
    except ImageError as e:
        raise UsageExit(scenario_hint(path) or str(e)) from None


def scenario_hint(path: str) -> str | None:
    """Where ``path``, which names no image, is a scenario file (``NAME.toml``): what to
    do instead, in one line (the image is made from it); else None."""
    from pathlib import Path

    from vmintro.image.format.names import is_image
    from vmintro.scenario.loader import SCENARIO_SUFFIX

    given = Path(path)
    if given.suffix != SCENARIO_SUFFIX or not given.is_file() or is_image(path):
        return None
    name = escape_text(path)
    return (
        f"{name}: a scenario, not an image: make its image with "
        f"'vmintro generate --scenario {name} -o {escape_text(given.stem)}', then open that"
    )


def refuse_exercise(prog: Program, name: str, what: str) -> None:
    """Refuse ``what`` on an exercise's image: no exercise allows it (the rules follow
    the image, :func:`vmintro.exercises.session.image_policy`).

    :raises UsageExit: ``NAME: exercise EX: WHAT: not available in this exercise``.
    """
    from vmintro.exercises.policy import NOT_AVAILABLE, image_policy

    policy = image_policy(prog)
    if policy is not None:
        raise UsageExit(f"{name}: exercise {policy.exercise}: {what}: {NOT_AVAILABLE}")


def _demo_image() -> str:
    """The bundled demo image; installed without images/, generated once (and said so)."""
    from vmintro.demo import default_image
    from vmintro.image.writer.install import ImageWriteError
    from vmintro.scenario.loader import ScenarioError

    try:
        return str(default_image(note=lambda line: print(f"vmintro: {line}", file=sys.stderr)))
    except (ScenarioError, ImageWriteError) as e:
        raise UsageExit(f"cannot generate the demo image: {e}") from None
    except OSError as e:
        raise UsageExit(f"cannot generate the demo image: {e.filename}: {e.strerror}") from None
