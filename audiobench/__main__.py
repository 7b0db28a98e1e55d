"""``python -m audiobench ...`` (and ``torchrun ... -m audiobench embed ...``): the same command as
``audiobench ...``."""

import sys

from audiobench.cli import main

sys.exit(main())
