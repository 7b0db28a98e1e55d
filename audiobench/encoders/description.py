"""What everything past the forward pass needs of an encoder (cache keys, result records,
probe shapes), torch-free: ``EncoderDescription``, shared by a built ``Encoder`` and by an
``EncoderCard``, the description of one recorded the first time it was built.

Cards live in ``<cache>/encoders/``, found by what was asked for: the encoder's name and
registry arguments, random init or not, the size and modification time of every weight file
(as clip keys use size and modification time), of every file of ``audiobench/encoders`` (the
wrappers and their shipped configs) and the installed versions of audiobench, torch and
transformers. A repeated ``embed`` whose clips are all cached, and every ``probe``, then need
neither the model nor its weights (on the CPU not even torch), and weights are not hashed again.
Weights named by a hub id get no card: a later load may resolve another commit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from audiobench.encoders.window import FULL_WINDOW, Window
from audiobench.errors import ConfigError
from audiobench.files import atomic_write_text

CARDS_DIR = "encoders"
PACKAGES = ("audiobench", "torch", "transformers")


class EncoderDescription:
    """The properties derived from what a described encoder sets (``Encoder`` gives them defaults)."""

    name: str
    sample_rate: int
    num_layers: int
    dim: int
    window_seconds: float | None
    #: Each layer's width when they differ (``dim`` is then the widest); None: all are ``dim``.
    layer_dims: list[int] | None
    #: Where the weights came from, for result records (``weights``: hub id or path; ``revision``).
    provenance: dict[str, Any]
    #: Whether ``set_window(Window("trim"))`` is supported (a fixed window the encoder can shorten).
    can_trim: bool
    window: Window

    def identity(self) -> dict[str, Any]:
        """Everything the fingerprint hashes (recorded in every result)."""
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        """Stable hash of ``identity()``."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True, default=str).encode()).hexdigest()

    def set_window(self, window: Window) -> None:
        """Run the full window or trim it; trimming needs ``can_trim``."""
        if window.mode == "trim" and not self.can_trim:
            raise ConfigError(f"--window trim: encoder '{self.name}' cannot trim its input window",
                              "use --window full (trim works for Whisper and the audio-LLM towers built on it)")
        self.window = window

    @property
    def widths(self) -> list[int]:
        """Each layer's width."""
        return list(self.layer_dims) if self.layer_dims else [self.dim] * self.num_layers

    @property
    def window_samples(self) -> int | None:
        return None if self.window_seconds is None else int(round(self.window_seconds * self.sample_rate))


@dataclass
class EncoderCard(EncoderDescription):
    """The recorded description of a built encoder: no weights, no torch."""

    name: str
    sample_rate: int
    num_layers: int
    dim: int
    window_seconds: float | None
    layer_dims: list[int] | None
    provenance: dict[str, Any]
    can_trim: bool
    recorded_identity: dict[str, Any]
    #: The built encoder's own fingerprint (the identity read back from JSON may hash differently).
    recorded_fingerprint: str
    #: ``float16`` / ``bfloat16`` when the weights were published in half precision.
    checkpoint_dtype: str | None = None
    window: Window = field(default=FULL_WINDOW)

    def identity(self) -> dict[str, Any]:
        return self.recorded_identity

    @property
    def fingerprint(self) -> str:
        return self.recorded_fingerprint

    @classmethod
    def of(cls, encoder: EncoderDescription) -> EncoderCard:
        native = getattr(encoder, "checkpoint_dtype", None)
        return cls(encoder.name, encoder.sample_rate, encoder.num_layers, encoder.dim, encoder.window_seconds,
                   list(encoder.layer_dims) if encoder.layer_dims else None, dict(encoder.provenance),
                   encoder.can_trim, json.loads(json.dumps(encoder.identity(), default=str)), encoder.fingerprint,
                   str(native).removeprefix("torch.") if native is not None else None, encoder.window)


def card_key(name: str, builder_kwargs: dict[str, Any], weights: str | None, random_init: bool) -> str | None:
    """What finds the card of an encoder built from these arguments; None when there can be
    none (weights named by a hub id)."""
    weight_files: list[tuple[str, int, int]] = []
    where = None
    if weights is not None and not random_init:
        local = Path(weights).expanduser()
        if not local.is_dir():
            return None
        where = str(local.resolve())
        weight_files = file_stats(local)
    request = {"name": name, "kwargs": builder_kwargs, "random_init": random_init, "weights": where,
               "weight_files": weight_files, "code": file_stats(Path(__file__).parent),
               "versions": {package: installed_version(package) for package in PACKAGES}}
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:24]


def file_stats(folder: Path) -> list[tuple[str, int, int]]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            found.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return found


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def read_card(cache_dir: Path, key: str) -> EncoderCard | None:
    """The recorded card, or None when there is none or it cannot be read (then the encoder is
    built and the card written again)."""
    try:
        data = json.loads((Path(cache_dir).expanduser() / CARDS_DIR / f"{key}.json").read_text())
        data["window"] = Window(**data["window"])
        return EncoderCard(**data)
    except (OSError, ValueError, TypeError, KeyError, ConfigError):
        return None


def write_card(cache_dir: Path, key: str, card: EncoderCard) -> None:
    """Record ``card``; a cache directory that cannot be written only costs later runs a build."""
    record = asdict(card)
    record["window"] = asdict(FULL_WINDOW)  # the window is chosen per run
    try:
        atomic_write_text(Path(cache_dir).expanduser() / CARDS_DIR / f"{key}.json", json.dumps(record, indent=1))
    except OSError:
        pass
