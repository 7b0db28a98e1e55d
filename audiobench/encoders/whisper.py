"""Whisper encoders through transformers' ``WhisperEncoder``.

``weights`` is a hub id (``openai/whisper-large-v3``) or a local directory holding either a
full Whisper checkpoint (``WhisperModel`` / ``WhisperForConditionalGeneration``) or an
encoder-only one (``WhisperEncoder``, as ``audiobench export`` writes). ``random_init`` builds
the named architecture from a config shipped in the package, with no download.

Every clip is cropped or zero-padded to Whisper's 30 s window (the encoder accepts exactly
3000 mel frames); the valid frames of a clip of ``n`` samples are ``ceil(n / 320)`` (10 ms mel
hop, then the stride-2 convolution).

Under ``--window trim`` each clip runs only its first ``ceil(frames / multiple) * multiple``
positions (``encode_trimmed``): the positional table is sliced, as whisper.cpp's ``audio_ctx``
does, and in a batch of different windows each clip's log-mel is computed on its own window,
the convolutions see zero padding past it, and attention masks the keys past it (SDPA), so a
clip's numbers do not depend on what it is batched with. A clip that fills the window gives
exactly what ``full`` gives.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder, WhisperModel

from audiobench.encoders.base import Encoder, EncoderOutput
from audiobench.encoders.checkpoints import checked_load, hub_commit, local_weights_hash
from audiobench.encoders.features import HOP_LENGTH, SAMPLE_RATE, LogMel
from audiobench.errors import ConfigError
from audiobench.flops import encoder_flops

WINDOW_SECONDS = 30.0
#: Config keys that name where a checkpoint came from, not what it computes.
CONFIG_KEYS_NOT_NUMERICS = ("_name_or_path", "transformers_version")
RANDOM_INIT_SEED = 0


def shipped_config(architecture: str) -> WhisperConfig:
    """The architecture's config from ``audiobench/encoders/configs`` (no download)."""
    path = resources.files("audiobench.encoders").joinpath(f"configs/{architecture}.json")
    return WhisperConfig(**json.loads(path.read_text()))


SAMPLES_PER_POSITION = HOP_LENGTH * 2  # 10 ms mel hop, then the stride-2 convolution


def valid_positions(lengths: torch.Tensor, max_positions: int) -> torch.Tensor:
    """Encoder positions that cover real audio, for clips of ``lengths`` samples."""
    return torch.div(lengths + SAMPLES_PER_POSITION - 1, SAMPLES_PER_POSITION,
                     rounding_mode="floor").clamp(1, max_positions)


def trimmed_windows(frame_lengths: torch.Tensor, multiple: int, max_positions: int) -> torch.Tensor:
    """Each clip's window: its valid positions rounded up to ``multiple``, at most the full window."""
    rounded = torch.div(frame_lengths + multiple - 1, multiple, rounding_mode="floor") * multiple
    return rounded.clamp(max=max_positions)


def encode_trimmed(model: WhisperEncoder, logmel: LogMel, waveforms: torch.Tensor,
                   windows: torch.Tensor) -> list[torch.Tensor]:
    """Hidden states (embeddings, then every block; the last one layer-normed, as transformers
    returns them) of a Whisper encoder run on the first ``windows[i]`` positions of each clip,
    padded to the longest window. Works for any module with Whisper's encoder layout (conv1,
    conv2, embed_positions, layers, layer_norm), such as the audio towers of Whisper-derived
    audio-LLMs. ``windows`` is on the host: the shapes never wait for the device."""
    device = waveforms.device
    longest = int(windows.max())
    dtype = model.conv1.weight.dtype
    waveforms = torch.nn.functional.pad(waveforms, (0, max(0, longest * SAMPLES_PER_POSITION - waveforms.shape[1])))
    features = waveforms.new_zeros(len(waveforms), logmel.n_mels, 2 * longest)
    for window in windows.unique().tolist():  # each clip's log-mel (and its peak) over its own window only
        rows = (windows == window).nonzero().squeeze(1).to(device, non_blocking=True)
        features[rows, :, : 2 * window] = logmel(waveforms[rows, : window * SAMPLES_PER_POSITION])
    mixed = bool((windows != longest).any())
    hidden = torch.nn.functional.gelu(model.conv1(features.to(dtype)))
    if mixed:  # conv2 must see zeros past each window, as it would running that window alone
        inside = torch.arange(2 * longest)[None, :] < 2 * windows[:, None]
        hidden = hidden * inside[:, None, :].to(device, non_blocking=True)
    hidden = torch.nn.functional.gelu(model.conv2(hidden)).permute(0, 2, 1)
    hidden = hidden + model.embed_positions.weight[:longest]
    keys = None
    if mixed:
        keys = (torch.arange(longest)[None, :] < windows[:, None])[:, None, None, :].to(device, non_blocking=True)
    states = [hidden]
    for layer in model.layers:
        hidden = layer(hidden, keys)
        states.append(hidden)
    states[-1] = model.layer_norm(hidden)
    return states


