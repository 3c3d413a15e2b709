"""The optional C accelerator; everything else is declared in pyproject.toml.

``vmintro._speedups`` makes struct member access and scalar reads of
``vmintro.object`` about twice as fast. Where it cannot be compiled (no C
compiler or Python headers) the install goes on without it and vmintro uses the
same code in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("vmintro._speedups", ["vmintro/_speedups.c"], optional=True),
    ]
)
