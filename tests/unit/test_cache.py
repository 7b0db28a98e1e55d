from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiobench.cache import EmbeddingCache, ExtractionSettings
from audiobench.errors import CacheError


def settings(**overrides) -> ExtractionSettings:
    return ExtractionSettings(**{"encoder_fingerprint": "abc", "sample_rate": 16000, "window_seconds": 30.0,
                                 "dtype": "float32", **overrides})


def test_chunks_round_trip_any_layer_and_pooling(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, settings(), {"encoder": "x"})
    data = np.random.default_rng(0).normal(size=(5, 2, 3, 4)).astype(np.float32)
    cache.write_chunk([f"k{i}" for i in range(3)], data[:3])
    cache.write_chunk(["k3", "k4"], data[3:])
    keys = ["k4", "k0", "k2"]
    out = cache.load(keys, "padded-mean", 1)
    np.testing.assert_allclose(out, data[[4, 0, 2], 1, 1].astype(np.float16), rtol=1e-3)
    # A fresh handle sees the same entries (the index is on disk).
    again = EmbeddingCache(tmp_path, settings(), {"encoder": "x"})
    assert again.missing(["k0", "k9"]) == [1]


def test_settings_change_the_cache_directory(tmp_path: Path) -> None:
    assert settings().key != settings(dtype="bfloat16").key
    assert EmbeddingCache(tmp_path, settings(), {}).directory != EmbeddingCache(tmp_path, settings(dtype="float16"), {}).directory


def test_missing_and_corrupt_entries_are_named(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, settings(), {})
    with pytest.raises(CacheError, match="run `audiobench embed`"):
        cache.load(["nope"], "masked-mean", 0)
    (cache.directory / "chunk-bad.json").write_text("{not json")
    with pytest.raises(CacheError, match="chunk-bad.json"):
        EmbeddingCache(tmp_path, settings(), {}).index()
