"""Where ``embed`` end to end loses to ``bench``: both on the same encoder, window, clip length
and batch size, then a cProfile breakdown of the ``embed`` run by stage (cache keys, header
reads, decoding, encoding, chunk writes, claims). A cheap encoder on short trimmed clips shows
the fixed and per-batch costs that a GPU run of a large encoder also pays. Nothing is asserted.

    python tests/bench/embed_overhead.py --out /tmp/overhead                    # whisper-micro, CPU
    python tests/bench/embed_overhead.py --out /tmp/overhead --device cuda --encoder whisper-large-v3 \\
        --dtype bfloat16 --batch-size 64

Under cProfile the device's work shows where the host waits for it (copies, events).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

from naive_loop import make_clips  # the same synthetic ESC-50 trees, beside this file

#: (file, function) -> stage, in the order a clip meets them. Functions that run in the chunk
#: writer's thread (``write_chunk``) are invisible to the main thread's profile.
STAGES = {
    ("cache.py", "clip_key"): "cache keys (stat + sha256)",
    ("cache.py", "corrupt_chunks"): "chunk verification",
    ("extraction.py", "clip_lengths"): "clip lengths (header reads)",
    ("cache.py", "claim"): "claims (lock, index re-read)",
    ("dataloader.py", "__iter__"): "DataLoader start (workers)",
    ("dataloader.py", "__next__"): "next batch (decode, or wait for workers)",
    ("extraction.py", "__call__"): "encode + pool (BatchRunner)",
    ("extraction.py", "add"): "hand rows to the chunk writer",
    ("extraction.py", "__exit__"): "last chunk written",
    ("cache.py", "write_chunk"): "chunk writes in the main thread",
}


def stage_seconds(profile: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    seconds = dict.fromkeys(STAGES.values(), 0.0)
    for (file, _, function), (_, _, _, cumulative, _) in stats.items():
        stage = STAGES.get((Path(file).name, function))
        if stage:
            seconds[stage] += cumulative
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the clips, cache and profile")
    parser.add_argument("--encoder", default="whisper-micro")
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--window", default="trim", choices=("full", "trim"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--workers", type=int, help="decoding processes (default: embed's)")
    args = parser.parse_args()
    import audiobench
    from audiobench.bench import measure_throughput
    from audiobench.encoders import Window, build_encoder
    from audiobench.extraction import resolve_device, resolve_dtype

    tree = args.out / "data" / f"esc50-{args.clips}x{args.clip_seconds:g}s"
    if not tree.exists():
        make_clips(args.out / "data", args.clips, args.clip_seconds)
    encoder = build_encoder(args.encoder, random_init=True, window=Window(args.window, 50))
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device, encoder)
    bench = measure_throughput(encoder, device, dtype, args.batch_size, args.clip_seconds, steps=50, warmup=3)
    cache_dir = args.out / f"cache-{time.strftime('%H%M%S')}"
    profile = cProfile.Profile()
    start = time.perf_counter()
    with profile:
        embedding = audiobench.embed(encoder, "esc50", data_root=tree, cache_dir=cache_dir, window=args.window,
                                     device=args.device, dtype=dtype, batch_size=args.batch_size,
                                     workers=args.workers)
    wall = time.perf_counter() - start
    profile.dump_stats(args.out / "embed.prof")
    report = embedding.report
    print(f"{encoder.name} {encoder.window.label}, {args.clips} x {args.clip_seconds:g} s clips, batch "
          f"{args.batch_size}, {dtype} on {device}")
    print(f"bench {bench.clips_per_second:8.1f} clips/s")
    print(f"embed {report.clips_per_second:8.1f} clips/s ({100 * report.clips_per_second / bench.clips_per_second:.0f}%"
          f" of bench; {report.seconds:.2f} s, {wall:.2f} s with the model's setup, under cProfile)")
    for stage, seconds in stage_seconds(profile).items():
        print(f"  {seconds:7.3f} s  {stage}")
    print(f"profile: {args.out / 'embed.prof'}")


if __name__ == "__main__":
    main()
