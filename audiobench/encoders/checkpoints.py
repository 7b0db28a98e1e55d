"""Where encoder weights come from: local ``save_pretrained`` directories or hub ids.

Shared by every transformers-based encoder. What identifies weights for fingerprints is a
content hash (local) or a hub commit, never a path.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download

from audiobench.errors import ConfigError

# What from_pretrained loads, in its order of preference: (single file, shard index).
WEIGHT_FILES = (("model.safetensors", "model.safetensors.index.json"),
                ("pytorch_model.bin", "pytorch_model.bin.index.json"))


def loaded_weight_files(directory: Path) -> list[Path]:
    """The weight files ``from_pretrained`` reads from ``directory`` (not every copy lying there)."""
    for single, index in WEIGHT_FILES:
        if (directory / single).is_file():
            return [directory / single]
        if (directory / index).is_file():
            shards = sorted(set(json.loads((directory / index).read_text())["weight_map"].values()))
            return [directory / shard for shard in shards]
    raise ConfigError(f"no weights (model.safetensors or pytorch_model.bin) in {directory}",
                      "pass a directory written by save_pretrained or audiobench export")


def files_hash(paths: list[Path]) -> str:
    """sha256 over the contents of ``paths``, in order."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()


def local_weights_hash(directory: Path) -> str:
    """sha256 over the contents of the weight files a local checkpoint loads."""
    return files_hash(loaded_weight_files(directory))


def hub_commit(repo_id: str, revision: str | None = None) -> str:
    """The commit of the hub snapshot just loaded, read from the local cache's snapshot path."""
    try:
        config_path = hf_hub_download(repo_id, "config.json", revision=revision)
    except Exception:  # offline without that file cached: loading would have failed first
        return "unknown"
    return Path(config_path).parent.name


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def family_name(cls: type) -> str:
    """``WhisperForConditionalGeneration`` -> ``Whisper``: what users call the checkpoint."""
    name = re.sub(r"(For\w+|Model|Encoder)$", "", cls.__name__)
    return name if name not in ("", "Auto") else "transformers"


def checked_load(cls: type, source: str | Path, must_have: str, option: str = "--weights",
                 **kwargs: object) -> torch.nn.Module:
    """``cls.from_pretrained`` that refuses a checkpoint whose encoder weights are missing
    (transformers would silently initialise them at random) and turns load failures (including
    a pickle that safe loading refuses) into one line naming ``option``."""
    try:
        model, info = cls.from_pretrained(source, output_loading_info=True, **kwargs)
    except Exception as err:  # hub, network, corrupt file, unsafe pickle: all user-facing
        raise ConfigError(f"{option} {source}: cannot load a {family_name(cls)} checkpoint ({first_line(err)})",
                          "check the hub id and network, or pass a directory written by save_pretrained "
                          "(safetensors)") from err
    missing = [key for key in info.get("missing_keys", []) if key.startswith(must_have)]
    if missing:
        raise ConfigError(f"{option} {source}: {len(missing)} encoder weights are missing from the checkpoint "
                          f"(e.g. {missing[0]}) and would be random",
                          "export it with save_pretrained or audiobench export")
    return model
