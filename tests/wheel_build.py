"""Whether a Python's own setuptools can build this package's wheel, for the tests that
install it with pip: without build isolation where it can, so that nothing is fetched."""

from __future__ import annotations

import subprocess

__all__ = ["isolation_words"]

# setuptools >= 70.1 has bdist_wheel itself; older ones need the wheel package beside them
_CAN_BUILD = (
    "import importlib.util, setuptools\n"
    "major, minor = (int(x) for x in setuptools.__version__.split('.')[:2])\n"
    "print((major, minor) >= (70, 1) or importlib.util.find_spec('wheel') is not None)\n"
)


def isolation_words(python: str) -> list[str]:
    """``["--no-build-isolation"]`` where ``python`` (the interpreter pip runs in) can
    build the wheel with what it has, else none: pip then builds in an isolated
    environment with the setuptools pyproject.toml asks for, from the package index
    (a venv made by ``python3 -m venv`` has setuptools 65 and no wheel package)."""
    proc = subprocess.run([python, "-c", _CAN_BUILD], capture_output=True, text=True)
    return ["--no-build-isolation"] if proc.stdout.strip() == "True" else []
