"""Whisper's log-mel front end in torch, so features are computed batched on the encoder's
device instead of one clip at a time in numpy.

Numerics follow ``WhisperFeatureExtractor``: 25 ms Hann window (n_fft 400), 10 ms hop,
power spectrum, Slaney mel filters, log10 clamped at 1e-10, dynamic range limited to 8 (80 dB)
below each clip's maximum, then ``(x + 4) / 4``; the last STFT frame is dropped.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank

N_FFT = 400
HOP_LENGTH = 160
SAMPLE_RATE = 16_000


class LogMel(torch.nn.Module):
    """``[batch, samples]`` at 16 kHz -> ``[batch, n_mels, samples // 160]`` Whisper log-mel.
    Buffers stay float32 whatever precision the encoder behind it runs in."""

    def __init__(self, n_mels: int, filters: np.ndarray | None = None) -> None:
        """``filters``: ``[1 + n_fft // 2, n_mels]`` mel filter bank, as a checkpoint's
        ``WhisperFeatureExtractor.mel_filters`` holds it (default: Whisper's Slaney filters)."""
        super().__init__()
        if filters is None:
            filters = mel_filter_bank(num_frequency_bins=1 + N_FFT // 2, num_mel_filters=n_mels,
                                      min_frequency=0.0, max_frequency=8000.0, sampling_rate=SAMPLE_RATE,
                                      norm="slaney", mel_scale="slaney")
        self.n_mels = n_mels
        self.register_buffer("mel_filters", torch.tensor(filters, dtype=torch.float32).T, persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def _apply(self, fn, recurse=True):  # keep float32 when the module is cast to bf16/fp16
        super()._apply(fn, recurse)
        self.mel_filters = self.mel_filters.float()
        self.window = self.window.float()
        return self

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        stft = torch.stft(waveforms.float(), N_FFT, HOP_LENGTH, window=self.window, return_complex=True)
        power = stft[..., :-1].abs() ** 2
        log_spec = torch.clamp(self.mel_filters @ power, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0

    @staticmethod
    def num_frames(lengths: torch.Tensor) -> torch.Tensor:
        """Frames that start inside the audio, for clips of ``lengths`` samples."""
        return torch.div(lengths + HOP_LENGTH - 1, HOP_LENGTH, rounding_mode="floor").clamp(min=1)
