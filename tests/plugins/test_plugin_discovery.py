"""Plugin discovery: plugins/, --plugin-dir, entry points; broken plugins reported in one line."""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pluginkit import BROKEN, ERRORS, GOOD, SHIPPED, Image, make_dir

from vmintro.cmdline.runner import Runner
from vmintro.commands import lookup, names
from vmintro.commands.discovery import (
    PLUGIN_DIR,
    Plugin,
    load_plugins,
    loaded_plugins,
    unload_plugins,
)


@pytest.fixture
def fresh() -> Iterator[io.StringIO]:
    """No plugin loaded; afterwards, the shipped ones again (as the package fixture left them)."""
    unload_plugins()
    err = io.StringIO()
    yield err
    unload_plugins()
    load_plugins(err=io.StringIO())


def by_name() -> dict[str, Plugin]:
    return {p.name: p for p in loaded_plugins()}


def test_shipped_plugins_load_from_the_checkout(shipped_plugins: list[Plugin]) -> None:
    mine = [p for p in shipped_plugins if Path(p.source).parent == PLUGIN_DIR]
    assert [(p.name, p.commands, p.error) for p in mine] == [
        (name, (name,), None) for name in SHIPPED
    ]
    assert PLUGIN_DIR == Path(__file__).resolve().parents[2] / "plugins"


def test_broken_plugins_are_reported_once_and_the_rest_work(
    fresh: io.StringIO, tmp_path: Path, demo: Image
) -> None:
    directory = make_dir(tmp_path / "p", BROKEN)
    load_plugins([directory], err=fresh)
    assert sorted(fresh.getvalue().splitlines()) == sorted(ERRORS.values())
    plugins = by_name()
    assert "_private" not in plugins
    assert plugins["good"].commands == ("goodcmd",) and plugins["good"].error is None
    assert plugins["runtime"].commands == ("boom",)
    assert plugins["taken"].commands == () and "halftaken" not in names()
    for name in SHIPPED:
        assert plugins[name].error is None and lookup(name)
    # loading again (the same directory, given twice) reports nothing new
    load_plugins([directory, directory], err=fresh)
    assert len(fresh.getvalue().splitlines()) == len(ERRORS)

    listing = demo.text("plugins")
    assert "goodcmd" in listing and str(directory / "good.py") in listing
    failed = listing.split("FAILED PLUGIN")[1].splitlines()[1:]
    assert len(failed) == len(ERRORS)
    assert any(line.startswith("syntaxerr") and "line 1" in line for line in failed)
    doc = demo.json("plugins")["plugin_errors"]
    assert doc["columns"] == ["plugin", "source", "error"]
    assert {r["plugin"] for r in doc["rows"]} == set(ERRORS)


def test_a_command_that_raises_is_a_one_line_error(fresh: io.StringIO, tmp_path: Path, demo):
    load_plugins([make_dir(tmp_path / "p", BROKEN)], err=fresh)
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(demo.prog, out=out, err=err)
    runner.run_line("boom; goodcmd; meminfo")
    assert err.getvalue() == "boom: internal error: RuntimeError: walked off the end\n"
    assert "MemTotal:" in out.getvalue() and out.getvalue().startswith("N\n1\n")
    assert runner.status == 1


def test_a_name_loads_once(fresh: io.StringIO, tmp_path: Path) -> None:
    other = make_dir(tmp_path / "other", {"meminfo.py": GOOD})
    load_plugins([other], err=fresh)
    assert fresh.getvalue() == (
        f"vmintro: plugin meminfo: a plugin named 'meminfo' is already loaded from "
        f"{PLUGIN_DIR / 'meminfo.py'}\n"
    )
    assert "goodcmd" not in names()


def test_a_missing_directory_is_reported(fresh: io.StringIO, tmp_path: Path) -> None:
    load_plugins([tmp_path / "nowhere"], err=fresh)
    assert fresh.getvalue() == f"vmintro: plugin {tmp_path / 'nowhere'}: not a directory\n"


