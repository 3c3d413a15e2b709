"""``python -m vmintro``: the ``vmintro`` command."""

import sys

from vmintro.cli.entry import main

sys.exit(main())
