"""Full-size data trees of tiny placeholder WAVs, in the real naming schemes and list files,
built once per test session by the ``full`` fixture in ``tests/conftest.py`` (the unit and
end-to-end tests share them).

Only the sizes are real: per-class counts are spread evenly because the tests assert the
published split sizes, not the real class balance. Every folder's files are hard links to
one placeholder (ext4 allows 65,000 links per inode, so one source per folder), which keeps
the 177,000 files cheap; the background-noise files are real WAVs because the SUPERB
``_silence_`` crops read their durations.
"""

from __future__ import annotations

import csv
import io
import os
import struct
from pathlib import Path

import numpy as np

from audiobench.audio import write_wav
from audiobench.synth import ESC50_CATEGORIES, NOISE_FILES, SC_WORDS_V1, SC_WORDS_V2
from audiobench.tasks.gtzan import GENRES
from audiobench.tasks.speechcommands import SUPERB_LABELS

SC_V2 = {"clips": 105_829, "validation": 9_981, "testing": 11_005}
# v0.01's archive holds 64,727 .wav files: 64,721 clips and the six _background_noise_ files.
SC_V1 = {"clips": 64_721, "validation": 6_798, "testing": 6_835}
SUPERB_TEST = 3_081
NOISE_SECONDS = 3.0


def wav_bytes(sample_rate: int, samples: int = 16) -> bytes:
    """A valid 16-bit mono PCM WAV of silence, built by hand (no soundfile call per file)."""
    data = bytes(2 * samples)
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, 2 * sample_rate, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def fill(folder: Path, names: list[str], data: bytes) -> None:
    """Write ``data`` once in ``folder`` and hard-link every other name to it."""
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / names[0]
    first.write_bytes(data)
    for name in names[1:]:
        os.link(first, folder / name)


def by_folder(paths: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for path in paths:
        folder, name = path.rsplit("/", 1)
        groups.setdefault(folder, []).append(name)
    return groups


def write_sc_release(tree: Path, words: list[str], sizes: dict[str, int]) -> None:
    """Clip i is ``<word i mod W>/<i as 8 hex digits>_nohash_0.wav``; the first clips go to the
    validation list, the next ones to the testing list, the rest train."""
    paths = [f"{words[i % len(words)]}/{i:08x}_nohash_0.wav" for i in range(sizes["clips"])]
    data = wav_bytes(16_000)
    for folder, names in by_folder(paths).items():
        fill(tree / folder, names, data)
    n_valid, n_test = sizes["validation"], sizes["testing"]
    (tree / "validation_list.txt").write_text("".join(p + "\n" for p in paths[:n_valid]))
    (tree / "testing_list.txt").write_text("".join(p + "\n" for p in paths[n_valid:n_valid + n_test]))
    (tree / "LICENSE").write_text("placeholder\n")
    noise = 0.01 * np.random.default_rng(0).standard_normal(int(NOISE_SECONDS * 16_000)).astype(np.float32)
    for name in NOISE_FILES:
        write_wav(tree / "_background_noise_" / f"{name}.wav", noise, 16_000)


def write_superb_test(tree: Path, total: int = SUPERB_TEST) -> None:
    paths = [f"{SUPERB_LABELS[i % len(SUPERB_LABELS)]}/{i:08x}_nohash_0.wav" for i in range(total)]
    data = wav_bytes(16_000)
    for folder, names in by_folder(paths).items():
        fill(tree / folder, names, data)


def write_esc50(root: Path) -> None:
    """50 classes x 40 clips, 8 per class in each of the 5 folds, as meta/esc50.csv lists them."""
    rows, names = [], []
    for target, category in enumerate(ESC50_CATEGORIES):
        for k in range(40):
            fold, src, take = k // 8 + 1, 100_000 + 100 * target + k // 2, "AB"[k % 2]  # 2 takes per source
            name = f"{fold}-{src}-{take}-{target}.wav"
            names.append(name)
            rows.append([name, fold, target, category, str(target < 10), src, take])
    fill(root / "audio", names, wav_bytes(44_100))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
    writer.writerows(rows)
    (root / "meta").mkdir()
    (root / "meta" / "esc50.csv").write_text(buffer.getvalue())


def write_gtzan(root: Path, folder: str = "genres_original", ext: str = ".wav") -> None:
    for genre in GENRES:
        fill(root / folder / genre, [f"{genre}.{n:05d}{ext}" for n in range(100)], wav_bytes(22_050))


def build_all(base: Path) -> dict[str, Path]:
    """Task name -> data root of its full-size tree."""
    roots = {"esc50": base / "esc50", "gtzan": base / "gtzan", "speechcommands": base / "speechcommands"}
    write_esc50(roots["esc50"])
    write_gtzan(roots["gtzan"])
    write_sc_release(roots["speechcommands"] / "v0.02", SC_WORDS_V2, SC_V2)
    write_sc_release(roots["speechcommands"] / "v0.01", SC_WORDS_V1, SC_V1)
    write_superb_test(roots["speechcommands"] / "test_set_v0.01")
    return roots