def whisper_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of a Whisper-layout encoder: what ``--compile`` compiles, since
    trimmed windows (``encode_trimmed``) call them one by one, not the model's forward."""
    return list(model.layers)


def load_whisper_encoder(weights: str) -> tuple[WhisperEncoder, dict[str, Any], dict[str, Any]]:
    """Load the encoder of a hub id or local directory. Returns it, what identifies its weights
    (fingerprinted: a content hash or a hub commit, never a path) and where they came from."""
    local = Path(weights).expanduser()
    if local.exists():
        config_file = local / "config.json"
        if not config_file.is_file():
            raise ConfigError(f"{local} has no config.json", "pass a directory written by save_pretrained "
                              "or audiobench export, or a hub id such as openai/whisper-large-v3")
        architectures = json.loads(config_file.read_text()).get("architectures") or []
        if "WhisperEncoder" in architectures:
            encoder = checked_load(WhisperEncoder, local, "")
        else:
            encoder = checked_load(WhisperModel, local, "encoder.").get_encoder()
        return encoder, {"sha256": local_weights_hash(local)}, {"weights": str(local.resolve())}
    if weights.count("/") != 1 or weights.startswith((".", "/", "~")):
        raise ConfigError(f"--weights {weights}: no such directory",
                          "pass an existing local directory or a hub id like openai/whisper-large-v3")
    encoder = checked_load(WhisperModel, weights, "encoder.").get_encoder()
    commit = hub_commit(weights)
    return encoder, {"hub_id": weights, "revision": commit}, {"weights": weights, "revision": commit}


class WhisperEncoderWrapper(Encoder):
    wrapper_version = "1"
    window_seconds = WINDOW_SECONDS
    can_trim = True

    def __init__(self, name: str, weights: str | None, random_init: bool = False,
                 architecture: str | None = None) -> None:
        super().__init__()
        if random_init:
            torch.manual_seed(RANDOM_INIT_SEED)
            self.model = WhisperEncoder(shipped_config(architecture or name))
            identity: dict[str, Any] = {"random_init": architecture or name, "seed": RANDOM_INIT_SEED}
            self.provenance = {"weights": None}
        elif weights is None:
            raise ConfigError(f"encoder '{name}' needs --weights DIR (a trained or exported checkpoint)",
                              "or pass --random-init to build it untrained")
        else:
            self.model, identity, self.provenance = load_whisper_encoder(weights)
        config = self.model.config
        self.name = name
        self.sample_rate = SAMPLE_RATE
        self.num_layers = config.encoder_layers + 1  # input embeddings + each block
        self.dim = config.d_model
        self.logmel = LogMel(config.num_mel_bins)
        self.weights_identity = identity
        self.max_frames = config.max_source_positions
        loaded = next(self.model.parameters()).dtype
        self.checkpoint_dtype = loaded if loaded in (torch.float16, torch.bfloat16) else None

    def fingerprint_fields(self) -> dict[str, Any]:
        # The whole config: any key (activation, scale_embedding, ...) may change the numbers.
        config = {k: v for k, v in self.model.config.to_dict().items() if k not in CONFIG_KEYS_NOT_NUMERICS}
        return {**self.weights_identity, "config": config, "transformers": transformers.__version__}

    def flops_per_clip(self, seconds: float) -> float:
        """Under ``full`` every clip costs the 30 s window whatever its length; under ``trim``
        the positions its trimmed window holds."""
        return sum(encoder_flops(self.model.config, self.positions_encoded(seconds)))

    def positions_encoded(self, seconds: float) -> int:
        if self.window.mode == "full":
            return self.max_frames
        frames = valid_positions(torch.tensor([round(seconds * self.sample_rate)]), self.max_frames)
        return int(trimmed_windows(frames, self.window.multiple, self.max_frames))

    def set_precision(self, dtype: torch.dtype) -> None:
        self.model.to(dtype)

    def compile_targets(self) -> list[torch.nn.Module]:
        return whisper_blocks(self.model)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        window = self.window_samples
        waveforms = waveforms[:, :window]
        frame_lengths = valid_positions(lengths.cpu().clamp(max=window), self.max_frames)
        if self.window.mode == "trim":
            windows = trimmed_windows(frame_lengths, self.window.multiple, self.max_frames)
            return EncoderOutput(encode_trimmed(self.model, self.logmel, waveforms, windows), frame_lengths, windows)
        waveforms = torch.nn.functional.pad(waveforms, (0, max(0, window - waveforms.shape[1])))
        features = self.logmel(waveforms).to(next(self.model.parameters()).dtype)
        output = self.model(features, output_hidden_states=True, return_dict=True)
        return EncoderOutput(list(output.hidden_states), frame_lengths)


def build(name: str, weights: str | None, random_init: bool = False, **kwargs: Any) -> WhisperEncoderWrapper:
    return WhisperEncoderWrapper(name, weights, random_init, **kwargs)
