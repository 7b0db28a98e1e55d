"""Load only the audio tower of a multimodal checkpoint: an audio-LLM's ``audio_tower.*``
(Qwen2-Audio, Voxtral, Audio Flamingo 3) or CLAP's ``audio_model.*``.

The checkpoint's ``model.safetensors.index.json`` maps every tensor to its shard; only the
shards holding the tower's tensors are fetched and only those tensors are read (with
``safetensors.safe_open``), so the language model (or text tower) is never loaded nor built.
What was left out is counted and reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from safetensors import safe_open
from transformers.initialization import no_init_weights

from audiobench.errors import ConfigError

if TYPE_CHECKING:
    from audiobench.encoders.hf import Checkpoint

INDEX = "model.safetensors.index.json"


@dataclass
class TowerLoad:
    """What loading the tower read and what it skipped."""

    tensors_read: int
    tensors_skipped: int
    shards_read: int
    shards_skipped: int
    sha256: str

    def summary(self) -> str:
        return (f"read {self.tensors_read} audio-tower tensors from {self.shards_read} shard(s); skipped "
                f"{self.tensors_skipped} other tensors (language model or text tower, projections) and "
                f"{self.shards_skipped} shard(s) never opened")


def weight_map(checkpoint: Checkpoint) -> dict[str, str]:
    """Tensor name -> shard file, from the index or the single ``model.safetensors``."""
    if checkpoint.has_file(INDEX):
        return json.loads(checkpoint.file(INDEX).read_text())["weight_map"]
    if checkpoint.has_file("model.safetensors"):
        with safe_open(str(checkpoint.file("model.safetensors")), framework="pt") as f:
            return {name: "model.safetensors" for name in f.keys()}
    raise ConfigError(f"--weights {checkpoint.source}: no {INDEX} or model.safetensors",
                      "audio-LLM towers are read from safetensors checkpoints as published on the hub")


def load_tower(checkpoint: Checkpoint, build: Callable[[], torch.nn.Module],
               prefix: str) -> tuple[torch.nn.Module, TowerLoad]:
    """The tower ``build()`` makes, with the checkpoint's tensors under ``prefix`` (e.g.
    ``audio_tower.``, wherever it sits in the name), the prefix stripped."""
    names = weight_map(checkpoint)
    tower = {name: shard for name, shard in names.items() if name.startswith(prefix) or f".{prefix}" in name}
    if not tower:
        raise ConfigError(f"--weights {checkpoint.source}: a {checkpoint.model_type} checkpoint without "
                          f"'{prefix}*' tensors (no audio tower)", "pass the full checkpoint as published")
    state: dict[str, torch.Tensor] = {}
    digest = hashlib.sha256()
    for shard in sorted(set(tower.values())):
        with safe_open(str(checkpoint.file(shard)), framework="pt") as f:
            for name in sorted(n for n, s in tower.items() if s == shard):
                tensor = f.get_tensor(name)
                key = name[name.index(prefix) + len(prefix):]
                state[key] = tensor
                digest.update(key.encode())
                digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    with no_init_weights():
        model = build()
    result = model.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys:
        raise ConfigError(f"--weights {checkpoint.source}: {len(result.missing_keys)} audio-tower weights are missing "
                          f"(e.g. {result.missing_keys[0]}) and would be random", "pass the complete checkpoint")
    if result.unexpected_keys:
        raise ConfigError(f"--weights {checkpoint.source}: tower tensors the {type(model).__name__} has no place for "
                          f"(e.g. {result.unexpected_keys[0]})",
                          "is the checkpoint's audio_config the one it was saved with?")
    shards = set(names.values())
    report = TowerLoad(len(tower), len(names) - len(tower), len(set(tower.values())),
                       len(shards) - len(set(tower.values())), digest.hexdigest())
    return model, report
