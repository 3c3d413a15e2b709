"""The vmlinux declares what 2.4.20's headers declare, as gdb and readelf read it:
``atomic_t``'s ``volatile int counter``, ``pgd_t swapper_pg_dir[1024]`` and
``unsigned long pg0[1024]`` in every build (include/asm-i386/pgtable.h), and
``totalram_pages``/``totalhigh_pages`` static in arch/i386/mm/init.c."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from generate_cli import vmintro_cli
from test_gdb_oracle import run_gdb

from vmintro.generate import generate


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("decl")
    bases = {}
    for name, machine in (
        ("flat", {"ram": 16 << 20}),
        ("pae", {"ram": 32 << 20, "highmem": True, "pae": True}),
    ):
        generate(out / name, "minimal", machine, timeline=False)
        bases[name] = out / name
    return bases


@pytest.mark.parametrize("name", ["flat", "pae"])
def test_gdb_reads_the_declarations(gdb: str, images: dict[str, Path], name: str) -> None:
    out = run_gdb(
        gdb,
        images[name],
        ["ptype atomic_t", "whatis swapper_pg_dir", "whatis pg0", "p sizeof(swapper_pg_dir)"],
    )
    pgd = 8 if name == "pae" else 4  # pgd_t holds an unsigned long long under PAE
    assert out == [
        "type = struct {\n    volatile int counter;\n}",
        "type = pgd_t [1024]",
        "type = unsigned long [1024]",
        str(1024 * pgd),
    ]


def test_vmintro_ptype_shows_volatile(images: dict[str, Path]) -> None:
    proc = vmintro_cli(f"{images['flat']}.vmcore", "-c", "ptype atomic_t")
    assert proc.stdout == "type = struct {\n    volatile int counter;\n}\n", proc.stderr


def test_totalram_pages_is_static(gdb: str, images: dict[str, Path]) -> None:
    vmlinux = f"{images['flat']}.vmlinux"
    syms = subprocess.run(
        ["readelf", "-sW", vmlinux], capture_output=True, text=True, check=True
    ).stdout
    binds = {line.split()[-1]: line.split()[4] for line in syms.splitlines() if "OBJECT" in line}
    assert binds["totalram_pages"] == binds["totalhigh_pages"] == "LOCAL"
    assert binds["num_physpages"] == "GLOBAL"
    [where] = run_gdb(gdb, images["flat"], ["info symbol &totalram_pages"])
    assert where == "totalram_pages in section .bss"
