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

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch

from audiobench.encoders.description import EncoderDescription
from audiobench.encoders.window import FULL_WINDOW, Window
from audiobench.errors import ConfigError


@dataclass
class EncoderOutput:
    """``hidden_states``: one ``[batch, frames, dim]`` tensor per layer, first layer first.
    ``frame_lengths``: ``[batch]`` count of leading frames that cover real audio, or one such
    tensor per layer when layers differ in frame count.
    ``window_lengths``: ``[batch]`` frames of each clip's own input window when windows were
    trimmed (frames past it are batch padding), or one such tensor per layer; None when every
    clip saw the whole window. Lengths may be on the host or on the frames' device."""

    hidden_states: list[torch.Tensor]
    frame_lengths: torch.Tensor | list[torch.Tensor]
    window_lengths: torch.Tensor | list[torch.Tensor] | None = None

    def layer_frame_lengths(self) -> list[torch.Tensor]:
        return per_layer(self.frame_lengths, len(self.hidden_states))

    def layer_window_lengths(self) -> list[torch.Tensor | None]:
        if self.window_lengths is None:
            return [None] * len(self.hidden_states)
        return per_layer(self.window_lengths, len(self.hidden_states))


def per_layer(lengths: torch.Tensor | list[torch.Tensor], layers: int) -> list[torch.Tensor]:
    return [lengths] * layers if isinstance(lengths, torch.Tensor) else list(lengths)


def pool(output: EncoderOutput, fixed_window: bool, dim: int | None = None) -> torch.Tensor:
    """``[batch, poolings, layers, dim]`` float32; layers narrower than ``dim`` (default: the
    widest) are zero-padded.

    ``masked-mean`` averages the frames that cover real audio; ``padded-mean`` averages the
    encoder's input window, whole or trimmed (for encoders without a fixed window there is no
    padding to average, so it equals ``masked-mean``). Runs on the frames' device."""
    width = dim or max(layer.shape[-1] for layer in output.hidden_states)
    pooled = []
    for layer, frame_lengths, windows in zip(output.hidden_states, output.layer_frame_lengths(),
                                             output.layer_window_lengths()):
        layer = layer.float()
        frames = layer.shape[1]
        masked = torch.einsum("bfd,bf->bd", layer, mean_weights(on(frame_lengths, layer), frames))
        if not fixed_window:
            padded = masked
        # Windows that all span the batch average like a full one (so trim on full clips equals full).
        elif windows is None or bool((windows == frames).all()):
            padded = layer.mean(dim=1)
        else:
            padded = torch.einsum("bfd,bf->bd", layer, mean_weights(on(windows, layer), frames))
        pooled.append(torch.nn.functional.pad(torch.stack([masked, padded], 1), (0, width - layer.shape[-1])))
    return torch.stack(pooled, 2)


def on(lengths: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """``lengths`` on the frames' device; from the host without waiting for the device's queue."""
    return lengths.to(frames.device, non_blocking=True)


def mean_weights(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``[batch, frames]`` weights averaging each row's first ``lengths`` frames."""
    valid = (torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]).float()
    return valid / lengths[:, None].float()


class Encoder(EncoderDescription, ABC, torch.nn.Module):
    """Base class of every encoder. Subclasses set ``EncoderDescription``'s attributes (name,
    sample rate, layers, widths, window) and those below in ``__init__``."""

    window_seconds: float | None = None
    layer_dims: list[int] | None = None
    provenance: dict[str, Any] = {}
    can_trim: bool = False
    window: Window = FULL_WINDOW
    #: The half precision the weights were published in, if any (``--dtype auto`` on GPU).
    checkpoint_dtype: torch.dtype | None = None
    #: One line on what loading did besides the obvious (e.g. tensors skipped), shown by the CLI.
    load_report: str | None = None
    #: Bump when the wrapper's numerics change, so cached embeddings are recomputed.
    wrapper_version: str = "1"

    @abstractmethod
    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """``waveforms``: ``[batch, samples]`` float32, zero-padded, on the encoder's device;
        ``lengths``: ``[batch]`` valid samples per clip, on the host (so what depends on them,
        such as trimmed window shapes, is decided without waiting for the device)."""

    @abstractmethod
    def fingerprint_fields(self) -> dict[str, Any]:
        """What identifies this encoder's numerics: weights identity (a content hash or a hub
        commit, never a path) and the whole configuration, including how input is fed to it."""

    def identity(self) -> dict[str, Any]:
        """Everything the fingerprint hashes: wrapper class and version plus ``fingerprint_fields``
        (recorded in every result)."""
        return {"class": type(self).__qualname__, "wrapper_version": self.wrapper_version, **self.fingerprint_fields()}

    def flops_per_clip(self, seconds: float) -> float | None:
        """Forward FLOPs to encode one clip of ``seconds`` under the current window (for MFU);
        None when unknown."""
        return None

    def encoded_seconds(self, seconds: torch.Tensor) -> torch.Tensor:
        """Seconds of input the network runs for clips of ``seconds`` (what a batch's size is
        measured in; all of a task's clips at once): the whole fixed window, if any, else the clip."""
        return seconds if self.window_seconds is None else torch.full_like(seconds, self.window_seconds)

    def set_precision(self, dtype: torch.dtype) -> None:
        """Run the network in ``dtype`` (feature front ends keep float32)."""
        self.to(dtype)

    def compile_targets(self) -> list[torch.nn.Module]:
        """The modules ``--compile`` hands to ``torch.compile`` (default: the wrapped
        transformers model, ``self.model``; none when there is no network)."""
        model = getattr(self, "model", None)
        return [model] if isinstance(model, torch.nn.Module) else []

    def compile_network(self) -> None:
        """Compile ``compile_targets`` in place (the first batches of each new shape compile;
        later ones run fused kernels). Rounding may differ from eager as with another batch size,
        so compiled and eager runs share the cache."""
        targets = self.compile_targets()
        if not targets:
            raise ConfigError(f"--compile: encoder '{self.name}' has no network to compile", "drop --compile")
        for module in targets:
            module.compile()
