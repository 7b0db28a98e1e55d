from __future__ import annotations

import json
from pathlib import Path

from audiobench.encoders import build_encoder
from audiobench.encoders.whisper import shipped_config
from audiobench.training.flops import encoder_flops


def test_bench_reports_throughput_and_flops(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "bench.json"
    code, stdout, err = run_cli("bench", "--encoder", "whisper-micro", "--random-init", "--batch-size", "2",
                                "--batch-size", "3", "--steps", "1", "--clip-seconds", "2", "--out", out)
    assert code == 0, err
    figures = json.loads(out.read_text())["figures"]
    assert [f["batch_size"] for f in figures] == [2, 3]
    for f in figures:
        assert f["clips_per_second"] > 0 and f["device"] == "cpu" and f["dtype"] == "float32"
        assert f["achieved_tflops"] == f["flops_per_clip"] * f["clips_per_second"] / 1e12
        assert f["mfu"] is None  # no known peak for a CPU
    assert "clips/s" in stdout


def test_whisper_flops_match_the_published_cost() -> None:
    large = sum(encoder_flops(shipped_config("whisper-large-v3")))
    assert abs(large / 1e12 - 2.27) < 0.01  # protocols.md: about 2.27 TFLOP per 30 s window
    micro = build_encoder("whisper-micro", random_init=True)
    assert micro.flops_per_clip(5.0) == micro.flops_per_clip(30.0) == sum(encoder_flops(micro.model.config))
