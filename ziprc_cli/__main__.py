"""``python -m ziprc_cli``: the same as the ``ziprc`` command."""

import sys

from .main import main

sys.exit(main())
