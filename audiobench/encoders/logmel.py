"""``logmel``: a classical baseline with no weights.

Each 10 ms frame is Whisper's 128-bin log-mel concatenated with its square, so mean pooling
yields each bin's first two moments (mean and mean square, equivalent to mean and variance
for a linear probe): a 256-d clip descriptor.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers

from audiobench.encoders.base import Encoder, EncoderOutput
from audiobench.encoders.features import HOP_LENGTH, N_FFT, SAMPLE_RATE, LogMel


class LogMelStatistics(Encoder):
    wrapper_version = "1"

    def __init__(self, name: str = "logmel", weights: str | None = None, random_init: bool = False,
                 n_mels: int = 128) -> None:
        super().__init__()
        self.name = name
        self.sample_rate = SAMPLE_RATE
        self.num_layers = 1
        self.dim = 2 * n_mels
        self.logmel = LogMel(n_mels)

    def fingerprint_fields(self) -> dict[str, Any]:
        # The mel filters come from transformers.audio_utils.
        return {"n_mels": self.logmel.n_mels, "n_fft": N_FFT, "hop": HOP_LENGTH,
                "transformers": transformers.__version__}

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        # Zero-pad past every clip's end so the last frames never depend on batch padding.
        padded = torch.nn.functional.pad(waveforms, (0, N_FFT // 2))
        frames = self.logmel(padded).transpose(1, 2)
        features = torch.cat([frames, frames.square()], dim=-1)
        return EncoderOutput([features], LogMel.num_frames(lengths))
