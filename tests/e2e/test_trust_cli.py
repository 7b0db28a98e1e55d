"""What keeps wrong numbers out of results, end to end: corrupt cache chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiobench.extraction import EmbedOptions, embed
from audiobench.encoders import build_encoder
from audiobench.tasks import get_task


def test_a_zeroed_chunk_is_refused_by_probe_and_re_encoded_by_embed(synth_root: Path, tmp_path: Path,
                                                                       run_cli) -> None:
    root, cache_dir = synth_root / "esc50", tmp_path / "cache"
    manifest = get_task("esc50").manifest(root)
    encoder = build_encoder("logmel")
    cache, report = embed(encoder, manifest, cache_dir, EmbedOptions(chunk_size=40, num_workers=0))
    before = cache.load(report.keys, "masked-mean", 0)
    chunk = sorted(cache.directory.glob("chunk-*.npy"))[0]
    rows = len(np.load(chunk))
    chunk.write_bytes(bytes(chunk.stat().st_size))
    args = ("--encoder", "logmel", "--task", "esc50", "--data-root", root, "--cache-dir", cache_dir)

    code, out, err = run_cli("probe", *args, "--results-dir", tmp_path / "results")
    assert code == 2 and not (tmp_path / "results").exists()
    assert err.startswith(f"error: corrupt cache chunk {chunk} (checksum mismatch)") and len(err.splitlines()) == 1

    code, out, err = run_cli("embed", *args, "--workers", "0")
    assert code == 0, err
    assert f"note: discarded corrupt cache chunk {chunk} (checksum mismatch); its clips are encoded again" in err
    assert f"{100 - rows} cached, {rows} encoded" in err
    cache, report = embed(encoder, manifest, cache_dir, EmbedOptions(num_workers=0))
    assert report.encoded == 0
    np.testing.assert_array_equal(cache.load(report.keys, "masked-mean", 0), before)

    chunk.write_bytes(bytes(chunk.stat().st_size))  # `run` (embed, then probe) says so too
    code, out, err = run_cli("run", *args, "--workers", "0", "--results-dir", tmp_path / "results")
    assert code == 0, err
    assert f"note: discarded corrupt cache chunk {chunk} (checksum mismatch); its clips are encoded again" in err
