"""``python -m audiobench ...``: the same command as ``audiobench ...``."""

import sys

from audiobench.cli import main

sys.exit(main())
