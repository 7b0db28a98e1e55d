from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # `make test-fast` skips it; CI runs it

BASELINE = Path(__file__).resolve().parents[2] / "results" / "demo"


def test_demo_runs_offline_writes_to_scratch_and_matches_the_committed_baseline(
        tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    committed = {p.name: p.read_bytes() for p in BASELINE.glob("*.json")}
    code, out, err = run_cli("demo", "--workdir", tmp_path / "work")
    assert code == 0, err
    results = [json.loads(p.read_text()) for p in (tmp_path / "demo-results").glob("*.json")]
    assert sorted((r["encoder"]["name"], r["task"]["protocol_id"]) for r in results) == sorted(
        (encoder, protocol) for encoder in ("logmel", "whisper-micro", "wav2vec2-micro")
        for protocol in ("esc50/5fold", "gtzan/filtered", "speechcommands/v2-35"))
    # Row labels and the first column title: other titles wrap in an 80-column terminal.
    for label in ("esc50/5fold", "logmel (baseline)", "whisper-micro", "wav2vec2-micro"):
        assert label in out
    assert "audiobench data download esc50" in out  # the next step, for real data
    assert {p.name: p.read_bytes() for p in BASELINE.glob("*.json")} == committed  # never rewritten
    code, out, err = run_cli("check", tmp_path / "demo-results", "--baseline", BASELINE)
    assert code == 0, out + err
    assert f"checked {len(results)} pair(s); 0 regressed" in out
