"""Fixtures of the hostile-input suite.

gdb with vmintro's extension loaded is ``gdb_loader`` (tests/conftest.py), made once
per session for this suite and the other gdb tests.
"""
