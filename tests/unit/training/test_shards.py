from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import webdataset as wds

from audiobench.errors import DataError
from audiobench.training.datalist import load_row_audio, read_data_list
from audiobench.training.shards import write_shards


def test_shards_are_per_domain_plain_webdataset(small_corpus: Path, tmp_path: Path) -> None:
    rows = read_data_list(small_corpus)
    out = tmp_path / "shards"
    summary = write_shards(rows, out, shard_size=2, workers=2)
    assert {d: e["samples"] for d, e in summary["domains"].items()} == {"speech": 3, "sound": 1, "music": 2}
    assert [s["name"] for s in summary["domains"]["speech"]["shards"]] == ["speech-000000.tar", "speech-000001.tar"]
    assert summary["hours"] == pytest.approx(6 / 3600, abs=1e-4)
    assert json.loads((out / "shards.json").read_text()) == summary
    # Any WebDataset reader streams them: the original bytes and the metadata.
    samples = list(wds.WebDataset(str(out / "speech-{000000..000001}.tar"), shardshuffle=False))
    by_text = {r.text: r for r in rows}
    assert sorted(json.loads(s["json"])["text"] for s in samples) == ["clip number 0", "clip number 1", "clip number 2"]
    for sample in samples:
        meta = json.loads(sample["json"])
        assert sample["wav"] == Path(by_text[meta["text"]].audio).read_bytes() and meta["domain"] == "speech"


def test_an_interrupted_write_resumes_and_unreadable_clips_are_listed(small_corpus: Path, tmp_path: Path) -> None:
    rows = read_data_list(small_corpus)
    Path(rows[3].audio).write_bytes(b"not audio")
    out = tmp_path / "shards"
    write_shards(rows, out, shard_size=1)
    # A crash after two shards: the summary and the other shards are missing.
    (out / "shards.json").unlink()
    for tar in sorted(out.glob("*.tar"))[2:]:
        tar.unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in sorted(out.glob("*.tar"))}
    summary = write_shards(rows, out, shard_size=1)
    assert all((out / name).stat().st_mtime_ns == t for name, t in kept.items())  # not rewritten
    assert summary["samples"] == 5 and "sound" not in summary["domains"]
    assert [s["source"] for s in summary["skipped"]] == [rows[3].source]
    with pytest.raises(DataError, match="already holds finished shards"):
        write_shards(rows, out, shard_size=1)


def test_pcm16k_shards_hold_the_clip_decoded_and_resampled(small_corpus: Path, tmp_path: Path) -> None:
    rows = read_data_list(small_corpus)
    summary = write_shards(rows, tmp_path / "pcm", shard_size=4, pcm16k=True)
    assert summary["pcm16k"] and summary["hours"] == pytest.approx(6 / 3600, abs=1e-4)
    by_text = {r.text: r for r in rows}
    for sample in wds.WebDataset(str(tmp_path / "pcm" / "music-000000.tar"), shardshuffle=False):
        info = sf.info(io.BytesIO(sample["wav"]))
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        row = by_text[json.loads(sample["json"])["text"]]  # one of them is 44.1 kHz stereo
        stored, _ = sf.read(io.BytesIO(sample["wav"]), dtype="float32")
        assert np.abs(stored - load_row_audio(row, 16_000)).max() < 1e-4
