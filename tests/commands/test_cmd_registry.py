"""The registration API plugins use, argument parsing, help and rendering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vmintro.commands import (
    Column,
    CommandError,
    Row,
    Table,
    Text,
    UsageError,
    arg,
    command,
    lookup,
    names,
    prepare,
    run,
    unregister,
)
from vmintro.commands.render import json_document, part_to_json, render_text
from vmintro.helpers import for_each_vm_area

DEMO = Path(__file__).resolve().parents[2] / "images" / "demo"


@pytest.fixture
def plugin():
    """A command registered through the public API, removed afterwards."""

    @command(
        "areasize",
        help="sizes of the vmalloc areas",
        aliases=("asz",),
        args=[arg("minimum", type=int, nargs="?", default=0)],
    )
    def areasize(prog, args):
        """Longer help text."""
        rows = (
            Row(addr=a.addr.value_(), size=a.size.value_())
            for a in for_each_vm_area(prog)
            if a.size.value_() >= args.minimum
        )
        return Table([Column("addr", "ADDR", "x"), Column("size", "SIZE", "d", 8, ">")], rows, "a")

    yield areasize
    unregister("areasize")


def test_a_plugin_command_runs_by_name_and_alias(prog, truth, plugin) -> None:
    [table] = run(prog, "asz 1000000")
    assert [r["addr"] for r in table.rows] == [
        a["addr"] for a in truth["areas"] if a["size"] >= 1000000
    ]
    assert lookup("areasize") is lookup("asz")
    assert {"areasize", "asz"} <= set(names())


def test_plugin_commands_appear_in_help_and_plugins(prog, show, plugin) -> None:
    assert "areasize  asz          sizes of the vmalloc areas" in show("help")
    listing = show("plugins")
    assert "areasize" in listing and "test_cmd_registry" in listing
    assert "Longer help text." in show("help areasize")
    assert "no plugin commands loaded" not in listing


def test_names_cannot_be_taken_twice(plugin) -> None:
    with pytest.raises(ValueError, match="already taken"):
        command("vtop", help="x")(lambda prog, args: None)
    with pytest.raises(ValueError, match="already taken"):
        command("other", help="x", aliases=("asz",))(lambda prog, args: None)


def test_unknown_command_suggests_the_closest(prog) -> None:
    with pytest.raises(UsageError) as info:
        prepare(prog, ["vmlst"])
    assert str(info.value) == "vmlst: command not found (did you mean 'vmlist'?)"


def test_bad_arguments_are_one_line_usage_errors(prog) -> None:
    with pytest.raises(UsageError) as info:
        prepare(prog, ["rd", "-q", "c0000000"])
    assert "\n" not in str(info.value) and str(info.value).startswith("rd: ")
    with pytest.raises(UsageError):
        prepare(prog, ["set", "radix", "8"]).parts().__next__()


def test_every_command_takes_json_and_help(prog) -> None:
    assert prepare(prog, ["vmlist", "--json"]).json
    help_of_vtop = prepare(prog, ["vtop", "-h"])
    assert help_of_vtop.command.name == "help"
    # list has its own -h (crash's: START holds a list_head), so it is not help
    assert prepare(prog, ["list", "-h", "-o", "8", "c0000000"]).command.name == "list"


def test_commands_return_data_from_the_library(prog) -> None:
    [table] = run(prog, "vmlist")
    expected = [(int(a), a.addr.value_(), a.size.value_()) for a in for_each_vm_area(prog)]
    assert [(r["vm_struct"], r["addr"], r["size"]) for r in table.rows] == expected


def test_long_tables_are_computed_as_they_are_consumed(prog) -> None:
    [table] = prepare(prog, ["kmem", "-p"]).parts()
    rows = iter(table.rows)
    first = next(rows)
    assert first["pfn"] == 0 and first["page"] == prog["mem_map"].value_()
    assert not isinstance(table.rows, list)  # a generator: the other 16383 are not built


def test_errors_of_commands_are_one_line(prog) -> None:
    with pytest.raises(CommandError, match=r"^pfn 0x100000 is beyond max_mapnr"):
        run(prog, "page -n 100000")
    with pytest.raises(CommandError, match="no type named 'nosuch'"):
        run(prog, "struct nosuch c0000000")


def test_set_radix_changes_how_p_prints(prog, show) -> None:
    try:
        assert show("p vmlist->size").endswith("= 69632")
        show("set radix 16")
        assert show("p vmlist->size").endswith("= 0x11000")
        assert show("p -d vmlist->size").endswith("= 69632")
        assert "size = 0x11000" in show("struct vm_struct *vmlist")
    finally:
        show("set radix 10")


def test_value_history(prog, show) -> None:
    show("p vmlist->next")
    number = show("p $").split(" = ")[0]
    assert show("p $->addr").endswith(f"= (void *) {prog['vmlist'].next.addr.value_():#x}")
    assert number.startswith("$")


def test_text_tables_align_and_hide_json_only_columns() -> None:
    table = Table(
        [
            Column("a", "A", "x", 6),
            Column("hidden"),
            Column("b", "LONG HEADER", "d", 0, ">"),
            Column("c", "C"),
        ],
        [Row(a=255, hidden=1, b=7, c="x"), Row(a=1, hidden=2, b=12345678901234, c=None)],
    )
    assert list(render_text([table])) == [
        "A       LONG HEADER  C",
        "ff                7  x",
        "1       12345678901234  -",
    ]


def test_json_schema() -> None:
    table = Table(
        [Column("a", "A", "x"), Column("b", "B", text=lambda r: "t")], [Row(a=1, b=2)], "t"
    )
    text = Text("hello", "greeting", data={"n": (1, 2)})
    doc = json_document("cmd", [part_to_json(table), part_to_json(text)])
    assert json.loads(json.dumps(doc)) == {
        "schema": 1,
        "command": "cmd",
        "status": "ok",
        "error": None,
        "results": [
            {"type": "table", "name": "t", "columns": ["a"], "rows": [{"a": 1}]},
            {"type": "text", "name": "greeting", "text": "hello", "data": {"n": [1, 2]}},
        ],
    }


def test_a_walk_that_fails_at_once_prints_no_heading() -> None:
    from vmintro.commands.result import Column, Table
    from vmintro.errors import CorruptionError

    def rows(fail_after: int):
        for i in range(fail_after):
            yield {"n": i}
        raise CorruptionError("vmlist: the list head links to 0x10, which cannot be read", None)

    lines: list[str] = []
    with pytest.raises(CorruptionError):
        lines.extend(render_text([Table([Column("n", "N")], rows(0))]))
    assert lines == []  # the error alone, no heading above it
    with pytest.raises(CorruptionError):
        lines.extend(render_text([Table([Column("n", "N")], rows(2))]))
    assert [x.strip() for x in lines] == ["N", "0", "1"]  # what came before a late error stays
    assert [x.strip() for x in render_text([Table([Column("n", "N")], [])])] == ["N"]


def test_every_module_of_the_builtin_package_is_a_command_module() -> None:
    """The registry loads each public module beside ``builtin/__init__.py``, and each
    of them registers commands: a file added there needs no list kept elsewhere."""
    import vmintro.commands.builtin as builtin
    from vmintro.commands import commands

    folder = Path(builtin.__file__).parent
    files = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert builtin.module_names() == sorted(files)
    origins = {c.origin.removeprefix("vmintro.commands.builtin.") for c in commands() if c.builtin}
    assert origins == files


def test_a_module_dropped_into_the_builtin_package_runs_from_the_command_line(
    tmp_path: Path,
) -> None:
    """A new command module is found by being in the package: ``vmintro -c`` runs its
    command and ``help`` lists it, and a ``_``-named module beside it is no command."""
    (tmp_path / "zzcount.py").write_text(
        "from vmintro.commands.registry import command\n"
        "from vmintro.commands.result import Text\n"
        "from vmintro.helpers import for_each_vm_area\n\n"
        "@command('zzcount', help='count the vmalloc areas')\n"
        "def zzcount(prog, args):\n"
        "    yield Text(f'{sum(1 for _ in for_each_vm_area(prog))} areas')\n"
    )
    (tmp_path / "_zzshared.py").write_text("raise AssertionError('a private module was loaded')\n")
    code = (
        "import sys, vmintro.commands.builtin as b; b.__path__.append(sys.argv[1]); "
        "from vmintro.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), "-c", "zzcount; help", str(DEMO)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    areas = json.loads(DEMO.with_suffix(".truth.json").read_text())["areas"]
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{len(areas)} areas"
    assert any(line.split()[:1] == ["zzcount"] for line in lines[1:])
