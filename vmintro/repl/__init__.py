"""The interactive REPL, on prompt-toolkit.

* :mod:`.loop` -- the prompt and the loop that runs what is typed, through the
  front-end-neutral :class:`~vmintro.cmdline.runner.Runner`;
* :mod:`.completer`, :mod:`.lexer` (the highlighting of redirections and C
  operators), :mod:`.toolbar` and :mod:`.banner`;
* :mod:`.pyprompt` -- the ``py`` prompt (its statements run in
  :class:`~vmintro.cmdline.python.PythonSession`).

Scripted use (``-c``, standard input, ``vmintro run``) and gdb and drgn never
import this package.
"""
