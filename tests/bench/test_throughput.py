"""Throughput benchmarks (pytest-benchmark; `make bench`, never part of `make test`).

Each benchmark reports clips per second on this machine's CPU; run with CUDA available to
measure the GPU path of the same code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiobench.cache import EmbeddingCache, ExtractionSettings
from audiobench.encoders.base import pool
from audiobench.extraction import resolve_device
from audiobench.encoders import build_encoder

BATCH = 8


@pytest.fixture(scope="module")
def device() -> torch.device:
    return resolve_device("auto")


def batch_of(seconds: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    samples = int(seconds * 16_000)
    waveforms = torch.randn(BATCH, samples, generator=torch.Generator().manual_seed(0)) * 0.1
    return waveforms.to(device), torch.full((BATCH,), samples, device=device)


@pytest.mark.parametrize("name, random_init, seconds", [("logmel", False, 5.0), ("whisper-micro", True, 5.0),
                                                         ("whisper-tiny", True, 5.0)])
def test_encode_and_pool(benchmark, name: str, random_init: bool, seconds: float, device: torch.device) -> None:
    encoder = build_encoder(name, random_init=random_init).to(device)
    waveforms, lengths = batch_of(seconds, device)

    def step() -> torch.Tensor:
        with torch.inference_mode():
            output = encoder(waveforms, lengths)
            pooled = pool(output, encoder.window_seconds is not None)
        return pooled.cpu()

    pooled = benchmark(step)
    benchmark.extra_info["clips_per_second"] = BATCH / benchmark.stats.stats.median
    assert pooled.shape == (BATCH, 2, encoder.num_layers, encoder.dim)


def test_cache_load_one_layer(benchmark, tmp_path) -> None:
    settings = ExtractionSettings("bench", 16_000, 30.0, "float32")
    cache = EmbeddingCache(tmp_path, settings, {})
    rng = np.random.default_rng(0)
    keys = [f"clip{i}" for i in range(2_000)]
    for start in range(0, len(keys), 500):
        cache.write_chunk(keys[start:start + 500], rng.normal(size=(500, 2, 33, 1280)).astype(np.float32))
    loaded = benchmark(cache.load, keys, "masked-mean", 32)
    benchmark.extra_info["clips_per_second"] = len(keys) / benchmark.stats.stats.median
    assert loaded.shape == (2_000, 1280)
