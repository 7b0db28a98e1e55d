"""Everything that changes the numbers changes the cache entry: two runs that differ in any of
them never share one. Real checkpoints written with save_pretrained, loaded through --weights."""

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

from audiobench.extraction import open_cache
from audiobench.encoders import Encoder, build_encoder
from audiobench.encoders.whisper import WhisperEncoderWrapper

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
    assert open_cache(base, tmp_path / "cache", "float32").directory != \
        open_cache(changed, tmp_path / "cache", "float32").directory


def test_dtype_sample_rate_window_and_wrapper_version_each_get_their_own_cache(
        checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def directory(encoder: Encoder, dtype: str = "float32") -> Path:
        return open_cache(encoder, tmp_path, dtype).directory

    encoder = build_encoder("whisper-aut", weights=str(checkpoint))
    seen = [directory(encoder), directory(encoder, "bfloat16"), directory(encoder, "float16")]
    encoder.sample_rate = 8_000
    seen.append(directory(encoder))
    encoder.sample_rate, encoder.window_seconds = 16_000, 10.0
    seen.append(directory(encoder))
    encoder.window_seconds = 30.0
    assert directory(encoder) == seen[0]
    monkeypatch.setattr(WhisperEncoderWrapper, "wrapper_version", "2")
    seen.append(directory(encoder))
    assert len(set(seen)) == len(seen)


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
