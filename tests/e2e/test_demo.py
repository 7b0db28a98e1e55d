from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # `make test-fast` skips it; CI runs it


def test_demo_runs_offline_and_prints_the_leaderboard(tmp_path: Path, run_cli) -> None:
    code, out, err = run_cli("demo", "--workdir", tmp_path / "work", "--results-dir", tmp_path / "results")
    assert code == 0, err
    results = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert sorted((r["encoder"]["name"], r["task"]["protocol_id"]) for r in results) == sorted(
        (encoder, protocol) for encoder in ("logmel", "whisper-micro")
        for protocol in ("esc50/5fold", "gtzan/filtered", "speechcommands/v2-35"))
    for column in ("esc50/5fold", "gtzan/filtered", "logmel (baseline)", "whisper-micro"):
        assert column in out
    assert "audiobench data download esc50" in out  # the next step, for real data
