"""Shared fixtures: the synthetic tiny suite is written once per session; every test gets its
own cache and results directories. The full-size placeholder trees are also built once per
session, and ``server`` is a local 127.0.0.1 HTTP server (helpers in ``support/``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import fulltrees
from support.http import Server

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


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Full-size ESC-50, GTZAN and Speech Commands trees (built once per test session)."""
    return fulltrees.build_all(tmp_path_factory.mktemp("full"))


@pytest.fixture
def server() -> Iterator[Server]:
    """A threaded HTTP server on 127.0.0.1; put bytes in ``server.files[path]``."""
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
