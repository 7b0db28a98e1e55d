"""The cache rules the README states: which precision ``--dtype auto`` picks, that ``probe``
finds embeddings made in another precision, and that an edited audio file is re-encoded."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch
from support.hf_checkpoints import write_checkpoint
from support.trees import small_esc50
from transformers import AutoModel, WhisperConfig, WhisperModel

import audiobench
from audiobench.api import describe_encoder
from audiobench.encoders.description import EncoderCard
from audiobench.errors import CacheError
from audiobench.extraction import resolve_dtype

CPU, GPU = torch.device("cpu"), torch.device("cuda")  # resolve_dtype only reads the device type
TINY = dict(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, decoder_layers=1,
            decoder_attention_heads=2, decoder_ffn_dim=32, num_mel_bins=80, vocab_size=64, max_source_positions=1500,
            max_target_positions=16, pad_token_id=0, bos_token_id=1, eos_token_id=1, decoder_start_token_id=2)
STORED = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


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


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """A tiny Whisper and a tiny HuBERT checkpoint, each saved by save_pretrained in every
    precision (as OpenAI publishes float16 and a bf16 run exports bfloat16)."""
    root = tmp_path_factory.mktemp("precisions")
    torch.manual_seed(0)
    models = {"whisper-aut": WhisperModel(WhisperConfig(**TINY)),
              "hf": AutoModel.from_pretrained(write_checkpoint("hubert", root / "hubert"))}
    paths = {}
    for encoder, model in models.items():
        for name, dtype in STORED.items():
            paths[encoder, name] = root / f"{encoder}-{name}"
            model.to(dtype).save_pretrained(paths[encoder, name])
            if encoder == "hf":
                (paths[encoder, name] / "preprocessor_config.json").write_bytes(
                    (root / "hubert" / "preprocessor_config.json").read_bytes())
    return paths


@pytest.mark.parametrize("encoder", ["whisper-aut", "hf"])
@pytest.mark.parametrize("precision, on_gpu", [("float32", "bfloat16"), ("float16", "float16"),
                                               ("bfloat16", "bfloat16")])
def test_dtype_auto_reads_the_precision_a_checkpoint_is_stored_in(stored, tmp_path: Path, encoder: str,
                                                                  precision: str, on_gpu: str) -> None:
    for _ in range(2):  # built (and its card recorded), then described by that card without building
        model = describe_encoder(encoder, weights=str(stored[encoder, precision]), cache_dir=tmp_path)
        assert resolve_dtype("auto", GPU, model) == on_gpu
        assert resolve_dtype("auto", CPU, model) == "float32"
    assert isinstance(model, EncoderCard)


def test_a_float16_checkpoint_embeds_in_float32_on_the_cpu(stored, synth_root: Path, tmp_path: Path) -> None:
    root = small_esc50(synth_root / "esc50", tmp_path / "esc50", clips=2)
    embedding = audiobench.embed("whisper-aut", "esc50", weights=str(stored["whisper-aut", "float16"]), data_root=root,
                                 cache_dir=tmp_path / "cache", device="cpu", workers=0)
    assert embedding.cache.settings.dtype == "float32" and embedding.report.encoded == 2
    assert np.isfinite(embedding.cache.load(embedding.report.keys, "masked-mean", 1)).all()


def test_probe_finds_embeddings_made_in_another_precision(synth_root: Path, tmp_path: Path) -> None:
    where = dict(data_root=synth_root / "esc50", cache_dir=tmp_path / "cache")
    audiobench.embed("logmel", "esc50", dtype="bfloat16", **where)  # as on a GPU node
    with pytest.raises(CacheError, match="not cached"):  # an explicit precision means exactly that one
        audiobench.probe("logmel", "esc50", dtype="float32", results_dir=None, **where)
    [result] = audiobench.probe("logmel", "esc50", results_dir=None, **where)  # auto: any precision
    assert result.extraction.dtype == "bfloat16" and result.timing.clips_encoded == 0


def test_auto_lookup_prefers_the_complete_cache_then_the_precision_embed_would_pick(synth_root: Path,
                                                                                     tmp_path: Path) -> None:
    where = dict(data_root=small_esc50(synth_root / "esc50", tmp_path / "esc50", clips=6),
                 cache_dir=tmp_path / "cache", workers=0)
    whole = audiobench.embed("logmel", "esc50", dtype="bfloat16", **where)
    part = dataclasses.replace(whole.manifest, clips=whole.manifest.clips[:2])
    assert audiobench.embed("logmel", part, dtype="float32", **where).report.encoded == 2
    found = audiobench.cached("logmel", "esc50", data_root=where["data_root"], cache_dir=where["cache_dir"])
    assert found.cache.settings.dtype == "bfloat16"  # float32 would be preferred on a CPU, but lacks 4 clips
    rest = audiobench.embed("logmel", "esc50", dtype="float32", **where)
    assert (rest.report.cache_hits, rest.report.encoded) == (2, 4)  # embed never borrows another precision
    found = audiobench.cached("logmel", "esc50", data_root=where["data_root"], cache_dir=where["cache_dir"])
    assert found.cache.settings.dtype == "float32"  # both complete: the CPU's own precision


def rewrite_reversed(path: Path) -> None:
    """New content of the same size, in a new file (a new modification time)."""
    audio, rate = soundfile.read(path)
    path.unlink()  # a new file, not a write through a shared inode
    soundfile.write(path, np.flip(audio), rate)


def shorten_keeping_mtime(path: Path) -> None:
    """A different size under the old modification time (as a copy that preserves times makes)."""
    before = path.stat()
    audio, rate = soundfile.read(path)
    soundfile.write(path, audio[: len(audio) // 2], rate)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("edit", [rewrite_reversed, shorten_keeping_mtime])
def test_an_edited_audio_file_is_re_encoded(synth_root: Path, tmp_path: Path, edit) -> None:
    root = small_esc50(synth_root / "esc50", tmp_path / "esc50", clips=4)
    where = dict(data_root=root, cache_dir=tmp_path / "cache", workers=0)
    first = audiobench.embed("logmel", "esc50", **where)
    edit(root / first.manifest.clips[0].path)
    with pytest.raises(CacheError, match="1 of 4 clips"):  # probe's lookup never serves the old embedding
        audiobench.cached("logmel", "esc50", data_root=root, cache_dir=where["cache_dir"])
    again = audiobench.embed("logmel", "esc50", **where)
    assert (again.report.encoded, again.report.cache_hits) == (1, len(first.manifest.clips) - 1)
    before, after = (e.cache.load([e.report.keys[0]], "masked-mean", 0) for e in (first, again))
    assert not np.array_equal(before, after)
