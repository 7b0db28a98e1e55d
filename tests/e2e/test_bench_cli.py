from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiobench.encoders import build_encoder
from audiobench.flops import encoder_flops


def test_bench_sweeps_windows_clip_lengths_and_batch_sizes_into_one_json(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "bench.json"
    code, stdout, err = run_cli("bench", "--encoder", "whisper-micro", "--random-init", "--window", "full",
                                "--window", "trim", "--clip-seconds", "1", "--clip-seconds", "2.5",
                                "--batch-size", "1", "--batch-size", "2", "--steps", "1", "--warmup", "0", "--out", out)
    assert code == 0, err
    record = json.loads(out.read_text())
    assert record["sweep"]["windows"] == ["full", "trim50"] and record["sweep"]["clip_seconds"] == [1.0, 2.5]
    figures = record["figures"]
    assert [(f["window"], f["clip_seconds"], f["batch_size"]) for f in figures] == [
        (w, s, b) for w in ("full", "trim50") for s in (1.0, 2.5) for b in (1, 2)]
    config = build_encoder("whisper-micro", random_init=True).model.config
    positions = {("full", 1.0): 1500, ("full", 2.5): 1500, ("trim50", 1.0): 50, ("trim50", 2.5): 150}
    for f in figures:
        assert f["clips_per_second"] > 0 and f["device"] == "cpu" and f["dtype"] == "float32" and not f["oom"]
        # Every rate is one batch's content over one batch's time: its clips, audio and FLOPs.
        batch_seconds = f["milliseconds_per_batch"] / 1000
        assert f["clips_per_second"] * batch_seconds == pytest.approx(f["batch_size"])
        assert f["audio_seconds_per_second"] * batch_seconds == pytest.approx(f["batch_size"] * f["clip_seconds"])
        assert f["achieved_tflops"] * 1e12 * batch_seconds == pytest.approx(f["batch_size"] * f["flops_per_clip"])
        # The FLOPs of the positions encoded (the count itself is checked against torch in test_flops).
        assert f["flops_per_clip"] == sum(encoder_flops(config, positions[f["window"], f["clip_seconds"]]))
        assert f["mfu"] is None  # no known peak for a CPU
    assert "whisper-micro throughput" in stdout and "trim50" in stdout


def test_bench_refuses_trim_for_an_encoder_that_cannot(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("bench", "--encoder", "logmel", "--window", "trim", "--out", tmp_path / "b.json")
    assert code == 2 and "cannot trim" in err and not (tmp_path / "b.json").exists()


def test_compile_on_an_encoder_without_a_network_is_one_line(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("bench", "--encoder", "logmel", "--compile", "--out", tmp_path / "b.json")
    assert code == 2 and "--compile: encoder 'logmel' has no network to compile" in err
    assert not (tmp_path / "b.json").exists()


def test_embed_refuses_compile_for_an_encoder_without_a_network_before_encoding(synth_root: Path, tmp_path: Path,
                                                                               run_cli) -> None:
    code, _, err = run_cli("embed", "--encoder", "logmel", "--task", "esc50", "--data-root", synth_root / "esc50",
                           "--cache-dir", tmp_path / "cache", "--compile")
    assert code == 2 and "--compile: encoder 'logmel' has no network to compile" in err
    assert not list((tmp_path / "cache").rglob("chunk-*"))
