"""GPU check of extraction (run by scripts/gpu_check.sh): ``audiobench bench`` on a random-init
whisper-large-v3 in bf16 (full window on 5 s and 30 s clips, trim on 1 s and 5 s, batch 32
and 64; trim on 1 s clips also at the batch ``embed`` makes of them by default), then
``audiobench embed`` end to end on 2,000 synthetic ESC-50-layout clips of 5 s (44.1 kHz WAV
from ``naive_loop.make_clips``: decoded and resampled in DataLoader workers), full and trim,
and one summary: every bench point plus the targets (full at 50% MFU or more; trim at least
5x full's clips/s on 5 s clips; embed within 20% of bench).

    python tests/bench/gpu_embed_check.py --out gpu-check            # on a GPU, a few minutes
    python tests/bench/gpu_embed_check.py --out /tmp/x --dry-run     # the same steps, tiny, on CPU
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from naive_loop import make_clips  # the same synthetic ESC-50 trees, beside this file

FULL_SIZE = {"encoder": "whisper-large-v3", "device": "cuda", "dtype": "bfloat16", "batches": (32, 64),
             "clips": 2000, "steps": 10, "warmup": 2, "workers": None, "compile": True}
#: No compiled sweep in a dry run: compiling on a 2-core CPU takes longer than the rest together.
DRY_RUN = {"encoder": "whisper-micro", "device": "cpu", "dtype": "float32", "batches": (2, 4), "clips": 24,
           "steps": 1, "warmup": 0, "workers": 1, "compile": False}


def run_bench(settings: dict, path: Path, batches: tuple[int, ...], compiled: bool = False,
              windows: tuple[str, ...] = ("full", "trim"), clip_seconds: tuple[float, ...] = (1, 5, 30)) -> dict:
    """``audiobench bench`` as a user runs it; returns its JSON. Compiled: windows labelled
    ``full+compile`` and ``trim50+compile``."""
    command = [sys.executable, "-m", "audiobench", "bench", "--encoder", settings["encoder"], "--random-init",
               "--device", settings["device"], "--dtype", settings["dtype"],
               "--steps", str(settings["steps"]), "--warmup", str(settings["warmup"]), "--out", str(path)]
    command += [arg for window in windows for arg in ("--window", window)]
    command += [arg for seconds in clip_seconds for arg in ("--clip-seconds", f"{seconds:g}")]
    command += [arg for size in batches for arg in ("--batch-size", str(size))]
    subprocess.run(command + (["--compile"] if compiled else []), check=True)
    record = json.loads(path.read_text())
    for figure in record["figures"] if compiled else []:
        figure["window"] += "+compile"
    return record


def run_embeds(settings: dict, tree: Path, out: Path) -> list[dict]:
    """``audiobench.embed`` (the code behind the CLI command) on every clip, full then trim."""
    import audiobench
    from audiobench.encoders import build_encoder

    encoder = build_encoder(settings["encoder"], random_init=True)
    batch = max(settings["batches"])
    runs = []
    for window in ("full", "trim"):
        start = time.perf_counter()
        embedding = audiobench.embed(encoder, "esc50", data_root=tree, cache_dir=out / "cache", window=window,
                                     device=settings["device"], dtype=settings["dtype"], batch_size=batch,
                                     workers=settings["workers"])
        report = embedding.report
        runs.append({"window": encoder.window.label, "clip_seconds": 5.0, "batch_size": batch, "clips": report.clips,
                     "encoded": report.encoded, "clips_per_second": report.clips_per_second,
                     "wall_seconds": time.perf_counter() - start})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON files and the summary")
    parser.add_argument("--dry-run", action="store_true", help="whisper-micro on CPU, a few clips: checks the script")
    args = parser.parse_args()
    settings = DRY_RUN if args.dry_run else FULL_SIZE
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    from audiobench.bench import figures_markdown, gpu_targets, targets_markdown
    from audiobench.extraction import batch_limits

    bench = run_bench(settings, args.out / "bench.json", settings["batches"])
    if settings["compile"]:
        bench["figures"] += run_bench(settings, args.out / "bench-compiled.json", settings["batches"][-1:],
                                      compiled=True)["figures"]
    # What embed's default batch makes of trimmed 1 s clips, beside the batches above.
    most_clips, most_seconds = batch_limits(None, torch.device(settings["device"]), settings["clips"])
    default = min(most_clips, int(most_seconds))
    bench["figures"] += run_bench(settings, args.out / "bench-default-batch.json", (default,), windows=("trim",),
                                  clip_seconds=(1,))["figures"]
    tree = make_clips(args.out / "data", settings["clips"], 5.0)
    embeds = run_embeds(settings, tree, args.out)
    (args.out / "embed.json").write_text(json.dumps(embeds, indent=2) + "\n")

    device = torch.cuda.get_device_name(0) if settings["device"] == "cuda" else "CPU (dry run)"
    summary = "\n\n".join([
        f"{settings['encoder']} (random init), {bench['sweep']['dtype']}, {device}",
        figures_markdown(bench["figures"]),
        targets_markdown(gpu_targets(bench["figures"], embeds))])
    (args.out / "summary.md").write_text(summary + "\n")
    print(summary)


if __name__ == "__main__":
    main()
