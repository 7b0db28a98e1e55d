"""The Python API: ``audiobench.run``, ``embed``, ``probe`` and ``compare``.

Every CLI command that embeds, probes or compares is one call here; the CLI only parses
options, shows progress and prints. Each call takes names (``encoder="whisper-base"``,
``task="esc50"``) or ready objects (an ``Encoder``, a ``Manifest``), checks every option before
any model is loaded, and returns typed objects: ``Embedding`` (cache + report), a list of
``Result`` (also written to ``results_dir`` unless it is None), a ``Comparison``.

Defaults: task data under ``$AUDIOBENCH_DATA/<task>`` (``~/.cache/audiobench/data/<task>``),
embeddings under ``$AUDIOBENCH_CACHE`` (``~/.cache/audiobench/embeddings``), results in
``./results``. Progress is reported through ``progress(description, total)`` (total None when
unknown), a context manager yielding ``advance(n)`` (the CLI passes rich progress bars); by default nothing is shown.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator, Sequence

from audiobench.files import ensure_writable

if TYPE_CHECKING:
    from audiobench.cache import EmbeddingCache
    from audiobench.encoders.base import Encoder
    from audiobench.extraction import EmbedReport
    from audiobench.leaderboard import Collection, Leaderboard, Skipped
    from audiobench.results import Result
    from audiobench.tasks.base import Manifest

Progress = Callable[[str, int | None], ContextManager[Callable[[int], None]]]
DEFAULT_RESULTS_DIR = Path("results")
TRIM_MULTIPLE = 50  # encoder positions (Whisper: 1 s); encoders.base.TRIM_MULTIPLE, without importing torch


def default_data_root(task: str) -> Path:
    base = os.environ.get("AUDIOBENCH_DATA")
    return Path(base) / task if base else Path.home() / ".cache" / "audiobench" / "data" / task


def default_cache_dir() -> Path:
    base = os.environ.get("AUDIOBENCH_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "audiobench" / "embeddings"


@contextmanager
def no_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    yield lambda n=1: None


@dataclass
class Embedding:
    """The cached embeddings of one encoder on one task's manifest."""

    encoder: Encoder
    manifest: Manifest
    cache: EmbeddingCache
    report: EmbedReport

    def save_npz(self, path: Path | str, pooling: str = "masked-mean") -> int:
        """Write the embeddings of every usable clip to ``path`` (see ``extraction.write_npz``);
        returns the number of clips written."""
        from audiobench.extraction import write_npz

        return write_npz(Path(path), self.manifest, self.cache, self.report, pooling, self.encoder.widths)

    def export_npz(self, path: Path | str, pooling: str = "masked-mean") -> int:
        """Deprecated name of ``save_npz`` (earlier READMEs showed it; "export" is ``audiobench export``)."""
        warnings.warn("Embedding.export_npz is renamed save_npz", DeprecationWarning, stacklevel=2)
        return self.save_npz(path, pooling)


@dataclass
class Comparison:
    """A leaderboard and the files it was read from (``skipped``: files that were not used)."""

    collection: Collection
    board: Leaderboard

    @property
    def skipped(self) -> list[Skipped]:
        return self.collection.skipped

    def markdown(self) -> str:
        from audiobench.formats import to_markdown

        return to_markdown(self.board)

    def text(self) -> str:
        from audiobench.formats import to_text

        return to_text(self.board)


def load_manifest(task: str, protocol: str | None = None, data_root: Path | str | None = None) -> Manifest:
    from audiobench.tasks import get_task

    return get_task(task).manifest(Path(data_root) if data_root else default_data_root(task), protocol)


def load_encoder(encoder: str | Encoder, weights: str | None = None, random_init: bool = False,
                 window: str | None = None, trim_multiple: int = TRIM_MULTIPLE,
                 trust_remote_code: bool = False) -> Encoder:
    """The named encoder (or the one given), set to run ``window`` (``full`` or ``trim``, see
    ``Encoder.set_window``; None keeps its own, full for a new one); trim on an encoder that
    cannot is a ``ConfigError``."""
    from audiobench.encoders import Window, build_encoder

    model = encoder if not isinstance(encoder, str) else build_encoder(encoder, weights, random_init,
                                                                      trust_remote_code=trust_remote_code)
    if window is not None:
        model.set_window(Window(window, trim_multiple))
    return model


def check_options(encoder: str | Encoder, task: str | Manifest, device: str = "auto", dtype: str = "auto",
                  pooling: str = "masked-mean", probe: str = "logistic", window: str | None = None,
                  trim_multiple: int = TRIM_MULTIPLE) -> None:
    """Reject bad names and option values before any slow work starts."""
    from audiobench.encoders import ENCODERS, Window
    from audiobench.evaluate import check_pooling
    from audiobench.extraction import resolve_device, resolve_dtype
    from audiobench.choices import PROBES
    from audiobench.tasks import TASKS

    if isinstance(encoder, str):
        ENCODERS.get(encoder)
    if isinstance(task, str):
        TASKS.get(task)
    resolve_dtype(dtype, resolve_device(device))
    check_pooling(pooling)
    PROBES.get(probe)
    Window(window or "full", trim_multiple)


