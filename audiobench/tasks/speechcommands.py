"""Speech Commands (Warden 2018): one-second keywords, ``<word>/<speaker>_nohash_<n>.wav``.

The data root holds each archive extracted into its own folder:
``v0.02/`` and ``v0.01/`` (with ``validation_list.txt``, ``testing_list.txt`` and
``_background_noise_/``) and ``test_set_v0.01/`` (the separate 12-class SUPERB test set).
Training = every clip in neither list.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import soundfile as sf

from audiobench.errors import AudioReadError, DataError
from audiobench.tasks.base import (Clip, Fold, Manifest, MetadataError, Protocol, Source, Task, check_files_exist,
                                   read_metadata_text)

NOISE_DIR = "_background_noise_"
SUPERB_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
SUPERB_LABELS = (*SUPERB_WORDS, UNKNOWN, SILENCE)
SILENCE_SECONDS = 1.0
SILENCE_VALID_SHARE = 0.1
SILENCE_SEED = "audiobench-sc-silence-v1"
VERSION_DIRS = {"v2-35": "v0.02", "v1-30": "v0.01", "paper": "v0.01"}
SUPERB_TEST_DIR = "test_set_v0.01"
TEST_SET_FOLDERS = (*SUPERB_WORDS, UNKNOWN, SILENCE)
RELEASE_FILES = ("validation_list.txt", "testing_list.txt", NOISE_DIR)


def speaker(path: str) -> str:
    # String operations, not Path: this runs once per clip (105,829 for v0.02).
    return path.rsplit("/", 1)[-1].split("_nohash_")[0]


class SpeechCommands(Task):
    name = "speechcommands"
    description = "Google Speech Commands keyword spotting (1 s clips)"
    protocols = (
        Protocol("v2-35", "v0.02, 35 words, official validation/testing lists"),
        Protocol("v1-30", "v0.01, 30 words, official validation/testing lists"),
        Protocol("paper", "SUPERB KS (the paper's): v0.01 lists mapped to 10 words + _unknown_ + "
                          "_silence_, classes balanced in training; test = the 3,081-clip test_set_v0.01",
                 balanced=True),
    )
    homepage = "https://www.tensorflow.org/datasets/catalog/speech_commands"
    license = "CC BY 4.0"
    how_to_get = ("run `audiobench data download speechcommands`, or extract the official archives into "
                  "<root>/v0.02, <root>/v0.01 and <root>/test_set_v0.01")
    # The releases have published sha256s; the test sets are checked by their folders and clip count.
    sources = (
        Source("v0.02", "https://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
               "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58", "v0.02",
               "v0.02/<word>/*.wav with the list files and _background_noise_", expect=RELEASE_FILES),
        Source("v0.01", "https://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
               "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d", "v0.01",
               "v0.01/<word>/*.wav with the list files and _background_noise_", expect=RELEASE_FILES),
        Source("test_set_v0.01", "https://download.tensorflow.org/data/speech_commands_test_set_v0.01.tar.gz",
               None, "test_set_v0.01", "test_set_v0.01/<10 words, _unknown_, _silence_>/*.wav, 3,081 clips",
               expect=TEST_SET_FOLDERS, count=("*/*.wav", 3081)),
        Source("test_set_v0.02", "https://download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz",
               None, "test_set_v0.02", "test_set_v0.02/<10 words, _unknown_, _silence_>/*.wav, 4,890 clips",
               expect=TEST_SET_FOLDERS, count=("*/*.wav", 4890)),
    )
    layout = ("<root>/v0.02/ and <root>/v0.01/ (each <word>/<speaker>_nohash_<n>.wav, validation_list.txt, "
              "testing_list.txt, _background_noise_/) and <root>/test_set_v0.01/ (12 label folders)")

    def build_manifest(self, root: Path, protocol: str) -> Manifest:
        tree = root / VERSION_DIRS[protocol]
        self.require(root, f"{tree.name}/validation_list.txt", f"{tree.name}/testing_list.txt")
        by_role = official_split(tree)
        words = sorted({path.split("/")[0] for paths in by_role.values() for path in paths})
        if protocol != "paper":
            label_names = words
            label_of = {word: i for i, word in enumerate(words)}
            clips_by_role = {role: [Clip(f"{tree.name}/{p}", label_of[p.split("/")[0]], group=speaker(p))
                                    for p in paths] for role, paths in by_role.items()}
        else:
            self.require(root, SUPERB_TEST_DIR)
            label_names = list(SUPERB_LABELS)
            clips_by_role = {role: [superb_clip(tree.name, p) for p in by_role[role]] for role in ("train", "valid")}
            silence = silence_crops(root, tree.name)
            clips_by_role["train"] += silence["train"]
            clips_by_role["valid"] += silence["valid"]
            clips_by_role["test"] = superb_test_clips(root / SUPERB_TEST_DIR)
        for role in ("valid", "test"):
            check_files_exist(root, clips_by_role[role], f"{tree.name} {role} list")
        clips = clips_by_role["train"] + clips_by_role["valid"] + clips_by_role["test"]
        n_train, n_valid = len(clips_by_role["train"]), len(clips_by_role["valid"])
        fold = Fold(protocol, tuple(range(n_train)), tuple(range(n_train, n_train + n_valid)),
                    tuple(range(n_train + n_valid, len(clips))))
        return Manifest(self.name, protocol, root, clips, label_names, [fold])


def read_list(path: Path, listed_before: dict[str, tuple[Path, int]]) -> list[str]:
    """The ``<word>/<file>.wav`` paths of an official list file, each listed once across the
    lists read so far (``listed_before``, path -> (list file, line), is updated)."""
    paths = []
    for line, text in enumerate(read_metadata_text(path).splitlines(), 1):
        clip = text.strip()
        if not clip:
            continue
        word, _, name = clip.partition("/")
        if word in ("", ".", "..") or not name.endswith(".wav") or any(c in clip for c in "\\\0") or "/" in name:
            raise MetadataError(path, line, f"{clip!r} is not a <word>/<file>.wav path")
        if clip in listed_before:
            other, other_line = listed_before[clip]
            where = "again" if other == path else f"and in {other.name}"
            raise MetadataError(path, line, f"{clip} is listed {where} on line {other_line}",
                                "list each clip once, in one split")
        listed_before[clip] = (path, line)
        paths.append(clip)
    return paths


def official_split(tree: Path) -> dict[str, list[str]]:
    """Paths (relative to ``tree``) of train / valid / test by the official list files."""
    listed_before: dict[str, tuple[Path, int]] = {}
    valid = read_list(tree / "validation_list.txt", listed_before)
    test = read_list(tree / "testing_list.txt", listed_before)
    listed = set(listed_before)
    train = []
    # os.scandir and plain strings: a v0.02 tree has 105,829 files.
    folders = sorted(e.name for e in os.scandir(tree)
                     if e.is_dir() and e.name != NOISE_DIR and not e.name.startswith("."))
    for folder in folders:
        names = sorted(e.name for e in os.scandir(tree / folder) if e.name.endswith(".wav"))
        train.extend(path for path in (f"{folder}/{name}" for name in names) if path not in listed)
    if not train:
        raise DataError(f"{tree} has no <word>/*.wav clips outside its lists", "re-extract the archive")
    return {"train": train, "valid": valid, "test": test}


def superb_clip(tree_name: str, path: str) -> Clip:
    word = path.split("/")[0]
    label = SUPERB_LABELS.index(word) if word in SUPERB_WORDS else SUPERB_LABELS.index(UNKNOWN)
    return Clip(f"{tree_name}/{path}", label, group=speaker(path))


def silence_crops(root: Path, tree_name: str) -> dict[str, list[Clip]]:
    """Every non-overlapping 1 s crop of each background-noise file. Whole recordings go to
    one side (about 10% of them, at least one, to validation, chosen by a seeded hash of the
    file name), so no validation crop shares a recording with a training crop. Deterministic,
    and disjoint from the test set's own ``_silence_`` clips."""
    noise = root / tree_name / NOISE_DIR
    files = sorted(noise.glob("*.wav")) if noise.is_dir() else []
    if len(files) < 2:
        raise DataError(f"{noise} holds {len(files)} .wav file(s); the _silence_ class needs at least two "
                        "background-noise recordings (one for validation)", "re-extract the v0.01 archive")
    by_hash = sorted(files, key=lambda f: hashlib.sha256(f"{SILENCE_SEED}:{f.name}".encode()).hexdigest())
    valid_files = set(by_hash[:max(1, round(SILENCE_VALID_SHARE * len(files)))])
    crops: dict[str, list[Clip]] = {"train": [], "valid": []}
    label = SUPERB_LABELS.index(SILENCE)
    for path in files:
        try:
            seconds = sf.info(str(path)).duration
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioReadError(str(path), str(err)) from err
        rel = path.relative_to(root).as_posix()
        crops["valid" if path in valid_files else "train"].extend(
            Clip(rel, label, start=k * SILENCE_SECONDS, duration=SILENCE_SECONDS, group=path.stem)
            for k in range(int(seconds // SILENCE_SECONDS)))
    return crops


def superb_test_clips(test_dir: Path) -> list[Clip]:
    clips = []
    for label, name in enumerate(SUPERB_LABELS):
        folder = test_dir / name
        if not folder.is_dir():
            raise DataError(f"{test_dir} lacks the {name}/ folder of the SUPERB test set",
                            "extract speech_commands_test_set_v0.01.tar.gz there")
        clips.extend(Clip(f"{test_dir.name}/{name}/{f.name}", label, group=speaker(f.name))
                     for f in sorted(folder.glob("*.wav")))
    return clips
