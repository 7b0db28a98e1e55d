"""Forward FLOPs of a Whisper encoder-decoder per sample, from its config (2 FLOPs per
multiply-add; layer norms, softmax, GELU and biases are left out, as is usual for MFU).

For whisper-large-v3 the encoder costs about 2.27 TFLOP per 30 s clip (linear layers 1.887,
attention matmuls 0.369, convolutions 0.018). Training costs 3 forward passes per sample
(forward plus a backward of twice the forward); gradient-checkpointing recomputation is not
model work and is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import WhisperConfig


@dataclass(frozen=True)
class ForwardFlops:
    encoder_linear: float
    encoder_attention: float
    encoder_conv: float
    decoder: float

    @property
    def encoder(self) -> float:
        return self.encoder_linear + self.encoder_attention + self.encoder_conv

    @property
    def total(self) -> float:
        return self.encoder + self.decoder


def encoder_flops(config: WhisperConfig, positions: int | None = None) -> tuple[float, float, float]:
    """(linear, attention matmuls, convolutions) for one window of ``positions`` encoder
    positions (default: the full window, ``max_source_positions``; fewer for a trimmed one)."""
    d, ffn, layers = config.d_model, config.encoder_ffn_dim, config.encoder_layers
    positions = config.max_source_positions if positions is None else positions
    frames = 2 * positions  # conv1 runs at the mel frame rate, conv2 halves it
    linear = layers * positions * 2 * (4 * d * d + 2 * d * ffn)  # q, k, v, out; two FFN matrices
    attention = layers * 2 * 2 * positions * positions * d  # QK^T and AV
    conv = 2 * 3 * frames * config.num_mel_bins * d + 2 * 3 * positions * d * d
    return float(linear), float(attention), float(conv)


def decoder_flops(config: WhisperConfig, target_tokens: int) -> float:
    """Decoder forward for ``target_tokens`` positions (<= max_target_positions) reading the
    encoder's full window: self-attention, cross-attention (its keys and values are projected
    once from every encoder position), FFN and the output projection over the vocabulary."""
    d, ffn, layers = config.d_model, config.decoder_ffn_dim, config.decoder_layers
    s, t = target_tokens, config.max_source_positions
    per_layer = (2 * s * 4 * d * d            # self-attention q, k, v, out
                 + 2 * 2 * s * s * d           # self-attention matmuls (computed densely, masked)
                 + 2 * s * 2 * d * d           # cross-attention q, out
                 + 2 * t * 2 * d * d           # cross-attention k, v over the encoder output
                 + 2 * 2 * s * t * d           # cross-attention matmuls
                 + 2 * s * 2 * d * ffn)        # FFN
    return float(layers * per_layer + 2 * s * d * config.vocab_size)


def forward_flops(config: WhisperConfig, target_tokens: int) -> ForwardFlops:
    if not 0 < target_tokens <= config.max_target_positions:
        raise ValueError(f"target_tokens must be in 1..{config.max_target_positions}, got {target_tokens}")
    linear, attention, conv = encoder_flops(config)
    return ForwardFlops(linear, attention, conv, decoder_flops(config, target_tokens))


def training_flops_per_sample(config: WhisperConfig, target_tokens: int) -> float:
    return 3.0 * forward_flops(config, target_tokens).total
