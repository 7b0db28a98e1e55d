"""Transformers audio models as encoders: ``--encoder hf --weights HUB_ID_OR_DIR``.

The family comes from the checkpoint's ``config.json`` (``model_type``); each family is fed
the way its model card feeds it: the checkpoint's own feature extractor (sampling rate,
normalisation, mel bins), the model called on what it returns, every layer's hidden states
(transformers' ``output_hidden_states``), and the valid frames of each clip from the family's
own length rule. Audio-LLM checkpoints (Qwen2-Audio, Voxtral, Audio Flamingo 3) load only the
audio tower's tensors from their shards (see ``towers.py``).

Families and what "frames" are (masked-mean averages the valid ones; padded-mean the window):

- speech SSL (wav2vec2, HuBERT, WavLM, data2vec-audio): no window; each clip normalised on its
  own (``do_normalize``), zero-padded to the batch; the attention mask is passed only where the
  feature extractor returns one (``feat_extract_norm="layer"`` checkpoints); valid frames by
  ``_get_feat_extract_output_lengths`` (the conv strides, 20 ms).
- AST: 10.24 s window (1024 Kaldi fbank frames); frames are the patch tokens in time-major order
  (the two special tokens are left out); a patch is valid when its first fbank frame lies in
  the clip.
- CLAP (HTS-AT): 10 s window; short clips are repeated to fill it (``repeatpad``, as the feature
  extractor does); frames are each stage's tokens in time-major order; a token is valid when it
  starts inside the clip's first copy. Stages differ in width and token count.
- PE audio: no window; a CLS token (left out) then one token per 40 ms codec hop; valid: the
  hops that start inside the clip (the encoder's own ``output_mask``).
- Whisper-derived towers: 30 s window, 20 ms frames, ``ceil(samples / 320)`` valid; Qwen2-Audio
  and AF3 mask padded frames in attention as their LLMs do, and their last hidden state (after
  the stride-2 average pool and layer norm) has 40 ms frames. Their log-mel is Whisper's,
  computed in torch on the device with the checkpoint's mel filters (``features.LogMel``), and
  ``--window trim`` shortens their window as it does Whisper's.

One module (about 460 lines) on purpose: every family shares the checkpoint resolution, the
feature-extractor call and the pooling contract; what differs per family is a few lines each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import transformers
from huggingface_hub import hf_hub_download
from transformers import AutoConfig, AutoFeatureExtractor

from audiobench.encoders.base import Encoder, EncoderOutput
from audiobench.encoders.checkpoints import checked_load, first_line, hub_commit, local_weights_hash
from audiobench.encoders.features import HOP_LENGTH, N_FFT, SAMPLE_RATE, LogMel
from audiobench.encoders.whisper import SAMPLES_PER_POSITION, WhisperLayout, encode_trimmed
from audiobench.errors import ConfigError

if TYPE_CHECKING:
    from audiobench.encoders.towers import TowerLoad

RANDOM_INIT_SEED = 0
AUDIO_LLMS = ("qwen2_audio", "voxtral", "audioflamingo3")


@dataclass
class Checkpoint:
    """A resolved ``--weights``: where to load from and what identifies it."""

    source: str
    config: dict[str, Any]
    revision: str | None
    local: Path | None

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))

    def file(self, name: str) -> Path:
        if self.local is not None:
            return self.local / name
        return Path(hf_hub_download(self.source, name, revision=self.revision))

    def has_file(self, name: str) -> bool:
        if self.local is not None:
            return (self.local / name).is_file()
        try:
            self.file(name)
        except Exception:  # absent from the repo: the caller tries the next candidate
            return False
        return True

    def identity(self) -> dict[str, Any]:
        if self.local is not None:
            return {"sha256": local_weights_hash(self.local)}
        return {"hub_id": self.source, "revision": hub_commit(self.source, self.revision)}

    def provenance(self) -> dict[str, Any]:
        if self.local is not None:
            return {"weights": str(self.local.resolve())}
        return {"weights": self.source, "revision": hub_commit(self.source, self.revision)}


def resolve_checkpoint(weights: str, revision: str | None = None) -> Checkpoint:
    """A local directory, or a hub id whose ``config.json`` is fetched (or found in the cache)."""
    local = Path(weights).expanduser()
    if local.exists():
        config_file = local / "config.json"
        if not config_file.is_file():
            raise ConfigError(f"{local} has no config.json", "pass a directory written by save_pretrained")
        return Checkpoint(weights, json.loads(config_file.read_text()), None, local)
    if weights.count("/") != 1 or weights.startswith((".", "/", "~")):
        raise ConfigError(f"--weights {weights}: no such directory",
                          "pass an existing local directory or a hub id like facebook/wav2vec2-base")
    try:
        config_file = hf_hub_download(weights, "config.json", revision=revision)
    except Exception as err:  # offline, unknown repo, gated: all user-facing
        raise ConfigError(f"--weights {weights}: cannot fetch config.json from the Hugging Face hub, offline or "
                          f"unreachable ({first_line(err)})",
                          f"on a machine with access run `hf download {weights} --local-dir DIR`, "
                          "copy DIR here and pass --weights DIR") from err
    return Checkpoint(weights, json.loads(Path(config_file).read_text()), revision, None)


def family_of(model_type: str) -> type[HFEncoder]:
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    supported = ", ".join(t for family in FAMILIES for t in family.model_types)
    raise ConfigError(f"model_type '{model_type or '(none)'}' is not an audio model family audiobench knows",
                      f"supported model_type values: {supported}")


def micro_directory(entry: str) -> Path:
    """The shipped tiny config (``config.json`` + ``preprocessor_config.json``) of a family."""
    return Path(str(resources.files("audiobench.encoders").joinpath(f"configs/micro/{entry}")))


class HFEncoder(Encoder):
    """Common part of every transformers family: loading, identity, feature extraction input."""

    model_types: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = ""
    wrapper_version = "1"
    tower_load: TowerLoad | None = None

    def __init__(self, name: str, checkpoint: Checkpoint | None, random_init: bool, trust_remote_code: bool = False,
                 micro: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.trust_remote_code = trust_remote_code
        source = micro_directory(micro) if random_init and micro else checkpoint.local or checkpoint.source
        revision = None if random_init or checkpoint is None else checkpoint.revision
        self.feature_extractor = self.load_feature_extractor(source, revision)
        if random_init:
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
            torch.manual_seed(RANDOM_INIT_SEED)
            self.model = self.random_model(config)
            self.weights_identity: dict[str, Any] = {"random_init": micro or name, "seed": RANDOM_INIT_SEED}
            self.provenance = {"weights": None}
        else:
            self.model = self.load_model(checkpoint)
            self.weights_identity = self.checkpoint_identity(checkpoint)
            self.provenance = checkpoint.provenance()
        self.model.eval()
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        loaded = next(self.model.parameters()).dtype
        self.checkpoint_dtype = loaded if loaded in (torch.float16, torch.bfloat16) else None
        self.describe()

    # -- what each family provides -------------------------------------------------------------
    def load_feature_extractor(self, source: Path | str, revision: str | None) -> Any:
        try:
            return AutoFeatureExtractor.from_pretrained(source, revision=revision,
                                                        trust_remote_code=self.trust_remote_code)
        except Exception as err:  # no preprocessor_config.json, unreachable hub
            raise ConfigError(f"--weights {source}: cannot load its feature extractor ({first_line(err)})",
                              "the directory needs the preprocessor_config.json published with the model") from err

    def random_model(self, config: Any) -> torch.nn.Module:
        return transformers.AutoModel.from_config(config, trust_remote_code=self.trust_remote_code)

    def load_model(self, checkpoint: Checkpoint) -> torch.nn.Module:
        """The base model (no task head), e.g. ``Wav2Vec2Model`` from a ``Wav2Vec2ForCTC`` checkpoint."""
        return checked_load(transformers.AutoModel, checkpoint.local or checkpoint.source, "",
                            revision=checkpoint.revision, trust_remote_code=self.trust_remote_code)

    def checkpoint_identity(self, checkpoint: Checkpoint) -> dict[str, Any]:
        """A local tower read from a bigger checkpoint is identified by its own tensors only."""
        if checkpoint.local is not None and self.tower_load is not None:
            return {"sha256": self.tower_load.sha256}
        return checkpoint.identity()

    def tower_config(self, config: Any) -> Any:
        return getattr(config, "audio_config", config)

    def describe(self) -> None:
        """Set ``num_layers``, ``dim`` (and ``layer_dims``, ``window_seconds``) from the config."""
        config = self.model.config
        self.num_layers = config.num_hidden_layers + 1
        self.dim = config.hidden_size

    def encode(self, clips: list[np.ndarray], lengths: torch.Tensor, device: torch.device) -> EncoderOutput:
        raise NotImplementedError

    # -- the contract ----------------------------------------------------------------------------
    def fingerprint_fields(self) -> dict[str, Any]:
        return {**self.weights_identity, "config": self.model.config.to_dict(),
                "feature_extractor": self.feature_extractor.to_dict(), "transformers": transformers.__version__}

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        window = self.window_samples
        lengths = lengths.clamp(max=window) if window else lengths
        clips = [waveforms[i, : int(n)].float().cpu().numpy() for i, n in enumerate(lengths)]
        return self.encode(clips, lengths.cpu(), waveforms.device)

    def to_model(self, tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
        """A float feature tensor on the model's device and in its precision."""
        return tensor.to(device=device, dtype=next(self.model.parameters()).dtype)


