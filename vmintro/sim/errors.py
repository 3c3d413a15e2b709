"""How the simulated kernel fails."""

from __future__ import annotations

__all__ = ["KernelBug", "SimulationError"]


class SimulationError(Exception):
    """A request the simulator cannot carry out (bad arguments, not a kernel state)."""


class KernelBug(SimulationError):
    """The 2.4.20 kernel would hit ``BUG()`` here; ``check`` names the failing test.

    The simulator raises it before changing memory, so the machine is left as
    it was.
    """

    def __init__(self, function: str, check: str) -> None:
        super().__init__(f"kernel BUG in {function}(): {check}")
        self.function = function
        self.check = check
