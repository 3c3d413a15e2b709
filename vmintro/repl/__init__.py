"""vmintro's user interfaces around the command layer.

* :mod:`.loop` -- the interactive REPL (prompt-toolkit), with :mod:`.completer`,
  :mod:`.lexer`, :mod:`.toolbar`, :mod:`.banner` and :mod:`.python` (``py``);
* :mod:`.runner` -- runs command lines for every front end (REPL, ``-c``,
  standard input), with :mod:`.lines` (``;``, ``>``, ``|``), :mod:`.output`
  (files, pipes) and :mod:`.pager`;
* :mod:`.namespace` -- the Python namespace of ``py``, ``!`` and ``vmintro run``.

Only :mod:`.loop`, :mod:`.completer`, :mod:`.lexer`, :mod:`.toolbar` and the
``py`` prompt import prompt-toolkit, so scripted use never loads it.
"""
