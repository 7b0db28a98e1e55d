"""The cache rules the README states: which precision ``--dtype auto`` picks, that ``probe``
finds embeddings made in another precision, and that an edited audio file is re-encoded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch

import audiobench
from audiobench.errors import CacheError
from audiobench.extraction import resolve_dtype

CPU, GPU = torch.device("cpu"), torch.device("cuda")  # resolve_dtype only reads the device type


@pytest.mark.parametrize("requested, device, checkpoint, expected", [
    ("auto", CPU, torch.float16, "float32"),      # CPU: always float32
    ("auto", GPU, torch.float16, "float16"),      # GPU: OpenAI's Whisper weights are float16
    ("auto", GPU, torch.bfloat16, "bfloat16"),    # a bf16-trained export stays bfloat16
    ("auto", GPU, None, "bfloat16"),              # float32 or unknown weights: bfloat16 on GPU
    ("float16", CPU, None, "float16"),            # an explicit choice is kept
    ("float32", GPU, torch.float16, "float32"),
])
def test_dtype_auto_rule(requested, device, checkpoint, expected) -> None:
    assert resolve_dtype(requested, device, SimpleNamespace(checkpoint_dtype=checkpoint)) == expected


def test_probe_finds_embeddings_made_in_another_precision(synth_root: Path, tmp_path: Path) -> None:
    where = dict(data_root=synth_root / "esc50", cache_dir=tmp_path / "cache")
    audiobench.embed("logmel", "esc50", dtype="bfloat16", **where)  # as on a GPU node
    with pytest.raises(CacheError, match="not cached"):  # an explicit precision means exactly that one
        audiobench.probe("logmel", "esc50", dtype="float32", results_dir=None, **where)
    [result] = audiobench.probe("logmel", "esc50", results_dir=None, **where)  # auto: any precision
    assert result.extraction.dtype == "bfloat16" and result.timing.clips_encoded == 0


def test_an_edited_audio_file_is_re_encoded(synth_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "esc50"
    shutil.copytree(synth_root / "esc50", root, copy_function=os.link)  # hard links: the shared tree stays intact
    where = dict(data_root=root, cache_dir=tmp_path / "cache")
    first = audiobench.embed("logmel", "esc50", **where)
    clip = first.manifest.clips[0]
    audio, rate = soundfile.read(root / clip.path)
    (root / clip.path).unlink()  # a new file, not a write through the hard link
    soundfile.write(root / clip.path, np.flip(audio), rate)
    again = audiobench.embed("logmel", "esc50", **where)
    assert (again.report.encoded, again.report.cache_hits) == (1, len(first.manifest.clips) - 1)
    before, after = (e.cache.load([e.report.keys[0]], "masked-mean", 0) for e in (first, again))
    assert not np.array_equal(before, after)
