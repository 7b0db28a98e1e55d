from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

from audiobench.encoders.base import pool
from audiobench.encoders import build_encoder
from audiobench.encoders.features import LogMel
from audiobench.errors import ConfigError

TINY = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
            decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80, vocab_size=128, max_source_positions=1500,
            max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=1, decoder_start_token_id=2)


def tone(seconds: float, freq: float = 440.0, sr: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("n_mels", [80, 128])
def test_logmel_matches_whisper_feature_extractor(n_mels: int) -> None:
    audio = tone(3.0) + np.random.default_rng(0).normal(0, 0.01, 48_000).astype(np.float32)
    reference = WhisperFeatureExtractor(feature_size=n_mels)(audio, sampling_rate=16_000, return_tensors="np")
    padded = torch.nn.functional.pad(torch.from_numpy(audio), (0, 480_000 - len(audio)))
    ours = LogMel(n_mels)(padded[None])[0].numpy()
    np.testing.assert_allclose(ours, reference.input_features[0], atol=1e-4)


@pytest.fixture(scope="module")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full WhisperModel checkpoint written with save_pretrained, as a hub download would be."""
    directory = tmp_path_factory.mktemp("tiny-whisper")
    torch.manual_seed(1)
    WhisperModel(WhisperConfig(**TINY)).save_pretrained(directory)
    return directory


@pytest.mark.parametrize("n_mels", [80, 128])  # 128: large-v3 and its fine-tunes
def test_local_weights_give_the_transformers_encoder_outputs(tmp_path: Path, n_mels: int) -> None:
    torch.manual_seed(1)
    WhisperModel(WhisperConfig(**{**TINY, "num_mel_bins": n_mels})).save_pretrained(tmp_path)
    encoder = build_encoder("whisper-aut", weights=str(tmp_path))
    assert (encoder.num_layers, encoder.dim) == (3, 32)
    audio = tone(2.5)
    with torch.no_grad():
        ours = encoder(torch.from_numpy(audio)[None], torch.tensor([len(audio)]))
        features = WhisperFeatureExtractor(feature_size=n_mels)(audio, sampling_rate=16_000, return_tensors="pt")
        direct = WhisperModel.from_pretrained(tmp_path).encoder(features.input_features, output_hidden_states=True)
    assert len(ours.hidden_states) == len(direct.hidden_states)
    for mine, theirs in zip(ours.hidden_states, direct.hidden_states):
        torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=1e-4)
    assert ours.frame_lengths.tolist() == [125]  # 2.5 s at 20 ms per frame


def test_fingerprint_tracks_weights_not_their_location(tiny_whisper_dir: Path, tmp_path: Path) -> None:
    first = build_encoder("whisper-aut", weights=str(tiny_whisper_dir)).fingerprint
    moved = shutil.copytree(tiny_whisper_dir, tmp_path / "moved")
    (moved / "pytorch_model.bin").write_bytes(b"a stale copy that from_pretrained does not read")
    assert build_encoder("whisper-aut", weights=str(moved)).fingerprint == first
    torch.manual_seed(2)
    WhisperModel(WhisperConfig(**TINY)).save_pretrained(tmp_path / "other")
    assert build_encoder("whisper-aut", weights=str(tmp_path / "other")).fingerprint != first


def test_checkpoint_without_encoder_weights_is_refused(tiny_whisper_dir: Path, tmp_path: Path) -> None:
    state = load_file(tiny_whisper_dir / "model.safetensors")
    shutil.copy(tiny_whisper_dir / "config.json", tmp_path / "config.json")
    save_file({f"whisper.{key}": value for key, value in state.items()}, tmp_path / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(ConfigError, match="encoder weights are missing"):
        build_encoder("whisper-aut", weights=str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(ConfigError, match="cannot load a Whisper checkpoint"):
        build_encoder("whisper-aut", weights=str(tmp_path))


def test_encoder_only_checkpoint_loads(tiny_whisper_dir: Path, tmp_path: Path) -> None:
    full = WhisperModel.from_pretrained(tiny_whisper_dir)
    full.encoder.save_pretrained(tmp_path)
    encoder = build_encoder("whisper-aut", weights=str(tmp_path))
    for mine, theirs in zip(encoder.model.state_dict().values(), full.encoder.state_dict().values()):
        torch.testing.assert_close(mine, theirs)


def test_whisper_aut_without_weights_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--weights"):
        build_encoder("whisper-aut")
    with pytest.raises(ConfigError, match="no config.json"):
        build_encoder("whisper-aut", weights=str(tmp_path))
    with pytest.raises(ConfigError, match="no such directory"):
        build_encoder("whisper-aut", weights="./not/there")


def test_masked_mean_averages_exactly_the_valid_frames() -> None:
    encoder = build_encoder("whisper-micro", random_init=True)
    short, long = tone(1.0), tone(4.0, 220.0)
    batch = torch.zeros(2, len(long))
    batch[0, : len(short)], batch[1] = torch.from_numpy(short), torch.from_numpy(long)
    lengths = torch.tensor([len(short), len(long)])
    with torch.no_grad():
        output = encoder(batch, lengths)
    pooled = pool(output, fixed_window=True)
    assert output.frame_lengths.tolist() == [50, 200]
    last = output.hidden_states[-1]
    torch.testing.assert_close(pooled[0, 0, -1], last[0, :50].mean(0))
    torch.testing.assert_close(pooled[0, 1, -1], last[0].mean(0))  # padded-mean: the whole 30 s window
    assert not torch.allclose(pooled[:, 0], pooled[:, 1])


def test_embeddings_do_not_depend_on_batch_composition() -> None:
    for name, random_init in (("logmel", False), ("whisper-micro", True)):
        encoder = build_encoder(name, random_init=random_init)
        short, long = tone(1.3), tone(3.7, 300.0)
        with torch.no_grad():
            alone = encoder(torch.from_numpy(short)[None], torch.tensor([len(short)]))
            batch = torch.zeros(2, len(long))
            batch[0, : len(short)], batch[1] = torch.from_numpy(short), torch.from_numpy(long)
            together = encoder(batch, torch.tensor([len(short), len(long)]))
        a = pool(alone, encoder.window_seconds is not None)[0]
        b = pool(together, encoder.window_seconds is not None)[0]
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
