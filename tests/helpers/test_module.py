"""``vmintro.helpers.module``: ``module_list`` against drgn's reading of it (each
``struct module`` lives in vmalloc memory) and the modules the scenario loaded."""

from __future__ import annotations

from typing import Any

from helpers.kernels import Kernel
from vmintro.helpers import MOD_FLAGS, decode_module_flags, for_each_module, module_name

# include/linux/module.h of 2.4.20: bit i of mod->flags, from 0x01 up
# (MOD_UNINITIALIZED is 0, no bit)
KERNEL_MOD_FLAG_BITS = (
    "MOD_RUNNING",
    "MOD_DELETED",
    "MOD_AUTOCLEAN",
    "MOD_VISITED",
    "MOD_USED_ONCE",
    "MOD_JUST_FREED",
    "MOD_INITIALIZING",
)


def _loaded(kernel: Kernel) -> list[tuple[int, str]]:
    """(address, name) of each module the scenario loaded and did not unload, newest
    first: sys_create_module puts the struct module at the start of its vmalloc area."""
    live = {a["addr"] for a in kernel.truth["areas"] if a["owner"].startswith("module ")}
    inserted = [(e["addr"], e["name"]) for e in kernel.truth["events"] if e["op"] == "insmod"]
    return [m for m in reversed(inserted) if m[0] in live]


def test_for_each_module_and_module_name(kernel: Kernel, drgn_modules: dict[str, Any]) -> None:
    modules = list(for_each_module(kernel.prog))
    assert {m.type_.c_name for m in modules} == {"struct module *"}
    ours = [(m.value_(), module_name(m)) for m in modules]
    assert ours == _loaded(kernel)
    assert len(ours) >= 3  # the demo loads four modules and removes one
    theirs = drgn_modules["modules"]
    assert theirs[-1]["address"] == drgn_modules["kernel_module"]  # the kernel ends the list
    assert ours == [(m["address"], m["name"]) for m in theirs[:-1]]


def test_for_each_module_with_the_kernel(kernel: Kernel, drgn_modules: dict[str, Any]) -> None:
    modules = list(for_each_module(kernel.prog, include_kernel=True))
    assert [m.value_() for m in modules] == [m["address"] for m in drgn_modules["modules"]]
    assert modules[-1].value_() == kernel.prog["kernel_module"].address_
    assert module_name(modules[-1]) == ""  # kernel_module's name is ""


def test_MOD_FLAGS_are_the_kernels() -> None:  # noqa: N802
    assert MOD_FLAGS == {name: 1 << bit for bit, name in enumerate(KERNEL_MOD_FLAG_BITS)}


def test_decode_module_flags(kernel: Kernel, drgn_modules: dict[str, Any]) -> None:
    for mod, theirs in zip(
        for_each_module(kernel.prog, include_kernel=True), drgn_modules["modules"], strict=True
    ):
        flags = mod.flags.value_()
        assert flags == theirs["flags"]
        assert decode_module_flags(flags) == [
            name for bit, name in enumerate(KERNEL_MOD_FLAG_BITS) if flags >> bit & 1
        ]
        # sys_init_module: every module loaded here initialised without error
        assert decode_module_flags(flags) == ["MOD_RUNNING"]


def test_decode_module_flags_of_values() -> None:
    assert decode_module_flags(0) == []  # MOD_UNINITIALIZED
    assert decode_module_flags(0x19) == ["MOD_RUNNING", "MOD_VISITED", "MOD_USED_ONCE"]
    assert decode_module_flags(0x7F) == list(KERNEL_MOD_FLAG_BITS)
    assert decode_module_flags(0x181) == ["MOD_RUNNING", "0x180"]  # unknown bits as one number
