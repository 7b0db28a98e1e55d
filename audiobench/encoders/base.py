"""The encoder contract.

An encoder turns a batch of padded mono waveforms (at its own ``sample_rate``) plus their true
lengths into per-layer frame sequences plus, for each clip, how many frames cover real audio.
Everything downstream (pooling, cache, probes) relies only on this contract.

Layers may differ in frame count and width (CLAP's HTS-AT stages halve the token grid and
double the width): ``frame_lengths`` is then one tensor per layer and ``layer_dims`` lists each
layer's width; ``dim`` is the widest. Pooled vectors are zero-padded to ``dim`` in the cache
and sliced back to their layer's width on every read.

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

from audiobench.choices import WINDOWS
from audiobench.errors import ConfigError


#: Default rounding of a trimmed window, in encoder positions (50 Whisper positions = 1 s).
TRIM_MULTIPLE = 50


@dataclass(frozen=True)
class Window:
    """How much of a fixed input window an encoder runs. ``full``: the whole window (what the
    paper and Whisper do). ``trim``: only the positions covering the clip, rounded up to a
    multiple of ``multiple`` positions (larger multiples: fewer distinct shapes, more padding)."""

    mode: str = "full"
    multiple: int = TRIM_MULTIPLE

    def __post_init__(self) -> None:
        if self.mode not in WINDOWS:
            raise ConfigError(f"--window {self.mode}: unknown", f"use one of {', '.join(WINDOWS)}")
        if self.multiple < 1:
            raise ConfigError(f"--trim-multiple {self.multiple}: must be at least 1",
                              "pass a positive count of positions")

    @property
    def label(self) -> str:
        """``full`` or ``trim<multiple>``: stored in cache keys and results."""
        return "full" if self.mode == "full" else f"trim{self.multiple}"

    @classmethod
    def from_label(cls, label: str) -> "Window":
        if label.startswith("trim") and label[4:].isdigit():
            return cls("trim", int(label[4:]))
        return cls(label)


FULL_WINDOW = Window()


@dataclass
class EncoderOutput:
    """``hidden_states``: one ``[batch, frames, dim]`` tensor per layer, first layer first.
    ``frame_lengths``: ``[batch]`` count of leading frames that cover real audio, or one such
    tensor per layer when layers differ in frame count.
    ``window_lengths``: ``[batch]`` frames of each clip's own input window when windows were
    trimmed (frames past it are batch padding); None when every clip saw the whole window."""

    hidden_states: list[torch.Tensor]
    frame_lengths: torch.Tensor | list[torch.Tensor]
    window_lengths: torch.Tensor | None = None

    def layer_frame_lengths(self) -> list[torch.Tensor]:
        if isinstance(self.frame_lengths, torch.Tensor):
            return [self.frame_lengths] * len(self.hidden_states)
        return list(self.frame_lengths)


def pool(output: EncoderOutput, fixed_window: bool, dim: int | None = None) -> torch.Tensor:
    """``[batch, poolings, layers, dim]`` float32; layers narrower than ``dim`` (default: the
    widest) are zero-padded.

    ``masked-mean`` averages the frames that cover real audio; ``padded-mean`` averages the
    encoder's input window, whole or trimmed (for encoders without a fixed window there is no
    padding to average, so it equals ``masked-mean``). Runs on the frames' device."""
    width = dim or max(layer.shape[-1] for layer in output.hidden_states)
    windows = output.window_lengths
    pooled = []
    for layer, frame_lengths in zip(output.hidden_states, output.layer_frame_lengths()):
        layer = layer.float()
        frames = layer.shape[1]
        masked = torch.einsum("bfd,bf->bd", layer, mean_weights(frame_lengths, frames))
        if not fixed_window:
            padded = masked
        # Windows that all span the batch average like a full one (so trim on full clips equals full).
        elif windows is None or bool((windows == frames).all()):
            padded = layer.mean(dim=1)
        else:
            padded = torch.einsum("bfd,bf->bd", layer, mean_weights(windows, frames))
        pooled.append(torch.nn.functional.pad(torch.stack([masked, padded], 1), (0, width - layer.shape[-1])))
    return torch.stack(pooled, 2)


def mean_weights(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``[batch, frames]`` weights averaging each row's first ``lengths`` frames."""
    valid = (torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]).float()
    return valid / lengths[:, None].float()


class Encoder(ABC, torch.nn.Module):
    """Base class of every encoder. Subclasses set the attributes below in ``__init__``."""

    name: str
    sample_rate: int
    num_layers: int
    dim: int
    window_seconds: float | None = None
    #: Each layer's width when they differ (``dim`` is then the widest); None: all are ``dim``.
    layer_dims: list[int] | None = None
    #: The half precision the weights were published in, if any (``--dtype auto`` on GPU).
    checkpoint_dtype: torch.dtype | None = None
    #: Where the weights came from, for result records (``weights``: hub id or path; ``revision``).
    provenance: dict[str, Any] = {}
    #: One line on what loading did besides the obvious (e.g. tensors skipped), shown by the CLI.
    load_report: str | None = None
    #: Bump when the wrapper's numerics change, so cached embeddings are recomputed.
    wrapper_version: str = "1"
    #: Whether ``set_window(Window("trim"))`` is supported (a fixed window the encoder can shorten).
    can_trim: bool = False
    window: Window = FULL_WINDOW

    @abstractmethod
    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """``waveforms``: ``[batch, samples]`` float32, zero-padded; ``lengths``: ``[batch]``
        valid samples per clip."""

    @abstractmethod
    def fingerprint_fields(self) -> dict[str, Any]:
        """What identifies this encoder's numerics: weights identity (a content hash or a hub
        commit, never a path) and the whole configuration, including how input is fed to it."""

    def identity(self) -> dict[str, Any]:
        """Everything the fingerprint hashes: wrapper class and version plus ``fingerprint_fields``
        (recorded in every result)."""
        return {"class": type(self).__qualname__, "wrapper_version": self.wrapper_version, **self.fingerprint_fields()}

    @property
    def fingerprint(self) -> str:
        """Stable hash of ``identity()``."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True, default=str).encode()).hexdigest()

    def flops_per_clip(self, seconds: float) -> float | None:
        """Forward FLOPs to encode one clip of ``seconds`` under the current window (for MFU);
        None when unknown."""
        return None

    def set_window(self, window: Window) -> None:
        """Run the full window or trim it; trimming needs ``can_trim``."""
        if window.mode == "trim" and not self.can_trim:
            raise ConfigError(f"--window trim: encoder '{self.name}' cannot trim its input window",
                              "use --window full (trim works for Whisper-family encoders)")
        self.window = window

    def set_precision(self, dtype: torch.dtype) -> None:
        """Run the network in ``dtype`` (feature front ends keep float32)."""
        self.to(dtype)

    @property
    def widths(self) -> list[int]:
        """Each layer's width."""
        return list(self.layer_dims) if self.layer_dims else [self.dim] * self.num_layers

    @property
    def window_samples(self) -> int | None:
        return None if self.window_seconds is None else int(round(self.window_seconds * self.sample_rate))
