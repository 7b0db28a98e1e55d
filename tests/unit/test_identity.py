"""Everything that changes the numbers changes the cache entry and the result file: two runs
that differ in any of them never share either. Real checkpoints written with save_pretrained,
loaded through --weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import WhisperConfig, WhisperModel

from audiobench.cache import EmbeddingCache
from audiobench.encoders import Encoder, Window, build_encoder
from audiobench.encoders.whisper import WhisperEncoderWrapper
from audiobench.evaluate import ProbeOutcome, make_result
from audiobench.extraction import EmbedReport, open_cache
from audiobench.tasks.base import Clip, Fold, Manifest

TINY = dict(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, decoder_layers=1,
            decoder_attention_heads=2, decoder_ffn_dim=32, num_mel_bins=80, vocab_size=64, max_source_positions=1500,
            max_target_positions=16, pad_token_id=0, bos_token_id=1, eos_token_id=1, decoder_start_token_id=2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-whisper")
    torch.manual_seed(0)
    WhisperModel(WhisperConfig(**TINY)).save_pretrained(directory)
    return directory


def edited_config(**changes) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        config = json.loads((directory / "config.json").read_text())
        (directory / "config.json").write_text(json.dumps({**config, **changes}))
    return edit


def nudged_weight(directory: Path) -> None:
    state = load_file(directory / "model.safetensors")
    name = next(key for key in state if key.startswith("encoder.layers.0.fc1.weight"))
    state[name][0, 0] += 1e-3
    save_file(state, directory / "model.safetensors", metadata={"format": "pt"})


@pytest.mark.parametrize("change", [edited_config(activation_function="relu"), edited_config(scale_embedding=True),
                                    edited_config(layer_norm_eps=1e-6), nudged_weight],
                         ids=["activation", "scale_embedding", "unlisted-key", "weights-content"])
def test_a_changed_checkpoint_gets_its_own_cache(checkpoint: Path, tmp_path: Path, change) -> None:
    variant = shutil.copytree(checkpoint, tmp_path / "variant")
    change(variant)
    base, changed = (build_encoder("whisper-aut", weights=str(d)) for d in (checkpoint, variant))
    caches = [open_cache(encoder, tmp_path / "cache", "float32") for encoder in (base, changed)]
    assert caches[0].directory != caches[1].directory
    assert result_file(base, caches[0]) != result_file(changed, caches[1])


def result_file(encoder: Encoder, cache: EmbeddingCache) -> str:
    """The file name of a result probed from ``cache`` (a one-fold, two-clip run)."""
    manifest = Manifest("esc50", "5fold", Path("."), [Clip("a.wav", 0), Clip("b.wav", 1)], ["a", "b"],
                        [Fold("fold1", (0,), (), (1,))])
    report = EmbedReport(clips=2, cache_hits=2, encoded=0, seconds=0.0, device="cpu", keys=["ka", "kb"])
    outcome = ProbeOutcome({"fold1": 1.0}, {"fold1": {"ids": ["b.wav"], "y_true": [1], "y_pred": [1]}}, {}, 0.0)
    return make_result(encoder, False, manifest, cache, report, "logistic", {}, 0, 0, "masked-mean", outcome).filename


def test_dtype_sample_rate_window_trim_and_wrapper_version_each_get_their_own_cache_and_result_file(
        checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    caches, results = [], []

    def record(encoder: Encoder, dtype: str = "float32") -> None:
        cache = open_cache(encoder, tmp_path, dtype)
        caches.append(cache.directory)
        results.append(result_file(encoder, cache))

    encoder = build_encoder("whisper-aut", weights=str(checkpoint))
    for dtype in ("float32", "bfloat16", "float16"):
        record(encoder, dtype)
    encoder.sample_rate = 8_000
    record(encoder)
    encoder.sample_rate, encoder.window_seconds = 16_000, 10.0
    record(encoder)
    encoder.window_seconds = 30.0
    encoder.set_window(Window("trim", 50))
    record(encoder)
    encoder.set_window(Window("trim", 25))
    record(encoder)
    encoder.set_window(Window())
    monkeypatch.setattr(WhisperEncoderWrapper, "wrapper_version", "2")
    record(encoder)
    assert len(set(caches)) == len(caches) and len(set(results)) == len(results)
    assert result_file(encoder, open_cache(encoder, tmp_path, "float32")) == results[-1]  # and nothing else varies


def test_hub_revision_is_part_of_the_identity(checkpoint: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Two snapshots of one hub id in an offline hub cache: the commit loaded is fingerprinted."""
    repo = tmp_path / "models--acme--tiny-whisper"
    for commit in ("a" * 40, "b" * 40):
        shutil.copytree(checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    fingerprints = []
    for commit in ("a" * 40, "b" * 40):
        (repo / "refs" / "main").write_text(commit)
        encoder = build_encoder("whisper-aut", weights="acme/tiny-whisper")
        assert encoder.provenance == {"weights": "acme/tiny-whisper", "revision": commit}
        fingerprints.append(encoder.fingerprint)
    assert fingerprints[0] != fingerprints[1]
