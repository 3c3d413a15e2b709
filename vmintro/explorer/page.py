"""The explorer's page: served in three files, or written as one.

``static/`` holds ``index.html`` (with two markers where the stylesheet and the
script go), ``explorer.css`` and ``explorer.js``. :func:`served_index` links
them for :mod:`vmintro.explorer.server`; :func:`self_contained` puts them inline
with the data, so the file works from ``file://`` with no network. Both pages
carry a Content-Security-Policy that lets nothing load from elsewhere and no
script run but the explorer's own.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["SERVED_CSP", "embed_json", "served_index", "static_file", "self_contained"]

STATIC = ("explorer.css", "explorer.js")
SERVED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STYLE_MARK = "<!--style-->"
_SCRIPT_MARK = "<!--script-->"


@cache
def static_file(name: str) -> str:
    """The text of one of the page's own files (``index.html``, ``explorer.css``,
    ``explorer.js``): a fixed name, never one from a request."""
    if name not in ("index.html", *STATIC):
        raise KeyError(name)
    return resources.files("vmintro.explorer").joinpath("static").joinpath(name).read_text("utf-8")


def _fill(style: str, script: str, csp: str | None) -> str:
    html = static_file("index.html")
    csp_tag = f'<meta http-equiv="Content-Security-Policy" content="{csp}">' if csp else ""
    return (
        html.replace("<!--csp-->", csp_tag)
        .replace(_STYLE_MARK, style)
        .replace(_SCRIPT_MARK, script)
    )


def served_index() -> str:
    """``/``: the page linking ``/explorer.css`` and ``/explorer.js``; it fetches its data."""
    return _fill(
        '<link rel="stylesheet" href="explorer.css">',
        '<script type="module" src="explorer.js"></script>',
        None,  # the server sends SERVED_CSP as a header, where all of it applies
    )


def embed_json(data: Any) -> str:
    """``data`` as JSON safe inside a ``<script type="application/json">`` element:
    no ``<``, ``>`` or ``&`` survives, so text from the image cannot end the element."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def self_contained(data: Any) -> str:
    """The whole explorer in one HTML file, ``data`` embedded."""
    css = static_file("explorer.css")
    js = static_file("explorer.js")
    # only this script and this stylesheet may run; nothing may be fetched
    csp = (
        f"default-src 'none'; script-src {_sha256(js)}; style-src {_sha256(css)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    style = f"<style>{css}</style>"
    script = (
        f'<script type="application/json" id="vmintro-data">{embed_json(data)}</script>\n'
        f'<script type="module">{js}</script>'
    )
    return _fill(style, script, csp)
