"""Run under drgn in a child process: drgn's own format_() of a few objects, as JSON.

Usage: python drgn_format.py IMAGE.vmcore IMAGE.vmlinux
"""

from __future__ import annotations

import json
import os
import sys

os.environ["DRGN_USE_LIBKDUMPFILE_FOR_ELF"] = "1"

import drgn  # noqa: E402

# (expression as a Python attribute path from prog, format_ options)
CASES = [
    ("vmlist", {}),
    ("vmlist[0]", {}),
    ("vmlist[0]", {"integer_base": 16}),
    ("vmlist[0]", {"member_type_names": False}),
    ("cache_sizes[2]", {}),
    ("swap_list", {"type_name": False}),
    ("contig_page_data.node_zones[1].free_area[0]", {}),
    ("contig_page_data.node_zones[1]", {}),
    ("mem_map[5]", {}),
    ("mem_map", {"dereference": False}),
    ("max_mapnr", {"integer_base": 8}),
]


def main() -> None:
    prog = drgn.Program()
    prog.set_core_dump(sys.argv[1])
    prog.main_module("kernel", create=True).try_file(sys.argv[2], force=True)
    out = []
    for path, options in CASES:
        root = path.split(".")[0].split("[")[0]
        obj = eval(f"prog[{root!r}]{path[len(root) :]}")  # noqa: S307 - the paths above
        out.append([path, options, obj.format_(**options)])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
