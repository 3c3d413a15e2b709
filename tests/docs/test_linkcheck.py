"""The internal link check of the built docs finds a missing page and a missing anchor."""

from __future__ import annotations

from pathlib import Path

from linkcheck import broken_links


def test_broken_files_and_anchors_are_reported_and_good_links_are_not(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/page.html#here">ok</a> <a href="#top">ok</a> <p id="top"></p>'
        '<a href="https://example.org/x">external</a> <a href="gone.html">bad</a>'
        '<a href="sub/page.html#nowhere">bad anchor</a> <img src="sub/missing.png">'
    )
    (tmp_path / "sub" / "page.html").write_text(
        '<h1 id="here">x</h1><a href="../index.html">up</a>'
    )
    assert broken_links(tmp_path) == [
        "index.html: gone.html: no such file",
        "index.html: sub/page.html#nowhere: no anchor 'nowhere'",
        "index.html: sub/missing.png: no such file",
    ]
