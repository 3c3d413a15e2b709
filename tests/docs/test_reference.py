"""The generated reference has an entry for everything public: every registered command
(built-in and shipped plugins), every helper, every name of the library and of the plugin
API, every scenario op, machine key and fault kind, every file-format module.

The pages are generated here as the docs build generates them (no Sphinx needed), and
read back as text: what is checked is what the page says, not what the generator meant.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import vmintro_reference as ref  # noqa: E402

import vmintro  # noqa: E402
import vmintro.commands as api  # noqa: E402
import vmintro.helpers as helpers  # noqa: E402
from vmintro.commands.registry import Command, arg, register, unregister  # noqa: E402
from vmintro.scenario.loader import MACHINE_KEYS, OPS  # noqa: E402
from vmintro.sim.faults import FAULTS  # noqa: E402


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("docs")
    ref.generate(docs)
    return docs / "reference" / "generated"


def _read(pages: Path, name: str) -> str:
    return (pages / name).read_text(encoding="utf-8")


def test_every_registered_command_has_a_page_with_its_synopsis_and_options(pages: Path) -> None:
    cmds = ref.load_commands()
    assert {"vmlist", "vtop", "meminfo", "swapinfo"} <= {c.name for c in cmds}
    index = _read(pages, "commands.rst")
    for cmd in cmds:
        page = pages / "commands" / f"{ref.command_page_name(cmd.name)}.rst"
        assert page.is_file(), f"no reference page for command {cmd.name}"
        text = page.read_text(encoding="utf-8")
        assert f"``{cmd.usage()}``" in text, cmd.name
        for option in cmd.options():
            assert option in text, f"{cmd.name}: option {option} not on its page"
        for alias in cmd.aliases:
            assert f"``{alias}``" in text
        assert f"<cmd-{ref.command_page_name(cmd.name)}>" in index, cmd.name


def test_a_command_added_to_the_registry_gets_its_page(tmp_path: Path) -> None:
    def lonely(prog: object, args: object) -> None:
        """Nothing at all."""

    register(
        Command(
            "docs-probe",
            lonely,
            "a command only this test registers",
            args=(arg("-z", "--zap", action="store_true", help="zap it"),),
            origin="tests.docs",
        )
    )
    try:
        ref.generate(tmp_path)
    finally:
        unregister("docs-probe")
    text = (tmp_path / "reference/generated/commands/docs-probe.rst").read_text()
    assert "a command only this test registers" in text and "--zap" in text
    ref.generate(tmp_path)  # and a command that went away loses its page
    assert not (tmp_path / "reference/generated/commands/docs-probe.rst").exists()


def test_json_fields_and_counterparts_come_from_the_command_modules(pages: Path) -> None:
    text = _read(pages, "commands/vmlist.rst")
    from vmintro.commands.builtin.vmlist import VMLIST_COLUMNS

    json_names = [c.name for c in VMLIST_COLUMNS if c.in_json]
    assert ":JSON fields: " + ", ".join(f"``{n}``" for n in json_names) in text
    assert ":crash: ``kmem -v``" in text and ":gdb: none: " in text  # from its registry entry


def test_every_command_names_its_crash_and_gdb_counterparts(pages: Path) -> None:
    """Each registered command (the shipped plugins' too) says what a crash and a gdb
    user would type for the same answer, or "none" and why, and its page shows it."""
    for cmd in ref.load_commands():
        for tool, text in (("crash", cmd.crash), ("gdb", cmd.gdb)):
            assert text.strip(), f"{cmd.name}: no {tool}= in its registration"
            assert text.startswith(("`", "none")), f"{cmd.name}: {tool}={text!r}"
        page = _read(pages, f"commands/{ref.command_page_name(cmd.name)}.rst")
        assert f":crash: {ref.counterpart_text(cmd.crash)}" in page
        assert f":gdb: {ref.counterpart_text(cmd.gdb)}" in page
        assert ref.NOT_GIVEN not in page


def _helpers() -> Iterator[tuple[str, str, object]]:
    yield from ref.helper_entries()


def test_every_helper_has_an_entry_and_a_docstring(pages: Path) -> None:
    text = _read(pages, "helpers.rst")
    listed = {name for _module, name, _obj in _helpers()}
    assert listed == set(helpers.__all__)
    for module, name, obj in _helpers():
        if callable(obj):
            directive = "autoclass" if inspect.isclass(obj) else "autofunction"
            assert f".. {directive}:: {module}.{name}\n" in text, name
            assert (inspect.getdoc(obj) or "").strip(), f"helper {name} has no docstring"
        else:
            assert f".. py:data:: {module}.{name}\n" in text, name


def test_helpers_that_name_their_kernel_function_show_it(pages: Path) -> None:
    text = _read(pages, "helpers.rst")
    from vmintro.helpers import vmalloc_to_page

    assert ref.kernel_counterpart(vmalloc_to_page) == "vmalloc_to_page"
    row = text.split(":func:`~vmintro.helpers.vmalloc.vmalloc_to_page`")[1].split("* -")[0]
    assert "``vmalloc_to_page``" in row


def test_every_library_and_plugin_api_name_has_an_entry(pages: Path) -> None:
    library = _read(pages, "library.rst")
    for name in vmintro.__all__:
        assert f".{name}\n" in library, f"vmintro.{name} missing from the library page"
    plugin_api = _read(pages, "plugin_api.rst")
    for name in api.__all__:
        assert f".{name}\n" in plugin_api, f"vmintro.commands.{name} missing"


def test_every_scenario_op_field_and_fault_kind_is_described(pages: Path) -> None:
    text = _read(pages, "scenario.rst")
    assert set(ref.OP_TEXT) == set(OPS), "OP_TEXT and the loader's OPS differ"
    assert "Not described yet" not in text
    for op, fields in OPS.items():
        section = text.split(f'op = "{op}"\n')[1].split('op = "')[0]
        for key in fields:
            assert f"``{key}``" in section, f"{op}.{key}"
    for key in MACHINE_KEYS:
        assert f"   * - ``{key}``" in text
    for kind, func in FAULTS.items():
        assert f"``{kind}``" in text
        assert " ".join((inspect.getdoc(func) or "?").split()) in text


def test_every_format_module_is_on_the_formats_page(pages: Path) -> None:
    text = _read(pages, "formats.rst")
    modules = ref.format_modules()
    assert "vmintro.image.format.vmcoreinfo" in modules
    for module in modules:
        assert f".. automodule:: {module}\n" in text


def test_every_subcommand_of_the_command_line_is_on_its_page(pages: Path) -> None:
    from vmintro.cli.entry import SUBCOMMANDS

    text = _read(pages, "cli.rst")
    assert {"generate", "check", "run"} <= set(SUBCOMMANDS)
    for word, build in SUBCOMMANDS.items():
        assert f"``vmintro {word}``\n" in text, word
        assert build().format_usage().split()[1] in text  # usage: vmintro WORD ...
