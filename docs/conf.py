"""Sphinx configuration of vmintro's documentation (``python3 -m sphinx -W docs build/docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout's vmintro, installed or not

from vmintro._version import __version__  # noqa: E402

project = "vmintro"
author = "the vmintro authors"
copyright = "vmintro authors"
version = release = __version__

extensions = ["sphinx.ext.autodoc", "vmintro_docs"]
exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
root_doc = "index"
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"vmintro {release}"
html_theme_options = {
    "description": "Chapter 8 of the Linux VM, on a simulated 2.4.20 kernel",
    "page_width": "1240px",  # command output is up to 140 columns wide
    "body_max_width": "none",
}
# alabaster's sidebars without the external "powered by" links and search box
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html"]}
html_show_sourcelink = False
pygments_style = "sphinx"
# Literal blocks are program output unless they say otherwise (scripts say python).
highlight_language = "text"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"undoc-members": False}
# References inside docstrings that name private modules stay plain text.
nitpicky = False
suppress_warnings: list[str] = []
