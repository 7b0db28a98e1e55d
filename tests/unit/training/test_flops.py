from __future__ import annotations

import pytest

from audiobench.encoders.whisper import shipped_config
from audiobench.training.flops import forward_flops, training_flops_per_sample


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
