"""``audiobench data download | prepare | info | synth`` and the unreadable-clip path of ``run``,
end to end through ``audiobench.cli.main``.

``data info`` is run on full-size trees of placeholder WAVs (real naming schemes and list
files) and must print the published split sizes. Downloads go to a threaded HTTP server on
127.0.0.1 through ``--mirror``; no other host is contacted.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support import fulltrees
from support.http import sha, tar_gz

from audiobench import synth
from audiobench.audio import write_wav
from audiobench.cli import main
from audiobench.download import RECORD_FILE
from audiobench.tasks.gtzan import GENRES, filtered_list


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_rows(text: str) -> dict[str, list[int]]:
    """Rows of the first table ``data info`` prints: fold name -> [train, valid, test]."""
    rows = {}
    for line in text.split("clips per class")[0].splitlines():
        cells = [c.strip().replace(",", "") for c in line.strip("│ ").split("│")]
        if len(cells) == 4 and all(c.isdigit() for c in cells[1:]):
            rows[cells[0]] = [int(c) for c in cells[1:]]
    return rows


PUBLISHED = [
    ("esc50", "5fold", {f"fold{k}": [1600, 0, 400] for k in range(1, 6)}),
    ("esc50", "paper", {"fold5": [1600, 0, 400]}),
    ("gtzan", "filtered", {"filtered": [443, 197, 290]}),
    ("gtzan", "paper", {"paper": [800, 0, 200]}),
    ("speechcommands", "v2-35", {"v2-35": [84_843, 9_981, 11_005]}),
    ("speechcommands", "v1-30", {"v1-30": [51_088, 6_798, 6_835]}),
]


@pytest.mark.parametrize("task, protocol, sizes", PUBLISHED, ids=[f"{t}-{p}" for t, p, _ in PUBLISHED])
def test_info_prints_the_published_split_sizes_on_full_size_trees(capsys, full, task, protocol, sizes) -> None:
    code, out, _ = cli(capsys, "data", "info", task, "--protocol", protocol, "--data-root", str(full[task]))
    assert code == 0
    assert f"{task}/{protocol}" in out
    assert table_rows(out) == sizes


def test_info_superb_test_is_the_3081_clip_test_set(capsys, full) -> None:
    code, out, _ = cli(capsys, "data", "info", "speechcommands", "--protocol", "paper", "--data-root",
                       str(full["speechcommands"]), "--json")
    assert code == 0
    info = json.loads(out)
    fold = info["folds"]["paper"]
    assert info["protocol_id"] == "speechcommands/paper" and info["num_classes"] == 12
    assert fold["test"]["clips"] == 3_081
    # train/valid: the v0.01 lists (51,088 / 6,798) plus the deterministic 1 s _silence_ crops.
    crops = len(fulltrees.NOISE_FILES) * int(fulltrees.NOISE_SECONDS)
    assert fold["train"]["clips"] + fold["valid"]["clips"] == 51_088 + 6_798 + crops
    assert fold["train"]["classes"]["_silence_"] + fold["valid"]["classes"]["_silence_"] == crops
    assert len(info["manifest_sha256"]) == 64


def test_info_gtzan_10fold_json(capsys, full) -> None:
    code, out, _ = cli(capsys, "data", "info", "gtzan", "--protocol", "10fold", "--data-root", str(full["gtzan"]),
                       "--json")
    folds = json.loads(out)["folds"]
    assert code == 0 and len(folds) == 10
    assert all((f["train"]["clips"], f["test"]["clips"]) == (900, 100) for f in folds.values())


def test_info_on_a_wrong_tree_exits_2_naming_the_expected_layout(capsys, tmp_path) -> None:
    code, out, err = cli(capsys, "data", "info", "speechcommands", "--protocol", "v2-35", "--data-root", str(tmp_path))
    assert code == 2 and out == ""
    assert "missing v0.02/validation_list.txt" in err and "expected <root>/v0.02/" in err


# ----- synthetic trees -------------------------------------------------------------------------

@pytest.fixture
def cheap_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Silence instead of the synthesised signals: ``data info`` checks layout and lists, never
    the audio, and the real generators take tens of seconds on a busy two-core machine."""
    monkeypatch.setattr(synth, "esc50_clip", lambda target, seed, sr=44_100, seconds=5.0: np.zeros(int(sr * seconds)))
    monkeypatch.setattr(synth, "gtzan_clip", lambda genre, seed, seconds, sr=22_050: np.zeros(int(sr * seconds)))
    monkeypatch.setattr(synth, "word_clip", lambda word, spk, take, sr=16_000: np.zeros(sr))
    monkeypatch.setattr(synth, "band_noise", lambda rng, n, sr, center, octaves: np.zeros(n))


