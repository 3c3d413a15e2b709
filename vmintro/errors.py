"""The exceptions vmintro raises, one hierarchy under :class:`VmintroError`, and the
exit statuses its entry points end with.

Every entry point (the ``vmintro`` command and its subcommands, the command runner
behind ``-c``, standard input and the REPL, ``python -m vmintro.exercises.build``)
returns one of the ``EXIT_*`` statuses below and no other number.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CorruptionError",
    "FaultError",
    "MemberNotFoundError",
    "NoDebugInfoError",
    "ObjectNotFoundError",
    "UnreachableMemoryError",
    "VmintroError",
]

# All went well: every command ran; check found nothing; an exercise's answer is right.
EXIT_OK: Final = 0
# A command (or a script) failed, or reported findings (check, as `vmintro check`
# does); an exercise's answer is wrong.
EXIT_FAILED: Final = 1
# Bad usage (an unknown command or option, a line that reads two ways) or an input
# that cannot be read or written (an image, a scenario, an output file).
EXIT_USAGE: Final = 2
# Stopped by Ctrl-C: 128 + SIGINT, as a shell reports it.
EXIT_INTERRUPTED: Final = 130


class VmintroError(Exception):
    """Base class of every error vmintro raises on purpose."""


class FaultError(VmintroError):
    """Memory at ``address`` could not be read.

    ``address`` is the address that was asked for: virtual unless the read was
    physical. The message says why, naming the page-table entry that stopped
    the walk when there is one::

        read of 0xc8801000: page not present (pte 0x00000000 at 0xc0345ff0)
    """

    def __init__(self, address: int, message: str | None = None) -> None:
        self.address = address
        self.message = message if message is not None else f"could not read {address:#x}"
        super().__init__(address, self.message)

    def __str__(self) -> str:
        return self.message


class UnreachableMemoryError(FaultError):
    """RAM that exists but that this backend cannot reach (a live target's highmem)."""


class ObjectNotFoundError(VmintroError, KeyError):
    """No symbol, variable or type of that name (a :class:`LookupError`, as in drgn)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError would show the repr of its argument, quotes included.
        return self.message


class MemberNotFoundError(ObjectNotFoundError, AttributeError):
    """``obj.name`` or ``obj.member_(name)`` where the object's type, as the vmlinux's
    DWARF gives it, has no member ``name`` (``obj.name``: or no members at all).

    A :class:`LookupError`, as drgn's ``member_`` raises, and an
    :class:`AttributeError`, as attribute access raises, so ``hasattr`` and
    ``getattr(obj, name, default)`` work; a :class:`VmintroError` because the type
    comes from the image: a command that reads the member fails with this one line.
    """


class NoDebugInfoError(ObjectNotFoundError):
    """A type was needed and no vmlinux is loaded: a core alone gives symbols (its
    VMCOREINFO) but no types, so ``what`` is unknown. The message says how to load one::

        no vmlinux is loaded, so type 'struct vm_struct' is unknown (give one with --vmlinux FILE)
    """

    HINT = "give one with --vmlinux FILE"

    def __init__(self, what: str) -> None:
        super().__init__(f"no vmlinux is loaded, so {what} ({self.HINT})")


class CorruptionError(VmintroError):
    """Kernel data that cannot be right: a list cycle, a pointer outside the kernel.

    ``address`` locates the offending data (the node, entry or pointer).
    """

    def __init__(self, message: str, address: int | None = None) -> None:
        self.message = message
        self.address = address
        super().__init__(message, address)

    def __str__(self) -> str:
        if self.address is None:
            return self.message
        return f"{self.message} (at {self.address:#x})"
