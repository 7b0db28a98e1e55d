"""Benchmarks of the training data path (pytest-benchmark; run with `pytest tests/bench/test_training_data.py
-s`, never part of `make test`).

* Scaling: shards for 20,000 and for 200,000 tiny clips; a fresh process trains the tiny recipe
  for one step on each and reports its peak RSS and the seconds from process start to the end
  of the first optimizer step. A stream reads only ``shards.json`` and the first shard of each
  domain before training, so both should agree within ~10%.
* Worker cost: what one DataLoader worker spends per 30 s clip (16 and 44.1 kHz FLAC), before (decode,
  resample and a 128-bin log-mel on the CPU, as the collator did) and now (decode and resample;
  the log-mel is made batched on the training device).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import webdataset as wds

from audiobench.encoders.features import LogMel
from audiobench.files import atomic_write_text
from audiobench.training.datalist import decode_audio_bytes
from audiobench.training.datalist import Row
from audiobench.training.shards import pcm16k_member, summarise

SIZES = (20_000, 200_000)
SHARES = {"speech": 0.8, "sound": 0.1, "music": 0.1}
SHARD_SIZE = 1_000

RUNNER = r"""
import time, resource, json, sys
start = time.perf_counter()
from transformers import TrainerCallback
from audiobench.training.config import load_config
from audiobench.training.trainer import build_run

class FirstStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            self.seconds = time.perf_counter() - start

first = FirstStep()
config = load_config("whisper-aut-tiny", None, ["max_steps=1", "num_workers=0", "save_steps=100",
                                                "per_device_batch_size=2", "effective_batch_size=2"])
run = build_run(config, sys.argv[1], sys.argv[2], callbacks=[first])
run.train()
print(json.dumps({"seconds_to_first_step": first.seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def tiny_wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.full(160, 0.1, dtype=np.float32), 16_000, format="WAV")
    return buffer.getvalue()


def build_shards(out: Path, rows: int) -> Path:
    """Shards of ``rows`` 10 ms clips in the 80/10/10 mixture, written directly (no loose files)."""
    out.mkdir(parents=True)
    audio, records = tiny_wav(), []
    for domain, share in SHARES.items():
        count = int(rows * share)
        for shard, first in enumerate(range(0, count, SHARD_SIZE)):
            name = f"{domain}-{shard:06d}.tar"
            with wds.TarWriter(str(out / name), encoder=False) as sink:
                for i in range(first, min(first + SHARD_SIZE, count)):
                    meta = {"text": f"{domain} clip number {i % 97}", "domain": domain,
                            "language": "en" if domain == "speech" else None}
                    sink.write({"__key__": f"{domain}-{i:09d}", "wav": audio, "json": json.dumps(meta).encode()})
            records.append({"name": name, "domain": domain, "samples": min(SHARD_SIZE, count - first),
                            "hours": 0.01 * SHARD_SIZE / 3600, "skipped": []})
    atomic_write_text(out / "shards.json", json.dumps(summarise(records, {"source": "bench"})))
    return out


@pytest.mark.parametrize("rows", SIZES)
def test_start_up_and_memory_do_not_grow_with_rows(benchmark, tmp_path: Path, rows: int) -> None:
    shards = build_shards(tmp_path / "shards", rows)

    def train_one_step() -> dict:
        out = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
        done = subprocess.run([sys.executable, "-c", RUNNER, str(shards), str(out)], capture_output=True,
                              text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    figures = benchmark.pedantic(train_one_step, rounds=2, iterations=1)
    benchmark.extra_info.update(rows=rows, **figures)
    print(f"\n{rows:,} rows: {figures['seconds_to_first_step']:.1f} s to the first step, "
          f"peak RSS {figures['peak_rss_mb']:.0f} MB")


def flac_30s(rate: int) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    sf.write(buffer, (0.1 * rng.standard_normal(30 * rate)).astype(np.float32), rate, format="FLAC")
    return buffer.getvalue()


@pytest.mark.parametrize("rate", [16_000, 44_100])
@pytest.mark.parametrize("where", ["before: decode + resample + log-mel", "now: decode + resample",
                                   "now, --pcm16k shards: read PCM"])
def test_worker_cost_per_sample(benchmark, where: str, rate: int) -> None:
    """Per 30 s FLAC clip: 16 kHz (most speech corpora: nothing to resample) and 44.1 kHz; and
    the same clip in a shard written with --pcm16k (decoded and resampled when sharding)."""
    torch.set_num_threads(1)  # one DataLoader worker is one core
    logmel = LogMel(128)
    encoded = flac_30s(rate)
    if "pcm16k" in where:
        encoded, _ = pcm16k_member(Row("k", "t", "sound", "bench", audio="bench.flac"), encoded)

    def worker() -> object:
        waveform = decode_audio_bytes(encoded, 16_000, "bench.flac")
        if where.startswith("before"):
            with torch.no_grad():
                return logmel(torch.from_numpy(waveform)[None])
        return waveform

    benchmark(worker)
    benchmark.extra_info["ms_per_sample"] = benchmark.stats.stats.median * 1000
