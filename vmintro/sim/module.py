"""Loadable modules (``kernel/module.c``): ``create_module``, ``init_module``, ``delete_module``.

Module memory comes from ``vmalloc`` (``module_map``). The image insmod hands
the kernel is synthesised: ``struct module`` at offset 0 (``.this``), code,
then ``.kstrtab`` with the name and exported symbol names, then ``__ksymtab``.
"""

from __future__ import annotations

import random
import struct

from vmintro.sim.boot import Kernel
from vmintro.sim.errors import LoopGuard, SimulationError, kernel_function
from vmintro.sim.vmaccess import vread, vwrite
from vmintro.types.flags import GFP_KERNEL, MOD_FLAGS

__all__ = ["delete_module", "find_module", "insmod", "module_cleanup", "unlink_module"]

MOD = "struct module"
# sys_create_module and sys_delete_module run under lock_kernel(); free_module takes
# modlist_lock with spin_lock_irqsave, so its walk spins with interrupts off.
BKL = "the big kernel lock held"
MODLIST_LOCK = "modlist_lock held and interrupts off"


def _get_mod_name(k: Kernel, name: str) -> int:
    """``get_mod_name``: the name copied into a fresh page (freed by the caller)."""
    page = k.buddy.get_free_pages(GFP_KERNEL, 0)
    if page is None:
        raise SimulationError("-ENOMEM")
    k.write(page, name.encode() + b"\0")
    return page


@kernel_function("find_module")
def find_module(k: Kernel, name: str) -> int:
    """``find_module``: walk ``module_list`` to NULL, skipping MOD_DELETED modules.

    :raises KernelHang: the list loops without the module on it.
    """
    guard = LoopGuard("find_module", "module_list", BKL)
    mod = k.r32(k.sym("module_list"))
    while mod:
        guard.visit(mod)
        flags = k.get(mod, MOD, "flags")
        if not flags & MOD_FLAGS["MOD_DELETED"]:
            raw = vread(k, k.get(mod, MOD, "name"), 64) if k.get(mod, MOD, "name") else b""
            if raw.split(b"\0")[0].decode(errors="replace") == name:
                return mod
        mod = k.get(mod, MOD, "next")
    return 0


def insmod(k: Kernel, name: str, size: int, rng: random.Random, exports: int = 4) -> int:
    """``insmod``: ``sys_create_module`` then ``sys_init_module`` with a synthesised image."""
    mod = sys_create_module(k, name, size)
    sys_init_module(k, name, mod, rng, exports)
    return mod


@kernel_function("sys_create_module", entry=("name_user=name", "size"), returns="pointer")
def sys_create_module(k: Kernel, name: str, size: int) -> int:
    """``sys_create_module``: a vmalloc'ed module of ``size`` bytes, linked on
    ``module_list``; its address."""
    msize = k.types.sizeof(MOD)
    if size < msize + len(name):
        raise SimulationError(f"insmod {name}: -EINVAL (size {size} too small)")
    if find_module(k, name):
        raise SimulationError(f"insmod {name}: -EEXIST")
    name_page = _get_mod_name(k, name)
    mod = k.vmalloc.vmalloc(size, owner=f"module {name}")
    if mod is None:
        k.buddy.free_page_vaddr(name_page)
        raise SimulationError(f"insmod {name}: -ENOMEM")
    vwrite(k, mod, bytes(msize))
    raw_name = name.encode() + b"\0"
    vwrite(k, mod + msize, raw_name)
    k.set_many(mod, MOD, size_of_struct=msize, name=mod + msize, size=size)
    k.buddy.free_page_vaddr(name_page)
    k.set(mod, MOD, "next", k.r32(k.sym("module_list")))
    k.w32(k.sym("module_list"), mod)
    return mod


@kernel_function("sys_init_module", entry=("name_user=name",), returns="zero")
def sys_init_module(k: Kernel, name: str, mod: int, rng: random.Random, exports: int) -> None:
    """``sys_init_module``: two name pages and a kmalloc'ed copy of the name, the
    insmod image copied over the module, then its init run."""
    size = k.get(mod, MOD, "size")
    raw_name = name.encode() + b"\0"
    name_page = _get_mod_name(k, name)
    name_copy = k.slab.kmalloc(len(raw_name), GFP_KERNEL)
    n_name_page = _get_mod_name(k, name)  # the name the new header's pointer leads to
    image = _insmod_image(k, mod, name, size, rng, exports)
    saved_next = k.get(mod, MOD, "next")
    vwrite(k, mod, image)
    k.set(mod, MOD, "next", saved_next)
    k.set(mod, MOD, "refs", 0)
    k.buddy.free_page_vaddr(n_name_page)
    k.buddy.free_page_vaddr(name_page)
    k.set(mod, MOD, "uc.usecount.counter", 1)
    k.set(mod, MOD, "flags", k.get(mod, MOD, "flags") | MOD_FLAGS["MOD_INITIALIZING"])
    k.set(mod, MOD, "uc.usecount.counter", 0)
    k.set(
        mod,
        MOD,
        "flags",
        (k.get(mod, MOD, "flags") | MOD_FLAGS["MOD_RUNNING"]) & ~MOD_FLAGS["MOD_INITIALIZING"],
    )
    if name_copy is not None:
        k.slab.kfree(name_copy)


