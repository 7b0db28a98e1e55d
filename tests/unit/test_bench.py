"""The GPU check's summary: bench points and targets, built from the JSON the steps write."""

from __future__ import annotations

from audiobench.bench import figures_markdown, gpu_targets, targets_markdown


def point(window: str, seconds: float, batch: int, clips_per_second: float | None, mfu: float | None = None,
          oom: bool = False) -> dict:
    return {"window": window, "clip_seconds": seconds, "batch_size": batch, "clips_per_second": clips_per_second,
            "audio_seconds_per_second": None if clips_per_second is None else clips_per_second * seconds,
            "milliseconds_per_batch": None if clips_per_second is None else 1000 * batch / clips_per_second,
            "peak_memory_gib": 20.0, "achieved_tflops": None if mfu is None else 989 * mfu, "mfu": mfu, "oom": oom}


FIGURES = [point("full", 30.0, 32, 210.0, 0.48), point("full", 30.0, 64, 230.0, 0.53),
           point("full", 5.0, 64, 229.0, 0.52), point("trim50", 5.0, 64, 1300.0, 0.3),
           point("trim50", 5.0, 128, None, oom=True)]


def test_targets_take_the_best_batch_and_compare_like_with_like() -> None:
    embeds = [{"window": "full", "clip_seconds": 5.0, "batch_size": 64, "clips_per_second": 200.0},
              {"window": "trim50", "clip_seconds": 5.0, "batch_size": 64, "clips_per_second": 900.0},
              {"window": "trim50", "clip_seconds": 5.0, "batch_size": 16, "clips_per_second": 900.0}]
    checks = gpu_targets(FIGURES, embeds)
    assert [c.passed for c in checks] == [True, True, True, False, None]
    assert checks[0].measured == "53.0% (230 clips/s, batch 64)"
    assert checks[1].measured == "5.7x"  # best trim50 over best full at 5 s: 1300 / 229 = 5.68
    assert checks[2].measured == "200 clips/s = 87%" and checks[3].measured == "900 clips/s = 69%"
    table = targets_markdown(checks)
    assert table.count("\n") == len(checks) + 1 and "| NO |" in table and "not measured" in table


def test_missing_points_are_not_measured_rather_than_failed() -> None:
    assert [c.passed for c in gpu_targets([point("trim50", 1.0, 32, 5000.0)], [])] == [None, None]


def test_figures_table_has_a_row_per_point_and_marks_out_of_memory() -> None:
    table = figures_markdown(FIGURES)
    assert table.count("\n") == len(FIGURES) + 1
    assert "| full | 30 | 64 | 230.0 | 6900 |" in table and "53.0% |" in table and "out of memory" in table


def test_a_compiled_sweep_gets_its_own_mfu_check() -> None:
    compiled = [point("full+compile", 30.0, 64, 202.0, 0.464)]
    checks = gpu_targets(FIGURES + compiled, [])
    assert [c.name for c in checks[:2]] == ["full, 30 s: MFU", "full+compile, 30 s: MFU"]
    assert checks[1].measured == "46.4% (202 clips/s, batch 64)" and checks[1].passed is False
