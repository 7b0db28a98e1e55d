"""Outputs: every output path is checked before slow work starts, and a write that fails
mid-way (disk full) or a worker that dies is one line, exit 2, with what was written kept.

We run as root, so permissions cannot make a path unwritable: a path under a regular file
(ENOTDIR) is unwritable for everyone, and a full disk is injected into the write itself."""

from __future__ import annotations

import errno
import functools
import json
import multiprocessing
import os
import pathlib
import signal
from pathlib import Path

import pytest
from support.trees import small_esc50

from audiobench import extraction
from audiobench.cache import EmbeddingCache, ExtractionSettings
from audiobench.errors import ExtractionError
from audiobench.extraction import EmbedOptions, embed
from audiobench.encoders import build_encoder
from audiobench.tasks import get_task


CLIPS = 16


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """A directory path no one can create: its parent is a regular file."""
    (tmp_path / "a-file").write_text("not a directory")
    return tmp_path / "a-file" / "out"


def one_line(code: int, err: str, *parts: str) -> None:
    """Exit 2 and one error line, the last thing printed (a progress bar may come before it)."""
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("error: ") and "Traceback" not in err, err
    assert sum(line.startswith("error: ") for line in lines) == 1
    for part in parts:
        assert part in lines[-1], err


@pytest.mark.parametrize("command, option, as_file", [
    ("run", "--results-dir", False), ("run", "--cache-dir", False), ("probe", "--results-dir", False),
    ("embed", "--npz", True), ("embed", "--cache-dir", False), ("compare", "--out", True),
    ("compare", "--plot", True), ("report", "--out", True), ("data synth", "--out", False),
])
def test_an_unwritable_output_fails_before_any_work(command: str, option: str, as_file: bool, blocked: Path,
                                                     tmp_path: Path, synth_root: Path, run_cli) -> None:
    target = blocked / "x.out" if as_file else blocked
    if command in ("run", "probe", "embed"):
        args = ["--encoder", "logmel", "--task", "esc50", "--data-root", synth_root / "esc50"]
        defaults = {"--results-dir": tmp_path / "results", "--cache-dir": tmp_path / "cache"}
        if command != "embed":
            args += ["--results-dir", defaults["--results-dir"]] if option != "--results-dir" else []
        if command != "probe" and option != "--cache-dir":
            args += ["--cache-dir", defaults["--cache-dir"]]
    elif command == "data synth":
        args = ["--task", "esc50"]
    else:
        args = [tmp_path / "no-results"]
    code, _, err = run_cli(*command.split(), *args, option, target)
    one_line(code, err, f"{option} {target}: cannot write there (Not a directory)", f"choose a writable {option}")
    assert not list(tmp_path.rglob("chunk-*"))  # nothing was embedded


@pytest.mark.parametrize("clips", [CLIPS, CLIPS + 8])
def test_a_full_disk_mid_embed_is_one_line_and_keeps_the_finished_chunks(
        clips: int, synth_root: Path, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second chunk's write (in the writer thread) runs out of space half-way, as the last
    chunk or while a third is being encoded: exit 2, no third chunk written, no temp file left,
    the first chunk verified and kept, and the next run encodes only the rest."""
    monkeypatch.setattr(extraction, "EmbedOptions", functools.partial(EmbedOptions, chunk_size=8))
    real_open = pathlib.Path.open
    chunks = []

    def disk_fills_on_second_chunk(self: pathlib.Path, mode: str = "r", *args, **kwargs):
        if self.name.startswith(".chunk-") and ".npy." in self.name:
            chunks.append(self)
            if len(chunks) == 2:
                with real_open(self, mode) as half:
                    half.write(b"\x93NUMPY half a chunk")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", disk_fills_on_second_chunk)
    root = small_esc50(synth_root / "esc50", tmp_path / "esc50", clips=clips)
    args = ("embed", "--encoder", "logmel", "--task", "esc50", "--data-root", root,
            "--cache-dir", tmp_path / "cache", "--workers", "0", "--batch-size", "4")
    code, _, err = run_cli(*args)
    one_line(code, err, "cannot write", ".npy (No space left on device); the chunks already written are kept")
    assert len(chunks) == 2  # the failure stops the run before a third chunk is written
    [directory] = [d for d in (tmp_path / "cache").iterdir() if (d / "meta.json").exists()]  # besides encoders/
    assert not list(directory.glob(".*.tmp"))
    [kept] = directory.glob("chunk-*.json")
    monkeypatch.undo()
    cache = EmbeddingCache(tmp_path / "cache", ExtractionSettings(**json.loads((directory / "meta.json").read_text())["settings"]), {})
    rows = json.loads(kept.read_text())["keys"]
    assert cache.corrupt_chunks(rows) == {} and cache.load(rows, "masked-mean", 0).shape == (len(rows), 256)
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert f"{len(rows)} cached, {clips - len(rows)} encoded" in err


def test_a_killed_decoding_worker_is_one_line_and_keeps_the_finished_chunks(synth_root: Path,
                                                                            tmp_path: Path) -> None:
    manifest = get_task("esc50").manifest(small_esc50(synth_root / "esc50", tmp_path / "esc50", clips=CLIPS))
    batches = []

    def kill_the_worker_after_three_batches(_: int) -> None:
        batches.append(1)
        if len(batches) == 3:  # two chunks of one batch handed over; the third batch's rows come with the next
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)

    options = EmbedOptions(batch_size=4, chunk_size=4, num_workers=1)
    encoder = build_encoder("logmel")
    with pytest.raises(ExtractionError, match="an audio decoding worker died .*the chunks finished before it are kept"):
        embed(encoder, manifest, tmp_path / "cache", options, on_progress=kill_the_worker_after_three_batches)
    _, report = embed(encoder, manifest, tmp_path / "cache", EmbedOptions(num_workers=0))
    assert report.cache_hits >= 8 and report.cache_hits + report.encoded == len(manifest.clips)
