"""The kernel's virtual address space as one function of the machine.

Expected values are 2.4.20's, as ``../shared/reference/linux-2.4-i386-vm.md``
(section 4.3) tabulates them from the kernel's headers, or what the simulator
recorded in an image's ``.truth.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vmintro
from vmintro.arch.x86 import MachineConfig, kernel_layout, paging_mode
from vmintro.mapview.layout import address_space

MiB = 1 << 20


@pytest.mark.parametrize(
    "ram,vmalloc_start",
    [
        (32 * MiB, 0xC2800000),
        (64 * MiB, 0xC4800000),
        (128 * MiB, 0xC8800000),
        (0x07FF0000, 0xC8800000),  # an e820 map that stops short of 128 MiB
        (256 * MiB, 0xD0800000),
        (512 * MiB, 0xE0800000),
        (896 * MiB, 0xF8800000),
        (4096 * MiB, 0xF8800000),
    ],
)
def test_vmalloc_start_follows_lowmem(ram: int, vmalloc_start: int) -> None:
    for pae, highmem in ((False, False), (False, True), (True, True)):
        layout = kernel_layout(paging_mode(pae), highmem, ram)
        assert layout.vmalloc_start == vmalloc_start
        assert layout.high_memory == 0xC0000000 + min(ram, 896 * MiB)


@pytest.mark.parametrize(
    "pae,highmem,vmalloc_end,pkmap_end,fixaddr_start",
    [
        (False, False, 0xFFFFC000, None, 0xFFFFE000),  # UP, no APIC, PPro+: no fixmap slot
        (False, True, 0xFDFFE000, 0xFE400000, 0xFFFFE000 - 6 * 4096),  # KM_TYPE_NR kmap slots
        (True, True, 0xFDFFE000, 0xFE200000, 0xFFFFE000 - 6 * 4096),
    ],
)
def test_the_top_of_the_address_space(
    pae: bool, highmem: bool, vmalloc_end: int, pkmap_end: int | None, fixaddr_start: int
) -> None:
    layout = kernel_layout(paging_mode(pae), highmem, 64 * MiB)
    assert layout.vmalloc_end == vmalloc_end
    assert layout.fixaddr_start == fixaddr_start
    assert layout.fixaddr_top == 0xFFFFE000
    if pkmap_end is not None:
        assert (layout.pkmap_base, layout.pkmap_end) == (0xFE000000, pkmap_end)
    # the 16 boot-time FIX_BTMAP slots lie below FIXADDR_START
    assert layout.fixmap_lowest == fixaddr_start - 15 * 4096


@pytest.mark.parametrize(
    "stored,lowmem_end,vmalloc_start",
    [
        (0xC4000000, 0xC4000000, 0xC4800000),  # the kernel's own
        (0x00001000, 0xC0000000, 0xC0800000),  # below PAGE_OFFSET: no direct map
        (0xFF000000, 0xF8000000, 0xF8800000),  # past 896 MiB of lowmem: kept to it
    ],
)
def test_a_stored_high_memory_is_kept_within_the_direct_map(
    stored: int, lowmem_end: int, vmalloc_start: int
) -> None:
    layout = kernel_layout(paging_mode(False), False, 64 * MiB, stored)
    assert layout.high_memory == stored  # as the image says, for the picture
    assert (layout.lowmem_end, layout.vmalloc_start) == (lowmem_end, vmalloc_start)
    assert layout.vmalloc_end == 0xFFFFC000


def test_the_simulated_machine_takes_its_layout_from_arch() -> None:
    cfg = MachineConfig(ram=64 * MiB, highmem=True, pae=True)
    assert cfg.layout == kernel_layout(cfg.paging, True, 64 * MiB)
    assert (cfg.high_memory, cfg.vmalloc_start, cfg.vmalloc_end) == (
        0xC4000000,
        0xC4800000,
        0xFDFFE000,
    )
    assert MachineConfig(pse=False).paging == paging_mode(False, pse=False)


@pytest.mark.parametrize("name", ["demo", "highmem", "pae"])
def test_program_and_map_agree_with_the_simulator(image_set: dict[str, Path], name: str) -> None:
    """The reader's layout (from the stored high_memory) and the regions of the map
    are what the simulator recorded when it wrote the image.
    """
    truth = json.loads(Path(f"{image_set[name]}.truth.json").read_text())
    prog = vmintro.open(f"{image_set[name]}.vmcore")
    layout = prog.layout
    assert layout.high_memory == truth["high_memory"] == prog.high_memory
    assert (prog.vmalloc_start, prog.vmalloc_end) == (truth["vmalloc_start"], truth["vmalloc_end"])
    assert (layout.vmalloc_start, layout.vmalloc_end) == (prog.vmalloc_start, prog.vmalloc_end)
    regions = address_space(prog).regions
    assert [(r.start, r.end) for r in regions if r.kind == "vmalloc"] == [
        (truth["vmalloc_start"], truth["vmalloc_end"])
    ]
    assert all(a.end == b.start for a, b in zip(regions, regions[1:], strict=False))
    pkmap = [(r.start, r.end) for r in regions if r.kind == "pkmap"]
    if truth["config"]["highmem"]:
        size = (512 if truth["config"]["pae"] else 1024) * 4096
        assert pkmap == [(0xFE000000, 0xFE000000 + size)]
    else:
        assert pkmap == []


@pytest.mark.parametrize(
    "ram,pae,shown",
    [
        (1 << 10, False, "RAM of 1 KiB: it must be between 16M and 4G without PAE"),
        (3 * MiB, False, "RAM of 3 MiB: it must be between 16M and 4G without PAE"),
        (4100 << 10, False, "RAM of 4100 KiB: it must be between 16M and 4G without PAE"),
        (5 << 30, False, "RAM of 5 GiB: it must be between 16M and 4G without PAE"),
        (17 << 30, True, "RAM of 17 GiB: it must be between 16M and 16G with PAE"),
        (4096 + 1, False, "RAM of 4097 bytes: it must be between 16M and 4G without PAE"),
    ],
)
def test_a_size_out_of_range_is_shown_as_written_never_as_0_mib(
    ram: int, pae: bool, shown: str
) -> None:
    with pytest.raises(ValueError) as e:
        MachineConfig(ram=ram, highmem=pae, pae=pae)
    assert str(e.value) == shown
