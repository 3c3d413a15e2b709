"""The buffer heads of the page cache's pages (fs/buffer.c): reclaim frees them with
the pages (``try_to_release_page`` -> ``try_to_free_buffers``)."""

from __future__ import annotations

from rawmem import KC_FULL, KC_PARTIAL, SLAB_INUSE, Raw, check_buddy
from test_oom import _drain

from vmintro.arch.x86 import MachineConfig
from vmintro.sim.boot import boot

GFP_KERNEL = 0x1F0
MAX_UNUSED_BUFFERS = 100  # NR_RESERVED + 20


def _objects_in_use(r: Raw, cachep: int) -> int:
    return sum(
        r.u32(slab + SLAB_INUSE)
        for lst in (KC_FULL, KC_PARTIAL)
        for slab in r.list_nodes(cachep + lst)
    )


def test_reclaim_gives_back_each_evicted_page_s_buffer_head():
    """Every cached page holds one buffer head (count 2); reclaim takes the buffers
    off each page it evicts and, unused_list being full, back to bh_cachep, then
    frees the page."""
    k = boot(MachineConfig(ram=16 << 20), page_cache=0.5, seed=1)
    r = Raw(k)
    bh_cachep = r.u32(k.sym("bh_cachep"))
    cache = k.sym("page_cache_size")
    before, in_use = r.u32(cache), _objects_in_use(r, bh_cachep)
    unused = r.u32(k.sym("nr_unused_buffer_heads"))
    assert unused == MAX_UNUSED_BUFFERS
    assert in_use == before + unused  # the cached pages' and unused_list's
    taken = _drain(k, r)
    for _ in range(200):
        taken.append(k.buddy.alloc_pages(GFP_KERNEL, 0))
    assert all(taken)
    evicted = before - r.u32(cache)
    assert evicted >= 200
    assert _objects_in_use(r, bh_cachep) == in_use - evicted
    assert r.u32(k.sym("nr_unused_buffer_heads")) == MAX_UNUSED_BUFFERS
    for page in r.list_nodes(k.sym("inactive_list"))[:50]:
        page -= k.types.offsetof("struct page", "lru")
        bh = k.get(page, "struct page", "buffers")
        assert bh and k.get(bh, "struct buffer_head", "b_page") == page
        assert k.get(page, "struct page", "count.counter") == 2
    check_buddy(r)
