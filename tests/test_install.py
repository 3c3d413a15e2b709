"""Installing: the README's first commands use a venv, and a wheel ships the plugins.

The wheel is built from a copy of the sources (nothing is written into the checkout)
and unpacked as pip would into site-packages, then run from another directory with
nothing on ``sys.path`` but it and the test interpreter's own dependencies: a
non-editable install, without installing anything into this Python.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from wheel_build import isolation_words

from vmintro._version import __version__

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").glob("*.py"))
SOURCES = ("pyproject.toml", "setup.py", "README.md", "vmintro", "plugins")


def test_readme_first_commands_install_into_a_venv() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    fence = lines.index("```sh")
    install, tests = lines[fence + 1], lines[fence + 2]
    assert lines[fence + 3] == "```"
    for line in (install, tests):
        # a venv first: a system Python may refuse global installs (PEP 668)
        assert re.match(r"python3 -m venv \.venv && \. \.venv/bin/activate && pip install ", line)
        assert "--break-system-packages" not in line and "--user" not in line
    assert re.search(r"pip install -e \. && vmintro\b", install)
    assert re.search(r"pip install -e '\.\[test\]' && python3 -m pytest -q", tests)


def _wheel_command(out: Path) -> list[str]:
    """pip's wheel build, without build isolation when this Python can build wheels
    itself (:func:`wheel_build.isolation_words`)."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
    return [*command, *isolation_words(sys.executable)]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [*_wheel_command(out), "."], cwd=src, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = out.glob("vmintro-*.whl")
    return built


def test_the_wheel_ships_every_plugin(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert PLUGINS, "plugins/ has plugins"
    assert {f"vmintro_plugins/{name}" for name in [*PLUGINS, "index.json"]} <= names
    assert {"vmintro/cli/__init__.py", "vmintro/__main__.py", "vmintro/cmdline/runner.py"} <= names


def test_installed_from_the_wheel_finds_plugins_and_demo(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "VMINTRO_CACHE_DIR": str(tmp_path / "cache"),
    }
    code = (
        "import sys, vmintro; assert vmintro.__file__.startswith(sys.argv[1]), vmintro.__file__; "
        "from vmintro.cli import main; sys.exit(main(['-c', 'plugins']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    sources = {line.split()[0]: line.split()[-1] for line in proc.stdout.splitlines()[1:]}
    assert sources == {name[:-3]: str(site / "vmintro_plugins" / name) for name in PLUGINS}, (
        proc.stdout
    )
    # no images/ installed: the demo is generated into the cache, and it says so
    assert "generating the demo image once" in proc.stderr
    demo = tmp_path / "cache" / __version__ / "demo"
    for ext in (".vmcore", ".vmlinux"):
        assert Path(f"{demo}{ext}").read_bytes() == (ROOT / "images" / f"demo{ext}").read_bytes()
    # The wheel's plugin index names their commands: a session starts importing none.
    again = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vmintro.cli import main; main(['-c', 'sym vmlist']); "
            "print(sorted(m for m in sys.modules if m.startswith('vmintro_plugins')))",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.stdout.splitlines()[-1] == "[]", again.stderr


def test_readme_first_session_is_what_a_session_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's first session: the banner as the REPL prints it on the demo, then
    commands and a Python line that run there."""
    import vmintro
    from vmintro.cmdline.namespace import python_namespace
    from vmintro.commands import run
    from vmintro.repl.banner import banner
    from vmintro.repl.loop import PROMPT
    from vmintro.repl.toolbar import prompt
    from vmintro.timeline.moments import image_timeline

    text = (ROOT / "README.md").read_text()
    block = text.split("## A first session", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    first, *lines = block.splitlines()
    assert first == "$ vmintro images/demo"
    monkeypatch.chdir(ROOT)  # the paths as the banner prints them: as given
    prog = vmintro.open("images/demo")
    image_timeline(prog).require()  # read, as the REPL reads it after the first prompt
    drawn = prompt(lambda: prog, PROMPT)()  # with the timeline's moment
    assert drawn != PROMPT
    shown = lines[: next(i for i, line in enumerate(lines) if line.startswith(drawn))]
    assert shown == banner(prog, "images/demo").splitlines() + [""]
    for line in lines[len(shown) :]:
        if not line.startswith(">>> "):  # a command line, at the prompt the REPL draws
            assert line.startswith(drawn), line
        if line.startswith(drawn) and line != f"{drawn}py":
            assert list(run(prog, line.removeprefix(drawn))), line
        elif line.startswith(">>> "):
            eval(line.removeprefix(">>> "), python_namespace(prog))  # noqa: S307
