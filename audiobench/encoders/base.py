"""The encoder contract.

An encoder turns a batch of padded mono waveforms (at its own ``sample_rate``) plus their true
lengths into per-layer frame sequences plus, for each clip, how many frames cover real audio.
Everything downstream (pooling, cache, probes) relies only on this contract.

Encoders with a fixed input window (Whisper: 30 s) set ``window_seconds``; clips are cropped
or zero-padded to it and ``padded-mean`` pooling averages the whole window. Encoders without
one see each clip at its own length (batches are padded to the longest clip, and those
padding frames are never pooled).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class EncoderOutput:
    """``hidden_states``: one ``[batch, frames, dim]`` tensor per layer, first layer first.
    ``frame_lengths``: ``[batch]`` count of leading frames that cover real audio."""

    hidden_states: list[torch.Tensor]
    frame_lengths: torch.Tensor


def pool(output: EncoderOutput, fixed_window: bool) -> torch.Tensor:
    """``[batch, poolings, layers, dim]`` float32.

    ``masked-mean`` averages the frames that cover real audio; ``padded-mean`` averages the
    encoder's whole input window (for encoders without a fixed window there is no padding to
    average, so it equals ``masked-mean``)."""
    hidden_states, frame_lengths = output.hidden_states, output.frame_lengths
    frames = hidden_states[0].shape[1]
    valid = (torch.arange(frames, device=frame_lengths.device)[None, :] < frame_lengths[:, None]).float()
    weights = valid / frame_lengths[:, None].float()
    pooled_masked, pooled_padded = [], []
    for layer in hidden_states:
        layer = layer.float()
        masked = torch.einsum("bfd,bf->bd", layer, weights)
        pooled_masked.append(masked)
        pooled_padded.append(layer.mean(dim=1) if fixed_window else masked)
    return torch.stack([torch.stack(pooled_masked, 1), torch.stack(pooled_padded, 1)], 1)


class Encoder(ABC, torch.nn.Module):
    """Base class of every encoder. Subclasses set the attributes below in ``__init__``."""

    name: str
    sample_rate: int
    num_layers: int
    dim: int
    window_seconds: float | None = None
    #: The half precision the weights were published in, if any (``--dtype auto`` on GPU).
    checkpoint_dtype: torch.dtype | None = None
    #: Where the weights came from, for result records (``weights``: hub id or path; ``revision``).
    provenance: dict[str, Any] = {}
    #: Bump when the wrapper's numerics change, so cached embeddings are recomputed.
    wrapper_version: str = "1"

    @abstractmethod
    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """``waveforms``: ``[batch, samples]`` float32, zero-padded; ``lengths``: ``[batch]``
        valid samples per clip."""

    @abstractmethod
    def fingerprint_fields(self) -> dict[str, Any]:
        """What identifies this encoder's numerics: weights identity and configuration."""

    @property
    def fingerprint(self) -> str:
        """Stable hash of weights identity, configuration and wrapper version."""
        fields = {"class": type(self).__qualname__, "wrapper_version": self.wrapper_version,
                  **self.fingerprint_fields()}
        blob = json.dumps(fields, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def flops_per_clip(self, seconds: float) -> float | None:
        """Forward FLOPs to encode one clip of ``seconds`` (for MFU); None when unknown."""
        return None

    def set_precision(self, dtype: torch.dtype) -> None:
        """Run the network in ``dtype`` (feature front ends keep float32)."""
        self.to(dtype)

    @property
    def window_samples(self) -> int | None:
        return None if self.window_seconds is None else int(round(self.window_seconds * self.sample_rate))
