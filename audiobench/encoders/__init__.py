"""Encoder registry. Built-ins are described here as data; their code is imported on use.

Third-party packages register an ``EncoderSpec`` under the entry-point group
``audiobench.encoders``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audiobench.encoders.spec import EncoderSpec
from audiobench.encoders.window import Window
from audiobench.registry import Registry

if TYPE_CHECKING:
    from audiobench.encoders.base import Encoder, EncoderOutput

ENCODERS: Registry[EncoderSpec] = Registry("encoder", entry_point_group="audiobench.encoders", expected=EncoderSpec)

ENCODERS.register("logmel", EncoderSpec(
    name="logmel", builder="audiobench.encoders.logmel:LogMelStatistics",
    description="128-bin log-mel mean and mean square (no weights)", parameters="0",
    family="log-mel", sample_rate=16_000, layers="1", width="256"))

WHISPER = "audiobench.encoders.whisper:build"
_WHISPER = {  # name: (hub id, parameters, layers incl. input embeddings, width)
    "whisper-tiny": ("openai/whisper-tiny", "8M", 5, 384),
    "whisper-base": ("openai/whisper-base", "20M", 7, 512),
    "whisper-small": ("openai/whisper-small", "88M", 13, 768),
    "whisper-medium": ("openai/whisper-medium", "307M", 25, 1024),
    "whisper-large-v3": ("openai/whisper-large-v3", "635M", 33, 1280),
    "whisper-large-v3-turbo": ("openai/whisper-large-v3-turbo", "635M", 33, 1280),
}
for _name, (_hub_id, _params, _layers, _width) in _WHISPER.items():
    ENCODERS.register(_name, EncoderSpec(
        name=_name, builder=WHISPER, default_weights=_hub_id, description=f"Whisper encoder ({_hub_id})",
        parameters=_params, family="Whisper", window_seconds=30.0, sample_rate=16_000, layers=str(_layers),
        width=str(_width)))

ENCODERS.register("whisper-micro", EncoderSpec(
    name="whisper-micro", builder=WHISPER,
    description="a 2-layer, 128-wide Whisper for demos and tests (use with --random-init)",
    parameters="0.6M", family="Whisper", window_seconds=30.0, sample_rate=16_000, layers="3", width="128"))

ENCODERS.register("whisper-aut", EncoderSpec(
    name="whisper-aut", builder=WHISPER,
    kwargs={"architecture": "whisper-large-v3"},
    description="Whisper-AuT: large-v3 fine-tuned by `audiobench train` (--weights DIR)",
    parameters="635M", family="Whisper", window_seconds=30.0, sample_rate=16_000, layers="33", width="1280"))

HF = "audiobench.encoders.hf:build"
ENCODERS.register("hf", EncoderSpec(
    name="hf", builder=HF, remote_code=True,
    description="any transformers audio model of a known family: --weights HUB_ID_OR_DIR (family from config.json)",
    family="from config.json"))

# Hub checkpoints, pinned. "main" where no commit could be verified offline (see README).
_FAMILIES = {  # family: (micro config, window s, sample rate)
    "wav2vec2": ("wav2vec2", None, 16_000), "HuBERT": ("hubert", None, 16_000), "WavLM": ("wavlm", None, 16_000),
    "data2vec-audio": ("data2vec-audio", None, 16_000), "AST": ("ast", 10.24, 16_000),
    "CLAP (HTS-AT)": ("clap", 10.0, 48_000), "PE audio": ("pe-audio", None, 48_000),
    "Qwen2-Audio tower": ("qwen2-audio", 30.0, 16_000),
    "Voxtral tower": ("voxtral", 30.0, 16_000), "AF-Whisper (Audio Flamingo 3)": ("af-whisper", 30.0, 16_000),
}
_HF_ENTRIES = {  # name: (family, hub id, revision, parameters, layers, width)
    "wav2vec2-base": ("wav2vec2", "facebook/wav2vec2-base", "main", "95M", "13", "768"),
    "wav2vec2-large-lv60": ("wav2vec2", "facebook/wav2vec2-large-lv60", "main", "317M", "25", "1024"),
    "hubert-base": ("HuBERT", "facebook/hubert-base-ls960", "main", "95M", "13", "768"),
    "hubert-large": ("HuBERT", "facebook/hubert-large-ll60k", "main", "316M", "25", "1024"),
    "wavlm-base-plus": ("WavLM", "microsoft/wavlm-base-plus", "main", "95M", "13", "768"),
    "wavlm-large": ("WavLM", "microsoft/wavlm-large", "main", "316M", "25", "1024"),
    "data2vec-audio-base": ("data2vec-audio", "facebook/data2vec-audio-base", "main", "94M", "13", "768"),
    "ast-audioset": ("AST", "MIT/ast-finetuned-audioset-10-10-0.4593", "main", "86M", "13", "768"),
    "clap-htsat": ("CLAP (HTS-AT)", "laion/clap-htsat-unfused", "main", "28M (audio tower)", "5", "96-768"),
    "clap-larger-general": ("CLAP (HTS-AT)", "laion/larger_clap_general", "main", "87M (audio tower)", "5",
                            "128-1024"),
    "pe-audio": ("PE audio", "facebook/pe-a-frame-base", "main", "", "", ""),
    "qwen2-audio": ("Qwen2-Audio tower", "Qwen/Qwen2-Audio-7B", "main", "0.64B of 8.4B", "33", "1280"),
    "voxtral-mini": ("Voxtral tower", "mistralai/Voxtral-Mini-3B-2507", "main", "0.64B of 4.7B", "33", "1280"),
    "af-whisper": ("AF-Whisper (Audio Flamingo 3)", "nvidia/audio-flamingo-3-hf", "main", "0.64B of 8.3B", "33",
                   "1280"),
}
for _name, (_family, _hub_id, _revision, _params, _layers, _width) in _HF_ENTRIES.items():
    _, _window, _rate = _FAMILIES[_family]
    ENCODERS.register(_name, EncoderSpec(
        name=_name, builder=HF, default_weights=_hub_id, kwargs={"revision": _revision},
        description=f"{_family} ({_hub_id}@{_revision})", parameters=_params, family=_family,
        window_seconds=_window, sample_rate=_rate, layers=_layers, width=_width))
_MICRO_WINDOWS = {"ast": 2.575, "clap": 2.0, "qwen2-audio": 2.0, "voxtral": 2.0, "af-whisper": 2.0}
for _family, (_micro, _, _) in _FAMILIES.items():
    ENCODERS.register(f"{_micro}-micro", EncoderSpec(
        name=f"{_micro}-micro", builder=HF, kwargs={"micro": _micro},
        description=f"a 2-layer, 32-wide {_family} for demos and tests (use with --random-init)",
        parameters="<0.2M", family=_family, window_seconds=_MICRO_WINDOWS.get(_micro), sample_rate=16_000,
        layers="3", width="16-32" if _micro == "clap" else "32"))


def build_encoder(name: str, weights: str | None = None, random_init: bool = False,
                  window: Window | None = None, trust_remote_code: bool = False) -> "Encoder":
    """Build a registered encoder; ``window`` trims its fixed window (see ``Encoder.set_window``);
    ``trust_remote_code`` lets ``hf`` run model code shipped with a checkpoint."""
    encoder = ENCODERS.get(name).build(weights=weights, random_init=random_init, trust_remote_code=trust_remote_code)
    if window is not None:
        encoder.set_window(window)
    return encoder


def __getattr__(name: str) -> object:
    """``Encoder``, ``EncoderOutput`` and ``pool`` import torch: loaded on first use, not with the registry."""
    if name in ("Encoder", "EncoderOutput", "pool"):
        from audiobench.encoders import base
        return getattr(base, name)
    raise AttributeError(f"module 'audiobench.encoders' has no attribute '{name}'")


__all__ = ["ENCODERS", "Encoder", "EncoderOutput", "EncoderSpec", "Window", "build_encoder", "pool"]
