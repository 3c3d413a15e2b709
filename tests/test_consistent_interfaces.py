"""The same thing said and spelled the same way wherever a user meets it.

`vmintro --help` names every subcommand; `map` takes `-o` on the command line and
in a session; `check` says "clean" in both and its --json is one line, as every
--json is; `run()` in Python gives the command's text; a pointer Object is not
iterable (as in drgn); `rd -a` of an empty string prints its address line; the
SVG's vmalloc scale ends at an address that means something.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from exercise_machines import exercise_machine
from generate_cli import vmintro_cli
from oracles import import_oracle

import vmintro
from vmintro.cli.entry import SUBCOMMANDS

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "images" / "demo"
ZERO_COUNT = exercise_machine("zero-count")  # the exercise's own image refuses check
MIB = 1 << 20


def test_help_names_every_subcommand() -> None:
    text = " ".join(vmintro_cli("--help").stdout.split())
    for name in SUBCOMMANDS:
        assert f"vmintro {name}" in text, name


def test_map_writes_svg_with_one_spelling_everywhere(tmp_path: Path) -> None:
    spellings = ("-o", "--output", "--svg")
    for spelling in ("-o", "--svg"):
        out = tmp_path / f"cli{spelling}.svg"
        proc = vmintro_cli("map", str(DEMO), spelling, str(out))
        assert proc.returncode == 0, proc.stderr
        # as vmintro export -o, vmintro explorer -o and the session's map -o say it
        assert proc.stdout == f"wrote {out}\n"
        assert ET.fromstring(out.read_text()).tag.endswith("svg")
    outs = [tmp_path / f"session{spelling}.svg" for spelling in spellings]
    line = "; ".join(f"map {spelling} {out}" for spelling, out in zip(spellings, outs, strict=True))
    proc = vmintro_cli("-c", line, str(DEMO))
    assert (proc.returncode, proc.stdout) == (0, "".join(f"wrote {o}\n" for o in outs))
    for out in outs:
        assert ET.fromstring(out.read_text()).tag.endswith("svg")


def test_check_says_clean_the_same_way_everywhere() -> None:
    cli = vmintro_cli("check", str(DEMO))
    session = vmintro_cli("-c", "check", str(DEMO))
    assert (cli.returncode, session.returncode) == (0, 0)
    assert cli.stdout == session.stdout == "clean\n"


@pytest.mark.parametrize("json", [[], ["--json"]])
def test_check_findings_give_the_same_status_everywhere(json: list[str]) -> None:
    cli = vmintro_cli("check", *json, str(ZERO_COUNT))
    session = vmintro_cli(*json, "-c", "check", str(ZERO_COUNT))
    assert (cli.returncode, session.returncode) == (1, 1), session.stderr
    assert session.stderr == ""  # findings are the output, not an error
    kind = "mapped_page_count_zero"
    assert kind in cli.stdout and kind in session.stdout
    # the commands after it still run, and the line's status is still the findings'
    after = vmintro_cli("-c", "check; sym vmlist", str(ZERO_COUNT))
    assert after.returncode == 1 and after.stdout.rstrip().endswith(" (B) vmlist")


def test_check_json_is_one_line() -> None:
    proc = vmintro_cli("check", "--json", str(DEMO), str(ZERO_COUNT))
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stdout.splitlines()
    images = json.loads(line)["images"]
    assert [len(i["findings"]) for i in images] == [0, 1]


def test_run_gives_the_text_the_command_prints(tmp_path: Path) -> None:
    lines = ["vmlist", "sym vmlist", "kmem -f", "meminfo"]
    printed = vmintro_cli("-c", "; ".join(lines), str(DEMO)).stdout  # one after the other
    script = tmp_path / "show.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import sys
            for line in {lines!r}:
                out = run(line)
                assert str(out) + "\\n" == out.text, line
                sys.stdout.write(out.text)
            for line in {lines!r}:
                print(run(line))
            """
        )
    )
    proc = vmintro_cli("run", str(script), str(DEMO))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == printed * 2
    # at the session's Python, too: ! lines print run()'s value as the command prints
    proc = vmintro_cli("-c", "!" + "; ".join(f'run("{line}")' for line in lines), str(DEMO))
    assert proc.stdout == printed


def test_a_pointer_object_is_not_iterable_as_in_drgn() -> None:
    drgn = import_oracle("drgn")
    host = drgn.Program(drgn.host_platform)
    with pytest.raises(TypeError, match="'int \\*' is not iterable"):
        iter(drgn.Object(host, "int *", 0))
    prog = vmintro.open(DEMO)
    with pytest.raises(TypeError, match=r"^'struct vm_struct \*' is not iterable$"):
        iter(prog["vmlist"])
    with pytest.raises(TypeError, match="is not iterable"):
        iter(prog["vmlist"][0])
    zones = prog["contig_page_data"].node_zones  # an array still iterates, as in drgn
    assert [z.name.string_() for z in zones] == [b"DMA", b"Normal", b"HighMem"]


def test_rd_ascii_of_an_empty_string_prints_its_address() -> None:
    prog = vmintro.open(DEMO)
    start = prog["vmlist"].addr.value_()
    data = prog.read(start, 4096)
    address = start + data.index(b"\0")  # a NUL byte: an empty string
    proc = vmintro_cli("-c", f"rd -a {address:x}", str(DEMO))
    assert (proc.returncode, proc.stdout) == (0, f"{address:x}:\n"), proc.stderr


def test_svg_scale_ends_at_a_meaningful_address(tmp_path: Path) -> None:
    out = tmp_path / "m.svg"
    assert vmintro_cli("map", str(DEMO), "-o", str(out)).returncode == 0
    truth = json.loads(DEMO.with_suffix(".truth.json").read_text())
    labels = [e for e in ET.fromstring(out.read_text()).iter() if e.get("class") == "scale"]
    start, end = (int(e.get("data-addr"), 16) for e in labels)
    assert [e.text for e in labels] == [f"{start:#x}", f"{end:#x}"]
    assert start == truth["vmalloc_start"]
    assert end % MIB == 0 or end == truth["vmalloc_end"]
    assert max(a["addr"] + a["size"] for a in truth["areas"]) <= end


def test_no_writer_replaces_a_file_of_the_image_it_reads(tmp_path: Path) -> None:
    """map -o (command line and session), export -o and html -o asked to write over the
    core, vmlinux, truth or timeline of their own image: refused in one line, the image
    unchanged (export --raw over the core once replaced it with raw memory)."""
    from generate_cli import vmintro_cli_batch

    for ext in (".vmcore", ".vmlinux", ".truth.json", ".timeline"):
        (tmp_path / f"demo{ext}").write_bytes(Path(f"{DEMO}{ext}").read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    image = str(tmp_path / "demo")
    lines = []
    for name in sorted(before):
        out = str(tmp_path / name)
        lines += [
            ["map", image, "-o", out],
            ["-c", f"map -o {out}", image],
            ["export", "--raw", image, "-o", out],
            ["html", image, "-o", out],
        ]
    runs = vmintro_cli_batch([(tmp_path, argv) for argv in lines])
    for argv, run in zip(lines, runs, strict=True):
        assert run.returncode in (1, 2), (argv, run)
        assert run.stderr.endswith("is a file of the image itself; nothing was written\n"), argv
        assert len(run.stderr.splitlines()) == 1, (argv, run.stderr)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
