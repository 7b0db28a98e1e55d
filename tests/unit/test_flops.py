from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import WhisperConfig, WhisperForConditionalGeneration

from audiobench.encoders.whisper import shipped_config
from audiobench.flops import forward_flops, training_flops_per_sample


def test_large_v3_encoder_matches_the_published_breakdown() -> None:
    flops = forward_flops(shipped_config("whisper-large-v3"), target_tokens=128)
    assert flops.encoder_linear == pytest.approx(1.887e12, rel=1e-3)
    assert flops.encoder_attention == pytest.approx(0.369e12, rel=1e-3)
    assert flops.encoder_conv == pytest.approx(0.018e12, rel=2e-2)
    assert flops.encoder == pytest.approx(2.27e12, rel=2e-3)


def test_decoder_cost_grows_with_the_target_and_is_bounded_by_448() -> None:
    config = shipped_config("whisper-large-v3")
    short, full = forward_flops(config, 16).decoder, forward_flops(config, 448).decoder
    assert 0 < short < full
    assert training_flops_per_sample(config, 448) == pytest.approx(3 * forward_flops(config, 448).total)
    with pytest.raises(ValueError):
        forward_flops(config, 449)


def test_the_count_equals_torch_flop_counter_on_a_small_model() -> None:
    """Every matmul and convolution of a real forward pass, counted by torch (eager attention,
    so the attention matmuls are visible to the counter)."""
    values = {**shipped_config("whisper-tiny").to_dict(), "d_model": 64, "encoder_layers": 2, "decoder_layers": 3,
              "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 256,
              "decoder_ffn_dim": 128, "num_mel_bins": 80, "vocab_size": 300, "pad_token_id": 0, "bos_token_id": 0,
              "eos_token_id": 0, "decoder_start_token_id": 1}
    config = WhisperConfig(**values)
    config._attn_implementation = "eager"
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(input_features=torch.zeros(1, 80, 3000), decoder_input_ids=torch.zeros(1, 20, dtype=torch.long))
    assert counter.get_total_flops() == forward_flops(config, 20).total
