"""The explorer: the address space, page walks, physical memory and the buddy
lists of one image, in a browser.

:mod:`.data` turns a program into JSON-ready data through the library's public
API; :mod:`.owners` says who owns each frame; :mod:`.page` writes the page, with
the data embedded (``vmintro html``) or fetched (:mod:`.server`, ``vmintro
serve``). ``static/`` holds the page itself: one HTML file, one stylesheet, one
ES module, no build step.
"""