def refuse_ranks(command: str) -> None:
    """Only ``embed`` shares its work among torchrun's processes."""
    from audiobench.errors import ConfigError
    from audiobench.sharding import current_shard

    shard = current_shard()
    if shard.distributed:
        raise ConfigError(f"`audiobench {command}` runs in one process, not under torchrun ({shard.world_size} ranks)",
                          "fill the cache with `torchrun ... -m audiobench embed`, then run it without torchrun")


def embed(encoder: str | Encoder, task: str | Manifest, *, protocol: str | None = None,
          data_root: Path | str | None = None, cache_dir: Path | str | None = None, weights: str | None = None,
          random_init: bool = False, device: str = "auto", dtype: str = "auto", batch_size: int = 16,
          workers: int | None = None, skip_bad: bool = False, window: str | None = None,
          trim_multiple: int = TRIM_MULTIPLE, progress: Progress = no_progress,
          notify: Callable[[str], None] | None = None) -> Embedding:
    """Make sure every clip of the task is in the embedding cache (every layer, both poolings).

    Under ``torchrun`` each process encodes its share of the missing clips (one GPU each); only
    rank 0 reports progress, counting its own share; every rank gets the whole run's report.
    ``notify`` hears what the user should be told once (a batch halved after running out of
    device memory)."""
    from audiobench.extraction import EmbedOptions
    from audiobench.extraction import embed as extract
    from audiobench.sharding import check_ranks, current_shard

    check_options(encoder, task, device, dtype, window=window, trim_multiple=trim_multiple)
    ensure_writable(Path(cache_dir or default_cache_dir()), "--cache-dir")
    manifest = task if not isinstance(task, str) else load_manifest(task, protocol, data_root)
    model = load_encoder(encoder, weights, random_init, window, trim_multiple)
    options = EmbedOptions(batch_size=batch_size, device=device, dtype=dtype, num_workers=workers, skip_bad=skip_bad)
    shard = current_shard()
    check_ranks(shard, len(manifest.clips), manifest.protocol_id)  # before any progress bar
    window_note = "" if model.window.mode == "full" else f" ({model.window.label} windows)"
    description = f"embedding {manifest.task} with {model.name}{window_note}"
    if shard.distributed:
        description += f", rank 0 of {shard.world_size}"
    total = None if shard.distributed else len(manifest.clips)  # rank 0 counts only its own share
    with (progress if shard.is_main else no_progress)(description, total) as advance:
        cache, report = extract(model, manifest, Path(cache_dir or default_cache_dir()), options, on_progress=advance,
                                on_notice=notify if shard.is_main else None)
    return Embedding(model, manifest, cache, report)


def cached(encoder: str | Encoder, task: str | Manifest, *, protocol: str | None = None,
           data_root: Path | str | None = None, cache_dir: Path | str | None = None, weights: str | None = None,
           random_init: bool = False, device: str = "auto", dtype: str = "auto", skip_bad: bool = False,
           window: str | None = None, trim_multiple: int = TRIM_MULTIPLE) -> Embedding:
    """The embeddings a finished ``embed`` left in the cache; never encodes (``CacheError`` if
    clips are missing). With ``dtype="auto"`` embeddings made in any precision are found."""
    from audiobench.extraction import cached as lookup

    check_options(encoder, task, device, dtype, window=window, trim_multiple=trim_multiple)
    manifest = task if not isinstance(task, str) else load_manifest(task, protocol, data_root)
    model = load_encoder(encoder, weights, random_init, window, trim_multiple)
    cache, report = lookup(model, manifest, Path(cache_dir or default_cache_dir()), dtype, device, skip_bad)
    return Embedding(model, manifest, cache, report)


def probe_embedding(embedding: Embedding, *, probe: str = "logistic", layer: str | int = "last",
                    pooling: str = "masked-mean", seed: int = 0, seeds: int = 1, device: str = "auto",
                    results_dir: Path | str | None = DEFAULT_RESULTS_DIR, random_init: bool = False,
                    progress: Progress = no_progress) -> list[Result]:
    """Probe cached embeddings (``layer``: ``last``, an index, or ``all``: every layer into one
    result with the per-layer curve, headed by the best layer on validation); ``seeds`` > 1
    repeats the probe with seeds ``seed, seed + 1, ...``. Each result is written to
    ``results_dir`` as ``result.filename`` unless it is None."""
    from audiobench.evaluate import best_layer, load_embeddings, make_result, parse_layers, probe_seeds
    from audiobench.extraction import resolve_device, usable_mask
    from audiobench.probes import make_probe
    from audiobench.results import write_result

    model, manifest, report = embedding.encoder, embedding.manifest, embedding.report
    layers = parse_layers(str(layer), model.num_layers)
    usable = usable_mask(manifest, report)
    probe_device = str(resolve_device(device))
    settings = make_probe(probe, seed, probe_device, manifest.balanced).settings()
    outcomes = {}
    with progress(f"probing ({probe})", len(layers) * len(manifest.folds) * seeds) as advance:
        for index in layers:
            embeddings = load_embeddings(embedding.cache, report, usable, pooling, index, model.widths[index])
            outcomes[index] = probe_seeds(manifest, embeddings, usable, probe, list(range(seed, seed + seeds)),
                                          probe_device, on_fold=advance)
    if str(layer) == "all":
        best = best_layer(outcomes, manifest.protocol_id, probe)
        runs = [(best, outcomes[best], outcomes)]
    else:
        runs = [(index, outcome, None) for index, outcome in outcomes.items()]
    results = []
    for index, outcome, curve in runs:
        result = make_result(model, random_init, manifest, embedding.cache, report, probe, settings, seed, index,
                             pooling, outcome, curve)
        if results_dir is not None:
            write_result(result, Path(results_dir))
        results.append(result)
    return results


