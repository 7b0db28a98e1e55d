"""ESC-50: the CSV is the source of truth for folds and labels; both protocols; bad trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.fulltrees import write_esc50

from audiobench.errors import DataError
from audiobench.tasks import get_task


def test_5fold_is_leave_one_fold_out_with_400_test_clips_per_fold(full: dict[str, Path]) -> None:
    manifest = get_task("esc50").manifest(full["esc50"], "5fold")
    assert manifest.protocol_id == "esc50/5fold" and len(manifest.label_names) == 50
    assert manifest.split_sizes() == {f"fold{k}": {"train": 1600, "valid": 0, "test": 400} for k in range(1, 6)}
    tested = sorted(i for fold in manifest.folds for i in fold.test)
    assert tested == list(range(2000))  # every clip tested exactly once
    for fold in manifest.folds:
        assert set(manifest.class_counts(fold, "test").values()) == {8}
        # Validation may only come from training folds: no source recording straddles train and test.
        train_groups = {manifest.clips[i].group for i in fold.train}
        assert not train_groups & {manifest.clips[i].group for i in fold.test}


def test_paper_protocol_trains_on_folds_1_to_4_and_tests_on_fold_5(full: dict[str, Path]) -> None:
    manifest = get_task("esc50").manifest(full["esc50"], "paper")
    assert manifest.protocol_id == "esc50/paper"
    assert manifest.split_sizes() == {"fold5": {"train": 1600, "valid": 0, "test": 400}}
    assert all(manifest.clips[i].path.startswith("audio/5-") for i in manifest.folds[0].test)
    five = get_task("esc50").manifest(full["esc50"], "5fold")
    assert manifest.sha256 != five.sha256  # the hash covers the protocol, not just the clips


@pytest.fixture
def esc50(tmp_path: Path) -> Path:
    write_esc50(tmp_path / "esc50")
    return tmp_path / "esc50"


def test_a_csv_row_whose_file_is_missing_is_one_error_naming_it(esc50: Path) -> None:
    (esc50 / "audio" / "2-100004-A-0.wav").unlink()
    (esc50 / "audio" / "3-100008-B-0.wav").unlink()
    with pytest.raises(DataError) as err:
        get_task("esc50").manifest(esc50, "5fold")
    assert "lists audio/2-100004-A-0.wav, which is missing" in str(err.value)
    assert "(and 1 more)" in str(err.value)


def test_a_tree_in_the_wrong_layout_names_the_expected_one(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        get_task("esc50").manifest(tmp_path, "5fold")
    assert "missing meta/esc50.csv, audio" in str(err.value) and "audio/<fold>-<src_file>" in str(err.value)


def test_the_github_folder_one_level_down_gets_a_pointed_hint(esc50: Path, tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    shutil.move(str(esc50), str(outer / "ESC-50-master"))
    with pytest.raises(DataError, match="use --data-root .*ESC-50-master"):
        get_task("esc50").manifest(outer, "5fold")


def test_a_csv_without_the_official_columns_is_refused(esc50: Path) -> None:
    (esc50 / "meta" / "esc50.csv").write_text("filename,fold\n1-1-A-0.wav,1\n")
    with pytest.raises(DataError, match="lacks column"):
        get_task("esc50").manifest(esc50, "5fold")
