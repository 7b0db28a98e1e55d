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
    with pytest.raises(ValueError):
        forward_flops(config, 449)


def test_the_count_equals_torch_flop_counter_on_a_small_model() -> None:
    """Every matmul and convolution of a real forward pass, and of a forward and backward
    training step, counted by torch (eager attention, so the attention matmuls are visible to
    the counter; a 4 s window keeps it fast)."""
    values = {**shipped_config("whisper-tiny").to_dict(), "d_model": 64, "encoder_layers": 2, "decoder_layers": 3,
              "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 256,
              "decoder_ffn_dim": 128, "num_mel_bins": 80, "vocab_size": 300, "pad_token_id": 0, "bos_token_id": 0,
              "eos_token_id": 0, "decoder_start_token_id": 1, "max_source_positions": 200}
    config = WhisperConfig(**values)
    config._attn_implementation = "eager"
    model = WhisperForConditionalGeneration(config)
    features, targets = torch.randn(1, 80, 400), torch.zeros(1, 20, dtype=torch.long)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(input_features=features, decoder_input_ids=targets)
    assert counter.get_total_flops() == forward_flops(config, 20).total
    with FlopCounterMode(display=False) as step:
        model(input_features=features, labels=targets).loss.backward()
    with torch.no_grad(), FlopCounterMode(display=False) as first_conv:
        model.model.encoder.conv1(features)
    # Backward costs twice the forward, except the input gradient of the first convolution,
    # which autograd never computes because the log-mel features need no gradient.
    assert step.get_total_flops() == training_flops_per_sample(config, 20) - first_conv.get_total_flops()
