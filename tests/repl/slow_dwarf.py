"""Preloaded in a REPL under test (``spawn_repl(preload="slow_dwarf")``): the vmlinux's
DWARF takes two seconds more to read, so keys can be sent while the REPL waits for it."""

import time

import vmintro.backends.vmlinux as vmlinux

_load_vmlinux = vmlinux.load_vmlinux


def _slow_load_vmlinux(*args, **kwargs):  # type: ignore[no-untyped-def]
    time.sleep(2.0)
    return _load_vmlinux(*args, **kwargs)


vmlinux.load_vmlinux = _slow_load_vmlinux
