"""Training recipes: YAML files -> ``TrainConfig``, with ``key=value`` overrides checked
against the dataclass (an unknown key or a value of the wrong type is a one-line error).

Recipes ship in ``audiobench/training/recipes``; ``--recipe`` takes a shipped name or a path,
``--config FILE`` layers a user YAML on top, then the command line's ``key=value`` pairs.
Dict fields take dotted keys: ``domain_weights.music=0.2``, ``model_config.d_model=128``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from transformers import WhisperConfig

from audiobench.errors import ConfigError
from audiobench.training.datalist import DOMAINS

STRATEGIES = ("ddp", "deepspeed", "fsdp")


@dataclass
class TrainConfig:
    """Every knob of a training run. Defaults are the paper's recipe (``whisper-aut``)."""

    # Model: ``base_model`` is a hub id or local folder (weights and tokenizer); with
    # ``random_init`` the shipped ``architecture`` config is built untrained instead,
    # ``model_config`` overriding any of its fields.
    base_model: str = "openai/whisper-large-v3"
    random_init: bool = False
    architecture: str = "whisper-large-v3"
    model_config: dict[str, Any] = field(default_factory=dict)
    tokenizer: str = "pretrained"
    bpe_vocab_size: int = 2000
    # Data: the mixture is drawn with these weights whatever the domains' sizes.
    domain_weights: dict[str, float] = field(default_factory=lambda: {"speech": 0.8, "sound": 0.1, "music": 0.1})
    samples_per_epoch: int | None = None
    eval_data: str | None = None
    check_audio: bool = True
    num_workers: int = 4
    # A speech row or sample without ``language`` is an error unless this names one.
    default_language: str | None = None
    # Undecodable or empty clips are skipped and counted; more than this share of the run's
    # samples stops it.
    max_bad_fraction: float = 0.001
    # Optimisation.
    learning_rate: float = 1e-5
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    weight_decay: float = 0.01
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.05
    max_grad_norm: float = 1.0
    epochs: float = 2.0
    max_steps: int = -1
    effective_batch_size: int = 128
    per_device_batch_size: int = 8
    eval_batch_size: int = 8
    bf16: bool = True
    gradient_checkpointing: bool = True
    strategy: str = "deepspeed"
    deepspeed_config: str = "zero2"
    # Bookkeeping.
    logging_steps: int = 10
    save_steps: int = 1000
    save_total_limit: int | None = 3
    eval_steps: int = 1000
    seed: int = 0
    record_samples: bool = False

    def validate(self) -> None:
        unknown = set(self.domain_weights) - set(DOMAINS)
        if unknown:
            raise ConfigError(f"domain_weights.{min(unknown)}: unknown domain", f"use {', '.join(DOMAINS)}")
        for domain, weight in self.domain_weights.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise ConfigError(f"domain_weights.{domain}={weight!r}: expected a number")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy={self.strategy}: unknown", f"use one of {', '.join(STRATEGIES)}")
        if self.tokenizer not in ("pretrained", "bpe"):
            raise ConfigError(f"tokenizer={self.tokenizer}: unknown", "use tokenizer=pretrained or tokenizer=bpe")
        if self.model_config and not self.random_init:
            raise ConfigError("model_config only shapes a random-init model",
                              "set random_init=true or drop model_config")
        known = set(WhisperConfig().to_dict())
        for key in self.model_config:
            if key not in known:
                raise ConfigError(f"model_config.{key}: not a WhisperConfig field", "check the spelling")
        for name in ("effective_batch_size", "per_device_batch_size", "eval_batch_size", "logging_steps",
                     "save_steps", "eval_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1")
        if not 0 <= self.max_bad_fraction <= 1:
            raise ConfigError(f"max_bad_fraction={self.max_bad_fraction}: must be in [0, 1]", "e.g. 0.001 (0.1%)")
        if self.save_total_limit is not None and self.save_total_limit < 2:
            raise ConfigError(f"save_total_limit={self.save_total_limit}: keep at least 2",
                              "a crash while the newest checkpoint is written must leave a complete one")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio}: must be in [0, 1)")

    def batch_plan(self, world_size: int) -> tuple[int, int]:
        """(per-device batch, accumulation steps) that make ``effective_batch_size`` exactly on
        ``world_size`` processes. ``per_device_batch_size`` is the most one device takes: the
        fewest accumulation steps whose micro-batch fits it are used (128 on 1 GPU: 8 x 16; on
        8: 8 x 2; on 32: 4 x 1; on 128: 1 x 1)."""
        total = self.effective_batch_size
        if total % world_size:
            lower, upper = total // world_size * world_size, (total // world_size + 1) * world_size
            raise ConfigError(f"effective_batch_size={total} cannot be split evenly over {world_size} processes",
                              f"use effective_batch_size={lower or upper}" + (f" or {upper}" if lower else "")
                              + f", or a process count that divides {total}")
        per_process = total // world_size
        accumulation = next(a for a in range(-(-per_process // self.per_device_batch_size), per_process + 1)
                            if per_process % a == 0)
        return per_process // accumulation, accumulation

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recipe_names() -> list[str]:
    folder = resources.files("audiobench.training").joinpath("recipes")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values")
    return data


def recipe_values(recipe: str) -> dict[str, Any]:
    path = Path(recipe)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"--recipe {recipe}: no such file")
        return read_yaml(path)
    if recipe not in recipe_names():
        raise ConfigError(f"unknown recipe '{recipe}'", f"available: {', '.join(recipe_names())}, or a YAML path")
    return read_yaml(Path(str(resources.files("audiobench.training").joinpath(f"recipes/{recipe}.yaml"))))


def _accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` (parsed from YAML) fits the field's annotation."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint)


def _set(values: dict[str, Any], key: str, value: Any, origin: str) -> None:
    hints = typing.get_type_hints(TrainConfig)
    top, _, sub = key.partition(".")
    if top not in hints:
        close = difflib.get_close_matches(top, hints, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"{origin}: unknown config key '{top}'", f"{hint}see docs/training.md for the keys")
    if sub:
        if typing.get_origin(hints[top]) is not dict:
            raise ConfigError(f"{origin}: '{top}' is not a mapping, so '{key}' is not a key")
        nested = dict(values.get(top) or {})
        nested[sub] = value
        values[top] = nested
        return
    if not _accepts(hints[top], value):
        raise ConfigError(f"{origin}: {key}={value!r} does not fit type {hints[top]}")
    values[top] = value


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{text}': expected key=value", "e.g. learning_rate=1e-4")
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError:
        value = raw
    # YAML 1.1 reads "1e-4" as a string; numbers are what such overrides mean.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return key.strip(), value


def load_config(recipe: str, config_file: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Recipe, then the optional YAML file, then ``key=value`` overrides; validated."""
    values: dict[str, Any] = {}
    for key, value in recipe_values(recipe).items():
        _set(values, key, value, f"recipe {recipe}")
    if config_file is not None:
        for key, value in read_yaml(Path(config_file)).items():
            _set(values, key, value, str(config_file))
    for text in overrides:
        key, value = parse_override(text)
        _set(values, key, value, f"override {text}")
    config = TrainConfig(**values)
    config.validate()
    return config


def shipped_deepspeed_config(name_or_path: str) -> str:
    """Path of a DeepSpeed JSON: a shipped name (``zero2``) or a file."""
    path = Path(name_or_path)
    if path.is_file():
        json.loads(path.read_text())
        return str(path)
    shipped = resources.files("audiobench.training").joinpath(f"configs/deepspeed_{name_or_path}.json")
    if not shipped.is_file():
        raise ConfigError(f"deepspeed_config={name_or_path}: no such file or shipped config",
                          "use deepspeed_config=zero2 or a path to a DeepSpeed JSON")
    return str(shipped)
