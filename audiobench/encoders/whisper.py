"""Whisper encoders through transformers' ``WhisperEncoder``.

``weights`` is a hub id (``openai/whisper-large-v3``) or a local directory holding either a
full Whisper checkpoint (``WhisperModel`` / ``WhisperForConditionalGeneration``) or an
encoder-only one (``WhisperEncoder``, as ``audiobench export`` writes). ``random_init`` builds
the named architecture from a config shipped in the package, with no download.

Every clip is cropped or zero-padded to Whisper's 30 s window (the encoder accepts exactly
3000 mel frames); the valid frames of a clip of ``n`` samples are ``ceil(n / 320)`` (10 ms mel
hop, then the stride-2 convolution).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder, WhisperModel

from audiobench.encoders.base import Encoder, EncoderOutput
from audiobench.encoders.features import HOP_LENGTH, SAMPLE_RATE, LogMel
from audiobench.errors import ConfigError
from audiobench.training.flops import encoder_flops

WINDOW_SECONDS = 30.0
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def shipped_config(architecture: str) -> WhisperConfig:
    """The architecture's config from ``audiobench/encoders/configs`` (no download)."""
    path = resources.files("audiobench.encoders").joinpath(f"configs/{architecture}.json")
    return WhisperConfig(**json.loads(path.read_text()))


def local_weights_hash(directory: Path) -> str:
    """sha256 over the weight files of a local checkpoint (names and contents)."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise ConfigError(f"no weight files (*.safetensors, *.bin) in {directory}",
                          "pass a directory written by save_pretrained or audiobench export")
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()


def load_whisper_encoder(weights: str, revision: str | None = None) -> tuple[WhisperEncoder, dict[str, Any]]:
    """Load the encoder of a hub id or local directory; returns it and its weights identity."""
    local = Path(weights).expanduser()
    if local.exists():
        config_file = local / "config.json"
        if not config_file.is_file():
            raise ConfigError(f"{local} has no config.json", "pass a directory written by save_pretrained "
                              "or audiobench export, or a hub id such as openai/whisper-large-v3")
        architectures = json.loads(config_file.read_text()).get("architectures") or []
        if "WhisperEncoder" in architectures:
            encoder = WhisperEncoder.from_pretrained(local)
        else:
            encoder = WhisperModel.from_pretrained(local).get_encoder()
        return encoder, {"weights": str(local.resolve()), "sha256": local_weights_hash(local)}
    if weights.count("/") != 1 or weights.startswith((".", "/", "~")):
        raise ConfigError(f"--weights {weights}: no such directory",
                          "pass an existing local directory or a hub id like openai/whisper-large-v3")
    model = WhisperModel.from_pretrained(weights, revision=revision)
    commit = getattr(model.config, "_commit_hash", None) or revision or "unknown"
    return model.get_encoder(), {"weights": weights, "revision": commit}


class WhisperEncoderWrapper(Encoder):
    wrapper_version = "1"
    window_seconds = WINDOW_SECONDS

    def __init__(self, name: str, weights: str | None, random_init: bool = False,
                 architecture: str | None = None, revision: str | None = None, seed: int = 0) -> None:
        super().__init__()
        if random_init:
            config = shipped_config(architecture or name)
            torch.manual_seed(seed)
            self.model = WhisperEncoder(config)
            identity: dict[str, Any] = {"random_init": architecture or name, "seed": seed}
        elif weights is None:
            raise ConfigError(f"encoder '{name}' needs --weights DIR (a trained or exported checkpoint)",
                              "or pass --random-init to build it untrained")
        else:
            self.model, identity = load_whisper_encoder(weights, revision)
        config = self.model.config
        self.name = name
        self.sample_rate = SAMPLE_RATE
        self.num_layers = config.encoder_layers + 1  # input embeddings + each block
        self.dim = config.d_model
        self.logmel = LogMel(config.num_mel_bins)
        self.weights_identity = identity
        self.max_frames = config.max_source_positions

    def fingerprint_fields(self) -> dict[str, Any]:
        config = self.model.config.to_dict()
        architecture = {k: config[k] for k in ("d_model", "encoder_layers", "encoder_attention_heads",
                                                 "encoder_ffn_dim", "num_mel_bins", "max_source_positions")}
        return {**self.weights_identity, **architecture, "transformers": transformers.__version__}

    def flops_per_clip(self, seconds: float) -> float:
        """Every clip costs the full 30 s window, whatever its length."""
        return sum(encoder_flops(self.model.config))

    def set_precision(self, dtype: torch.dtype) -> None:
        self.model.to(dtype)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        window = self.window_samples
        waveforms = torch.nn.functional.pad(waveforms[:, :window], (0, max(0, window - waveforms.shape[1])))
        features = self.logmel(waveforms).to(next(self.model.parameters()).dtype)
        output = self.model(features, output_hidden_states=True, return_dict=True)
        samples_per_frame = HOP_LENGTH * 2
        frame_lengths = torch.div(lengths.clamp(max=window) + samples_per_frame - 1, samples_per_frame,
                                  rounding_mode="floor").clamp(1, self.max_frames)
        return EncoderOutput(list(output.hidden_states), frame_lengths)


def build(name: str, weights: str | None, random_init: bool = False, **kwargs: Any) -> WhisperEncoderWrapper:
    return WhisperEncoderWrapper(name, weights, random_init, **kwargs)
