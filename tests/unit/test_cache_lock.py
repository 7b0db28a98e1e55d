"""Two embed processes on one cache never encode a clip twice; a killed run leaves nothing
behind that the next run trips over. Real processes (fork), real locks."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch

from audiobench.extraction import EmbedOptions, embed
from audiobench.encoders import build_encoder
from audiobench.tasks import Manifest, get_task

CLIPS = 24
OPTIONS = EmbedOptions(batch_size=4, chunk_size=8, num_workers=0)


def in_child() -> None:
    """A forked child must not enter the parent's OpenMP thread pool (GNU OpenMP hangs there)."""
    torch.set_num_threads(1)


def small_manifest(synth_root: Path) -> Manifest:
    manifest = get_task("esc50").manifest(synth_root / "esc50")
    return dataclasses.replace(manifest, clips=manifest.clips[:CLIPS])


def embed_in_child(encoder, manifest: Manifest, cache_dir: Path, started, results, pause: float) -> None:
    in_child()
    def on_progress(_: int) -> None:
        started.set()
        if pause:
            started.wait()
            multiprocessing.Event().wait(pause)  # keep the claim long enough for the other process to queue

    _, report = embed(encoder, manifest, cache_dir, OPTIONS, on_progress=on_progress)
    results.put((os.getpid(), report.encoded, report.cache_hits))


def test_two_processes_encode_each_clip_once(synth_root: Path, tmp_path: Path) -> None:
    manifest, ctx, encoder = small_manifest(synth_root), multiprocessing.get_context("fork"), build_encoder("logmel")
    torch.ones(512, 512) @ torch.ones(512, 512)  # the parent's thread pool is live, as in a full test run
    started, results = ctx.Event(), ctx.Queue()
    first = ctx.Process(target=embed_in_child, args=(encoder, manifest, tmp_path, started, results, 0.05))
    first.start()
    assert started.wait(60)
    second = ctx.Process(target=embed_in_child, args=(encoder, manifest, tmp_path, ctx.Event(), results, 0.0))
    second.start()
    reports = {pid: (encoded, hits) for pid, encoded, hits in (results.get(timeout=120) for _ in range(2))}
    first.join(), second.join()
    assert reports[first.pid] == (CLIPS, 0) and reports[second.pid] == (0, CLIPS)
    cache, report = embed(encoder, manifest, tmp_path, OPTIONS)
    assert report.encoded == 0 and not list(cache.directory.glob("claims/*.json"))
    rows = [key for chunk in cache.directory.glob("chunk-*.json") for key in cache._chunks[chunk.stem][0]]
    assert sorted(rows) == sorted(report.keys)


def killed_mid_run(encoder, manifest: Manifest, cache_dir: Path) -> None:
    in_child()
    seen = []

    def on_progress(n: int) -> None:
        seen.append(n)
        if len(seen) == 3:  # a third batch decoded, once the writer thread has written the first chunk of 8
            while not list(cache_dir.glob("*/chunk-*.json")):
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)

    embed(encoder, manifest, cache_dir, OPTIONS, on_progress=on_progress)


def test_a_killed_run_leaves_its_clips_and_temp_files_to_the_next(synth_root: Path, tmp_path: Path) -> None:
    manifest, ctx, encoder = small_manifest(synth_root), multiprocessing.get_context("fork"), build_encoder("logmel")
    child = ctx.Process(target=killed_mid_run, args=(encoder, manifest, tmp_path))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    [directory] = tmp_path.iterdir()
    assert len(list(directory.glob("claims/*.json"))) == 1  # its claim outlives it
    stale = directory / ".chunk-0123.npy.abcd.tmp"
    stale.write_bytes(b"half a chunk")
    cache, report = embed(encoder, manifest, tmp_path, OPTIONS)
    assert (report.cache_hits, report.encoded) == (8, CLIPS - 8)
    assert not stale.exists() and not list(directory.glob("claims/*"))
    assert np.isfinite(cache.load(report.keys, "masked-mean", 0)).all()
