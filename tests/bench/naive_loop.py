"""audiobench embed against the loop a user would write, as whole processes (`make bench`).

The naive loop reads one clip at a time, runs transformers' ``WhisperFeatureExtractor``
(padding to 30 s) and ``WhisperModel.encoder`` in float32 and mean-pools every layer.
``audiobench embed`` runs on the same clips with the same weights (whisper-base-sized, random,
written with ``save_pretrained`` to a temp dir). Both are timed alike: process start, imports
and model load included. Prints one table and the ratios; nothing is asserted.

    python tests/bench/naive_loop.py [--clips 100] [--trim-clips 200] [--repeats 1] [--out naive.json]

With ``--repeats N`` the naive loop and audiobench (a fresh cache, then the rerun) take turns N
times and the table shows medians: on a shared machine one pair of runs can differ by 20%.

Both processes pay the same start-up (Python, torch and transformers imports, about 7 s here);
the per-clip work is what differs, so the ratios grow with the clip count: trimmed 1 s clips
are compared on more clips than full windows by default.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CSV = "meta/esc50.csv"


def naive_main(weights: str, root: str, out: str) -> None:
    """The user's loop (run in its own process by ``timed``)."""
    import numpy as np
    import soundfile as sf
    import soxr
    import torch
    from transformers import WhisperFeatureExtractor, WhisperModel

    model = WhisperModel.from_pretrained(weights).encoder.eval()
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    with open(Path(root) / CSV) as f:
        files = [row["filename"] for row in csv.DictReader(f)]
    pooled = []
    for name in files:
        audio, rate = sf.read(Path(root) / "audio" / name, dtype="float32")
        audio = soxr.resample(audio, rate, 16_000)
        features = extractor(audio, sampling_rate=16_000, return_tensors="pt").input_features
        with torch.inference_mode():
            states = model(features, output_hidden_states=True).hidden_states
        pooled.append(torch.stack([state.mean(dim=1)[0] for state in states]).numpy())
    np.save(out, np.stack(pooled))


def make_clips(root: Path, count: int, seconds: float) -> Path:
    """An ESC-50 tree of ``count`` synthetic clips cut to ``seconds`` (the tiny set's 100 clips,
    cycled under new source ids beyond 100: distinct files and cache keys)."""
    import soundfile as sf

    from audiobench.synth import synthesize

    source = root / "source"
    if not source.exists():
        synthesize("esc50", source, "tiny", seed=0)
    tree = root / f"esc50-{count}x{seconds:g}s"
    (tree / "meta").mkdir(parents=True)
    (tree / "audio").mkdir()
    with open(source / CSV) as f:
        originals = list(csv.DictReader(f))
    rows = []
    for i in range(count):
        row = dict(originals[i % len(originals)])
        audio, rate = sf.read(source / "audio" / row["filename"], dtype="float32")
        fold, _, take, target = Path(row["filename"]).stem.split("-")
        row["src_file"] = f"{i:06d}"
        row["filename"] = f"{fold}-{row['src_file']}-{take}-{target}.wav"
        sf.write(tree / "audio" / row["filename"], audio[: int(seconds * rate)], rate)
        rows.append(row)
    with open(tree / CSV, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return tree


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text}: a count of 1 or more")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=100, help="5 s clips for the full-window comparison")
    parser.add_argument("--trim-clips", type=int, default=200, help="1 s clips for the trimmed-window comparison")
    parser.add_argument("--repeats", type=at_least_one, default=1, help="runs of each, taking turns; medians are shown")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    from transformers import WhisperModel

    from audiobench.encoders.whisper import shipped_config

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="audiobench-naive-") as scratch:
        work = Path(scratch)
        weights = work / "whisper-base-random"
        WhisperModel(shipped_config("whisper-base")).save_pretrained(weights)
        rows = []
        for seconds, window, count in ((5.0, "full", args.clips), (1.0, "trim", args.trim_clips)):
            tree = make_clips(work, count, seconds)
            runs: dict[str, list[float]] = {"naive": [], "first": [], "again": []}
            for repeat in range(args.repeats):
                embed = [python, "-m", "audiobench", "embed", "--encoder", "whisper-base", "--weights", str(weights),
                         "--task", "esc50", "--data-root", str(tree), "--window", window, "--dtype", "float32",
                         "--device", "cpu", "--cache-dir", str(work / f"cache-{window}-{repeat}")]
                runs["naive"].append(timed([python, __file__, "--naive", str(weights), str(tree),
                                            str(work / "naive.npy")]))
                runs["first"].append(timed(embed))
                runs["again"].append(timed(embed))
            naive, first, again = (statistics.median(runs[name]) for name in ("naive", "first", "again"))
            rows.append({"clip_seconds": seconds, "clips": count, "window": window, "naive_seconds": naive,
                         "audiobench_seconds": first, "cache_hit_seconds": again,
                         "speedup_vs_naive": naive / first, "cache_hit_speedup": first / again, "runs": runs})
    load = os.getloadavg()[0]
    print(f"{'clips':>12} {'window':>7} {'naive s':>8} {'audiobench s':>13} {'x naive':>8} {'rerun s':>8} "
          f"{'x first':>8}   (median of {args.repeats}; load average {load:.1f} on {os.cpu_count()} cores)")
    for r in rows:
        print(f"{r['clips']:>4} x {r['clip_seconds']:>3g} s {r['window']:>7} {r['naive_seconds']:>8.1f} "
              f"{r['audiobench_seconds']:>13.1f} {r['speedup_vs_naive']:>8.2f} {r['cache_hit_seconds']:>8.2f} "
              f"{r['cache_hit_speedup']:>8.1f}")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "repeats": args.repeats, "load_average": load,
                                         "cores": os.cpu_count()}, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--naive":
        naive_main(*sys.argv[2:])
    else:
        main()
