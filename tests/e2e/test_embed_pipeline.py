"""The extraction pipeline: length buckets, rows read a batch late and written in a background
thread, memory-error halving, and ``torchrun`` sharding."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiobench.audio import load_audio
from audiobench import extraction
from audiobench.extraction import EmbedOptions, cached, clip_lengths, embed, encode_and_pool
from audiobench.encoders import Window, build_encoder
from audiobench.sharding import current_shard
from audiobench.tasks import get_task

SECONDS = (0.5, 3.3, 1.2, 5.0, 0.8, 2.0)  # one clip per row, folds 1-5 and 1 again


@pytest.fixture(scope="module")
def short_esc50(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ESC-50 tree of six clips of different lengths."""
    root = tmp_path_factory.mktemp("short-esc50")
    with (synth_root / "esc50/meta/esc50.csv").open() as f:
        rows = list(csv.DictReader(f))
    picked = [next(r for r in rows if r["fold"] == str(fold)) for fold in (1, 2, 3, 4, 5)] + [rows[1]]
    (root / "meta").mkdir()
    (root / "audio").mkdir()
    with (root / "meta/esc50.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(picked)
    for row, seconds in zip(picked, SECONDS):
        audio, rate = sf.read(synth_root / "esc50/audio" / row["filename"], dtype="float32")
        sf.write(root / "audio" / row["filename"], audio[: int(seconds * rate)], rate)
    return root


def layers(cache, report, num_layers: int) -> np.ndarray:
    return np.stack([cache.load(report.keys, pooling, layer) for pooling in ("masked-mean", "padded-mean")
                     for layer in range(num_layers)])


@pytest.mark.parametrize(("device", "cores", "bound", "local_ranks", "workers"), [
    ("cpu", 16, 16, 1, 0),  # decoding would take cores from the encoder
    ("cuda", 16, 16, 1, 8),  # at most 8
    ("cuda", 4, 4, 1, 3),
    ("cuda", 16, 16, 4, 3),  # torchrun's 4 processes on the machine take 4 cores each
    ("cuda", 16, 16, 8, 1),
    ("cuda", 4, 4, 8, 0),  # fewer cores than processes: each decodes in its own process
    ("cuda", 64, 8, 8, 7),  # each rank bound to its own 8 cores (torchrun --numa-binding)
])
def test_default_workers_split_the_machines_cores_among_its_ranks(device: str, cores: int, bound: int,
                                                                  local_ranks: int, workers: int,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(bound)), raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_ranks))  # what torchrun sets in each process
    assert extraction.default_workers(torch.device(device), current_shard()) == workers


@pytest.mark.parametrize("slow_header", [0.0, 1.0])  # every header slow (threads) / none (one by one)
def test_clip_lengths_come_from_the_headers_read_in_turn_or_in_threads(short_esc50: Path, slow_header: float,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extraction, "HEADER_PROBE", 2)
    monkeypatch.setattr(extraction, "SLOW_HEADER_SECONDS", slow_header)
    manifest = get_task("esc50").manifest(short_esc50)
    assert clip_lengths(manifest.root, manifest.clips, 3.0) == pytest.approx([min(s, 3.0) for s in SECONDS], abs=1e-4)


def test_cached_rows_are_each_clip_encoded_alone_in_the_chunks_a_synchronous_loop_cuts(
        short_esc50: Path, tmp_path: Path) -> None:
    """Rows are read one batch after their batch is launched and written by a background thread;
    still each cached row is, byte for byte, the encoder's output on that clip decoded and encoded
    alone (logmel pads past every clip's end, so a batch changes none of its numbers), and the
    chunks are cut where a synchronous loop cuts them: batches of 2 (longest clips first), a
    chunk once 3 clips are gathered, the rest at the end."""
    manifest = get_task("esc50").manifest(short_esc50)
    encoder = build_encoder("logmel")
    cache, report = embed(encoder, manifest, tmp_path, EmbedOptions(batch_size=2, chunk_size=3, num_workers=0))
    longest_first = [report.keys[i] for i in np.argsort([-seconds for seconds in SECONDS])]
    chunks = {tuple(cache._chunks[path.stem][0]): path.with_suffix(".npy") for path in cache.directory.glob("chunk-*.json")}
    assert sorted(chunks, key=len, reverse=True) == [tuple(longest_first[:4]), tuple(longest_first[4:])]
    with torch.inference_mode():
        alone = {key: encode_and_pool(encoder, torch.from_numpy(wave)[None], torch.tensor([len(wave)])).numpy()[0]
                 for key, wave in ((key, load_audio(manifest.root / clip.path, encoder.sample_rate))
                                   for key, clip in zip(report.keys, manifest.clips))}
    for keys, npy in chunks.items():
        stored = np.load(npy)
        assert stored.tobytes() == np.stack([alone[key] for key in keys]).tobytes()


