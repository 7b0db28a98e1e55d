"""Speech Commands: official lists (v2-35, v1-30), the SUPERB 12-class protocol with its
deterministic _silence_ crops and separate test set, and bad trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fulltrees import (
    NOISE_FILES,
    NOISE_SECONDS,
    write_sc_release,
    write_superb_test,
)

from audiobench.errors import DataError
from audiobench.synth import SC_WORDS_V1, SC_WORDS_V2
from audiobench.tasks import get_task


@pytest.fixture
def sc(tmp_path: Path) -> Path:
    write_sc_release(tmp_path / "v0.02", SC_WORDS_V2, {"clips": 350, "validation": 35, "testing": 70})
    write_sc_release(tmp_path / "v0.01", SC_WORDS_V1, {"clips": 300, "validation": 30, "testing": 60})
    write_superb_test(tmp_path / "test_set_v0.01", total=48)
    return tmp_path


def test_official_lists_define_valid_and_test_and_training_is_everything_else(sc: Path) -> None:
    manifest = get_task("speechcommands").manifest(sc, "v2-35")
    assert manifest.protocol_id == "speechcommands/v2-35" and manifest.label_names == sorted(SC_WORDS_V2)
    assert manifest.split_sizes() == {"v2-35": {"train": 245, "valid": 35, "test": 70}}
    listed = set((sc / "v0.02" / "validation_list.txt").read_text().split())
    fold = manifest.folds[0]
    assert {manifest.clips[i].path.removeprefix("v0.02/") for i in fold.valid} == listed
    assert not any(manifest.clips[i].path.removeprefix("v0.02/") in listed for i in fold.train)
    assert all("_background_noise_" not in c.path for c in manifest.clips)
    v1 = get_task("speechcommands").manifest(sc, "v1-30")
    assert len(v1.label_names) == 30 and v1.split_sizes() == {"v1-30": {"train": 210, "valid": 30, "test": 60}}


def test_superb_maps_to_10_words_unknown_and_silence_with_the_separate_test_set(sc: Path) -> None:
    manifest = get_task("speechcommands").manifest(sc, "paper")
    assert manifest.protocol_id == "speechcommands/paper"
    # protocols.md: the ten words, then _unknown_ (every other word) and _silence_
    assert manifest.label_names == ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                                    "_unknown_", "_silence_"]
    fold = manifest.folds[0]
    assert len(fold.test) == 48 and all(manifest.clips[i].path.startswith("test_set_v0.01/") for i in fold.test)
    train_words = {manifest.clips[i].path.split("/")[1]: manifest.label_names[manifest.clips[i].label]
                   for i in fold.train if manifest.clips[i].duration is None}
    assert train_words["yes"] == "yes" and train_words["bed"] == "_unknown_"
    silence = [manifest.clips[i] for i in (*fold.train, *fold.valid) if manifest.clips[i].duration is not None]
    assert len(silence) == len(NOISE_FILES) * int(NOISE_SECONDS)  # every non-overlapping 1 s crop
    assert all(c.path.startswith("v0.01/_background_noise_/") and c.duration == 1.0 for c in silence)
    assert {manifest.label_names[c.label] for c in silence} == {"_silence_"}
    recordings = {role: {manifest.clips[i].path for i in getattr(fold, role) if manifest.clips[i].duration}
                  for role in ("train", "valid")}
    assert len(recordings["valid"]) == 1 and len(recordings["train"]) == len(NOISE_FILES) - 1  # whole recordings
    again = get_task("speechcommands").manifest(sc, "paper")
    assert again.sha256 == manifest.sha256  # crops and their train/valid assignment are deterministic


def test_a_listed_file_that_is_missing_is_one_error_naming_it(sc: Path) -> None:
    first = (sc / "v0.02" / "testing_list.txt").read_text().split()[0]
    (sc / "v0.02" / first).unlink()
    with pytest.raises(DataError, match=f"v0.02 test list lists v0.02/{first}, which is missing"):
        get_task("speechcommands").manifest(sc, "v2-35")


def test_a_missing_release_folder_names_the_expected_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        get_task("speechcommands").manifest(tmp_path, "v1-30")
    assert "missing v0.01/validation_list.txt, v0.01/testing_list.txt" in str(err.value)
    assert "<root>/v0.02/ and <root>/v0.01/" in str(err.value)


def test_superb_without_its_test_set_or_background_noise_is_refused(sc: Path, tmp_path: Path) -> None:
    (sc / "test_set_v0.01" / "_silence_").rename(sc / "silence_moved")
    with pytest.raises(DataError, match="lacks the _silence_/ folder"):
        get_task("speechcommands").manifest(sc, "paper")
    for noise in (sc / "v0.01" / "_background_noise_").iterdir():
        noise.unlink()
    with pytest.raises(DataError, match="_background_noise_ holds 0 .wav file"):
        get_task("speechcommands").manifest(sc, "paper")