def probe(encoder: str | Encoder, task: str | Manifest, *, protocol: str | None = None, probe: str = "logistic",
          layer: str | int = "last", pooling: str = "masked-mean", seed: int = 0, seeds: int = 1,
          device: str = "auto", dtype: str = "auto", data_root: Path | str | None = None,
          cache_dir: Path | str | None = None,
          results_dir: Path | str | None = DEFAULT_RESULTS_DIR, weights: str | None = None,
          random_init: bool = False, skip_bad: bool = False, window: str | None = None,
          trim_multiple: int = TRIM_MULTIPLE, progress: Progress = no_progress) -> list[Result]:
    """Probe embeddings already in the cache (``embed`` first); never encodes."""
    check_options(encoder, task, device, dtype, pooling, probe, window, trim_multiple)
    refuse_ranks("probe")
    if results_dir is not None:
        ensure_writable(Path(results_dir), "--results-dir")
    model = _with_layer(load_encoder(encoder, weights, random_init, window, trim_multiple), layer)
    embedding = cached(model, task, protocol=protocol, data_root=data_root, cache_dir=cache_dir, device=device,
                       dtype=dtype, skip_bad=skip_bad, window=window, trim_multiple=trim_multiple)
    return probe_embedding(embedding, probe=probe, layer=layer, pooling=pooling, seed=seed, seeds=seeds,
                           device=device,
                           results_dir=results_dir, random_init=random_init, progress=progress)


def run(encoder: str | Encoder, task: str | Manifest, *, protocol: str | None = None, probe: str = "logistic",
        layer: str | int = "last", pooling: str = "masked-mean", seed: int = 0, seeds: int = 1,
        device: str = "auto", dtype: str = "auto", batch_size: int = 16, workers: int | None = None,
        data_root: Path | str | None = None,
        cache_dir: Path | str | None = None, results_dir: Path | str | None = DEFAULT_RESULTS_DIR,
        weights: str | None = None, random_init: bool = False, skip_bad: bool = False, window: str | None = None,
        trim_multiple: int = TRIM_MULTIPLE, progress: Progress = no_progress,
        notify: Callable[[str], None] | None = None) -> list[Result]:
    """Embed (cached) and probe: one ``Result`` per layer, written to ``results_dir``."""
    check_options(encoder, task, device, dtype, pooling, probe, window, trim_multiple)
    refuse_ranks("run")
    if results_dir is not None:  # checked before the embedding work, not after it
        ensure_writable(Path(results_dir), "--results-dir")
    ensure_writable(Path(cache_dir or default_cache_dir()), "--cache-dir")
    manifest = task if not isinstance(task, str) else load_manifest(task, protocol, data_root)
    model = _with_layer(load_encoder(encoder, weights, random_init, window, trim_multiple), layer)
    embedding = embed(model, manifest, cache_dir=cache_dir, device=device, dtype=dtype, batch_size=batch_size,
                      workers=workers, skip_bad=skip_bad, window=window, trim_multiple=trim_multiple,
                      progress=progress, notify=notify)
    return probe_embedding(embedding, probe=probe, layer=layer, pooling=pooling, seed=seed, seeds=seeds,
                           device=device,
                           results_dir=results_dir, random_init=random_init, progress=progress)


def _with_layer(model: Encoder, layer: str | int) -> Encoder:
    """``model``, once ``layer`` is known to exist in it (checked before any embedding work)."""
    from audiobench.evaluate import parse_layers

    parse_layers(str(layer), model.num_layers)
    return model


def compare(paths: Sequence[Path | str] | Path | str = (DEFAULT_RESULTS_DIR,), *, baseline: str | None = None,
            force: bool = False, with_reference: bool = False) -> Comparison:
    """Read result (and reference) files, directories recursively, into a leaderboard."""
    from audiobench.leaderboard import build_leaderboard, collect

    inputs = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    collection = collect(inputs)
    board = build_leaderboard(collection.entries, baseline=baseline, force=force, with_reference=with_reference)
    return Comparison(collection, board)