_EXITS = {
    "leaves.py": "class Leave(BaseException):\n    pass\n\nraise Leave('at import')\n",
    "quitter.py": textwrap.dedent(
        """
        import sys

        from vmintro.commands import command

        @command("quitter", help="ends the process")
        def quitter(prog, args):
            sys.exit(5)
        """
    ),
}


def test_a_plugin_that_exits_fails_as_one_that_raises(
    fresh: io.StringIO, tmp_path: Path, demo
) -> None:
    """A plugin raising a BaseException of its own at import, or a command calling
    sys.exit(), fails as one raising any error: one line, and the session and the
    rest of its line go on (only Ctrl-C ends them)."""
    load_plugins([make_dir(tmp_path / "p", _EXITS)], err=fresh)
    assert fresh.getvalue() == "vmintro: plugin leaves: Leave: at import\n"
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(demo.prog, out=out, err=err)
    runner.run_line("quitter; meminfo")
    assert err.getvalue() == "quitter: internal error: SystemExit: 5\n"
    assert "MemTotal:" in out.getvalue() and runner.status == 1


def test_a_failing_plugins_line_is_escaped(fresh: io.StringIO, tmp_path: Path) -> None:
    """A plugin's file name and its error's text reach the terminal escaped, as the
    'plugins' listing shows them: no escape sequence retitles it."""
    hostile = {"d_\x1bx.py": 'raise ValueError("\\x1b]0;PWN\\x07 bad")\n'}
    load_plugins([make_dir(tmp_path / "p", hostile)], err=fresh)
    assert fresh.getvalue() == "vmintro: plugin d_\\x1bx: ValueError: \\x1b]0;PWN\\x07 bad\n"


def write_distribution(site: Path, entry_points: str) -> None:
    """An installed distribution as importlib.metadata finds it: a dist-info on sys.path."""
    info = make_dir(site / "vmintro_extra-1.0.dist-info", {})
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vmintro-extra\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[vmintro.plugins]\n{entry_points}\n")
    make_dir(
        site,
        {
            "extra_module.py": GOOD.replace("goodcmd", "epmodule"),
            "extra_func.py": textwrap.dedent(
                """
                from vmintro.commands import command

                def register():
                    @command("epfunc", help="registered by a function")
                    def epfunc(prog, args):
                        return "from a function"
                """
            ),
            "extra_bad.py": "import no_such_module_anywhere\n",
        },
    )


def test_entry_points_are_read_only_where_a_distribution_may_declare_some(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick look that spares importing importlib.metadata: no only when no
    dist-info on sys.path names the group; a zip on sys.path counts as yes."""
    from vmintro.commands.discovery import _may_declare_entry_points

    site = tmp_path / "site"
    other = make_dir(site / "other-1.0.dist-info", {})
    (other / "entry_points.txt").write_text("[console_scripts]\nother = other:main\n")
    monkeypatch.setattr(sys, "path", [str(site), str(tmp_path / "missing")])
    assert not _may_declare_entry_points()
    write_distribution(site, "module = extra_module\n")
    assert _may_declare_entry_points()
    (tmp_path / "lib.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    monkeypatch.setattr(sys, "path", [str(tmp_path / "lib.zip")])
    assert _may_declare_entry_points()


def test_entry_point_plugins_are_found(
    fresh: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo: Image
) -> None:
    site = tmp_path / "site"
    write_distribution(site, "module = extra_module\nfunc = extra_func:register\nbad = extra_bad\n")
    monkeypatch.syspath_prepend(str(site))
    load_plugins(err=fresh)
    plugins = by_name()
    assert plugins["module"].commands == ("epmodule",)
    assert plugins["module"].source == "entry point extra_module (vmintro-extra)"
    assert plugins["func"].commands == ("epfunc",)
    assert fresh.getvalue() == (
        "vmintro: plugin bad: ModuleNotFoundError: No module named 'no_such_module_anywhere'\n"
    )
    assert demo.text("epfunc") == "from a function"
    # entry points load after plugins/
    order = [p.name for p in loaded_plugins()]
    assert order.index("vmallocinfo") < order.index("bad") < order.index("func")
    for module in ("extra_module", "extra_func", "extra_bad"):
        sys.modules.pop(module, None)
