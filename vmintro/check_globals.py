"""The globals every other check trusts, checked first: against each other, the RAM
map and the limits of 2.4.20 i386.

``mem_map``, ``max_mapnr`` and ``high_memory`` size every walk of ``mem_map``;
``pgdat_list``, ``contig_page_data`` and its zones say where each zone's pages
and free lists are; ``swap_info`` and ``nr_swapfiles`` say which vmalloc area
holds each swap map. A value no kernel could have set becomes a finding naming
the global, its value and what it should be, and it never sizes an array or a
loop: the other checks get only the bounded values in :class:`Trusted`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import FaultError
from vmintro.helpers.buddy import zone_name
from vmintro.types.flags import MAX_NR_ZONES, MAX_SWAPFILES, SWP_USED, SWP_WRITEOK, ZONE_NAMES
from vmintro.types.model import Array, strip_typedefs

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["Trusted", "check_globals", "check_swap"]

# add(kind, message, **where): how a check reports one finding
Report = Callable[..., None]
# sys_swapon: maxpages = min(SWP_OFFSET(SWP_ENTRY(0, ~0UL)) - 1, last_page), 0xFFFFFE
MAX_SWAP_PAGES = 0xFFFFFE


@dataclass
class Trusted:
    """What the other checks may rely on, once the globals are checked."""

    max_mapnr: int  # bounded by the RAM the image describes
    broken: set[str] = field(default_factory=set)  # globals a whole part needs
    bad_zones: dict[int, str] = field(default_factory=dict)  # zone index -> what is wrong
    zone_labels: list[str] = field(default_factory=list)  # a name for every zone, readable


def check_globals(prog: Program, add: Report) -> Trusted:
    """Check ``mem_map``, ``max_mapnr``, ``high_memory``, ``pgdat_list`` and the node's
    zones; report what is wrong through ``add`` and return what can be trusted.
    """
    trusted = _memory(prog, add)
    _pgdat(prog, add)
    _zones(prog, add, trusted)
    return trusted


def _memory(prog: Program, add: Report) -> Trusted:
    """``mem_map``, ``max_mapnr`` and ``high_memory`` against each other and RAM."""
    mem_map = prog["mem_map"].value_()
    max_mapnr = prog["max_mapnr"].value_()
    page_size = prog.type("struct page").size
    max_low_pfn = prog.read_u32(prog.symbol("max_low_pfn").address)
    pages = prog.ram_pages
    node_mem_map = prog["contig_page_data"].node_mem_map.value_()
    num_physpages = prog["num_physpages"].value_()
    lowmem_end = PAGE_OFFSET + (max_low_pfn << PAGE_SHIFT)
    trusted = Trusted(max_mapnr=max_mapnr)

    def inconsistent(symbol: str, message: str, breaks: bool = True) -> None:
        add("global_inconsistent", message, symbol=prog.symbol(symbol).address)
        if breaks:  # the parts sized or placed by it cannot run
            trusted.broken.add(symbol)

    if mem_map != node_mem_map or not PAGE_OFFSET <= mem_map < lowmem_end:
        inconsistent(
            "mem_map",
            f"mem_map is {mem_map:#x} but contig_page_data.node_mem_map is "
            f"{node_mem_map:#x} (lowmem ends at {lowmem_end:#x})",
        )
    if max_mapnr != num_physpages or not 0 < max_mapnr <= max(pages, 1):
        inconsistent(
            "max_mapnr",
            f"max_mapnr is {max_mapnr:#x}, num_physpages {num_physpages:#x}, "
            f"and RAM holds {pages:#x} pages",
            breaks=False,  # the parts go on with it bounded by RAM
        )
        trusted.max_mapnr = min(max_mapnr, pages)
    end = mem_map + trusted.max_mapnr * page_size
    if "mem_map" not in trusted.broken and end > lowmem_end:
        inconsistent(
            "mem_map",
            f"mem_map {mem_map:#x} with {trusted.max_mapnr:#x} struct pages ends at {end:#x}, "
            f"past the end of lowmem ({lowmem_end:#x}), where bootmem put it",
        )
    if prog.high_memory != lowmem_end:
        inconsistent(
            "high_memory",
            f"high_memory is {prog.high_memory:#x} but max_low_pfn {max_low_pfn:#x} "
            f"puts the end of lowmem at {lowmem_end:#x}",
        )
    return trusted


def _pgdat(prog: Program, add: Report) -> None:
    """``pgdat_list`` and the ``node_next`` chain: without DISCONTIGMEM the one node
    is ``contig_page_data``, whose ``node_next`` is NULL (``free_area_init_core``
    pushes it on an empty list).
    """
    contig = prog["contig_page_data"]
    node = contig.address_
    head = prog["pgdat_list"].value_()
    if head != node:
        add(
            "pgdat_list_corrupt",
            f"pgdat_list is {head:#x}, not contig_page_data ({node:#x}), the only node of "
            "a kernel without DISCONTIGMEM",
            symbol=prog.symbol("pgdat_list").address,
        )
    nxt = contig.node_next.value_()
    if nxt:
        why = "itself: for_each_pgdat never ends" if nxt == node else "another node"
        add(
            "pgdat_list_corrupt",
            f"contig_page_data.node_next is {nxt:#x}, but the only node has none; it points "
            f"at {why}",
            symbol=contig.node_next.address_,
        )
    for member, expected in (("node_start_paddr", 0), ("node_start_mapnr", 0)):
        value = contig.member_(member).value_()
        if value != expected:
            add(
                "pgdat_list_corrupt",
                f"contig_page_data.{member} is {value:#x}: the node starts at frame 0",
                symbol=contig.member_(member).address_,
            )


def _zones(prog: Program, add: Report, trusted: Trusted) -> None:
    """``nr_zones``, ``zone_table`` and each zone as ``free_area_init_core`` laid
    them out: one after another from frame 0, each with its part of ``mem_map``.
    """
    contig = prog["contig_page_data"]
    zones = contig.node_zones
    count = min(_length(zones), MAX_NR_ZONES)
    mem_map = prog["mem_map"].value_()
    page_size = prog.type("struct page").size
    start = 0  # zone_start_mapnr of the next zone: the sizes of those before it
    last = -1  # the last zone with pages: nr_zones is one more
    for j in range(count):
        zone = zones[j]
        where = f"contig_page_data.node_zones[{j}]"
        trusted.zone_labels.append(_zone_label(zone, j, where, add, trusted))
        _zone_links(prog, zone, j, where, add, trusted)
        size = zone.size.value_()
        if not size:
            continue
        last = j
        first = zone.zone_start_mapnr.value_()
        wrong = []
        if first != start:
            wrong.append(
                f"zone_start_mapnr is {first:#x}, but the zones before it end at {start:#x}"
            )
        if first + size > trusted.max_mapnr:
            wrong.append(
                f"its {size:#x} pages from {first:#x} run past max_mapnr {trusted.max_mapnr:#x}"
            )
        paddr = zone.zone_start_paddr.value_()
        if paddr != first << PAGE_SHIFT:
            wrong.append(f"zone_start_paddr is {paddr:#x}, not {first << PAGE_SHIFT:#x}")
        zmap = zone.zone_mem_map.value_()
        expected = mem_map + first * page_size
        if zmap != expected and "mem_map" not in trusted.broken:  # else said of mem_map
            wrong.append(f"zone_mem_map is {zmap:#x}, not mem_map + {first:#x} ({expected:#x})")
        free = zone.free_pages.value_()
        if free > size:
            wrong.append(f"free_pages is {free:#x}, more than its {size:#x} pages")
        for why in wrong:
            add("zone_corrupt", f"{where} ({trusted.zone_labels[j]}): {why}", zone=zone.address_)
        if wrong:
            trusted.bad_zones.setdefault(j, wrong[0])
        start += size
    nr_zones = contig.nr_zones.value_()  # an int: printed as C prints it
    if nr_zones != last + 1:
        bound = ""
        if not 0 < nr_zones <= MAX_NR_ZONES:
            bound = f", outside 1..MAX_NR_ZONES ({MAX_NR_ZONES})"
        add(
            "zone_corrupt",
            f"contig_page_data.nr_zones is {nr_zones}{bound}; the last zone with pages "
            f"is node_zones[{last}]",
            symbol=contig.nr_zones.address_,
        )
    node_size = contig.node_size.value_()
    if node_size != start:
        add(
            "zone_corrupt",
            f"contig_page_data.node_size is {node_size:#x}, but its zones hold {start:#x} pages",
            symbol=contig.node_size.address_,
        )


def _zone_label(zone: Object, j: int, where: str, add: Report, trusted: Trusted) -> str:
    """The zone's name for messages: ``zone->name``, or the kernel's name for index
    ``j`` when the pointer leads nowhere (that is a finding of its own).
    """
    try:
        name = zone_name(zone)
    except FaultError:
        add(
            "zone_corrupt",
            f"{where}.name is {zone.name.value_():#x}, which cannot be read",
            zone=zone.address_,
        )
        trusted.bad_zones.setdefault(j, "its name cannot be read")
        return ZONE_NAMES[j] if j < len(ZONE_NAMES) else f"zone {j}"
    if j < len(ZONE_NAMES) and name != ZONE_NAMES[j]:
        add(
            "zone_corrupt",
            f"{where}.name is {zone.name.value_():#x}, which does not hold "
            f"'{ZONE_NAMES[j]}' as zone_names[{j}] does",
            zone=zone.address_,
        )
        return ZONE_NAMES[j]
    return name


def _zone_links(
    prog: Program, zone: Object, j: int, where: str, add: Report, trusted: Trusted
) -> None:
    """``zone_table[j]`` and ``zone->zone_pgdat`` lead back to the zone and its node."""
    node = prog["contig_page_data"].address_
    table = prog["zone_table"]
    if j < _length(table) and table[j].value_() != zone.address_:
        add(
            "zone_corrupt",
            f"zone_table[{j}] is {table[j].value_():#x}, not {where} ({zone.address_:#x})",
            symbol=table[j].address_,
        )
    pgdat = zone.zone_pgdat.value_()
    if pgdat != node:
        add(
            "zone_corrupt",
            f"{where}.zone_pgdat is {pgdat:#x}, not contig_page_data ({node:#x})",
            zone=zone.address_,
        )


def _length(array: Object) -> int:
    """The element count of an array object, from its type (nothing is read)."""
    ctype = strip_typedefs(array.type_)
    return ctype.count if isinstance(ctype, Array) else 0


def check_swap(prog: Program, add: Report, areas: dict[int, tuple[int, int]] | None) -> None:
    """``nr_swapfiles`` and each ``swap_info`` slot as ``sys_swapon`` and
    ``sys_swapoff`` leave them; ``areas`` maps each vm area's address to its
    (vm_struct, size), or is None when vmlist could not be read whole.
    """
    info = prog["swap_info"]
    slots = min(_length(info), MAX_SWAPFILES)
    nr = prog["nr_swapfiles"].value_()
    if nr > slots:
        add(
            "swap_info_corrupt",
            f"nr_swapfiles is {nr:#x}, more than MAX_SWAPFILES ({MAX_SWAPFILES})",
            symbol=prog.symbol("nr_swapfiles").address,
        )
    for i in range(slots):
        _swap_slot(prog, add, info[i], i, nr, areas)
    swap_list = prog["swap_list"]
    for member in ("head", "next"):
        index = swap_list.member_(member).value_()
        if index != -1 and not 0 <= index < min(nr, slots):
            add(
                "swap_info_corrupt",
                f"swap_list.{member} is {index}, not -1 nor a slot below nr_swapfiles ({nr})",
                symbol=swap_list.member_(member).address_,
            )


def _swap_slot(
    prog: Program,
    add: Report,
    slot: Any,
    i: int,
    nr: int,
    areas: dict[int, tuple[int, int]] | None,
) -> None:
    where = f"swap_info[{i}]"
    flags = slot.flags.value_()
    swap_map = slot.swap_map.value_()
    at = {"swap_info": slot.address_}
    if flags not in (0, SWP_USED, SWP_WRITEOK):
        add(
            "swap_info_corrupt",
            f"{where}.flags is {flags:#x}, not 0, SWP_USED or SWP_WRITEOK",
            **at,
        )
        return
    if flags and i >= nr:
        add("swap_info_corrupt", f"{where} is in use, but nr_swapfiles is {nr}", **at)
    if not flags & SWP_USED:
        if swap_map:  # sys_swapoff and a failed sys_swapon both clear it
            add("swap_info_corrupt", f"{where} is free, but its swap_map is {swap_map:#x}", **at)
        return
    if flags != SWP_WRITEOK:
        return  # between swapon's steps, or swapoff's: swap_map may be anything yet
    maxpages = slot.max.value_()
    start, end = prog.vmalloc_start, prog.vmalloc_end
    if not start <= swap_map < end or swap_map % PAGE_SIZE:
        add(
            "swap_info_corrupt",
            f"{where}.swap_map is {swap_map:#x}, not the start of a vmalloc area "
            f"({start:#x}-{end:#x})",
            **at,
        )
        return
    pages = slot.pages.value_()
    if not 0 < maxpages <= MAX_SWAP_PAGES or not 0 < pages < maxpages:
        add(
            "swap_info_corrupt",
            f"{where}.max is {maxpages:#x} and pages {pages:#x}: a swap area has "
            f"1 to {MAX_SWAP_PAGES:#x} pages, the header page not usable",
            **at,
        )
        return
    if areas is None:
        return
    area = areas.get(swap_map)
    expected = -(-maxpages * 2 // PAGE_SIZE) * PAGE_SIZE + PAGE_SIZE
    if area is None:
        add(
            "swap_info_corrupt",
            f"{where}.swap_map {swap_map:#x} is the start of no vm area on vmlist",
            **at,
        )
    elif area[1] != expected:
        add(
            "swap_info_corrupt",
            f"{where}.max is {maxpages:#x}, so its swap_map = vmalloc({maxpages * 2:#x}) "
            f"has size {expected:#x}, but vm_struct {area[0]:#x} at {swap_map:#x} "
            f"has size {area[1]:#x}",
            vm_struct=area[0],
            **at,
        )