SYNTH_SIZES = [  # tiny scale: 10 ESC-50 classes x 2 per fold; GTZAN 5/2/3 ids per genre; SC 6 speakers per word
    ("esc50", "5fold", {f"fold{k}": [80, 0, 20] for k in range(1, 6)}),
    ("esc50", "paper", {"fold5": [80, 0, 20]}),
    ("gtzan", "filtered", {"filtered": [50, 20, 30]}),
    # A 100-clip subset keeps each clip's canonical fold, so GTZAN's folds are only near-even here.
    ("gtzan", "paper", {"paper": [79, 0, 21]}),
    ("gtzan", "10fold", {f"fold{k}": [100 - n, 0, n] for k, n in enumerate((12, 10, 11, 17, 9, 9, 8, 10, 6, 8), 1)}),
    ("speechcommands", "v2-35", {"v2-35": [140, 35, 35]}),
    ("speechcommands", "v1-30", {"v1-30": [120, 30, 30]}),
]


def test_synthetic_trees_pass_info_for_every_protocol(capsys, tmp_path, cheap_synth) -> None:
    code, _, _ = cli(capsys, "data", "synth", "--out", str(tmp_path))
    assert code == 0
    for task, protocol, sizes in SYNTH_SIZES:
        code, out, err = cli(capsys, "data", "info", task, "--protocol", protocol, "--data-root",
                             str(tmp_path / task))
        assert code == 0, err
        assert table_rows(out) == sizes, (task, protocol)
    code, out, _ = cli(capsys, "data", "info", "speechcommands", "--protocol", "paper", "--data-root",
                       str(tmp_path / "speechcommands"), "--json")
    fold = json.loads(out)["folds"]["paper"]
    assert code == 0 and fold["test"]["clips"] == 36 and all(n > 0 for n in fold["train"]["classes"].values())
    code, out, _ = cli(capsys, "data", "info", "gtzan", "--data-root", str(tmp_path / "gtzan"), "--json")
    assert len(json.loads(out)["missing"]) == 930 - 100  # a subset of the lists, reported not fatal


# ----- download and prepare --------------------------------------------------------------------

def esc50_zip(tmp_path: Path) -> bytes:
    """The GitHub archive's shape: everything under ESC-50-master/, 2,000 clips."""
    fulltrees.write_esc50(tmp_path / "esc")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ESC-50-master/README.md", "ESC-50\n")
        for path in sorted((tmp_path / "esc").rglob("*")):
            if path.is_file():
                zf.writestr(f"ESC-50-master/{path.relative_to(tmp_path / 'esc').as_posix()}", path.read_bytes())
    return buffer.getvalue()


def test_download_esc50_from_a_mirror_then_info_prints_5_by_400(capsys, tmp_path, server) -> None:
    data = esc50_zip(tmp_path)
    server.files["/karolpiczak/ESC-50/archive/master.zip"] = data
    root = tmp_path / "data"
    code, out, err = cli(capsys, "data", "download", "esc50", "--root", str(root), "--mirror", server.base)
    assert code == 0, err
    assert "verified by layout and file count" in err and sha(data) in err
    assert json.loads((root / RECORD_FILE).read_text())["esc50"]["sha256"] == sha(data)
    code, out, _ = cli(capsys, "data", "info", "esc50", "--data-root", str(root))
    assert table_rows(out) == {f"fold{k}": [1600, 0, 400] for k in range(1, 6)}
    code, _, err = cli(capsys, "data", "download", "esc50", "--root", str(root), "--mirror", server.base)
    assert code == 0 and "already in" in err and len(server.requests) == 1


def test_download_checks_the_published_sha256_and_accepts_a_pin(capsys, tmp_path, server) -> None:
    members = {"yes/00000000_nohash_0.wav": b"x", "validation_list.txt": b"", "testing_list.txt": b"",
               "_background_noise_/white_noise.wav": b"x"}
    data = tar_gz(members)
    server.files["/data/speech_commands_v0.01.tar.gz"] = data
    root = tmp_path / "sc"
    args = ("data", "download", "speechcommands", "--only", "v0.01", "--root", str(root), "--mirror", server.base)
    code, _, err = cli(capsys, *args)
    assert code == 2
    err = " ".join(err.split())  # undo console wrapping
    assert "speech_commands_v0.01.tar.gz: sha256" in err and sha(data) in err
    assert "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d" in err
    assert not (root / "v0.01").exists()
    code, _, err = cli(capsys, *args, "--sha256", sha(data))
    assert code == 0, err
    assert "verified by pinned sha256" in err and (root / "v0.01" / "yes" / "00000000_nohash_0.wav").is_file()
    code, _, err = cli(capsys, "data", "download", "speechcommands", "--root", str(root), "--sha256", sha(data))
    assert code == 2 and "--sha256 pins one archive" in err