def test_out_of_memory_halves_the_batch_once_and_keeps_the_numbers(short_esc50: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = get_task("esc50").manifest(short_esc50)
    encoder = build_encoder("whisper-micro", random_init=True, window=Window("trim", 50))
    reference, reference_report = embed(encoder, manifest, tmp_path / "reference",
                                        EmbedOptions(batch_size=2, num_workers=0))
    forward, calls = type(encoder).forward, []

    def small_device(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        calls.append(len(lengths))
        if len(lengths) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(self, waveforms, lengths)

    monkeypatch.setattr(type(encoder), "forward", small_device)
    notices: list[str] = []
    cache, report = embed(encoder, manifest, tmp_path / "halved", EmbedOptions(batch_size=4, num_workers=0),
                          on_notice=notices.append)
    assert notices == ["out of cpu memory at batch size 4: halving to 2 and retrying"]
    assert calls == [4, 2, 2, 2] and report.encoded == 6
    np.testing.assert_array_equal(layers(cache, report, encoder.num_layers),
                                  layers(reference, reference_report, encoder.num_layers))


def test_after_a_halving_batches_of_shorter_clips_keep_the_encoder_input_that_fitted() -> None:
    """Out of memory at 4 clips of a whole window: later batches hold 2 windows' worth, so 8
    clips of a quarter window (trimmed) go at once, not 2 at a time."""
    encoder = build_encoder("whisper-micro", random_init=True, window=Window("trim", 1))
    window = int(encoder.window_seconds * encoder.sample_rate)
    calls: list[int] = []

    def forward(waveforms: torch.Tensor, lengths: torch.Tensor):
        calls.append(len(lengths))
        if len(lengths) * int(lengths.max()) > 2 * window:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return type(encoder).forward(encoder, waveforms, lengths)

    encoder.forward = forward
    notices: list[str] = []
    run = extraction.BatchRunner(encoder, torch.device("cpu"), notices.append)
    for clips, samples in ((4, window), (8, window // 4)):
        lengths = torch.full((clips,), samples)
        with torch.inference_mode():
            run(extraction.Batch(list(range(clips)), 0.1 * torch.randn(clips, samples), lengths, [])).numpy()
    assert calls == [4, 2, 2, 8]
    assert notices == ["out of cpu memory at batch size 4: halving to 2 and retrying"]


def test_more_ranks_than_clips_is_one_line(short_esc50: Path, tmp_path: Path, run_cli,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "7")
    monkeypatch.setenv("RANK", "0")
    code, _, err = run_cli("embed", "--encoder", "logmel", "--task", "esc50", "--data-root", short_esc50,
                           "--cache-dir", tmp_path)
    assert code == 2 and err.count("\n") == 1 and "7 ranks for 6 clips of esc50/5fold" in err, err


def test_two_ranks_fill_the_cache_a_single_process_would(short_esc50: Path, tmp_path: Path, run_cli) -> None:
    args = ["embed", "--encoder", "whisper-micro", "--random-init", "--window", "trim", "--task", "esc50",
            "--data-root", str(short_esc50), "--batch-size", "2", "--workers", "0"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "audiobench", *args, "--cache-dir", str(tmp_path / "ranks")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "6 clips: 0 cached, 6 encoded" in done.stderr  # rank 0 reports the whole run

    torch.set_num_threads(1)  # as in the ranks, so float32 kernels reduce alike
    try:
        assert run_cli(*args, "--cache-dir", tmp_path / "single")[0] == 0
    finally:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    manifest = get_task("esc50").manifest(short_esc50)
    encoder = build_encoder("whisper-micro", random_init=True, window=Window("trim", 50))
    # What `probe` and `run` read: found complete with no extra step.
    sharded, sharded_report = cached(encoder, manifest, tmp_path / "ranks", "auto", "cpu")
    single, single_report = cached(encoder, manifest, tmp_path / "single", "auto", "cpu")
    assert len(list(sharded.directory.glob("chunk-*.npy"))) == 2  # one per rank
    np.testing.assert_array_equal(layers(sharded, sharded_report, encoder.num_layers),
                                  layers(single, single_report, encoder.num_layers))
