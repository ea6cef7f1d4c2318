"""``python -m fastinit``: the command line (see fastinit/cli.py)."""

import sys

from .cli import main

sys.exit(main())