def test_download_speechcommands_test_set_is_verified_by_its_3081_clips(capsys, tmp_path, server) -> None:
    wav = fulltrees.wav_bytes(16_000)
    labels = fulltrees.SUPERB_LABELS
    data = tar_gz({f"{labels[i % 12]}/{i:08x}_nohash_0.wav": wav for i in range(3_081)})
    server.files["/data/speech_commands_test_set_v0.01.tar.gz"] = data
    code, _, err = cli(capsys, "data", "download", "speechcommands", "--only", "test_set_v0.01",
                       "--root", str(tmp_path), "--mirror", server.base)
    assert code == 0, err
    assert "verified by layout and file count" in err
    assert sum(1 for _ in (tmp_path / "test_set_v0.01").glob("*/*.wav")) == 3_081


def test_download_gtzan_points_to_prepare(capsys, tmp_path) -> None:
    code, _, err = cli(capsys, "data", "download", "gtzan", "--root", str(tmp_path))
    assert code == 2 and "data prepare gtzan --from" in err


def test_prepare_gtzan_from_an_archive_then_info(capsys, tmp_path) -> None:
    wav = fulltrees.wav_bytes(22_050)
    ids = [c for role in ("train", "valid", "test") for c in filtered_list(role)[::10]]
    members = {f"genres/{c.split('.')[0]}/{c}.wav": (b"broken" if c == "jazz.00054" else wav) for c in ids}
    members["genres/jazz/jazz.00054.wav"] = b"broken"
    archive = tmp_path / "genres.tar.gz"
    archive.write_bytes(tar_gz(members))
    root = tmp_path / "gtzan"
    code, out, err = cli(capsys, "data", "prepare", "gtzan", "--from", str(archive), "--root", str(root))
    assert code == 0, err
    err = " ".join(err.split())
    assert f"gtzan: {len(members)} clips ({len(members)} .wav) extracted" in err
    assert "1 unreadable file(s): genres/jazz/jazz.00054.wav" in err and "--skip-bad" in err
    code, out, _ = cli(capsys, "data", "info", "gtzan", "--data-root", str(root), "--json")
    assert code == 0 and json.loads(out)["clips"] == len(members)


# ----- GTZAN's unreadable jazz.00054.wav through `run` -----------------------------------------

@pytest.fixture
def gtzan_with_bad_jazz(tmp_path: Path) -> Path:
    """Four ids per genre from the filtered lists (2 train, 1 valid, 1 test) plus jazz.00054,
    whose bytes are not audio as in the common distribution."""
    root = tmp_path / "gtzan"
    for g, genre in enumerate(GENRES):
        ids = [c for role, n in (("train", 2), ("valid", 1), ("test", 1))
               for c in [x for x in filtered_list(role) if x.startswith(f"{genre}.")][:n]]
        for k, clip_id in enumerate(ids):
            t = np.arange(11_025) / 22_050
            write_wav(root / "genres_original" / genre / f"{clip_id}.wav",
                      0.3 * np.sin(2 * np.pi * 110 * (g + 1) * t + k).astype(np.float32), 22_050)
    (root / "genres_original" / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + bytes(40))
    return root


def test_unreadable_jazz_00054_stops_the_run_unless_skip_bad(capsys, tmp_path, gtzan_with_bad_jazz) -> None:
    args = ("run", "--encoder", "logmel", "--task", "gtzan", "--data-root", str(gtzan_with_bad_jazz),
            "--cache-dir", str(tmp_path / "cache"), "--results-dir", str(tmp_path / "results"), "--workers", "0")
    code, _, err = cli(capsys, *args)
    assert code == 2
    assert "cannot read audio file" in err and "jazz.00054.wav" in err and "--skip-bad" in err
    assert not (tmp_path / "results").exists()
    code, _, err = cli(capsys, *args, "--skip-bad")
    assert code == 0, err
    assert re.search(r"skipped 1 unreadable clip", err) and "jazz.00054.wav" in err
    [result_file] = (tmp_path / "results").rglob("*.json")
    task = json.loads(result_file.read_text())["task"]
    assert task["protocol_id"] == "gtzan/filtered"
    assert [s["id"] for s in task["skipped"]] == ["genres_original/jazz/jazz.00054.wav"]
