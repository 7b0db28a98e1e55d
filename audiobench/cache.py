"""Content-addressed embedding store.

Layout: ``<cache_dir>/<encoder key>/`` with ``meta.json`` and chunks ``chunk-<hash>.npy``
(``[clips, poolings, layers, dim]`` float16) + ``chunk-<hash>.json`` (the clip keys, in row
order). The encoder key hashes the encoder fingerprint and the extraction settings; a clip key
hashes the clip's id (path and excerpt), file size and modification time, so an edited file is
re-encoded. Every layer is stored for both poolings, so switching layer or pooling never
re-encodes.

Chunks are written atomically (temp file + rename, array before index), so an interrupted run
keeps every finished chunk and the next run encodes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audiobench.encoders.base import POOLINGS
from audiobench.errors import CacheError
from audiobench.files import atomic_path, atomic_write_text
from audiobench.tasks.base import Clip

FORMAT_VERSION = 1
FAILURES = "failed.json"


@dataclass(frozen=True)
class ExtractionSettings:
    """Everything besides the encoder that changes the numbers."""

    encoder_fingerprint: str
    sample_rate: int
    window_seconds: float | None
    dtype: str
    format_version: int = FORMAT_VERSION

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]


def clip_key(root: Path, clip: Clip) -> str:
    """Identity of one clip's audio: its id plus the file's size and modification time."""
    stat = (root / clip.path).stat()
    return hashlib.sha256(f"{clip.id}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:32]


class EmbeddingCache:
    """The chunks of one encoder + extraction settings."""

    def __init__(self, cache_dir: Path, settings: ExtractionSettings, description: dict) -> None:
        self.settings = settings
        self.directory = Path(cache_dir).expanduser() / settings.key
        meta = self.directory / "meta.json"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not meta.exists():
                atomic_write_text(meta, json.dumps({"settings": asdict(settings), **description}, indent=2) + "\n")
        except OSError as err:
            raise CacheError(f"cannot use cache directory {self.directory}: {err.strerror or err}",
                             "pass a writable --cache-dir or set AUDIOBENCH_CACHE") from err
        self._index: dict[str, tuple[str, int]] | None = None

    def index(self) -> dict[str, tuple[str, int]]:
        """Clip key -> (chunk name, row)."""
        if self._index is None:
            self._index = {}
            for keys_file in sorted(self.directory.glob("chunk-*.json")):
                try:
                    keys = json.loads(keys_file.read_text())["keys"]
                except (OSError, ValueError, KeyError) as err:
                    raise CacheError(f"corrupt cache index {keys_file}", "delete it; its clips will be re-encoded") from err
                for row, key in enumerate(keys):
                    self._index[key] = (keys_file.stem, row)
        return self._index

    def missing(self, keys: list[str]) -> list[int]:
        index = self.index()
        return [i for i, key in enumerate(keys) if key not in index]

    def write_chunk(self, keys: list[str], embeddings: np.ndarray) -> None:
        """Store ``[clips, poolings, layers, dim]`` embeddings for ``keys``, atomically."""
        name = "chunk-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]
        with atomic_path(self.directory / f"{name}.npy") as tmp, tmp.open("wb") as f:
            np.save(f, embeddings.astype(np.float16))  # a file object: given a path, np.save appends .npy
        atomic_write_text(self.directory / f"{name}.json", json.dumps({"keys": keys}))
        index = self.index()
        for row, key in enumerate(keys):
            index[key] = (name, row)

    def failures(self) -> dict[str, str]:
        """Clip key -> why it could not be decoded, from earlier runs with --skip-bad."""
        path = self.directory / FAILURES
        return json.loads(path.read_text()) if path.exists() else {}

    def record_failures(self, failed: dict[str, str]) -> None:
        atomic_write_text(self.directory / FAILURES, json.dumps({**self.failures(), **failed}, indent=1) + "\n")

    def load(self, keys: list[str], pooling: str, layer: int) -> np.ndarray:
        """``[len(keys), dim]`` float32 for one pooling and layer (memory-mapped reads)."""
        if pooling not in POOLINGS:
            raise CacheError(f"unknown pooling '{pooling}'", f"use one of {', '.join(POOLINGS)}")
        index = self.index()
        absent = [k for k in keys if k not in index]
        if absent:
            raise CacheError(f"{len(absent)} clip(s) have no cached embeddings in {self.directory}",
                             "run `audiobench embed` with the same encoder and settings first")
        p = POOLINGS.index(pooling)
        rows_by_chunk: dict[str, list[tuple[int, int]]] = {}
        for i, key in enumerate(keys):
            chunk, row = index[key]
            rows_by_chunk.setdefault(chunk, []).append((i, row))
        out: np.ndarray | None = None
        for chunk, pairs in rows_by_chunk.items():
            try:
                array = np.load(self.directory / f"{chunk}.npy", mmap_mode="r")
            except (OSError, ValueError) as err:
                raise CacheError(f"corrupt cache chunk {self.directory / chunk}.npy",
                                 "delete it and its .json; its clips will be re-encoded") from err
            if out is None:
                out = np.empty((len(keys), array.shape[-1]), dtype=np.float32)
            targets, rows = zip(*pairs)
            out[list(targets)] = array[np.array(rows), p, layer, :]
        return out if out is not None else np.empty((0, 0), dtype=np.float32)
