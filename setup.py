"""The optional C accelerator and the packages; everything else is in pyproject.toml.

``vmintro._speedups`` makes struct member access and scalar reads of
``vmintro.object`` about twice as fast. Where it cannot be compiled (no C
compiler or Python headers) the install goes on without it and vmintro uses the
same code in Python. ``vmintro._simspeedups`` runs the simulator's hottest code in C
(the vmlist walks, RAM's loads and stores, the write log, the buddy allocator's fast
paths: generation of long runs), on the same terms.

The shipped plugins live in the checkout's ``plugins/``; a wheel carries them as
the package ``vmintro_plugins`` (beside ``vmintro``), where plugin discovery
looks when there is no checkout.
"""

from setuptools import Extension, find_packages, setup

setup(
    packages=[*find_packages(include=["vmintro", "vmintro.*"]), "vmintro_plugins"],
    package_dir={"vmintro_plugins": "plugins"},
    ext_modules=[
        Extension("vmintro._speedups", ["vmintro/_speedups.c"], optional=True),
        Extension("vmintro._simspeedups", ["vmintro/_simspeedups.c"], optional=True),
    ],
)
