"""Check every internal link of the built HTML docs: the file exists, and so does the anchor.

Sphinx itself warns (an error under ``-W``) on a ``:ref:``, ``:doc:`` or toctree entry that
names nothing; this checks what reached the HTML besides: relative ``href`` and ``src``
attributes and ``#anchor`` fragments, which no warning covers. External links (with a
scheme, ``//host``, ``mailto:``) are not followed: the docs build offline.

    python3 tests/docs/linkcheck.py build/docs      # exit 1 and one line per broken link
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["broken_links", "main"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            elif name in ("href", "src") and not (tag == "link" and "_static" in value):
                self.links.append(value)


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = page
    return cache[path]


def broken_links(site: Path) -> list[str]:
    """One line per broken internal link of the HTML under ``site``: page, link, why."""
    cache: dict[Path, _Page] = {}
    problems = []
    for html in sorted(site.rglob("*.html")):
        for link in _parse(html, cache).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue
            target = html if not parts.path else (html.parent / unquote(parts.path)).resolve()
            where = f"{html.relative_to(site)}: {link}"
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{where}: no such file")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target, cache).ids:
                    problems.append(f"{where}: no anchor '{parts.fragment}'")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: linkcheck.py BUILT_HTML_DIR", file=sys.stderr)
        return 2
    site = Path(args[0])
    if not (site / "index.html").is_file():
        print(f"{site}: no index.html (build the docs first)", file=sys.stderr)
        return 2
    problems = broken_links(site)
    for line in problems:
        print(line)
    pages = len(list(site.rglob("*.html")))
    print(f"linkcheck: {pages} pages, {len(problems)} broken internal links")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
