"""Content-addressed embedding store.

Layout: ``<cache_dir>/<encoder key>/`` with ``meta.json`` and chunks ``chunk-<hash>.npy``
(``[clips, poolings, layers, dim]`` float16) + ``chunk-<hash>.json`` (the clip keys, in row
order, and the sha256 of the ``.npy`` file); the chunk name hashes its keys. The encoder key
hashes the encoder fingerprint and the extraction settings; a clip key hashes the clip's id
(path and excerpt), file size and modification time, so an edited file is re-encoded. Every
layer is stored for both poolings, so switching layer or pooling never re-encodes. Layers narrower
than the widest (``layer_dims`` in ``meta.json``) are stored zero-padded and sliced back to
their own width on read.

Chunks are written atomically (temp file + rename, array before index), so an interrupted run
keeps every finished chunk and the next run encodes only what is missing. Every chunk is
verified against its checksum before its rows are served (once per cache handle, several chunks
at a time in threads): a flipped bit, a zeroed file, swapped rows or a reordered index is a
corrupt chunk, never a cache hit. ``embed`` discards corrupt chunks and re-encodes their clips;
reading them is an error.

Concurrent ``embed`` processes coordinate through ``claims/``: under the cache's lock each
claims the missing clips nobody else is encoding and waits for the rest, so no clip is encoded
twice. A claim dies with its process (the OS drops its lock); a killed run's temp files are
removed once no claim is live.

One module (about 375 lines) on purpose: the store, its verification and claims, and
``complete_cache`` (``embed``'s torch- and numpy-free check that nothing is left to encode) are
one contract about what a cache directory holds, read together when the format changes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from filelock import FileLock, Timeout

from audiobench.choices import POOLINGS
from audiobench.errors import CacheError
from audiobench.files import atomic_write_bytes, atomic_write_text, sha256_file
from audiobench.tasks.base import Clip

if TYPE_CHECKING:
    import numpy as np

    from audiobench.encoders.description import EncoderDescription
    from audiobench.tasks.base import Manifest

FORMAT_VERSION = 2  # 2: chunks carry a sha256 checksum
FAILURES = "failed.json"
LOCK = ".lock"
CLAIMS = "claims"
#: Threads that verify chunks at once: sha256 runs at about 1 GB/s on one core with the GIL
#: released, so a cache of tens of GB (whisper-large-v3 on Speech Commands: 18 GB) is hashed
#: in parallel (2 threads on 2 cores: 1.04 GB of chunks in 0.43 s instead of 0.85 s).
VERIFY_THREADS = min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class ExtractionSettings:
    """Everything besides the encoder that changes the numbers."""

    encoder_fingerprint: str
    sample_rate: int
    window_seconds: float | None
    dtype: str
    #: ``full`` or ``trim<multiple>`` (``Window.label``): trimmed windows give other numbers.
    window: str = "full"
    format_version: int = FORMAT_VERSION

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]


def clip_key(root: Path, clip: Clip) -> str:
    """Identity of one clip's audio: its id plus the file's size and modification time."""
    stat = (root / clip.path).stat()
    return hashlib.sha256(f"{clip.id}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:32]


class CorruptChunkError(CacheError):
    """A cache chunk failed verification."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"corrupt cache chunk {path} ({problem})",
                         "run `audiobench embed` with the same settings: it discards the chunk and re-encodes "
                         "its clips")


@dataclass
class Claim:
    """What one embed process encodes: ``todo`` (indices of missing keys it claimed) and
    ``waiting`` (missing keys other live processes are encoding, whose claim locks are
    ``holders``)."""

    todo: list[int]
    waiting: list[int]
    holders: list[Path]


def release(lock: FileLock) -> None:
    """Release a claim lock and remove its file (a waiter holding the old file still wakes)."""
    if lock.is_locked:
        lock.release()
        Path(lock.lock_file).unlink(missing_ok=True)


def npy_header(array: np.ndarray) -> bytes:
    """The ``.npy`` (version 1.0) header that precedes ``array``'s bytes in its file."""
    import numpy as np

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(array))
    return buffer.getvalue()


