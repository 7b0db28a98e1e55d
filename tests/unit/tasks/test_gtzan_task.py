"""GTZAN: the fault-filtered lists, the paper's stratified 80/20 and 10-fold CV, both folder
names and file types, partial trees, and the unreadable jazz.00054.wav's place in the lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fulltrees import write_gtzan

from audiobench.errors import DataError
from audiobench.tasks import get_task
from audiobench.tasks.gtzan import GENRES, filtered_list


def test_the_filtered_lists_are_443_197_290_of_930_distinct_clips() -> None:
    lists = {role: filtered_list(role) for role in ("train", "valid", "test")}
    assert {role: len(ids) for role, ids in lists.items()} == {"train": 443, "valid": 197, "test": 290}
    assert len(set().union(*map(set, lists.values()))) == 930


def test_filtered_protocol_on_a_full_tree(full: dict[str, Path]) -> None:
    manifest = get_task("gtzan").manifest(full["gtzan"], "filtered")
    assert manifest.protocol_id == "gtzan/filtered"
    assert manifest.split_sizes() == {"filtered": {"train": 443, "valid": 197, "test": 290}}
    assert manifest.missing == [] and len(manifest.unused) == 70


def test_jazz_00054_is_used_by_every_protocol() -> None:
    """Its .wav is unreadable in the common distribution and it is in the filtered train list,
    so no protocol can silently drop it: embedding stops unless --skip-bad (tests/e2e)."""
    assert "jazz.00054" in filtered_list("train")


def test_jazz_00054_is_in_every_manifest(full: dict[str, Path]) -> None:
    for protocol in ("filtered", "paper", "10fold"):
        manifest = get_task("gtzan").manifest(full["gtzan"], protocol)
        assert "genres_original/jazz/jazz.00054.wav" in {c.path for c in manifest.clips}


def test_paper_protocol_is_a_stratified_80_20_split_with_a_fixed_seed(full: dict[str, Path]) -> None:
    manifest = get_task("gtzan").manifest(full["gtzan"], "paper")
    assert manifest.split_sizes() == {"paper": {"train": 800, "valid": 0, "test": 200}}
    assert set(manifest.class_counts(manifest.folds[0], "test").values()) == {20}
    assert get_task("gtzan").manifest(full["gtzan"], "paper").sha256 == manifest.sha256


def test_10fold_tests_every_clip_once_with_10_per_genre_per_fold(full: dict[str, Path]) -> None:
    manifest = get_task("gtzan").manifest(full["gtzan"], "10fold")
    assert len(manifest.folds) == 10
    assert all(sizes == {"train": 900, "valid": 0, "test": 100} for sizes in manifest.split_sizes().values())
    assert sorted(i for fold in manifest.folds for i in fold.test) == list(range(1000))
    assert all(set(manifest.class_counts(fold, "test").values()) == {10} for fold in manifest.folds)


def test_original_genres_folder_with_au_files_and_wav_preferred(tmp_path: Path) -> None:
    write_gtzan(tmp_path, folder="genres", ext=".au")
    (tmp_path / "genres" / "blues" / "blues.00012.wav").write_bytes(b"")  # beside blues.00012.au
    manifest = get_task("gtzan").manifest(tmp_path, "filtered")
    paths = {c.path for c in manifest.clips}
    assert "genres/blues/blues.00029.au" in paths
    assert "genres/blues/blues.00012.wav" in paths and "genres/blues/blues.00012.au" not in paths
    assert manifest.split_sizes()["filtered"] == {"train": 443, "valid": 197, "test": 290}


def test_listed_clips_absent_from_a_partial_tree_are_recorded_as_missing(tmp_path: Path) -> None:
    write_gtzan(tmp_path)
    for n in range(50):
        (tmp_path / "genres_original" / "blues" / f"blues.{n:05d}.wav").unlink()
    manifest = get_task("gtzan").manifest(tmp_path, "filtered")
    expected_missing = [c for r in ("train", "valid", "test") for c in filtered_list(r)
                        if c.startswith("blues.") and int(c.split(".")[1]) < 50]
    assert manifest.missing == expected_missing and expected_missing
    assert sum(sum(s.values()) for s in manifest.split_sizes().values()) == 930 - len(expected_missing)


def test_a_tree_without_genres_names_the_expected_layout(tmp_path: Path) -> None:
    (tmp_path / "music").mkdir()
    with pytest.raises(DataError, match=r"missing genres/ \(or genres_original/\).*genres/<genre>/<genre>.000NN.wav"):
        get_task("gtzan").manifest(tmp_path, "filtered")
    (tmp_path / "genres" / GENRES[0]).mkdir(parents=True)
    with pytest.raises(DataError, match="holds no gtzan clips"):
        get_task("gtzan").manifest(tmp_path, "paper")


@pytest.mark.parametrize("protocol", ["paper", "10fold"])
def test_deleting_a_file_moves_no_other_clip_between_folds(tmp_path: Path, protocol: str) -> None:
    def roles(manifest) -> dict[tuple[str, str], str]:
        return {(fold.name, manifest.clips[i].path): role for fold in manifest.folds
                for role in ("train", "test") for i in getattr(fold, role)}

    write_gtzan(tmp_path)
    before = roles(get_task("gtzan").manifest(tmp_path, protocol))
    deleted = "genres_original/jazz/jazz.00054.wav"
    (tmp_path / deleted).unlink()
    after = roles(get_task("gtzan").manifest(tmp_path, protocol))
    assert after == {key: role for key, role in before.items() if key[1] != deleted}
