"""The Python namespace of ``py``, ``!`` lines and ``vmintro run``, drgn-style."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vmintro.commands.result import Output
    from vmintro.program import Program

__all__ = ["bind_program", "python_namespace"]


def python_namespace(prog: Program) -> dict[str, Any]:
    """``prog``, every helper of :mod:`vmintro.helpers` (its ``__all__``), ``Object``,
    ``cast``, ``container_of``, the library's errors and ``run`` (a command's parts, an
    :class:`~vmintro.commands.result.Output`: ``print(run("vmlist"))`` prints its text).
    """
    import vmintro
    import vmintro.helpers as helpers
    from vmintro.errors import CorruptionError, FaultError, ObjectNotFoundError
    from vmintro.object import Object, cast, container_of

    every: list[str] = getattr(helpers, "__all__")  # noqa: B009 - made on first use
    namespace: dict[str, Any] = {name: getattr(helpers, name) for name in every}
    namespace.update(
        Object=Object,
        cast=cast,
        container_of=container_of,
        FaultError=FaultError,
        CorruptionError=CorruptionError,
        ObjectNotFoundError=ObjectNotFoundError,
        vmintro=vmintro,
    )
    bind_program(namespace, prog)
    return namespace


def bind_program(namespace: dict[str, Any], prog: Program) -> None:
    """``prog`` and ``run`` of ``namespace`` read ``prog`` (the session moved in time)."""
    namespace.update(prog=prog, run=_runner(prog))


def _runner(prog: Program) -> Callable[[str], Output]:
    from vmintro.commands import run

    def run_line(line: str) -> Output:
        """Run a vmintro command line on ``prog``: its parts (tables and texts), and
        as ``print()`` shows it or ``.text`` holds it, exactly what the command prints.
        """
        return run(prog, line)

    return run_line
