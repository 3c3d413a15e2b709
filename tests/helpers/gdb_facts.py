"""Run inside gdb (``gdb -batch -nx VMLINUX VMCORE -x gdb_facts.py``): what gdb itself
reads from an image about the kernel state the helpers walk, printed as one JSON line.

gdb knows nothing of vmintro: its DWARF reader gives the types and offsets, its core
reader the memory (lowmem, at ``PAGE_OFFSET + paddr``, where every structure read
here lives). The free lists are walked here, link by link, as ``list_for_each`` walks
them; ``mem_map`` is read whole and taken apart with the offsets gdb gives.
(``module_list`` lives in vmalloc memory, which gdb cannot read from a core:
``drgn_modules.py`` reads it.)
"""

import json
import struct

import gdb

BOUND = 1 << 20  # no list of a test image is this long: a cycle must not hang the test


def offset(type_name, member):
    for f in gdb.lookup_type(type_name).fields():
        if f.name == member:
            return f.bitpos // 8
    raise KeyError(f"{type_name}.{member}")


def value(expr):
    return int(gdb.parse_and_eval(expr))


def free_lists(zone, list_off):
    """[{"head": address of free_list, "pages": [page address, ...]} for each order],
    each list in its order from ``free_list.next``."""
    free_area = zone["free_area"]
    low, high = free_area.type.range()
    list_head_p = gdb.lookup_type("struct list_head").pointer()
    orders = []
    for order in range(low, high + 1):
        head = int(free_area[order]["free_list"].address)
        pages = []
        pos = int(free_area[order]["free_list"]["next"])
        while pos != head and len(pages) < BOUND:
            pages.append(pos - list_off)
            pos = int(gdb.Value(pos).cast(list_head_p)["next"])
        orders.append({"head": head, "pages": pages})
    return orders


def zones():
    list_off = offset("struct page", "list")
    node_zones = gdb.parse_and_eval("contig_page_data.node_zones")
    low, high = node_zones.type.range()
    out = []
    for i in range(low, high + 1):
        zone = node_zones[i]
        out.append(
            {
                "address": int(zone.address),
                "name": zone["name"].string(),
                "size": int(zone["size"]),
                "free_pages": int(zone["free_pages"]),
                "zone_start_mapnr": int(zone["zone_start_mapnr"]),
                # an empty zone's lists were never initialised (free_area_init_core
                # skips it): NULL links, no list to walk
                "free_lists": free_lists(zone, list_off) if int(zone["size"]) else None,
            }
        )
    return out


def mem_map():
    """flags, count and (with HIGHMEM) virtual of every struct page, by pfn."""
    size = gdb.lookup_type("struct page").sizeof
    count = value("max_mapnr")
    raw = bytes(gdb.selected_inferior().read_memory(value("mem_map"), size * count))
    fields = {"flags": offset("struct page", "flags"), "count": offset("struct page", "count")}
    names = [f.name for f in gdb.lookup_type("struct page").fields()]
    if "virtual" in names:
        fields["virtual"] = offset("struct page", "virtual")
    return {
        name: [struct.unpack_from("<I", raw, pfn * size + off)[0] for pfn in range(count)]
        for name, off in fields.items()
    }


facts = {
    "max_mapnr": value("max_mapnr"),
    "mem_map": value("mem_map"),
    "sizeof_page": gdb.lookup_type("struct page").sizeof,
    "page_list_offset": offset("struct page", "list"),
    "zone_table": [value(f"zone_table[{i}]") for i in range(3)],
    "zones": zones(),
    "pages": mem_map(),
}
print("FACTS " + json.dumps(facts))
