"""Encoder registry. Built-ins are described here as data; their code is imported on use.

Third-party packages register an ``EncoderSpec`` under the entry-point group
``audiobench.encoders``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audiobench.encoders.spec import EncoderSpec
from audiobench.registry import Registry

if TYPE_CHECKING:
    from audiobench.encoders.base import Encoder, EncoderOutput, Window

ENCODERS: Registry[EncoderSpec] = Registry("encoder", entry_point_group="audiobench.encoders")

ENCODERS.register("logmel", EncoderSpec(
    name="logmel", builder="audiobench.encoders.logmel:LogMelStatistics",
    description="128-bin log-mel mean and mean square (no weights)", parameters="0"))

_WHISPER = {
    "whisper-tiny": ("openai/whisper-tiny", "8M"),
    "whisper-base": ("openai/whisper-base", "20M"),
    "whisper-small": ("openai/whisper-small", "88M"),
    "whisper-medium": ("openai/whisper-medium", "307M"),
    "whisper-large-v3": ("openai/whisper-large-v3", "635M"),
    "whisper-large-v3-turbo": ("openai/whisper-large-v3-turbo", "635M"),
}
for _name, (_hub_id, _params) in _WHISPER.items():
    ENCODERS.register(_name, EncoderSpec(
        name=_name, builder="audiobench.encoders.whisper:build", default_weights=_hub_id,
        description=f"Whisper encoder ({_hub_id})", parameters=_params))

ENCODERS.register("whisper-micro", EncoderSpec(
    name="whisper-micro", builder="audiobench.encoders.whisper:build",
    description="a 2-layer, 128-wide Whisper for demos and tests (use with --random-init)",
    parameters="0.6M"))

ENCODERS.register("whisper-aut", EncoderSpec(
    name="whisper-aut", builder="audiobench.encoders.whisper:build",
    kwargs={"architecture": "whisper-large-v3"},
    description="Whisper-AuT: large-v3 fine-tuned by `audiobench train` (--weights DIR)",
    parameters="635M"))


def build_encoder(name: str, weights: str | None = None, random_init: bool = False,
                  window: "Window | None" = None) -> "Encoder":
    """Build a registered encoder; ``window`` trims its fixed window (see ``Encoder.set_window``)."""
    encoder = ENCODERS.get(name).build(weights=weights, random_init=random_init)
    if window is not None:
        encoder.set_window(window)
    return encoder


def __getattr__(name: str) -> object:
    """``Encoder`` and ``EncoderOutput`` import torch: loaded on first use, not with the registry."""
    if name in ("Encoder", "EncoderOutput", "Window", "pool"):
        from audiobench.encoders import base
        return getattr(base, name)
    raise AttributeError(f"module 'audiobench.encoders' has no attribute '{name}'")


__all__ = ["ENCODERS", "Encoder", "EncoderOutput", "EncoderSpec", "Window", "build_encoder", "pool"]
