"""Shared fixtures: the synthetic tiny suite is written once per session; every test gets its
own cache and results directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiobench.cli import main
from audiobench.synth import synthesize


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    for task in ("esc50", "gtzan", "speechcommands"):
        synthesize(task, root / task, "tiny", seed=0)
    return root


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture):
    """Run the real CLI in-process; returns (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run