class SpeechSSL(HFEncoder):
    model_types = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
    family = "speech SSL"

    def encode(self, clips: list[np.ndarray], lengths: torch.Tensor, device: torch.device) -> EncoderOutput:
        extractor = self.feature_extractor
        # One clip per call, as the model card does: normalisation never sees batch padding.
        values = [extractor(clip, sampling_rate=self.sample_rate, return_tensors="pt").input_values[0]
                  for clip in clips]
        batch = torch.nn.utils.rnn.pad_sequence(values, batch_first=True, padding_value=extractor.padding_value)
        kwargs = {}
        if extractor.return_attention_mask:
            kwargs["attention_mask"] = (torch.arange(batch.shape[1])[None, :] < lengths[:, None]).long().to(device)
        output = self.model(self.to_model(batch, device), output_hidden_states=True, **kwargs)
        frames = output.hidden_states[0].shape[1]
        valid = self.model._get_feat_extract_output_lengths(lengths).clamp(1, frames)
        return EncoderOutput(list(output.hidden_states), valid.to(device))


def time_major(hidden: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Tokens ``[batch, tokens, dim]`` reordered by the time (then position) they start at."""
    order = torch.argsort(starts * (len(starts) + 1) + torch.arange(len(starts)), stable=True)
    return hidden[:, order.to(hidden.device)]


class AudioSpectrogramTransformer(HFEncoder):
    model_types = ("audio-spectrogram-transformer",)
    family = "AST"

    def describe(self) -> None:
        super().describe()
        config, extractor = self.model.config, self.feature_extractor
        hop = extractor.sampling_rate // 100  # Kaldi fbank: 10 ms shift, 25 ms frames
        self.window_seconds = (config.max_length - 1) * hop / extractor.sampling_rate + 0.025
        self.freq_patches = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
        self.time_patches = (config.max_length - config.patch_size) // config.time_stride + 1

    def encode(self, clips: list[np.ndarray], lengths: torch.Tensor, device: torch.device) -> EncoderOutput:
        config, extractor = self.model.config, self.feature_extractor
        inputs = extractor(clips, sampling_rate=self.sample_rate, return_tensors="pt")
        output = self.model(self.to_model(inputs.input_values, device), output_hidden_states=True)
        # Patch tokens follow the two special tokens, frequency-major: index f * time_patches + t.
        starts = torch.arange(self.time_patches).repeat(self.freq_patches) * config.time_stride
        hidden = [time_major(layer[:, 2:], starts) for layer in output.hidden_states]
        window, shift = int(0.025 * self.sample_rate), self.sample_rate // 100
        fbank_frames = torch.div(lengths - window, shift, rounding_mode="floor") + 1
        columns = torch.div(fbank_frames.clamp(min=1) + config.time_stride - 1, config.time_stride,
                            rounding_mode="floor")
        valid = columns.clamp(1, self.time_patches) * self.freq_patches
        return EncoderOutput(hidden, valid.to(device))


class ClapAudio(HFEncoder):
    model_types = ("clap", "clap_audio_model")
    family = "CLAP (HTS-AT)"

    def load_model(self, checkpoint: Checkpoint) -> torch.nn.Module:
        """Only the audio tower (``ClapAudioModel``): from a ``ClapModel`` checkpoint its
        ``audio_model.*`` tensors, the text tower never read."""
        if checkpoint.model_type == "clap_audio_model":
            return checked_load(transformers.ClapAudioModel, checkpoint.local or checkpoint.source, "",
                                revision=checkpoint.revision)
        return load_tower_of(self, checkpoint, "audio_model.")

    def random_model(self, config: Any) -> torch.nn.Module:
        return transformers.ClapAudioModel(self.tower_config(config))

    def describe(self) -> None:
        config = self.model.config
        stages = len(config.depths)
        self.layer_dims = [config.patch_embeds_hidden_size] + [
            config.patch_embeds_hidden_size * 2 ** min(i + 1, stages - 1) for i in range(stages)]
        self.num_layers, self.dim = len(self.layer_dims), max(self.layer_dims)
        self.window_seconds = float(self.feature_extractor.nb_max_samples) / self.feature_extractor.sampling_rate

    def token_starts(self, grid: int, mel_frames: int) -> torch.Tensor:
        """The mel frame each token of a ``grid x grid`` stage starts at.

        HTS-AT stretches the mel frames to ``spec_size * freq_ratio`` image columns and folds
        them into ``freq_ratio`` bands stacked along the image's height: row ``r`` of band
        ``r // (grid / freq_ratio)`` and column ``c`` start at column ``band * spec_size + c *
        spec_size / grid`` of the stretched time axis."""
        config = self.model.config
        ratio = config.spec_size // config.num_mel_bins
        rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
        column = (rows // max(1, grid // ratio)) * config.spec_size + cols * (config.spec_size // grid)
        width = config.spec_size * ratio
        scale = (mel_frames - 1) / (width - 1) if mel_frames < width else 1.0  # bicubic, align_corners
        return torch.floor(column.flatten().double() * scale).long()

    def encode(self, clips: list[np.ndarray], lengths: torch.Tensor, device: torch.device) -> EncoderOutput:
        extractor = self.feature_extractor
        inputs = extractor(clips, sampling_rate=self.sample_rate, return_tensors="pt")
        kwargs = {"is_longer": inputs["is_longer"].to(device)} if "is_longer" in inputs else {}
        features = self.to_model(inputs.input_features, device)
        output = self.model(features, output_hidden_states=True, **kwargs)
        mel_frames = features.shape[-2]
        first_copy = torch.div(lengths + extractor.hop_length - 1, extractor.hop_length, rounding_mode="floor")
        hidden, valid = [], []
        for layer in output.hidden_states:  # [batch, dim, grid, grid]
            grid = layer.shape[-1]
            starts = self.token_starts(grid, mel_frames)
            hidden.append(time_major(layer.flatten(2).transpose(1, 2), starts))
            valid.append((torch.sort(starts).values[None, :] < first_copy[:, None]).sum(1).clamp(min=1).to(device))
        return EncoderOutput(hidden, valid)


class WhisperTower(WhisperLayout, HFEncoder):
    """The Whisper-shaped audio tower of an audio-LLM checkpoint. Its log-mel is computed in
    torch on the encoder's device from the checkpoint's own mel filters; ``--window trim`` runs
    only the positions covering each clip (see ``whisper.encode_trimmed``)."""

    model_types = AUDIO_LLMS
    family = "audio-LLM tower"
    # 2: torch log-mel on the device (was the feature extractor's numpy one); Voxtral's positional
    # table kept in float32 under half precision
    wrapper_version = "2"

    def load_model(self, checkpoint: Checkpoint) -> torch.nn.Module:
        return load_tower_of(self, checkpoint, "audio_tower.")

    def tower_config(self, config: Any) -> Any:
        """The audio tower's own config (an LLM checkpoint without one is refused)."""
        audio_config = getattr(config, "audio_config", None)
        if audio_config is None:
            raise ConfigError(f"--weights: a {config.model_type} checkpoint without an audio_config",
                              "pass the full audio-LLM checkpoint as published")
        return audio_config

    def random_model(self, config: Any) -> torch.nn.Module:
        return transformers.AutoModel.from_config(self.tower_config(config))  # e.g. Qwen2AudioEncoder

    def describe(self) -> None:
        config, extractor = self.model.config, self.feature_extractor
        front_end = tuple(getattr(extractor, name, None) for name in ("n_fft", "hop_length", "sampling_rate"))
        if front_end != (N_FFT, HOP_LENGTH, SAMPLE_RATE) or not hasattr(extractor, "mel_filters"):
            raise ConfigError(f"--weights: the {config.model_type} feature extractor ({type(extractor).__name__}) is "
                              "not Whisper's log-mel front end (n_fft, hop, sampling rate: "
                              f"{', '.join(map(str, front_end))})",
                              "audio-LLM towers are supported with Whisper's 25 ms / 10 ms log-mel at 16 kHz")
        self.num_layers = config.num_hidden_layers + 1
        self.dim = config.d_model
        self.max_frames = config.max_source_positions
        self.window_seconds = self.max_frames * SAMPLES_PER_POSITION / SAMPLE_RATE
        self.logmel = LogMel(config.num_mel_bins, extractor.mel_filters)
        # Qwen2-Audio and AF3 mask padded positions in attention, as their LLMs feed them, and end
        # in a stride-2 average pool before the layer norm (40 ms frames); Voxtral does neither.
        self.masks_padding = config.model_type.startswith(("qwen2_audio", "audioflamingo3"))
        self.pools_last = self.masks_padding
        # Voxtral keeps its positional table in float32 under half precision, as transformers
        # loads it (VoxtralForConditionalGeneration._keep_in_fp32_modules_strict).
        self.fp32_positions = config.model_type.startswith("voxtral")

    def set_precision(self, dtype: torch.dtype) -> None:
        super().set_precision(dtype)
        if self.fp32_positions:
            self.model.embed_positions.float()

    def trimmed(self, frame_lengths: torch.Tensor) -> torch.Tensor:
        windows = super().trimmed(frame_lengths)
        # The average pool of the last state takes positions in pairs: odd windows round up to even.
        return windows + windows % 2 if self.pools_last else windows

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        waveforms, frame_lengths = self.windowed(waveforms, lengths)
        valid = self.last_layer(frame_lengths, torch.div(frame_lengths, 2, rounding_mode="floor").clamp(min=1))
        full = self.window.mode == "full"
        if full and not self.masks_padding:  # Voxtral: its own forward, nothing masked
            output = self.model(self.full_window_features(waveforms), output_hidden_states=True)
            return EncoderOutput(list(output.hidden_states), valid)
        # Qwen2-Audio and AF3 under full: the same blocks over the whole window with the padding
        # masked, as their forward runs them, without its per-batch look at the mask on the device.
        windows = torch.full_like(frame_lengths, self.max_frames) if full else self.trimmed(frame_lengths)
        states = encode_trimmed(self.model, self.logmel, waveforms, windows,
                                frame_lengths if self.masks_padding else None,
                                self.pooled_layer_norm if self.pools_last else None)
        window_lengths = None if full else self.last_layer(windows, torch.div(windows, 2, rounding_mode="floor"))
        return EncoderOutput(states, valid, window_lengths)

    def last_layer(self, lengths: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """``lengths`` for every layer, the last one's ``pooled`` when the tower pools it."""
        return [lengths] * (self.num_layers - 1) + [pooled] if self.pools_last else lengths

    def pooled_layer_norm(self, hidden: torch.Tensor) -> torch.Tensor:
        """The tower's tail after its last block: average pool over time, then layer norm."""
        return self.model.layer_norm(self.model.avg_pooler(hidden.permute(0, 2, 1)).permute(0, 2, 1))


class PerceptionEncoderAudio(HFEncoder):
    """Meta's Perception Encoder audio branch: a DAC codec encoder (40 ms hop at 48 kHz), then a
    transformer over a CLS token + one token per hop. Frames are the tokens after the CLS."""

    model_types = ("pe_audio", "pe_audio_encoder")
    family = "PE audio"

    def load_model(self, checkpoint: Checkpoint) -> torch.nn.Module:
        """Only the audio encoder: from a ``PeAudioModel`` checkpoint its ``audio_encoder.*``
        tensors, the text model never read."""
        if checkpoint.model_type == "pe_audio_encoder":
            return checked_load(transformers.PeAudioEncoder, checkpoint.local or checkpoint.source, "",
                                revision=checkpoint.revision)
        return load_tower_of(self, checkpoint, "audio_encoder.")

    def random_model(self, config: Any) -> torch.nn.Module:
        return transformers.PeAudioEncoder(self.tower_config(config))

    def encode(self, clips: list[np.ndarray], lengths: torch.Tensor, device: torch.device) -> EncoderOutput:
        inputs = self.feature_extractor(clips, sampling_rate=self.sample_rate, return_tensors="pt")
        values, mask = (torch.as_tensor(np.asarray(inputs[key])) for key in ("input_values", "padding_mask"))
        output = self.model(self.to_model(values, device), padding_mask=mask.to(device), output_hidden_states=True)
        frames = output.last_hidden_state.shape[1]
        # every state but the last (after the output projection) still carries the CLS token first
        hidden = [layer[:, 1:] if layer.shape[1] == frames + 1 else layer for layer in output.hidden_states]
        valid = output.output_mask.sum(-1).clamp(1, frames)  # hops that start inside the clip
        return EncoderOutput(hidden, valid.to(device))


def load_tower_of(encoder: HFEncoder, checkpoint: Checkpoint, prefix: str) -> torch.nn.Module:
    """The tower under ``prefix``, read alone from the checkpoint's shards; records what was skipped."""
    from audiobench.encoders.towers import load_tower
    config = AutoConfig.from_pretrained(checkpoint.local or checkpoint.source, revision=checkpoint.revision)
    model, encoder.tower_load = load_tower(checkpoint, lambda: encoder.random_model(config), prefix)
    encoder.load_report = encoder.tower_load.summary()
    return model


FAMILIES: tuple[type[HFEncoder], ...] = (SpeechSSL, AudioSpectrogramTransformer, ClapAudio, PerceptionEncoderAudio,
                                         WhisperTower)


def build(name: str, weights: str | None, random_init: bool = False, revision: str | None = None,
          micro: str | None = None, trust_remote_code: bool = False) -> HFEncoder:
    """``hf`` and the named family entries. ``micro`` names a shipped tiny config for
    ``--random-init``; ``revision`` pins the hub commit of a named entry's default weights."""
    if random_init:
        if micro is None:
            raise ConfigError(f"encoder '{name}' has no shipped config to build untrained",
                              "use its -micro entry (see `audiobench list encoders`) or pass --weights")
        model_type = json.loads((micro_directory(micro) / "config.json").read_text())["model_type"]
        return family_of(model_type)(name, None, True, trust_remote_code=trust_remote_code, micro=micro)
    if weights is None:
        raise ConfigError(f"encoder '{name}' needs --weights HUB_ID_OR_DIR (a transformers audio checkpoint)",
                          "for example --weights facebook/wav2vec2-base")
    checkpoint = resolve_checkpoint(weights, revision)
    if "auto_map" in checkpoint.config and not trust_remote_code:
        raise ConfigError(f"--weights {weights}: the checkpoint ships its own model code (auto_map)",
                          "audiobench runs it only with --trust-remote-code; read that code first")
    return family_of(checkpoint.model_type)(name, checkpoint, False, trust_remote_code=trust_remote_code)
