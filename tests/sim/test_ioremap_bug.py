"""ioremap up to its BUG()s, leaving memory as arch/i386/mm/ioremap.c leaves it there,
and its unsigned long arguments (32 bits, also under PAE)."""

from __future__ import annotations

import pytest
from rawmem import VM_IOREMAP, Raw, machine

from vmintro.sim.errors import KernelBug, SimulationError

PROT = 0x063  # PRESENT | RW | DIRTY | ACCESSED


def test_one_byte_at_a_page_boundary_bugs_with_its_area_on_vmlist():
    """size = PAGE_ALIGN(last_addr) - phys_addr = 0: get_vm_area still makes an area of
    the guard page alone, then remap_area_pages hits BUG() (ioremap.c:73)."""
    k = machine(16)
    r = Raw(k)
    with pytest.raises(KernelBug, match=r"ioremap\.c:73"):
        k.vmalloc.ioremap(0xE0000000, 1)
    [(_, flags, addr, size)] = r.vmlist()
    assert (flags, addr, size) == (VM_IOREMAP, k.config.vmalloc_start, 4096)


@pytest.mark.parametrize("pae", [False, True], ids=["2level", "pae"])
def test_page_already_exists_keeps_the_earlier_ptes(pae):
    k = machine(48, pae=pae)
    r = Raw(k)
    vm = k.vmalloc
    start = k.config.vmalloc_start
    stray = start + 2 * 4096  # a pte left where the next area's third page goes
    pt = vm.pt
    pte = pt.pte_alloc(k.buddy, pt.pmd_offset(pt.pgd_offset_k(stray), stray), stray)
    pt.set_pte(pte, vm.g.mk_pte(0x1234, PROT))
    with pytest.raises(KernelBug, match=r"ioremap\.c:29"):
        vm.ioremap(0xE0000000, 4 * 4096)
    assert k.log[-1] == "remap_area_pte: page already exists"
    [(_, flags, addr, size)] = r.vmlist()
    assert (flags, addr, size) == (VM_IOREMAP, start, 5 * 4096)
    assert [r.pte(start + 4096 * i) for i in range(4)] == [
        0xE0000000 | PROT,
        0xE0001000 | PROT,
        0x1234000 | PROT,  # the one it stopped at
        0,  # never reached
    ]


def test_pae_takes_a_32_bit_physical_address():
    k = machine(48, pae=True)
    with pytest.raises(SimulationError, match="unsigned long"):
        k.vmalloc.ioremap(1 << 32, 4096)
    # last_addr = phys_addr + size - 1 wraps in 32 bits: NULL, as for wraparound
    assert k.vmalloc.ioremap(0xFFFFF000, 0x2000) is None
    assert Raw(k).vmlist() == []
