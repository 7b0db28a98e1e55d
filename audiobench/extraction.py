"""Extraction: decode and pad clips in DataLoader workers, encode batches on the device, pool
every layer both ways, and write the cache chunk by chunk (in a background thread).

Only clips missing from the cache are decoded and encoded; a repeated run is a pure cache hit
and an interrupted run resumes from its last finished chunk. Clips that fail to decode abort
the run, or with ``skip_bad`` are recorded in the cache as failed and reported.

One module (about 500 lines) on purpose: decoding, batching, the OOM retry, rank sharding and
the cache claims (and the chunk writer that must finish inside them) are one loop whose order
matters, and splitting it would hide that order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from audiobench.audio import audio_seconds, load_audio
from audiobench.choices import PRECISIONS
from audiobench.cache import (CorruptChunkError, EmbeddingCache, EmbedReport, clip_key, extraction_settings,
                              open_cache)
from audiobench.encoders.base import Encoder, pool
from audiobench.errors import AudioReadError, CacheError, ConfigError, ExtractionError
from audiobench.files import atomic_path
from audiobench.sharding import Shard, barrier, check_ranks, current_shard, gather, join, rank_device
from audiobench.tasks.base import Clip, Manifest

DTYPES = dict(zip(PRECISIONS, (torch.float32, torch.bfloat16, torch.float16)))
#: Default batches: at most so many clips and seconds of encoder input (``encoded_seconds``: a
#: fixed window whole, a trimmed one as rounded, a window-less clip its length). On a GPU 16 full
#: 30 s windows' worth, so short trimmed clips fill a batch as full windows would (1 s clips: 480
#: a batch, where 16 left the device waiting on kernel launches: whisper-large-v3, trim, 1 s
#: clips on an H200 ran 1,653 clips/s at batch 32 and 3,078 at 64). On a CPU one 30 s window:
#: there a batch of long inputs runs slower per clip than one input at a time (whisper-base, 30 s
#: windows: 16 clips a batch took 40 s where one at a time took 28 s), while short clips still
#: gain from batching.
GPU_BATCH = (512, 480.0)
CPU_BATCH = (16, 30.0)
#: Under torchrun ranks take whole batches in turn: at least this many rounds of batches keep
#: them about equally busy (2,000 1 s clips on 8 ranks in 480-clip batches left 3 ranks idle).
ROUNDS_PER_RANK = 4
#: Clip headers read one by one before deciding whether to read the rest in threads, and the
#: mean time a header may take for the rest to be read one by one too (a cached WAV header
#: takes about 0.07 ms).
HEADER_PROBE = 64
SLOW_HEADER_SECONDS = 0.5e-3


@dataclass
class EmbedOptions:
    #: Clips per batch; None: up to ``GPU_BATCH`` or ``CPU_BATCH``.
    batch_size: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    #: Decoding processes; None: ``default_workers``.
    num_workers: int | None = None
    chunk_size: int = 512
    skip_bad: bool = False
    #: Batches each decoding worker prepares ahead of the encoder.
    prefetch: int = 4


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"--device {device}: not a device", "use auto, cpu, cuda or cuda:N") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine", "use --device cpu or auto")
    return resolved


def resolve_dtype(dtype: str, device: torch.device, encoder: Encoder | None = None) -> str:
    """``auto``: float32 on CPU; on GPU the checkpoint's own half precision (OpenAI's Whisper
    weights are float16; a bf16-trained export is bfloat16), else bfloat16."""
    if dtype == "auto":
        if device.type != "cuda":
            return "float32"
        native = encoder.checkpoint_dtype if encoder is not None else None  # a torch dtype, or its name on a card
        return "float16" if str(native).removeprefix("torch.") == "float16" else "bfloat16"
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype}: unknown", f"use auto or one of {', '.join(DTYPES)}")
    return dtype


@dataclass
class Batch:
    indices: list[int]
    waveforms: torch.Tensor
    lengths: torch.Tensor
    failures: list[tuple[int, str]]

    def pin_memory(self) -> Batch:
        self.waveforms = self.waveforms.pin_memory()
        return self


class DecodingDataset(Dataset):
    """Decodes one clip per item (cropped to the encoder's window); a failure is returned, not
    raised, so the main process decides whether to abort or skip."""

    def __init__(self, root: Path, clips: list[Clip], sample_rate: int, max_samples: int | None) -> None:
        self.root, self.clips, self.sample_rate, self.max_samples = root, clips, sample_rate, max_samples

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        clip = self.clips[i]
        try:
            audio = load_audio(self.root / clip.path, self.sample_rate, clip.start, clip.duration)
        except AudioReadError as err:
            return i, None, err.reason
        return i, audio[: self.max_samples] if self.max_samples else audio, None


def collate(items: list[tuple[int, np.ndarray | None, str | None]]) -> Batch:
    """Zero-pad the decoded clips to the longest (in the worker, off the main process)."""
    good = [(i, wave) for i, wave, _ in items if wave is not None]
    lengths = torch.tensor([len(wave) for _, wave in good], dtype=torch.long)
    waveforms = torch.zeros(len(good), int(lengths.max()) if good else 0)
    for row, (_, wave) in enumerate(good):
        waveforms[row, : len(wave)] = torch.from_numpy(wave)
    return Batch([i for i, _ in good], waveforms, lengths, [(i, error) for i, _, error in items if error])


def default_workers(device: torch.device, shard: Shard) -> int:
    """No workers on a CPU (decoding would take cores from the encoder); on a GPU this process's
    share of the machine's cores less its own, at most 8. torchrun's ranks on one machine split
    its cores, unless each is already bound to its own (``--numa-binding``)."""
    if device.type == "cpu":
        return 0
    machine = os.cpu_count() or 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else machine
    share = cores // shard.local_world_size if cores >= machine else cores
    return min(8, max(0, share - 1))


def bucketed(encoder: Encoder) -> bool:
    """Whether clip length changes the work: encoders without a fixed window, and trimmed ones."""
    return encoder.window_seconds is None or encoder.window.mode == "trim"


def clip_lengths(root: Path, clips: list[Clip], max_seconds: float | None) -> list[float]:
    """Seconds of each clip (cropped to the window) from file headers: one by one while they
    come fast (files in memory, where threads only contend for the GIL: 2,000 cached WAV headers
    took 0.08-0.09 s in turn, 0.39 s in 8 threads), in threads once the first ``HEADER_PROBE``
    took over ``SLOW_HEADER_SECONDS`` each (network or cold storage, where threads hide latency)."""
    def seconds(clip: Clip) -> float:
        length = audio_seconds(root / clip.path, clip.start, clip.duration)
        return length if max_seconds is None else min(length, max_seconds)

    start = time.perf_counter()
    first = [seconds(clip) for clip in clips[:HEADER_PROBE]]
    if time.perf_counter() - start < SLOW_HEADER_SECONDS * len(first):
        return first + [seconds(clip) for clip in clips[HEADER_PROBE:]]
    with ThreadPoolExecutor(max_workers=8) as threads:
        return first + list(threads.map(seconds, clips[HEADER_PROBE:]))


def batch_limits(batch_size: int | None, device: torch.device, clips: int, ranks: int = 1) -> tuple[int, float | None]:
    """Most clips and most seconds of encoder input a batch of ``clips`` to encode holds:
    ``batch_size`` clips when given, else the device's default, with batches small enough for
    ``ROUNDS_PER_RANK`` rounds when ``ranks`` processes share them."""
    if batch_size:
        return batch_size, None
    most_clips, most_seconds = CPU_BATCH if device.type == "cpu" else GPU_BATCH
    if ranks > 1:
        most_clips = min(most_clips, max(1, -(-clips // (ROUNDS_PER_RANK * ranks))))
    return most_clips, most_seconds


def plan_batches(lengths: list[float] | None, count: int, batch_size: int, max_seconds: float | None = None,
                 window_seconds: float | None = None) -> list[list[int]]:
    """Batches of indices into the clips to encode. With ``lengths`` (the seconds of input the
    encoder runs for each clip), clips are sorted longest first (ties in clip order) and cut
    into consecutive batches, so each batch holds clips of nearly one length (little padding)
    and the longest clips come first (memory errors show at once); without, batches follow clip
    order. ``max_seconds`` also bounds each batch's encoder input: its clips times the longest
    of them (``window_seconds`` each when the encoder runs a fixed window whole)."""
    order = list(range(count)) if lengths is None else sorted(range(count), key=lambda i: (-lengths[i], i))
    if max_seconds is None or (lengths is None and window_seconds is None):
        return [order[i:i + batch_size] for i in range(0, count, batch_size)]
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size:
            longest = window_seconds if lengths is None else lengths[batches[-1][0]]
            if (len(batches[-1]) + 1) * longest <= max_seconds:
                batches[-1].append(i)
                continue
        batches.append([i])
    return batches


def embed(encoder: Encoder, manifest: Manifest, cache_dir: Path, options: EmbedOptions,
          on_progress: Callable[[int], None] | None = None,
          on_notice: Callable[[str], None] | None = None) -> tuple[EmbeddingCache, EmbedReport]:
    """Make sure every clip of ``manifest`` is in the cache. Clips another ``embed`` process is
    encoding into the same cache are waited for, not encoded twice. Under torchrun every rank
    plans the same length-bucketed batches of the missing clips and encodes every
    ``world_size``-th one; every rank returns the whole run's report.

    ``on_progress(n)``: n more of this rank's clips done; ``on_notice(text)``: something to say
    once (a corrupt chunk discarded, a batch halved after running out of device memory)."""
    shard = current_shard()
    check_ranks(shard, len(manifest.clips), manifest.protocol_id)
    device = rank_device(resolve_device(options.device), shard)
    dtype = resolve_dtype(options.dtype, device, encoder)
    cache = open_cache(encoder, cache_dir, dtype)
    keys = [clip_key(manifest.root, clip) for clip in manifest.clips]
    join(shard, device)
    corrupt = cache.corrupt_chunks(keys) if shard.is_main else {}
    cache.discard(list(corrupt))
    if shard.distributed:  # rank 0's discards are seen by every rank
        barrier(shard)
        cache.refresh()
    missing = cache.missing(keys)
    barrier(shard)  # every rank planned from the same cache state before any rank writes
    report = EmbedReport(clips=len(keys), cache_hits=len(keys) - len(missing), encoded=0, seconds=0.0,
                         device=str(device), keys=keys,
                         discarded=[(str(cache.directory / f"{name}.npy"), why) for name, why in corrupt.items()])
    for path, why in report.discarded if on_notice else []:
        on_notice(f"discarded corrupt cache chunk {path} ({why}); its clips are encoded again")
    if on_progress and report.cache_hits and shard.is_main:
        on_progress(report.cache_hits)
    start = time.perf_counter()
    clips = [manifest.clips[i] for i in missing]
    lengths = clip_lengths(manifest.root, clips, encoder.window_seconds) if missing and bucketed(encoder) else None
    sizes = None if lengths is None else encoder.encoded_seconds(torch.tensor(lengths, dtype=torch.float64)).tolist()
    limits = batch_limits(options.batch_size, device, len(clips), shard.world_size)
    batches = shard.take(plan_batches(sizes, len(clips), *limits, encoder.window_seconds))
    try:
        failed = encode_share(encoder, manifest, clips, [keys[i] for i in missing], batches, cache, device, dtype,
                              options, report, on_progress, on_notice)
    except (RuntimeError, ConnectionError) as err:
        # A killed decoding worker surfaces as a reset connection (a batch half received) or as
        # torch's SIGCHLD error, raised wherever the main process happens to be.
        if not isinstance(err, ConnectionError) and "DataLoader worker" not in str(err):
            raise
        raise ExtractionError(f"an audio decoding worker died ({str(err).strip().splitlines()[0]}); "
                              "the chunks finished before it are kept",
                              "run again to resume; if memory is short, lower --workers") from err
    found_at_start = len(keys) - len(missing)
    ranks = gather(shard, (report.encoded, report.cache_hits - found_at_start, report.skipped, failed))
    report.encoded = sum(encoded for encoded, _, _, _ in ranks)
    report.cache_hits = found_at_start + sum(hits for _, hits, _, _ in ranks)
    report.skipped = [item for _, _, skipped, _ in ranks for item in skipped]
    every_failure = {key: reason for _, _, _, rank_failed in ranks for key, reason in rank_failed.items()}
    if every_failure and shard.is_main:
        cache.record_failures(every_failure)
    if shard.distributed:  # every rank's chunks are written
        barrier(shard)
        cache.refresh()
    report.seconds = time.perf_counter() - start
    return cache, report


def encode_share(encoder: Encoder, manifest: Manifest, clips: list[Clip], keys: list[str], batches: list[list[int]],
                 cache: EmbeddingCache, device: torch.device, dtype: str, options: EmbedOptions, report: EmbedReport,
                 on_progress: Callable[[int], None] | None, on_notice: Callable[[str], None] | None) -> dict[str, str]:
    """Encode this process's ``batches`` (indices into ``clips``, cache keys ``keys``), claiming
    them in the cache first: clips another process is encoding are left to it and waited for
    (then counted as cache hits). Returns the clips that failed to decode (under ``skip_bad``)."""
    done: set[int] = set()
    failed: dict[str, str] = {}
    while True:
        wanted = [i for batch in batches for i in batch if i not in done]
        if not wanted:
            return failed
        with cache.claim([keys[i] for i in wanted]) as claim:
            claimed = {wanted[i] for i in claim.todo}
            hits = len(wanted) - len(claim.todo) - len(claim.waiting)  # finished by others meanwhile
            report.cache_hits += hits
            if on_progress and hits:
                on_progress(hits)
            mine = [kept for kept in ([i for i in batch if i in claimed] for batch in batches) if kept]
            if mine:
                failed.update(encode_batches(encoder, manifest, clips, keys, mine, cache, device, dtype, options,
                                             report, on_progress, on_notice))
            done |= set(wanted) - {wanted[i] for i in claim.waiting}
        if not claim.waiting:
            return failed
        cache.wait_for(claim.holders)


def encode_batches(encoder: Encoder, manifest: Manifest, clips: list[Clip], keys: list[str],
                   batches: list[list[int]], cache: EmbeddingCache, device: torch.device, dtype: str,
                   options: EmbedOptions, report: EmbedReport, on_progress: Callable[[int], None] | None,
                   on_notice: Callable[[str], None] | None) -> dict[str, str]:
    """Decode ``batches`` of ``clips`` in workers, encode and pool them on ``device`` and write
    the cache chunk by chunk. Returns the clips that failed to decode (under ``skip_bad``)."""
    encoder.to(device)
    encoder.set_precision(DTYPES[dtype])
    dataset = DecodingDataset(manifest.root, clips, encoder.sample_rate, encoder.window_samples)
    workers = default_workers(device, current_shard()) if options.num_workers is None else options.num_workers
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate,
                        pin_memory=device.type == "cuda", prefetch_factor=options.prefetch if workers else None)
    run = BatchRunner(encoder, device, on_notice)
    failed: dict[str, str] = {}
    with torch.inference_mode(), ChunkWriter(cache, options.chunk_size) as chunks:
        for batch in loader:
            for i, reason in batch.failures:
                if not options.skip_bad:
                    raise AudioReadError(str(manifest.root / clips[i].path), reason)
                report.skipped.append((clips[i].id, reason))
                failed[keys[i]] = reason
            if batch.indices:
                chunks.add([keys[i] for i in batch.indices], run(batch))
                report.encoded += len(batch.indices)
            if on_progress:
                on_progress(len(batch.indices) + len(batch.failures))
    return failed


class ChunkWriter:
    """Gathers each batch's pooled rows into chunks of at least ``chunk_size`` clips and writes
    each (hashed, atomically) in one background thread, so encoding goes on meanwhile.

    A batch's rows are read one batch late, once the next batch is launched: on CUDA their copy
    to the host is then still running, and waiting for it leaves the device a batch of work.
    One chunk at most is in flight, so host memory stays at about two chunks: handing over the
    next waits for it. A failed write is raised in the caller's thread, at the next handover or
    on leaving the block. Leaving the block waits for the write in flight on every path (the
    rest is written on a normal exit only), so the caller's claim on the clips outlives their
    chunk's write. Only the writer thread touches the cache while a write is in flight."""

    def __init__(self, cache: EmbeddingCache, chunk_size: int) -> None:
        self.cache, self.chunk_size = cache, chunk_size
        self.keys: list[str] = []
        self.rows: list[np.ndarray] = []
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-writer")
        self.writing: Future | None = None
        #: The last batch added (its keys, its rows on their way to the host).
        self.arriving: tuple[list[str], HostCopy] | None = None

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        try:
            if error_type is None:
                self.receive()
                self.flush()
                self.wait()
        finally:
            # With an error already leaving, the write in flight is still waited for; its own
            # failure, if any, is secondary to that error and not raised.
            self.thread.shutdown(wait=True)

    def add(self, keys: list[str], rows: HostCopy) -> None:
        """Take a launched batch; gather the one added before it."""
        self.receive()
        self.arriving = (keys, rows)
        if len(self.keys) >= self.chunk_size:
            self.flush()

    def receive(self) -> None:
        """Wait for the rows of the last batch added and gather them."""
        if self.arriving is not None:
            keys, rows = self.arriving
            self.keys += keys
            self.rows.append(rows.numpy())
            self.arriving = None

    def flush(self) -> None:
        """Hand the rows gathered so far to the writer thread, once the previous chunk is written."""
        self.wait()
        if self.keys:
            self.writing = self.thread.submit(self.cache.write_chunk, self.keys, np.concatenate(self.rows))
            self.keys, self.rows = [], []

    def wait(self) -> None:
        """Block until the chunk in flight is written; raise its write's error."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()


def encode_and_pool(encoder: Encoder, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``[batch, poolings, layers, dim]`` float16 on the encoder's device: what the cache stores,
    pooled where the frames are, so one small transfer per batch reaches the host."""
    return pool(encoder(waveforms, lengths), encoder.window_seconds is not None, encoder.dim).to(torch.float16)


@dataclass
class HostCopy:
    """A batch's pooled rows on their way to the host: complete once ``copied`` (a CUDA event;
    None where the copy was synchronous) has passed."""

    rows: torch.Tensor
    copied: torch.cuda.Event | None = None

    @classmethod
    def start(cls, pooled: torch.Tensor) -> HostCopy:
        """On CUDA a copy into pinned memory queued behind the batch's work, so the host does not
        wait for the device; elsewhere the rows themselves."""
        if pooled.device.type != "cuda":
            return cls(pooled.cpu())
        rows = torch.empty(pooled.shape, dtype=pooled.dtype, pin_memory=True)
        rows.copy_(pooled, non_blocking=True)
        copied = torch.cuda.Event()
        copied.record(torch.cuda.current_stream(pooled.device))  # not the current device's: --device cuda:1
        return cls(rows, copied)

    def numpy(self) -> np.ndarray:
        if self.copied is not None:
            self.copied.synchronize()
        return self.rows.numpy()


class BatchRunner:
    """Encodes and pools one batch on the device with a single host transfer, started but not
    waited for (``HostCopy``). A batch that runs out of device memory is split in halves until
    it fits, and every later batch is cut to the encoder input that fitted (in
    ``encoded_seconds``: a batch of shorter clips still takes more of them); the first halving
    is announced through ``on_notice``."""

    def __init__(self, encoder: Encoder, device: torch.device, on_notice: Callable[[str], None] | None) -> None:
        self.encoder, self.device, self.on_notice = encoder, device, on_notice
        self.most_seconds: float | None = None  # encoder input known to fit, once a batch did not

    def __call__(self, batch: Batch) -> HostCopy:
        waveforms = batch.waveforms.to(self.device, non_blocking=True)
        lengths = batch.lengths  # stay on the host: the encoder decides shapes from them without a device sync
        clip_seconds = float(self.encoder.encoded_seconds(lengths.max()[None].double() / self.encoder.sample_rate)[0])
        while True:
            size = len(lengths)
            if self.most_seconds is not None:  # the epsilon: 3 x 0.06 / 0.06 is 2.9999... in floats
                size = max(1, min(size, int(self.most_seconds / clip_seconds + 1e-6)))
            try:
                pooled = [self.pooled(waveforms[i:i + size], lengths[i:i + size]) for i in range(0, len(lengths), size)]
                break
            except torch.OutOfMemoryError as err:
                if size == 1:
                    raise ConfigError(f"out of {self.device} memory encoding a single clip",
                                      "use a smaller --dtype, another device, or shorter clips") from err
                self.halve(size, clip_seconds)
        return HostCopy.start(torch.cat(pooled))

    def pooled(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Only the padding this slice needs: a halved batch of short clips stays short.
        return encode_and_pool(self.encoder, waveforms[:, : int(lengths.max())], lengths)

    def halve(self, size: int, clip_seconds: float) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if self.most_seconds is None and self.on_notice:
            self.on_notice(f"out of {self.device} memory at batch size {size}: halving to {size // 2} and retrying")
        self.most_seconds = size // 2 * clip_seconds


def cached(encoder: Encoder, manifest: Manifest, cache_dir: Path, dtype: str, device: str,
           skip_bad: bool = False) -> tuple[EmbeddingCache, EmbedReport]:
    """The cache and report of a finished ``embed`` run, without encoding anything.

    With ``dtype`` ``auto`` the cache is looked up in every precision, preferring the one
    ``embed`` would pick on ``device``, so embeddings made on a GPU are found on a CPU node."""
    resolved = resolve_device(device)
    preferred = resolve_dtype(dtype, resolved, encoder)
    candidates = [preferred] + ([d for d in DTYPES if d != preferred] if dtype == "auto" else [])
    keys = [clip_key(manifest.root, clip) for clip in manifest.clips]
    best: tuple[EmbeddingCache, list[int]] | None = None
    for candidate in candidates:
        settings = extraction_settings(encoder, candidate)
        if candidate != preferred and not (Path(cache_dir).expanduser() / settings.key).is_dir():
            continue
        cache = open_cache(encoder, cache_dir, candidate)
        missing = cache.missing(keys)
        if best is None or len(missing) < len(best[1]):
            best = (cache, missing)
    cache, missing = best
    corrupt = cache.corrupt_chunks(keys)
    if corrupt:
        name, problem = next(iter(corrupt.items()))
        more = f" (and {len(corrupt) - 1} more)" if len(corrupt) > 1 else ""
        raise CorruptChunkError(cache.directory / f"{name}.npy", problem + more)
    failures = cache.failures()
    unreadable = [i for i in missing if keys[i] in failures]
    if len(unreadable) < len(missing):
        raise CacheError(f"{len(missing) - len(unreadable)} of {len(keys)} clips of {manifest.protocol_id} are not "
                         f"cached for {encoder.name} in {cache.directory}",
                         "run `audiobench embed` with the same encoder, weights and --dtype first")
    if unreadable and not skip_bad:
        first = manifest.clips[unreadable[0]]
        raise AudioReadError(str(manifest.root / first.path),
                             f"failed to decode during embed ({failures[keys[unreadable[0]]]}); "
                             f"{len(unreadable)} such clip(s)")
    report = EmbedReport(clips=len(keys), cache_hits=len(keys) - len(unreadable), encoded=0, seconds=0.0,
                         device=str(resolved), keys=keys,
                         skipped=[(manifest.clips[i].id, failures[keys[i]]) for i in unreadable])
    return cache, report


def usable_mask(manifest: Manifest, report: EmbedReport) -> np.ndarray:
    skipped = {clip_id for clip_id, _ in report.skipped}
    return np.array([clip.id not in skipped for clip in manifest.clips])


def write_npz(path: Path, manifest: Manifest, cache: EmbeddingCache, report: EmbedReport, pooling: str,
              layer_dims: list[int]) -> int:
    """Write ``ids``, ``labels``, ``label_names``, ``split`` ([clips, folds] of train / valid /
    test or empty), ``fold`` (fold names), ``embeddings`` [clips, layers, widest] (float32) and
    ``layer_dims`` (each layer's width; narrower layers are zero-padded, so layer ``l`` is
    ``embeddings[:, l, :layer_dims[l]]``) for every usable clip; filled layer by layer so memory
    stays at one copy of the output."""
    rows = np.flatnonzero(usable_mask(manifest, report))
    keys = [report.keys[i] for i in rows]
    embeddings = np.zeros((len(rows), len(layer_dims), max(layer_dims)), dtype=np.float32)
    for layer, width in enumerate(layer_dims):
        if len(rows):
            embeddings[:, layer, :width] = cache.load(keys, pooling, layer)
    roles = np.full((len(manifest.clips), len(manifest.folds)), "", dtype=object)
    for f, fold in enumerate(manifest.folds):
        for role in ("train", "valid", "test"):
            roles[list(getattr(fold, role)), f] = role
    try:
        with atomic_path(Path(path)) as tmp, tmp.open("wb") as handle:
            np.savez(handle, ids=np.array([manifest.clips[i].id for i in rows]),
                     labels=np.array([manifest.clips[i].label for i in rows]),
                     label_names=np.array(manifest.label_names), split=roles[rows].astype(str),
                     fold=np.array([fold.name for fold in manifest.folds]), embeddings=embeddings,
                     layer_dims=np.array(layer_dims),
                     pooling=np.array(pooling))
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or err}", "choose a writable --npz path") from err
    return len(rows)
