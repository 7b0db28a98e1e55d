from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from audiobench.errors import DataError
from audiobench.training.manifest import load_row_audio, read_manifest
from audiobench.training.shards import read_data, read_shards, write_shards


def test_shards_round_trip_and_are_plain_webdataset(small_corpus: Path, tmp_path: Path) -> None:
    rows = read_manifest(small_corpus)
    out = tmp_path / "shards"
    summary = write_shards(rows, out, shard_size=4)
    assert [s["samples"] for s in summary["shards"]] == [4, 2]
    assert summary["domains"] == {"music": 2, "sound": 1, "speech": 3}
    back = read_data(out)
    assert [(r.text, r.domain, r.language) for r in back] == [(r.text, r.domain, r.language) for r in rows]
    for original, sharded in zip(rows, back):
        assert np.array_equal(load_row_audio(original, 16_000), load_row_audio(sharded, 16_000))
    # Any WebDataset reader streams the same samples.
    samples = list(wds.WebDataset([str(p) for p in sorted(out.glob("shard-*.tar"))], shardshuffle=False))
    assert [s["__key__"] for s in samples] == [r.key for r in back]
    assert samples[4]["wav"] == Path(rows[4].audio).read_bytes()


def test_an_interrupted_write_is_not_read(small_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    write_shards(read_manifest(small_corpus), out, shard_size=10)
    (out / "shards.json").unlink()
    with pytest.raises(DataError, match="has no shards.json"):
        read_shards(out)


def test_shards_refuse_a_used_folder(small_corpus: Path, tmp_path: Path) -> None:
    rows = read_manifest(small_corpus)
    write_shards(rows, tmp_path / "s", 3)
    with pytest.raises(DataError, match="already holds shards"):
        write_shards(rows, tmp_path / "s", 3)
