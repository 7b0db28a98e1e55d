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
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import WhisperConfig
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.whisper.modeling_whisper import WhisperEncoder, WhisperModel

from audiobench.encoders.base import Encoder, EncoderOutput
from audiobench.encoders.checkpoints import checked_load, hub_commit, local_weights_hash
from audiobench.encoders.features import HOP_LENGTH, SAMPLE_RATE, LogMel
from audiobench.encoders.window import Window
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


def encode_trimmed(model: torch.nn.Module, logmel: LogMel, waveforms: torch.Tensor, windows: torch.Tensor,
                   key_lengths: torch.Tensor | None = None,
                   tail: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Hidden states (embeddings, then every block; the last one through ``tail``, by default
    the final layer norm, as transformers returns them) of a module with Whisper's encoder
    layout (conv1, conv2, embed_positions, layers, layer_norm: Whisper's and the audio towers of
    Whisper-derived audio-LLMs) run on the first ``windows[i]`` positions of each clip, padded
    to the longest window. Attention sees the first ``key_lengths[i]`` positions of each clip
    (default: its window; towers whose own forward masks padding pass the valid positions).
    ``windows`` and ``key_lengths`` are on the host: the shapes never wait for the device."""
    device = waveforms.device
    longest = int(windows.max())
    keys_span = windows if key_lengths is None else key_lengths
    dtype = model.conv1.weight.dtype
    waveforms = torch.nn.functional.pad(waveforms, (0, max(0, longest * SAMPLES_PER_POSITION - waveforms.shape[1])))
    features = waveforms.new_zeros(len(waveforms), logmel.n_mels, 2 * longest)
    for window in windows.unique().tolist():  # each clip's log-mel (and its peak) over its own window only
        rows = (windows == window).nonzero().squeeze(1).to(device, non_blocking=True)
        features[rows, :, : 2 * window] = logmel(waveforms[rows, : window * SAMPLES_PER_POSITION])
    hidden = torch.nn.functional.gelu(model.conv1(features.to(dtype)))
    if bool((windows != longest).any()):  # conv2 must see zeros past each window, as it would running it alone
        inside = torch.arange(2 * longest)[None, :] < 2 * windows[:, None]
        hidden = hidden * inside[:, None, :].to(device, non_blocking=True)
    hidden = torch.nn.functional.gelu(model.conv2(hidden)).permute(0, 2, 1)
    hidden = (hidden + model.embed_positions.weight[:longest]).to(hidden.dtype)
    keys = None
    if bool((keys_span != longest).any()):  # in the format the model's attention implementation takes
        seen = (torch.arange(longest)[None, :] < keys_span[:, None]).to(device, non_blocking=True)
        keys = create_bidirectional_mask(config=model.config, inputs_embeds=hidden, attention_mask=seen,
                                         allow_is_bidirectional_skip=False)
    states = [hidden]
    for layer in model.layers:
        hidden = layer(hidden, keys)
        states.append(hidden)
    states[-1] = tail(hidden) if tail else model.layer_norm(hidden)
    return states


class WhisperLayout:
    """What every encoder with Whisper's encoder layout shares: a 30 s-style fixed window of
    ``max_frames`` positions (20 ms each) that ``--window trim`` shortens, FLOPs counted for the
    positions encoded, and per-block compilation. Subclasses set ``model``, ``logmel``,
    ``max_frames``, ``sample_rate`` and ``window`` (``Encoder`` provides the last)."""

    can_trim = True
    model: torch.nn.Module
    logmel: LogMel
    max_frames: int
    sample_rate: int
    window: Window

    def positions_encoded(self, seconds: torch.Tensor) -> torch.Tensor:
        """Positions the network runs for clips of ``seconds``: the whole window, or each trimmed one."""
        if self.window.mode == "full":
            return torch.full(seconds.shape, self.max_frames)
        return self.trimmed(valid_positions(torch.round(seconds * self.sample_rate).long(), self.max_frames))

    def encoded_seconds(self, seconds: torch.Tensor) -> torch.Tensor:
        return self.positions_encoded(seconds) * SAMPLES_PER_POSITION / self.sample_rate

    def flops_per_clip(self, seconds: float) -> float:
        """Under ``full`` every clip costs the whole window whatever its length; under ``trim``
        the positions its trimmed window holds."""
        return sum(encoder_flops(self.model.config, int(self.positions_encoded(torch.tensor([seconds]))[0])))

    def compile_targets(self) -> list[torch.nn.Module]:
        # The blocks, not the model: trimmed windows (encode_trimmed) call them one by one.
        return list(self.model.layers)

    def windowed(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The waveforms cropped to the window and each clip's valid positions (on the host)."""
        window = self.max_frames * SAMPLES_PER_POSITION
        return waveforms[:, :window], valid_positions(lengths.cpu().clamp(max=window), self.max_frames)

    def trimmed(self, frame_lengths: torch.Tensor) -> torch.Tensor:
        """Each clip's trimmed window, in positions."""
        return trimmed_windows(frame_lengths, self.window.multiple, self.max_frames)

    def full_window_features(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The log-mel of the whole window (clips zero-padded to it), in the model's precision."""
        window = self.max_frames * SAMPLES_PER_POSITION
        waveforms = torch.nn.functional.pad(waveforms, (0, max(0, window - waveforms.shape[1])))
        return self.logmel(waveforms).to(self.model.conv1.weight.dtype)


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


class WhisperEncoderWrapper(WhisperLayout, Encoder):
    wrapper_version = "1"
    window_seconds = WINDOW_SECONDS

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

    def set_precision(self, dtype: torch.dtype) -> None:
        self.model.to(dtype)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        waveforms, frame_lengths = self.windowed(waveforms, lengths)
        if self.window.mode == "trim":
            windows = self.trimmed(frame_lengths)
            return EncoderOutput(encode_trimmed(self.model, self.logmel, waveforms, windows), frame_lengths, windows)
        output = self.model(self.full_window_features(waveforms), output_hidden_states=True, return_dict=True)
        return EncoderOutput(list(output.hidden_states), frame_lengths)


def build(name: str, weights: str | None, random_init: bool = False, **kwargs: Any) -> WhisperEncoderWrapper:
    return WhisperEncoderWrapper(name, weights, random_init, **kwargs)
