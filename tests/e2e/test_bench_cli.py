from __future__ import annotations

import json
from pathlib import Path

from audiobench.encoders import build_encoder
from audiobench.flops import encoder_flops


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


def test_whisper_encoder_reports_the_window_cost_for_any_clip() -> None:
    micro = build_encoder("whisper-micro", random_init=True)
    assert micro.flops_per_clip(5.0) == micro.flops_per_clip(30.0) == sum(encoder_flops(micro.model.config))
