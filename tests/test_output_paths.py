"""What the writers of one file (export, map, gdb-script, html) and the session's
``save`` do with a path that is no place for a file: they refuse it in one line,
exit EXIT_USAGE, and leave it as it was; what they print names it escaped."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from vmintro.cli.entry import main
from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

DEMO = str(Path(__file__).resolve().parent.parent / "images" / "demo")

# the writers of one file, each as the words before and after its output path
WRITERS = {
    "export --raw": (["export", "--raw", DEMO, "-o"], []),
    "export --isf": (["export", "--isf", DEMO, "-o"], []),
    "map -o": (["map", DEMO, "-o"], []),
    "gdb-script -o": (["gdb-script", "-o"], []),
    "html -o": (["html", DEMO, "-o"], []),
}


def run(words: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(words)
    out, err = capsys.readouterr()
    return status, out, err


def _fifo(place: Path) -> tuple[Path, str]:
    os.mkfifo(place / "fifo")
    return place / "fifo", "a FIFO"


def _link_to_device(place: Path) -> tuple[Path, str]:
    (place / "so").symlink_to(os.devnull)
    return place / "so", "a character device"


def _device(place: Path) -> tuple[Path, str]:
    if os.geteuid() != 0:
        pytest.skip("only root makes a device node")
    os.mknod(place / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return place / "full", "a character device"


def _directory(place: Path) -> tuple[Path, str]:
    (place / "dir").mkdir()
    return place / "dir", "a directory"


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("target", [_fifo, _link_to_device, _device, _directory])
def test_a_path_that_is_no_regular_file_is_refused(
    writer: str, target: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, kind = target(tmp_path)  # type: ignore[operator]
    before = sorted((p.name, p.lstat().st_mode, p.lstat().st_ino) for p in tmp_path.iterdir())
    head, tail = WRITERS[writer]
    status, out, err = run([*head, str(path), *tail], capsys)
    assert status == EXIT_USAGE, (out, err)
    assert len(err.splitlines()) == 1, err
    assert str(path) in err
    assert kind in err or (writer == "html -o" and kind == "a directory"), err
    after = sorted((p.name, p.lstat().st_mode, p.lstat().st_ino) for p in tmp_path.iterdir())
    assert after == before


def test_a_link_to_a_regular_file_is_replaced_as_html_replaces_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every writer as ``html -o``: the link gives way to the new file, the file it
    pointed at is left alone (as a rename does)."""
    aimed = tmp_path / "aimed"
    for writer in ("gdb-script -o", "export --isf", "map -o"):
        aimed.write_bytes(b"old")
        link = tmp_path / "link"
        link.symlink_to(aimed)
        head, tail = WRITERS[writer]
        status, out, err = run([*head, str(link), *tail], capsys)
        assert status == EXIT_OK, (writer, err)
        assert not link.is_symlink() and link.stat().st_size > 0
        assert aimed.read_bytes() == b"old"
        link.unlink()


def test_gdb_script_refuses_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(["gdb-script", "-o", str(tmp_path / "nodir" / "x")], capsys)
    assert status == EXIT_USAGE
    assert "there is no directory" in err
    assert list(tmp_path.iterdir()) == []


def test_gdb_script_gives_the_mode_a_plain_open_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "loader.py"
    target.write_text("old")
    target.chmod(0o644)
    umask = os.umask(0o022)
    try:
        status, _, err = run(["gdb-script", "-o", str(target)], capsys)
    finally:
        os.umask(umask)
    assert status == EXIT_OK, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_text() != "old"


@pytest.mark.parametrize("writer", ["export --isf", "gdb-script -o", "html -o"])
def test_the_path_written_is_printed_escaped(
    writer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e\033[31mx"
    head, tail = WRITERS[writer]
    status, out, err = run([*head, str(path), *tail], capsys)
    assert status == EXIT_OK, err
    assert path.is_file()
    assert "\033" not in out + err
    assert "e\\x1b[31mx" in out


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.EROFS, "Read-only file system"), (errno.ENOSPC, "No space left on device")],
)
def test_save_that_cannot_write_is_a_failed_command(
    code: int,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vmintro.image.writer import install

    def full(path: Path, write: object) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(install, "_stage", full)
    name = tmp_path / "x"
    status, out, err = run(["-c", f"sim vmalloc 4096; save {name}", DEMO], capsys)
    assert status == EXIT_FAILED, (out, err)
    lines = [line for line in err.splitlines() if "save" in line]
    assert lines == [f"save: {name}: {words}"], err
    assert "internal error" not in out + err
    assert list(tmp_path.iterdir()) == []