def chunk_name(keys: list[str]) -> str:
    return "chunk-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]


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
        #: Chunk name -> (its keys in row order, the sha256 of its array file).
        self._chunks: dict[str, tuple[list[str], str]] = {}
        #: Chunk name -> why its index file is unreadable (its clips count as missing).
        self.unreadable: dict[str, str] = {}
        self._verified: set[str] = set()
        self.layer_dims: list[int] | None = description.get("layer_dims")

    def refresh(self) -> None:
        """Forget what was read from disk (another process may have added chunks)."""
        self._index, self._chunks, self.unreadable = None, {}, {}

    def index(self) -> dict[str, tuple[str, int]]:
        """Clip key -> (chunk name, row)."""
        if self._index is None:
            self._index = {}
            for keys_file in sorted(self.directory.glob("chunk-*.json")):
                try:
                    entry = json.loads(keys_file.read_text())
                    keys, checksum = list(entry["keys"]), str(entry["sha256"])
                except (OSError, ValueError, KeyError, TypeError) as err:
                    self.unreadable[keys_file.stem] = f"unreadable index ({type(err).__name__})"
                    continue
                self._chunks[keys_file.stem] = (keys, checksum)
                for row, key in enumerate(keys):
                    self._index[key] = (keys_file.stem, row)
        return self._index

    def missing(self, keys: list[str]) -> list[int]:
        index = self.index()
        return [i for i, key in enumerate(keys) if key not in index]

    def write_chunk(self, keys: list[str], embeddings: np.ndarray) -> None:
        """Store ``[clips, poolings, layers, dim]`` embeddings for ``keys``, atomically, with the
        checksum of the array file in its index."""
        import numpy as np

        name = chunk_name(keys)
        array = np.ascontiguousarray(embeddings, dtype=np.float16)
        # The file np.save writes, hashed and written from the array's own memory: no copy of a
        # chunk (86 MB for whisper-large-v3) is made on the way.
        header, data = npy_header(array), memoryview(array.reshape(-1).view(np.uint8))
        digest = hashlib.sha256(header)
        digest.update(data)
        checksum = digest.hexdigest()
        try:
            atomic_write_bytes(self.directory / f"{name}.npy", header, data)
            atomic_write_text(self.directory / f"{name}.json", json.dumps({"keys": keys, "sha256": checksum}))
        except OSError as err:
            raise self.write_error(f"{name}.npy", err) from err
        index = self.index()
        for row, key in enumerate(keys):
            index[key] = (name, row)
        self._chunks[name] = (keys, checksum)
        self._verified.add(name)

    def chunk_problem(self, name: str) -> str | None:
        """Why chunk ``name`` cannot be trusted, or None when its array matches its checksum and
        its keys match its name. Verified once per handle."""
        if name in self.unreadable:
            return self.unreadable[name]
        if name in self._verified:
            return None
        self.index()
        keys, checksum = self._chunks[name]
        if chunk_name(keys) != name:
            return "its key list does not match its name"
        try:
            actual = sha256_file(self.directory / f"{name}.npy")
        except OSError as err:
            return f"array file unreadable ({err.strerror or err})"
        if actual != checksum:
            return "checksum mismatch"
        self._verified.add(name)
        return None

    def corrupt_chunks(self, keys: list[str]) -> dict[str, str]:
        """Chunk name -> problem, for every untrustworthy chunk holding one of ``keys`` (and every
        chunk whose index cannot be read, since it may hold any of them); chunks not yet verified
        are hashed in ``VERIFY_THREADS`` threads."""
        index = self.index()
        names = sorted({index[key][0] for key in keys if key in index} | set(self.unreadable))
        with ThreadPoolExecutor(max_workers=max(1, min(VERIFY_THREADS, len(names)))) as threads:
            problems = dict(zip(names, threads.map(self.chunk_problem, names)))
        return {name: problem for name, problem in problems.items() if problem}

    def discard(self, names: list[str]) -> None:
        """Delete chunks (their clips become missing and are re-encoded)."""
        for name in names:
            for suffix in (".json", ".npy"):  # index first: a chunk without its index is never read
                (self.directory / f"{name}{suffix}").unlink(missing_ok=True)
        self.refresh()

    @contextmanager
    def claim(self, keys: list[str]) -> Iterator[Claim]:
        """Claim the missing ``keys`` that no other live process is encoding, for the duration of
        the block. Taken under the cache's lock: re-reads the index (other processes add chunks),
        drops the claims of dead processes and, when no other process is active, their
        half-written temp files."""
        claims = self.directory / CLAIMS
        record = claims / f"{uuid.uuid4().hex}.json"
        own_lock = FileLock(record.with_suffix(".lock"))
        try:
            claims.mkdir(exist_ok=True)
            own_lock.acquire()
            with FileLock(self.directory / LOCK):
                others = self._live_claims(exclude=record)
                if not others:
                    self._remove_stale_temp_files()
                self.refresh()
                index = self.index()
                taken = set().union(*others.values())
                missing = [i for i, key in enumerate(keys) if key not in index]
                todo = [i for i in missing if keys[i] not in taken]
                atomic_write_text(record, json.dumps([keys[i] for i in todo]))
        except OSError as err:
            release(own_lock)
            raise CacheError(f"cannot lock cache directory {self.directory}: {err.strerror or err}",
                             "pass a writable --cache-dir or set AUDIOBENCH_CACHE") from err
        waiting = [i for i in missing if keys[i] in taken]
        holders = [lock for lock, held in others.items() if any(keys[i] in held for i in waiting)]
        try:
            yield Claim(todo, waiting, holders)
        finally:
            record.unlink(missing_ok=True)
            release(own_lock)

    def _live_claims(self, exclude: Path) -> dict[Path, set[str]]:
        """Claim lock file -> keys, for every claim whose process still holds its lock; the
        claims of dead processes are deleted."""
        live = {}
        for record in (self.directory / CLAIMS).glob("*.json"):
            if record == exclude:
                continue
            lock = FileLock(record.with_suffix(".lock"), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                try:
                    live[record.with_suffix(".lock")] = set(json.loads(record.read_text()))
                except (OSError, ValueError):  # finished and removed meanwhile
                    pass
                continue
            record.unlink(missing_ok=True)
            release(lock)
        return live

    def _remove_stale_temp_files(self) -> None:
        """Temp files of chunks and failure records left by killed runs (only claim holders
        write them, so with no live claim every one is stale)."""
        for tmp in [*self.directory.glob(".chunk-*.tmp"), *self.directory.glob(f".{FAILURES}.*.tmp")]:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def wait_for(holders: list[Path]) -> None:
        """Block until every process holding one of these claim locks has finished its claim."""
        for holder in holders:
            lock = FileLock(holder)
            lock.acquire()
            release(lock)

    def failures(self) -> dict[str, str]:
        """Clip key -> why it could not be decoded, from earlier runs with --skip-bad."""
        path = self.directory / FAILURES
        if not path.exists():
            return {}
        try:
            failures = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise CacheError(f"corrupt failed-clip record {path} ({type(err).__name__})",
                             "delete it; the clips it listed will be decoded again") from err
        if not isinstance(failures, dict) or not all(isinstance(v, str) for v in failures.values()):
            raise CacheError(f"corrupt failed-clip record {path} (not a key -> reason mapping)",
                             "delete it; the clips it listed will be decoded again")
        return failures

    def record_failures(self, failed: dict[str, str]) -> None:
        try:
            atomic_write_text(self.directory / FAILURES, json.dumps({**self.failures(), **failed}, indent=1) + "\n")
        except OSError as err:
            raise self.write_error(FAILURES, err) from err

    def write_error(self, name: str, err: OSError) -> CacheError:
        """A write that failed mid-run (disk full, read-only): every chunk written before is kept."""
        return CacheError(f"cannot write {self.directory / name} ({err.strerror or err}); the chunks already "
                          "written are kept", "free space or pass another --cache-dir, then run again to resume")

    def load(self, keys: list[str], pooling: str, layer: int) -> np.ndarray:
        """``[len(keys), width of layer]`` float32 for one pooling and layer (memory-mapped reads
        of verified chunks)."""
        import numpy as np

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
            problem = self.chunk_problem(chunk)
            if problem:
                raise CorruptChunkError(self.directory / f"{chunk}.npy", problem)
            try:
                array = np.load(self.directory / f"{chunk}.npy", mmap_mode="r")
            except (OSError, ValueError) as err:
                raise CorruptChunkError(self.directory / f"{chunk}.npy", f"unreadable array ({err})") from err
            width = self.layer_dims[layer] if self.layer_dims else array.shape[-1]
            if out is None:
                out = np.empty((len(keys), width), dtype=np.float32)
            targets, rows = zip(*pairs)
            out[list(targets)] = array[np.array(rows), p, layer, :width]
        return out if out is not None else np.empty((0, 0), dtype=np.float32)


@dataclass
class EmbedReport:
    """``keys[i]`` is the cache key of ``manifest.clips[i]``; ``skipped`` lists (clip id, reason);
    ``discarded`` lists (chunk file, problem) for corrupt cache chunks whose clips were re-encoded."""

    clips: int
    cache_hits: int
    encoded: int
    seconds: float
    device: str
    keys: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    discarded: list[tuple[str, str]] = field(default_factory=list)

    @property
    def clips_per_second(self) -> float | None:
        return self.encoded / self.seconds if self.encoded and self.seconds > 0 else None


def open_cache(encoder: EncoderDescription, cache_dir: Path, dtype: str) -> EmbeddingCache:
    """The cache of ``encoder`` run in ``dtype`` (a resolved name, not ``auto``)."""
    return EmbeddingCache(cache_dir, extraction_settings(encoder, dtype),
                          {"encoder": encoder.name, "num_layers": encoder.num_layers, "dim": encoder.dim,
                           "layer_dims": encoder.widths})


def extraction_settings(encoder: EncoderDescription, dtype: str) -> ExtractionSettings:
    return ExtractionSettings(encoder.fingerprint, encoder.sample_rate, encoder.window_seconds, dtype,
                              encoder.window.label)


def complete_cache(encoder: EncoderDescription, manifest: Manifest, cache_dir: Path, dtype: str,
                   device: str) -> tuple[EmbeddingCache, EmbedReport] | None:
    """The cache and report of ``embed`` when every clip of ``manifest`` is already in a cache
    that exists and verifies (no chunk is corrupt); None when anything is left to encode. Needs
    no model, so a repeated run answers from the encoder's recorded description alone."""
    settings = extraction_settings(encoder, dtype)
    if not (Path(cache_dir).expanduser() / settings.key).is_dir():
        return None
    cache = open_cache(encoder, cache_dir, dtype)
    keys = [clip_key(manifest.root, clip) for clip in manifest.clips]
    if cache.missing(keys) or cache.corrupt_chunks(keys):
        return None
    return cache, EmbedReport(clips=len(keys), cache_hits=len(keys), encoded=0, seconds=0.0, device=device, keys=keys)
