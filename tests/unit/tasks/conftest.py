from __future__ import annotations

from pathlib import Path

import fulltrees
import pytest


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Full-size ESC-50, GTZAN and Speech Commands trees (built once per test process)."""
    return fulltrees.full_trees(lambda: tmp_path_factory.mktemp("full"))