def _insmod_image(
    k: Kernel, mod: int, name: str, size: int, rng: random.Random, exports: int
) -> bytes:
    """The bytes insmod would pass: header, code, ``.kstrtab``, ``__ksymtab``."""
    msize = k.types.sizeof(MOD)
    img = bytearray(rng.randbytes(size))
    strtab = bytearray(name.encode() + b"\0")
    symnames = [f"{name}_sym{i}" for i in range(exports)]
    offsets = []
    for s in symnames:
        offsets.append(len(strtab))
        strtab += s.encode() + b"\0"
    ksymtab_size = 8 * exports
    tail = len(strtab) + ksymtab_size + 8
    if msize + 64 + tail > size:
        exports = 0
        symnames, offsets, strtab = [], [], bytearray(name.encode() + b"\0")
        ksymtab_size = 0
        tail = len(strtab) + 4
    code_end = size - tail
    strtab_at = code_end
    ksymtab_at = (strtab_at + len(strtab) + 3) & ~3
    img[strtab_at : strtab_at + len(strtab)] = strtab
    for i, off in enumerate(offsets):
        value = mod + msize + rng.randrange(0, max(1, code_end - msize - 16))
        img[ksymtab_at + 8 * i : ksymtab_at + 8 * i + 8] = struct.pack(
            "<II", value, mod + strtab_at + off
        )
    header = {
        "size_of_struct": msize,
        "next": 0,
        "name": mod + strtab_at,
        "size": size,
        "uc.usecount.counter": 0,
        "flags": 0,
        "nsyms": exports,
        "ndeps": 0,
        "syms": mod + ksymtab_at if exports else 0,
        "deps": 0,
        "refs": 0,
        "init": mod + msize,
        "cleanup": mod + msize + 16,
    }
    img[:msize] = bytes(msize)
    for path, value in header.items():
        off, width = k.member(MOD, path)
        img[off : off + width] = value.to_bytes(width, "little")
    return bytes(img)


@kernel_function("sys_delete_module", entry=("name_user=name",), returns="zero")
def delete_module(k: Kernel, name: str, buffer: int | None = None) -> None:
    """``sys_delete_module``: MOD_DELETED, ``free_module``: the module's cleanup
    (``vfree`` of ``buffer``, when its driver holds one), unlink, then ``vfree``."""
    name_page = _get_mod_name(k, name)
    mod = find_module(k, name)
    k.buddy.free_page_vaddr(name_page)  # put_mod_name, before free_module
    if not mod or mod == k.sym("kernel_module"):
        raise SimulationError(f"rmmod {name}: -ENOENT")
    if k.get(mod, MOD, "refs") or k.get(mod, MOD, "uc.usecount.counter"):
        raise SimulationError(f"rmmod {name}: -EBUSY")
    module_cleanup(k, mod, buffer)
    unlink_module(k, mod)
    k.vmalloc.vfree(mod)


def module_cleanup(k: Kernel, mod: int, buffer: int | None = None) -> None:
    """``free_module``'s ``mod->cleanup()``, a driver's that ``vfree``s the ``buffer``
    it ``vmalloc``ed while it ran (if any), then MOD_RUNNING cleared; MOD_DELETED,
    which ``sys_delete_module`` sets just before under the same big kernel lock, is
    written with it (nothing reads the flags in between)."""
    if buffer is not None and not k.vmalloc.vfree(buffer):
        raise SimulationError(f"module cleanup: no vmalloc area at {buffer:#x}")
    flags = k.get(mod, MOD, "flags") | MOD_FLAGS["MOD_DELETED"]
    k.set(mod, MOD, "flags", flags & ~MOD_FLAGS["MOD_RUNNING"])


@kernel_function("free_module")
def unlink_module(k: Kernel, mod: int) -> None:
    """``free_module``'s unlink from ``module_list``: the head, or walk to the predecessor.

    :raises KernelHang: the list loops without ``mod`` on it.
    :raises PageFault: the walk reaches NULL (``p->next`` of a NULL ``p``).
    """
    head = k.sym("module_list")
    if k.r32(head) == mod:
        k.w32(head, k.get(mod, MOD, "next"))
        return
    guard = LoopGuard("free_module", "module_list", MODLIST_LOCK)
    o_next = k.member(MOD, "next")[0]
    p = k.r32(head)
    while True:
        guard.visit(p)
        nxt = k.r32(p + o_next)
        if nxt == mod:
            break
        p = nxt
    k.w32(p + o_next, k.get(mod, MOD, "next"))
