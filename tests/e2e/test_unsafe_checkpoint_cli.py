"""A checkpoint that safe loading refuses (a pickle holding arbitrary objects) is one line."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration


def test_export_of_an_unsafe_pickle_checkpoint_is_one_line(tmp_path: Path, run_cli) -> None:
    final = tmp_path / "run" / "final"
    config = WhisperConfig(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32, num_mel_bins=80,
                           vocab_size=64, max_source_positions=1500, max_target_positions=16, pad_token_id=0,
                           bos_token_id=1, eos_token_id=1, decoder_start_token_id=2)
    model = WhisperForConditionalGeneration(config)
    model.save_pretrained(final)
    (final / "model.safetensors").unlink()
    torch.save({**model.state_dict(), "trainer_args": argparse.Namespace(lr=1.0)}, final / "pytorch_model.bin")
    code, _, err = run_cli("export", tmp_path / "run", "--out", tmp_path / "encoder")
    assert code == 2 and err.startswith(f"error: export {final}: cannot load a Whisper checkpoint (Weights only load failed")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "encoder").exists() or not any((tmp_path / "encoder").iterdir())
