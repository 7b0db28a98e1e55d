"""``audiobench run --suite`` end to end on the synthetic suite with logmel."""

from __future__ import annotations

import json
from pathlib import Path

SUITE = """\
name: smoke
description: two poolings of one task, a layer logmel lacks, and a task without data
entries:
  - {task: esc50, protocol: paper, probe: paper}
  - {task: esc50, protocol: paper, probe: paper, pooling: padded-mean}
  - {task: esc50, protocol: paper, probe: paper, layer: 5}
  - {task: speechcommands}
"""


def test_run_suite_embeds_each_task_once_and_reports_failing_entries(synth_root: Path, tmp_path: Path,
                                                                     run_cli) -> None:
    data = tmp_path / "data"  # esc50 only: the speechcommands entry has no data
    data.mkdir()
    (data / "esc50").symlink_to(synth_root / "esc50")
    suite = tmp_path / "smoke.yaml"
    suite.write_text(SUITE)
    args = ("run", "--encoder", "logmel", "--suite", suite, "--data-root", data, "--cache-dir", tmp_path / "cache",
            "--results-dir", tmp_path / "results")

    code, _, err = run_cli(*args)
    assert code == 1, err
    # One embedding pass serves both esc50 entries: 100 clips encoded once, never re-read as hits.
    assert err.count("esc50/paper: 100 clips, 0 cached, 100 encoded") == 1
    assert "2 of 4 entries of smoke failed" in err
    assert "esc50/paper: paper probe, masked-mean, layer 5: --layer 5: out of range" in err
    assert f"speechcommands/v2-35: logistic probe, masked-mean, last layer: data root {data / 'speechcommands'}" in err
    results = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert sorted((r["task"]["protocol_id"], r["pooling"]) for r in results) == [
        ("esc50/paper", "masked-mean"), ("esc50/paper", "padded-mean")]

    code, _, err = run_cli(*args, "--task", "esc50")
    assert code == 1 and "1 of 3 entries of smoke failed" in err
    assert "esc50/paper: 100 clips, 100 cached, 0 encoded" in err and "speechcommands" not in err


def test_run_suite_rejects_per_entry_options_and_unknown_tasks(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("run", "--encoder", "logmel", "--suite", "whisper-aut-paper", "--probe", "logistic",
                           "--pooling", "padded-mean")
    assert code == 2 and "--pooling with --suite: each suite entry sets its own" in err
    code, _, err = run_cli("run", "--encoder", "logmel", "--suite", "demo", "--task", "gtzan", "--task", "fsd50k")
    assert code == 2 and "--task fsd50k: not in suite demo" in err
    code, _, err = run_cli("run", "--encoder", "logmel", "--task", "esc50", "--task", "gtzan")
    assert code == 2 and "run takes one --task" in err
