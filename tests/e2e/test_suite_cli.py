"""``audiobench run --suite`` end to end on the synthetic suite with logmel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.results import make_result, write

import audiobench

SUITE = """\
name: smoke
description: two poolings of one task, a layer and a window logmel lacks, and a task without data
entries:
  - {task: esc50, protocol: paper, probe: paper}
  - {task: esc50, protocol: paper, probe: paper, pooling: padded-mean}
  - {task: esc50, protocol: paper, probe: paper, layer: 5}
  - {task: esc50, protocol: paper, probe: paper, window: trim}
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

    code, out, err = run_cli(*args)
    assert code == 1, err
    # One embedding pass serves both esc50 entries: 100 clips encoded once, never re-read as hits.
    assert err.count("esc50/paper: 100 clips, 0 cached, 100 encoded") == 1
    assert "logmel (padded-mean, paper probe)" in out and "logmel (paper probe)" in out  # the suite's board rows
    assert "3 of 5 entries of smoke failed" in err
    assert "esc50/paper: paper probe, masked-mean, last layer, trim window: " in err
    assert "esc50/paper: paper probe, masked-mean, layer 5: --layer 5: out of range" in err
    assert f"speechcommands/v2-35: logistic probe, masked-mean, last layer: data root {data / 'speechcommands'}" in err
    results = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert sorted((r["task"]["protocol_id"], r["pooling"]) for r in results) == [
        ("esc50/paper", "masked-mean"), ("esc50/paper", "padded-mean")]

    # The library call behind it, restricted to one task: a pure cache hit.
    run = audiobench.run_suite("logmel", suite, tasks=["esc50"], data_dir=data, cache_dir=tmp_path / "cache",
                               results_dir=tmp_path / "results")
    [embedded, trimmed] = run.passes
    assert (embedded.embedding.report.cache_hits, embedded.embedding.report.encoded) == (100, 0)
    assert trimmed.embedding is None and trimmed.error is not None
    assert [len(o.results) for o in run.outcomes] == [1, 1, 0, 0] and len(run.failed) == 2


def test_run_suite_rejects_per_entry_options_and_unknown_tasks(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("run", "--encoder", "logmel", "--suite", "whisper-aut-paper", "--probe", "logistic",
                           "--pooling", "padded-mean")
    assert code == 2 and "--pooling with --suite: each suite entry sets its own" in err
    code, _, err = run_cli("run", "--encoder", "logmel", "--suite", "demo", "--task", "gtzan", "--task", "fsd50k")
    assert code == 2 and "--task fsd50k: not in suite demo" in err
    code, _, err = run_cli("run", "--encoder", "logmel", "--task", "esc50", "--task", "gtzan")
    assert code == 2 and "run takes one --task" in err


def paper_result(accuracy: float, pooling: str, **settings) -> dict:
    return make_result("whisper-large-v3", settings.pop("protocol_id", "esc50/paper"), accuracy, 0.0, folds=1,
                       num_layers=33, probe=settings.pop("probe", "paper"), pooling=pooling, **settings)


def test_compare_by_suite_shows_its_columns_reference_rows_and_deltas(tmp_path: Path, run_cli) -> None:
    results = tmp_path / "results"
    write(results, paper_result(0.60, "padded-mean"))
    write(results, paper_result(0.50, "masked-mean"))
    write(results, paper_result(0.90, "padded-mean", layer=20))  # not the suite's layer
    write(results, paper_result(0.95, "masked-mean", probe="logistic"))  # not the suite's probe
    write(results, paper_result(0.99, "masked-mean", protocol_id="esc50/5fold", probe="logistic"))

    code, out, err = run_cli("compare", results, "--suite", "whisper-aut-paper", "--format", "json")
    assert code == 0, err
    board = json.loads(out)
    assert board["columns"] == ["esc50/paper", "gtzan/paper", "speechcommands/paper"]
    measured = {cell["row"]: cell for cell in board["cells"] if cell["kind"] == "measured"}
    assert set(measured) == {"whisper-large-v3 (padded-mean, paper probe)", "whisper-large-v3 (paper probe)"}
    # Against the paper's 54.5 for whisper-large-v3 on esc50/paper.
    assert measured["whisper-large-v3 (padded-mean, paper probe)"]["delta"] == pytest.approx(5.5)
    assert measured["whisper-large-v3 (paper probe)"]["delta"] == pytest.approx(-4.5)
    reported = {(c["row"], c["column"]) for c in board["cells"] if c["kind"] == "reported"}
    assert reported == {(f"{encoder} (paper)", pid) for encoder in ("whisper-large-v3", "whisper-aut")
                        for pid in board["columns"]}
    assert any("against the published number" in line for line in board["footnotes"])

    gtzan = tmp_path / "gtzan.yaml"
    gtzan.write_text("name: gtzan-only\nentries: [{task: gtzan}]\n")
    code, _, err = run_cli("compare", results, "--suite", gtzan)
    assert code == 2 and "no results of suite gtzan-only among the inputs" in err


def test_check_by_suite_gates_only_that_suites_results(tmp_path: Path, run_cli) -> None:
    for directory, outside in (("base", 0.99), ("new", 0.50)):  # a result outside the suite drops 49 points
        write(tmp_path / directory, paper_result(0.60, "padded-mean"))
        write(tmp_path / directory, paper_result(outside, "masked-mean", protocol_id="esc50/5fold", probe="logistic"))
    code, _, _ = run_cli("check", tmp_path / "new", "--baseline", tmp_path / "base")
    assert code == 1
    code, out, err = run_cli("check", tmp_path / "new", "--baseline", tmp_path / "base", "--suite", "whisper-aut-paper")
    assert code == 0, err
    assert "checked 1 pair(s); 0 regressed" in out and "esc50/5fold" not in out + err
