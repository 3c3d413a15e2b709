"""Slab helpers against what the simulator recorded of its kmallocs."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.slab_image import SlabImage, build_slab_image
from vmintro.helpers import (
    SlabCacheStats,
    SlabObjectInfo,
    find_slab_cache,
    for_each_slab,
    for_each_slab_cache,
    kmem_cache_stats,
    slab_cache_name,
    slab_free_objects,
    slab_object_info,
)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> SlabImage:
    return build_slab_image(Path(tmp_path_factory.mktemp("slab")))


def test_cache_chain_starts_at_cache_cache_and_holds_the_general_caches(image: SlabImage) -> None:
    prog = image.prog
    caches = list(for_each_slab_cache(prog))
    assert int(caches[0]) == prog["cache_cache"].address_
    names = [slab_cache_name(c) for c in caches]
    assert names[0] == "kmem_cache"
    # 2.4.20's kmem_cache_sizes_init: size-32 .. size-131072, each with a DMA twin
    for size in (32 << i for i in range(13)):
        assert f"size-{size}" in names and f"size-{size}(DMA)" in names
    # and vfs_caches_init's, last created, so first after cache_cache
    vfs = ["kiobuf", "cdev_cache", "bdev_cache", "mnt_cache", "inode_cache", "dentry_cache"]
    assert names[1:7] == vfs
    assert len(names) == len(set(names))


def test_objects_in_use_per_cache_are_what_was_kmalloced(image: SlabImage) -> None:
    for name, (in_use, objsize) in image.caches.items():
        cache = find_slab_cache(image.prog, name)
        assert cache is not None, name
        stats = kmem_cache_stats(cache)
        assert isinstance(stats, SlabCacheStats)
        assert stats.allocated == in_use, name
        assert stats.objsize == (objsize or stats.objsize), name
        assert stats.total == stats.slabs * cache.num.value_()
    assert find_slab_cache(image.prog, "no-such-cache") is None


def test_every_kmalloced_object_is_found_allocated(image: SlabImage) -> None:
    for addr, size in image.allocated.items():
        for inside in (addr, addr + size - 1):
            info = slab_object_info(image.prog, inside)
            assert isinstance(info, SlabObjectInfo)
            assert info.address == addr and info.allocated is True
            assert info.slab_cache.objsize.value_() >= size
            assert repr(info).startswith("SlabObjectInfo(slab_cache=Object(prog, 'kmem_cache_t *'")


def test_kfreed_objects_are_free_and_on_the_bufctl_chain(image: SlabImage) -> None:
    for addr in image.freed:
        info = slab_object_info(image.prog, addr)
        assert info is not None and info.allocated is False and info.address == addr
        index = (addr - info.slab.s_mem.value_()) // info.slab_cache.objsize.value_()
        assert index in slab_free_objects(info.slab_cache, info.slab)


def test_slab_lists_hold_each_slab_once_with_consistent_counts(image: SlabImage) -> None:
    for cache in for_each_slab_cache(image.prog):
        seen = set()
        num = cache.num.value_()
        for lst, slab in for_each_slab(cache):
            assert int(slab) not in seen
            seen.add(int(slab))
            free = len(slab_free_objects(cache, slab))
            assert slab.inuse.value_() + free == num
            expected = {0: "slabs_free", num: "slabs_full"}.get(
                slab.inuse.value_(), "slabs_partial"
            )
            assert lst == expected


def test_addresses_outside_slabs_are_none(image: SlabImage) -> None:
    prog = image.prog
    assert slab_object_info(prog, prog["vmlist"].address_) is None  # the kernel image
    assert slab_object_info(prog, 0x1000) is None  # user space
    assert slab_object_info(prog, prog.vmalloc_start) is None
    # the slab_t of an on-slab cache is in the slab's page, in no object
    some = next(iter(image.allocated))
    info = slab_object_info(prog, some)
    assert info is not None
    if int(info.slab) < info.slab.s_mem.value_():
        head = slab_object_info(prog, int(info.slab))
        assert head is not None and head.allocated is None and head.address == 0


def test_a_cache_no_kernel_makes_is_refused_before_it_sizes_a_walk(tmp_path: Path) -> None:
    import vmintro
    from vmintro.arch.x86 import MachineConfig
    from vmintro.errors import CorruptionError
    from vmintro.image.writer.install import write_image
    from vmintro.image.writer.snapshot import snapshot
    from vmintro.sim.boot import boot

    k = boot(MachineConfig(ram=16 << 20))
    obj = k.slab.kmalloc(40)
    assert obj is not None
    cache = next(c for size, c, _dma in k.slab.sizes if size == 64)
    k.set(cache, "kmem_cache_t", "gfporder", 40)  # a slab of 2**40 pages
    write_image(snapshot(k, {"scenario": "bad cache"}), tmp_path / "bad")
    prog = vmintro.open(tmp_path / "bad")
    bad = find_slab_cache(prog, "size-64")
    assert bad is not None
    with pytest.raises(CorruptionError, match=r"^kmem_cache_t at 0x[0-9a-f]+: .* order 40"):
        kmem_cache_stats(bad)
    with pytest.raises(CorruptionError):
        slab_object_info(prog, obj)
