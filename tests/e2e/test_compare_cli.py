"""``audiobench compare``, ``check`` and ``report`` end to end through ``audiobench.cli.main``:
exit codes, stdout (data) and stderr (warnings), on fabricated result trees."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from support.results import OTHER_MANIFEST, make_result, predictions, write

from audiobench.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A ``results/`` tree shaped like the committed one: measured files plus ``reference/``."""
    root = tmp_path / "results"
    # whisper-large-v3 misses 6 clips whisper-aut gets right and nothing else differs: p = 2 * 0.5**6.
    write(root / "esc50", make_result("whisper-large-v3", "esc50/paper", 0.40, 0.0, folds=1,
                                      predictions=predictions({"5": [False] * 6 + [True] * 4})))
    write(root / "esc50", make_result("whisper-aut", "esc50/paper", 1.00, 0.0, folds=1,
                                      predictions=predictions({"5": [True] * 10})))
    write(root / "gtzan", make_result("whisper-large-v3", "gtzan/filtered", 0.70, 0.02))
    write(root / "gtzan", make_result("whisper-aut", "gtzan/filtered", 0.65, 0.03))
    shutil.copytree(REPO / "results" / "reference", root / "reference")
    return root


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compare_markdown_with_baseline(results, capsys):
    code, out, err = run(capsys, "compare", str(results), "--format", "markdown", "--baseline", "whisper-large-v3")
    assert code == 0, err
    assert "| encoder | esc50/paper | gtzan/filtered |" in out
    assert "| whisper-aut | **100.00 (+60.00, p=0.031)** | 65.00 ± 3.00 (-5.00) |" in out
    assert "| whisper-large-v3 (baseline) | 40.00 | **70.00 ± 2.00** |" in out
    assert "(paper)" not in out  # reference rows only with --with-reference


def test_compare_defaults_to_results_dir_and_shows_reference_rows(results, capsys, monkeypatch):
    monkeypatch.chdir(results.parent)
    code, out, err = run(capsys, "compare", "--with-reference", "--format", "markdown")
    assert code == 0, err
    assert "| *whisper-aut (paper)* | *77.50* |  |" in out
    assert "| *whisper-large-v3 (paper)* | *54.50* |  |" in out
    assert "arXiv 2604.10438" in out
    assert "gtzan/paper" in err  # paper rows with no measured column are mentioned, not silently dropped


def test_compare_rich_table_goes_to_stdout(results, capsys):
    code, out, _ = run(capsys, "compare", str(results))
    assert code == 0
    assert "whisper-aut" in out and "esc50/paper" in out and "100.00" in out


def test_corrupt_and_foreign_files_are_named_on_stderr(results, capsys):
    (results / "half-written.json").write_text('{"schema_version": 1, "enc')
    (results / "esc50" / "package.json").write_text('{"name": "not-ours"}')
    code, out, err = run(capsys, "compare", str(results), "--format", "csv")
    assert code == 0
    assert "half-written.json" in err and "package.json" in err and err.count("warning: skipping") == 2
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["row"] for r in rows} == {"whisper-aut", "whisper-large-v3"}


def test_unknown_baseline_lists_encoders_and_exits_2(results, capsys):
    code, out, err = run(capsys, "compare", str(results), "--baseline", "whisper-tiny")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: baseline 'whisper-tiny' is not in the results; encoders present: whisper-aut, whisper-large-v3 "
        "(pass one of them to --baseline)"]


def test_mixed_manifests_need_force(results, capsys):
    write(results / "other", make_result("logmel", "gtzan/filtered", 0.9, manifest=OTHER_MANIFEST))
    code, out, err = run(capsys, "compare", str(results), "--format", "json")
    assert code == 0
    columns = json.loads(out)["columns"]
    assert "gtzan/filtered @bbbbbbbb" in columns and "gtzan/filtered" not in columns
    assert "--force" in err

    code, out, _ = run(capsys, "compare", str(results), "--format", "json", "--force")
    payload = json.loads(out)
    assert "gtzan/filtered" in payload["columns"]
    best = [c["row"] for c in payload["cells"] if c["column"] == "gtzan/filtered" and c["best"]]
    assert best == ["logmel"]
    assert any(line.startswith("\u2020 gtzan/filtered") for line in payload["footnotes"])


def test_out_html_and_plot_files(results, tmp_path, capsys):
    page, plot = tmp_path / "out" / "board.html", tmp_path / "out" / "board.png"
    code, out, err = run(capsys, "compare", str(results), "--format", "html", "--out", str(page), "--plot", str(plot))
    assert code == 0 and out == ""
    assert f"wrote {page}" in err and f"wrote {plot}" in err
    assert "<table class=\"leaderboard\">" in page.read_text()
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_check_passes_and_fails_as_a_ci_gate(results, tmp_path, capsys):
    new = tmp_path / "new"
    write(new, make_result("whisper-aut", "esc50/paper", 0.998, 0.0, folds=1))  # -0.2 points: within tolerance
    write(new, make_result("whisper-aut", "gtzan/filtered", 0.66, 0.03))
    code, out, err = run(capsys, "check", "--baseline", str(results), str(new))
    assert code == 0, err
    assert "checked 2 pair(s); 0 regressed by more than 0.5 point(s)" in out
    assert "only in the baseline, not checked: whisper-large-v3 on esc50/paper, whisper-large-v3 on gtzan/filtered" in err

    write(new, make_result("whisper-large-v3", "gtzan/filtered", 0.68, 0.02))  # -2.0 points
    code, out, _ = run(capsys, "check", "--baseline", str(results), str(new))
    assert code == 1
    assert "REGRESSED whisper-large-v3 on gtzan/filtered: 70.00 -> 68.00 (-2.00 points)" in out
    assert "checked 3 pair(s); 1 regressed" in out

    code, out, _ = run(capsys, "check", "--baseline", str(results), "--tolerance", "2.5", str(new))
    assert code == 0


def test_check_reports_manifest_mismatch_and_refuses_zero_pairs(results, tmp_path, capsys):
    new = tmp_path / "new"
    write(new, make_result("whisper-aut", "gtzan/filtered", 0.1, manifest=OTHER_MANIFEST))
    code, out, err = run(capsys, "check", "--baseline", str(results), str(new))
    assert code == 2
    assert "not compared: whisper-aut on gtzan/filtered: manifest differs" in err
    assert "error: 0 encoder/task pairs checked" in err


def test_report_writes_one_html_file(results, tmp_path, capsys):
    target = tmp_path / "report.html"
    code, _, err = run(capsys, "report", str(results), "--out", str(target), "--with-reference")
    assert code == 0, err
    page = target.read_text()
    assert page.count('src="data:image/png;base64,') == 2  # bar chart and throughput (no layer sweep here)
    assert "whisper-aut (paper)" in page and "Layer curves" in page


def test_table_out_is_plain_text_with_footnotes(results, tmp_path, capsys):
    target = tmp_path / "board.txt"
    code, out, _ = run(capsys, "compare", str(results), "--baseline", "whisper-aut", "--out", str(target))
    assert code == 0 and out == ""
    text = target.read_text()
    assert "whisper-aut (baseline)" in text and "(-60.00, p=0.031)" in text
    assert "\x1b[" not in text  # no terminal escape codes in a file
    assert text.rstrip().endswith("95% bootstrap interval over test clips.")


def test_missing_results_directory_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "compare")
    assert code == 2 and out == ""
    assert err.startswith("error: results: no such file or directory")
