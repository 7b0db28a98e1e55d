"""Leaderboard, paired test, reference rows and regression gate (audiobench.leaderboard, stats,
formats, gate).

``make_result`` (in ``support.results``) builds result dicts through the ``Result`` model.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from support.results import OTHER_MANIFEST, make_result, predictions, write

from audiobench import leaderboard
from audiobench.formats import to_csv, to_json, to_markdown
from audiobench.gate import check_regressions
from audiobench.leaderboard import DAGGER, build_leaderboard, collect
from audiobench.leaderboard import entries_paired_test as paired_test
from audiobench.stats import mcnemar_exact
from audiobench.errors import ConfigError, ResultsError

REPO = Path(__file__).resolve().parents[2]


def entries(tmp_path: Path, *results: dict[str, Any]) -> list[leaderboard.Entry]:
    for index, result in enumerate(results):
        write(tmp_path, result, f"{index}.json")
    return collect([tmp_path]).entries


# ----------------------------------------------------------------------------- loading


def test_row_label_names_every_non_default_setting(tmp_path):
    found = entries(tmp_path, make_result(), make_result(layer=3), make_result(pooling="padded-mean"),
                    make_result(probe="mlp"), make_result(random_init=True))
    assert sorted(e.row for e in found) == sorted([
        "whisper-base", "whisper-base (L3)", "whisper-base (padded-mean)", "whisper-base (mlp probe)",
        "whisper-base (random-init)"])


def test_corrupt_and_foreign_files_are_skipped_by_name(tmp_path):
    write(tmp_path, make_result())
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "foreign.json").write_text('{"hello": "world"}')
    out_of_range = make_result()
    out_of_range["scores"].update(mean=80.0, per_fold={"1": 80.0, "2": 80.0})  # percent instead of a fraction
    write(tmp_path, out_of_range, "percent.json")
    collection = collect([tmp_path])
    assert len(collection.entries) == 1
    skipped = {s.path.name: s.reason for s in collection.skipped}
    assert set(skipped) == {"broken.json", "foreign.json", "percent.json"}
    assert "not a readable JSON" in skipped["broken.json"]
    assert "no schema_version" in skipped["foreign.json"]
    assert "fraction" in skipped["percent.json"]


def test_missing_input_path_is_an_error(tmp_path):
    with pytest.raises(ResultsError, match="no such file"):
        collect([tmp_path / "nope"])


def test_a_file_given_twice_counts_once(tmp_path):
    path = write(tmp_path, make_result())
    assert len(collect([tmp_path, path]).entries) == 1


# ----------------------------------------------------------------------------- reference rows


def test_shipped_reference_file_holds_the_paper_numbers():
    rows = leaderboard.entries_from_file(REPO / "results" / "reference" / "whisper-aut-paper.json")
    got = {(e.encoder, e.protocol_id): round(e.mean * 100, 2) for e in rows}
    assert got == {("whisper-large-v3", "esc50/paper"): 54.50, ("whisper-aut", "esc50/paper"): 77.50,
                   ("whisper-large-v3", "speechcommands/paper"): 87.60,
                   ("whisper-aut", "speechcommands/paper"): 88.32,
                   ("whisper-large-v3", "gtzan/paper"): 81.00, ("whisper-aut", "gtzan/paper"): 86.00}
    assert all(not e.measured and e.row.endswith("(paper)") and "2604.10438" in e.source for e in rows)


@pytest.mark.parametrize("change, message", [
    ({"kind": "measured"}, "kind"),
    ({"source": {}}, "field source: .*title or a url"),
    ({"rows": []}, "field rows: .*at least 1"),
    ({"rows": [{"encoder": "x", "protocol_id": "esc50/paper", "accuracy": 77.5}]}, "rows.0.accuracy: .*fraction"),
    ({"rows": [{"encoder": "x", "accuracy": 0.5}]}, "rows.0.protocol_id: Field required"),
])
def test_reference_file_is_validated(tmp_path, change, message):
    data = json.loads((REPO / "results" / "reference" / "whisper-aut-paper.json").read_text())
    data.update(change)
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=message):
        leaderboard.entries_from_file(path)


def _with_reference(tmp_path: Path, *results: dict[str, Any]) -> list[leaderboard.Entry]:
    found = entries(tmp_path, *results)
    return found + leaderboard.entries_from_file(REPO / "results" / "reference" / "whisper-aut-paper.json")


def test_reference_rows_only_on_request_and_never_best(tmp_path):
    found = _with_reference(tmp_path, make_result("whisper-aut", "esc50/paper", 0.70, num_layers=33))
    hidden = build_leaderboard(found)
    assert hidden.rows == ["whisper-aut"]
    shown = build_leaderboard(found, with_reference=True)
    assert shown.rows == ["whisper-aut", "whisper-aut (paper)", "whisper-large-v3 (paper)"]
    column = shown.columns[0]
    # The paper's 77.50 beats the measured 70.00, yet only measured rows can be best.
    assert shown.cell("whisper-aut", column).best
    assert not shown.cell("whisper-aut (paper)", column).best
    assert shown.reported_rows == {"whisper-aut (paper)", "whisper-large-v3 (paper)"}
    assert any("gtzan/paper" in note for note in shown.notes)  # rows without a measured column are named


def test_reference_rows_are_never_a_baseline(tmp_path):
    found = _with_reference(tmp_path, make_result("whisper-aut", "esc50/paper", 0.70))
    with pytest.raises(ConfigError, match=r"encoders present: whisper-aut \("):
        build_leaderboard(found, baseline="whisper-large-v3", with_reference=True)


# ----------------------------------------------------------------------------- paired test


def test_mcnemar_exact_matches_hand_computed_values():
    # 6 discordant clips all favouring one side: p = 2 * 0.5**6.
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)
    # 1 vs 5: p = 2 * (C(6,0) + C(6,1)) / 2**6 = 14 / 64.
    assert mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact(5, 1) == pytest.approx(14 / 64)
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_test_matches_clips_by_id_across_folds(tmp_path):
    base_pred = predictions({"1": [True, True, False, False, True], "2": [False, False, True, True, True]})
    new_pred = predictions({"1": [True, True, True, True, True], "2": [True, True, True, True, True]})
    # Shuffle one fold and add a clip only the new result saw: matching is by id, not position.
    fold = new_pred["2"]
    fold["ids"] = list(reversed(fold["ids"])) + ["extra"]
    fold["y_true"].append(1)
    fold["y_pred"].append(1)
    base, new = entries(tmp_path, make_result(predictions=base_pred), make_result("whisper-aut", predictions=new_pred))
    test = paired_test(base, new)
    assert (test.n_items, test.baseline_only, test.other_only) == (10, 0, 4)
    # Two folds: a permutation test stratified by fold; 4 discordant clips all one way: p = 2/16.
    assert test.method == "permutation" and test.p_value == pytest.approx(2 / 16, abs=0.03)


def test_no_paired_test_without_predictions_or_across_manifests(tmp_path):
    pred = predictions({"1": [True, False]})
    a, b, c = entries(tmp_path, make_result(predictions=pred), make_result("x", predictions=pred),
                      make_result("y", manifest=OTHER_MANIFEST, predictions=pred))
    plain = entries(tmp_path / "plain", make_result("z"))[0]
    assert paired_test(a, b) is not None
    assert paired_test(a, c) is None
    assert paired_test(a, plain) is None


# ----------------------------------------------------------------------------- leaderboard


def best_rows(board: leaderboard.Leaderboard, column: leaderboard.Column) -> list[str]:
    return sorted(row for row in board.rows if (cell := board.cell(row, column)) and cell.best)


def test_leaderboard_best_baseline_delta_and_p_value(tmp_path):
    # The baseline misses 6 of 10 clips the new encoder gets right: p = 2 * 0.5**6.
    base_pred = predictions({"1": [False] * 6 + [True] * 4})
    new_pred = predictions({"1": [True] * 10})
    found = entries(tmp_path,
                    make_result("whisper-base", accuracy=0.4, predictions=base_pred),
                    make_result("whisper-aut", accuracy=1.0, predictions=new_pred),
                    make_result("logmel", accuracy=0.3),
                    make_result("whisper-base", "gtzan/filtered", 0.6),
                    make_result("logmel", "gtzan/filtered", 0.6))
    board = build_leaderboard(found, baseline="whisper-base")
    esc, gtzan = board.columns
    assert (esc.key, gtzan.key) == ("esc50/5fold", "gtzan/filtered")
    assert best_rows(board, esc) == ["whisper-aut"]
    assert best_rows(board, gtzan) == ["logmel", "whisper-base"]  # a tie: both bold
    aut = board.cell("whisper-aut", esc)
    assert aut.delta.points == pytest.approx(60.0)
    assert aut.delta.test.p_value == pytest.approx(0.03125)
    assert board.cell("logmel", esc).delta.test is None  # logmel kept no predictions
    assert board.cell("whisper-base", esc).delta is None
    assert "(+60.00, p=0.031)" in to_markdown(board)


def test_baseline_not_present_lists_encoders(tmp_path):
    found = entries(tmp_path, make_result("whisper-base"), make_result("logmel"))
    with pytest.raises(ConfigError, match="'whisper-aut' is not in the results; encoders present: logmel, whisper-base"):
        build_leaderboard(found, baseline="whisper-aut")


def test_baseline_by_encoder_name_must_be_unambiguous(tmp_path):
    found = entries(tmp_path, make_result(layer=2), make_result(layer=3))
    with pytest.raises(ConfigError, match="several rows"):
        build_leaderboard(found, baseline="whisper-base")
    assert build_leaderboard(found, baseline="whisper-base (L3)").baseline == "whisper-base (L3)"


def test_different_manifests_are_not_ranked_together_without_force(tmp_path):
    found = entries(tmp_path, make_result("a", accuracy=0.9), make_result("b", accuracy=0.5, manifest=OTHER_MANIFEST))
    board = build_leaderboard(found)
    assert [c.key for c in board.columns] == ["esc50/5fold @aaaaaaaa", "esc50/5fold @bbbbbbbb"]
    assert [best_rows(board, c) for c in board.columns] == [["a"], ["b"]]
    assert any("--force" in note for note in board.notes)

    forced = build_leaderboard(found, force=True)
    (column,) = forced.columns
    assert column.mixed and column.title == "esc50/5fold" + DAGGER
    assert best_rows(forced, column) == ["a"]
    assert any(line.startswith(DAGGER) and "--force" in line for line in forced.footnotes())
    assert f"esc50/5fold{DAGGER}" in to_markdown(forced)


def test_colliding_results_keep_the_newest_and_say_so(tmp_path):
    found = entries(tmp_path, make_result(accuracy=0.7, created="2026-11-02T00:00:00+00:00"),
                    make_result(accuracy=0.6, created="2026-11-01T00:00:00+00:00"))
    board = build_leaderboard(found)
    assert board.cell("whisper-base", board.columns[0]).entry.mean == 0.7
    assert len(board.notes) == 1 and "keeping" in board.notes[0] and "0.json" in board.notes[0]


def test_no_measured_results_is_an_error():
    with pytest.raises(ResultsError, match="no measured results"):
        build_leaderboard([])


def test_markdown_csv_json_agree(tmp_path):
    found = _with_reference(tmp_path, make_result("whisper-aut", "esc50/paper", 0.7, 0.0),
                            make_result("whisper-large-v3", "esc50/paper", 0.5, 0.0))
    board = build_leaderboard(found, with_reference=True)
    markdown = to_markdown(board)
    assert "| whisper-aut | **70.00 ± 0.00** |" in markdown
    assert "| *whisper-aut (paper)* | *77.50* |" in markdown
    records = list(csv.DictReader(io.StringIO(to_csv(board))))
    assert [(r["row"], r["mean"], r["best"]) for r in records] == [
        ("whisper-aut", "70.0", "True"), ("whisper-aut (paper)", "77.5", "False"),
        ("whisper-large-v3", "50.0", "False"), ("whisper-large-v3 (paper)", "54.5", "False")]
    payload = json.loads(to_json(board))
    assert payload["columns"] == ["esc50/paper"] and len(payload["cells"]) == 4


# ----------------------------------------------------------------------------- check


def _check(tmp_path: Path, baseline: list[dict], current: list[dict], tolerance: float = 0.5):
    return check_regressions(entries(tmp_path / "base", *baseline), entries(tmp_path / "new", *current), tolerance)


def test_check_flags_drops_beyond_tolerance_only(tmp_path):
    baseline = [make_result("a", accuracy=0.80), make_result("b", accuracy=0.80), make_result("c", accuracy=0.80)]
    current = [make_result("a", accuracy=0.79), make_result("b", accuracy=0.795), make_result("c", accuracy=0.9)]
    report = _check(tmp_path, baseline, current)
    report.require_pairs()
    assert len(report.checked) == 3
    assert [(p.row, round(p.delta_points, 2)) for p in report.regressions] == [("a", -1.0)]


def test_check_reports_manifest_mismatch_instead_of_comparing(tmp_path):
    report = _check(tmp_path, [make_result("a"), make_result("b", accuracy=0.9)],
                    [make_result("a"), make_result("b", accuracy=0.1, manifest=OTHER_MANIFEST)])
    assert [p.row for p in report.checked] == ["a"]
    assert [p.row for p in report.manifest_mismatches] == ["b"]
    assert report.regressions == []


def test_check_with_nothing_in_common_is_an_error(tmp_path):
    report = _check(tmp_path / "disjoint", [make_result("a")], [make_result("b")])
    assert (report.only_in_baseline, report.only_in_current) == ([("a", "esc50/5fold")], [("b", "esc50/5fold")])
    assert report.regressions == []  # empty, yet not a pass:
    with pytest.raises(ResultsError, match="0 encoder/task pairs checked"):
        report.require_pairs()
    report = _check(tmp_path / "mismatch", [make_result("a")], [make_result("a", manifest=OTHER_MANIFEST)])
    with pytest.raises(ResultsError, match="1 in common but on a different manifest"):
        report.require_pairs()


def test_check_ignores_reference_rows(tmp_path):
    reference = leaderboard.entries_from_file(REPO / "results" / "reference" / "whisper-aut-paper.json")
    report = check_regressions(reference, entries(tmp_path, make_result("whisper-aut", "esc50/paper", 0.1)))
    assert report.checked == [] and report.only_in_baseline == []
    assert report.only_in_current == [("whisper-aut", "esc50/paper")]


def test_negative_tolerance_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="tolerance"):
        _check(tmp_path, [make_result("a")], [make_result("a")], tolerance=-1)


def test_trimmed_window_results_get_their_own_row_and_a_footnote(tmp_path):
    trimmed = make_result(accuracy=0.9)
    trimmed["extraction"].update(window="trim", trim_multiple=50)
    full_only = build_leaderboard(entries(tmp_path / "full", make_result()))
    assert not any("trim" in line for line in full_only.footnotes())
    board = build_leaderboard(entries(tmp_path / "both", make_result(accuracy=0.8), trimmed))
    assert sorted(board.rows) == ["whisper-base", "whisper-base (trim50 window)"]
    [note] = [line for line in board.footnotes() if "--window trim" in line]
    assert "trimming changes the numbers" in note
    assert "--window trim" in to_markdown(board)
