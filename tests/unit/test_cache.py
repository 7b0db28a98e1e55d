from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from audiobench.cache import CorruptChunkError, EmbeddingCache, ExtractionSettings, chunk_name
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
    # A fresh handle sees the same entries (the index is on disk) and verifies the checksums
    # hashed from memory against the files.
    again = EmbeddingCache(tmp_path, settings(), {"encoder": "x"})
    assert again.missing(["k0", "k9"]) == [1] and again.corrupt_chunks(keys) == {}
    # A chunk is the file np.save writes, as chunks of older caches were.
    saved = io.BytesIO()
    np.save(saved, data[3:].astype(np.float16))
    assert (cache.directory / f"{chunk_name(['k3', 'k4'])}.npy").read_bytes() == saved.getvalue()


def test_settings_change_the_cache_directory(tmp_path: Path) -> None:
    assert settings().key != settings(dtype="bfloat16").key
    assert EmbeddingCache(tmp_path, settings(), {}).directory != EmbeddingCache(tmp_path, settings(dtype="float16"), {}).directory


def test_missing_and_unreadable_entries_are_named(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, settings(), {})
    with pytest.raises(CacheError, match="run `audiobench embed`"):
        cache.load(["nope"], "masked-mean", 0)
    (cache.directory / "chunk-bad.json").write_text("{not json")
    assert EmbeddingCache(tmp_path, settings(), {}).corrupt_chunks([]) == {"chunk-bad": "unreadable index (JSONDecodeError)"}
    (cache.directory / "failed.json").write_text("[1, 2")
    with pytest.raises(CacheError, match="corrupt failed-clip record .*failed.json"):
        cache.failures()


def flip_a_byte(npy: Path, _: Path) -> None:
    data = bytearray(npy.read_bytes())
    data[-3] ^= 0x01
    npy.write_bytes(bytes(data))


def zero_the_chunk(npy: Path, _: Path) -> None:
    npy.write_bytes(bytes(npy.stat().st_size))


def zero_the_payload(npy: Path, _: Path) -> None:
    np.save(npy, np.zeros_like(np.load(npy)))


def swap_rows(npy: Path, _: Path) -> None:
    np.save(npy, np.load(npy)[[1, 0, 2]])


def reorder_keys(_: Path, index: Path) -> None:
    entry = json.loads(index.read_text())
    entry["keys"] = entry["keys"][::-1]
    index.write_text(json.dumps(entry))


def corrupt_header(npy: Path, _: Path) -> None:
    npy.write_bytes(b"\x93NUMPY\x01\x00garbage" + npy.read_bytes()[16:])


@pytest.mark.parametrize("damage", [flip_a_byte, zero_the_chunk, zero_the_payload, swap_rows, reorder_keys,
                                    corrupt_header])
def test_every_damaged_chunk_is_detected_and_named(tmp_path: Path, damage) -> None:
    cache = EmbeddingCache(tmp_path, settings(), {})
    data = np.random.default_rng(0).normal(size=(6, 2, 2, 4)).astype(np.float32)
    cache.write_chunk(["a0", "a1", "a2"], data[:3])
    cache.write_chunk(["b0", "b1", "b2"], data[3:])
    [damaged, intact] = sorted(cache.directory.glob("chunk-*.npy"), key=lambda p: p.stem != chunk_name(["a0", "a1", "a2"]))
    damage(damaged, damaged.with_suffix(".json"))
    reader = EmbeddingCache(tmp_path, settings(), {})
    assert list(reader.corrupt_chunks(["a0", "b0"])) == [damaged.stem]
    assert reader.corrupt_chunks(["b1"]) == {}
    np.testing.assert_allclose(reader.load(["b2", "b0"], "masked-mean", 1), data[[5, 3], 0, 1], rtol=1e-3)
    with pytest.raises(CorruptChunkError, match=f"corrupt cache chunk .*{damaged.name}"):
        reader.load(["b0", "a1"], "masked-mean", 0)
    reader.discard([damaged.stem])
    assert reader.missing(["a0", "a1", "a2", "b0"]) == [0, 1, 2] and intact.exists()
