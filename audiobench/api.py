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

One module (about 400 lines) on purpose: the public calls share their option checks and one
rule of when an encoder is built or only described (``describe_encoder``), read in one place.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator, Sequence

from audiobench.encoders.window import TRIM_MULTIPLE
from audiobench.files import ensure_writable

if TYPE_CHECKING:
    from audiobench.cache import EmbeddingCache, EmbedReport
    from audiobench.encoders.base import Encoder
    from audiobench.encoders.description import EncoderDescription
    from audiobench.leaderboard import Collection, Leaderboard, Skipped
    from audiobench.results import Result
    from audiobench.tasks.base import Manifest

Progress = Callable[[str, int | None], ContextManager[Callable[[int], None]]]
DEFAULT_RESULTS_DIR = Path("results")


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
    """The cached embeddings of one encoder on one task's manifest. ``encoder`` is the built
    encoder, or its recorded description when nothing had to be encoded."""

    encoder: EncoderDescription
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


def describe_encoder(encoder: str | EncoderDescription, weights: str | None = None, random_init: bool = False,
                     window: str | None = None, trim_multiple: int = TRIM_MULTIPLE, trust_remote_code: bool = False,
                     cache_dir: Path | str | None = None,
                     notify: Callable[[str], None] | None = None) -> EncoderDescription:
    """The named encoder's description recorded in ``cache_dir`` by an earlier build (see
    ``encoders.description``), set to run ``window``; else the encoder built, and recorded."""
    from audiobench.encoders import Window
    from audiobench.encoders.description import read_card

    if not isinstance(encoder, str):
        return load_encoder(encoder, window=window, trim_multiple=trim_multiple)
    key = _card_key(encoder, weights, random_init, trust_remote_code)
    card = read_card(Path(cache_dir or default_cache_dir()), key) if key else None
    if card is None:
        return _build_and_record(encoder, weights, random_init, window, trim_multiple, trust_remote_code, cache_dir,
                                 notify, key)
    if window is not None:
        card.set_window(Window(window, trim_multiple))
    return card


def _card_key(encoder: str | EncoderDescription, weights: str | None, random_init: bool,
              trust_remote_code: bool) -> str | None:
    """Where the card of a named encoder is recorded; None for ready objects and remote code
    (which may change without any file of the weights changing)."""
    from audiobench.encoders import ENCODERS
    from audiobench.encoders.description import card_key

    if not isinstance(encoder, str) or trust_remote_code:
        return None
    spec = ENCODERS.get(encoder)
    return card_key(spec.name, spec.kwargs, weights or spec.default_weights, random_init)


def _build_and_record(encoder: str | EncoderDescription, weights: str | None, random_init: bool, window: str | None,
                      trim_multiple: int, trust_remote_code: bool, cache_dir: Path | str | None,
                      notify: Callable[[str], None] | None, key: str | None) -> Encoder:
    """Build the encoder, say what loading skipped (if anything) and record its card under
    ``key`` (``_card_key``; None: not recorded)."""
    from audiobench.encoders.description import EncoderCard, write_card

    model = load_encoder(encoder, weights, random_init, window, trim_multiple, trust_remote_code)
    if notify and model.load_report and isinstance(encoder, str):
        notify(f"{encoder}: {model.load_report}")
    if key:
        write_card(Path(cache_dir or default_cache_dir()), key, EncoderCard.of(model))
    return model


def _reuse(card: EncoderDescription, manifest: Manifest, cache_dir: Path, device: str,
           dtype: str) -> tuple[EmbeddingCache, EmbedReport] | None:
    """The cache and report when every clip is cached for ``card`` in the precision ``embed``
    would run; on the CPU without importing torch."""
    from audiobench.cache import complete_cache

    if device == "cpu":
        return complete_cache(card, manifest, cache_dir, "float32" if dtype == "auto" else dtype, "cpu")
    from audiobench.extraction import resolve_device, resolve_dtype

    resolved = resolve_device(device)
    return complete_cache(card, manifest, cache_dir, resolve_dtype(dtype, resolved, card), str(resolved))


def check_options(encoder: str | Encoder, task: str | Manifest, device: str = "auto", dtype: str = "auto",
                  pooling: str = "masked-mean", probe: str = "logistic", window: str | None = None,
                  trim_multiple: int = TRIM_MULTIPLE) -> None:
    """Reject bad names and option values before any slow work starts."""
    from audiobench.choices import DTYPE_CHOICES, POOLINGS, PROBES
    from audiobench.encoders import ENCODERS, Window
    from audiobench.errors import ConfigError
    from audiobench.tasks import TASKS

    if isinstance(encoder, str):
        ENCODERS.get(encoder)
    if isinstance(task, str):
        TASKS.get(task)
    if dtype not in DTYPE_CHOICES:
        raise ConfigError(f"--dtype {dtype}: unknown", f"use one of {', '.join(DTYPE_CHOICES)}")
    if device != "cpu":  # torch checks the name and that the device exists (the CPU needs no torch)
        from audiobench.extraction import resolve_device

        resolve_device(device)
    if pooling not in POOLINGS:
        raise ConfigError(f"--pooling {pooling}: unknown", f"use one of {', '.join(POOLINGS)}")
    PROBES.check(probe)
    Window(window or "full", trim_multiple)


def refuse_ranks(command: str) -> None:
    """Only ``embed`` shares its work among torchrun's processes."""
    from audiobench.errors import ConfigError
    from audiobench.sharding import current_shard

    shard = current_shard()
    if shard.distributed:
        raise ConfigError(f"`audiobench {command}` runs in one process, not under torchrun ({shard.world_size} ranks)",
                          "fill the cache with `torchrun ... -m audiobench embed`, then run it without torchrun")


def embed(encoder: str | EncoderDescription, task: str | Manifest, *, protocol: str | None = None,
          data_root: Path | str | None = None, cache_dir: Path | str | None = None, weights: str | None = None,
          random_init: bool = False, device: str = "auto", dtype: str = "auto", batch_size: int | None = None,
          workers: int | None = None, skip_bad: bool = False, window: str | None = None,
          trim_multiple: int = TRIM_MULTIPLE, trust_remote_code: bool = False, compile: bool = False,
          progress: Progress = no_progress, notify: Callable[[str], None] | None = None) -> Embedding:
    """Make sure every clip of the task is in the embedding cache (every layer, both poolings).

    Under ``torchrun`` each process encodes its share of the missing clips (one GPU each); only
    rank 0 reports progress, counting its own share; every rank gets the whole run's report.
    ``notify`` hears what the user should be told once (a corrupt cache chunk discarded, a
    batch halved after running out of device memory). ``compile``: ``torch.compile`` the
    encoder's network first (GPUs, many clips).

    When the encoder's description was recorded by an earlier build and every clip is cached,
    the model is not built (nor, on the CPU, torch imported): ``Embedding.encoder`` is then
    that description."""
    from audiobench.encoders.description import EncoderCard
    from audiobench.errors import ConfigError
    from audiobench.sharding import check_ranks, current_shard

    check_options(encoder, task, device, dtype, window=window, trim_multiple=trim_multiple)
    cache_path = Path(cache_dir or default_cache_dir())
    ensure_writable(cache_path, "--cache-dir")
    manifest = task if not isinstance(task, str) else load_manifest(task, protocol, data_root)
    shard = current_shard()
    check_ranks(shard, len(manifest.clips), manifest.protocol_id)  # before any progress bar
    model = describe_encoder(encoder, weights, random_init, window, trim_multiple, trust_remote_code, cache_path,
                             notify)
    if isinstance(model, EncoderCard):
        # Under torchrun every rank must take the same path: the ranks always extract together.
        hit = None if shard.distributed else _reuse(model, manifest, cache_path, device, dtype)
        if hit:
            return Embedding(model, manifest, *hit)
        if not isinstance(encoder, str):
            raise ConfigError(f"clips of {manifest.protocol_id} are not cached for {model.name}, and a recorded "
                              "description cannot encode them", f"pass the encoder's name, {model.name!r}")
        model = _build_and_record(encoder, weights, random_init, window, trim_multiple, trust_remote_code,
                                  cache_path, notify, _card_key(encoder, weights, random_init, trust_remote_code))
    from audiobench.extraction import EmbedOptions
    from audiobench.extraction import embed as extract

    if compile:  # before any progress: an encoder without a network is refused at once
        model.compile_network()
    options = EmbedOptions(batch_size=batch_size, device=device, dtype=dtype, num_workers=workers, skip_bad=skip_bad)
    window_note = "" if model.window.mode == "full" else f" ({model.window.label} windows)"
    description = f"embedding {manifest.task} with {model.name}{window_note}"
    if shard.distributed:
        description += f", rank 0 of {shard.world_size}"
    total = None if shard.distributed else len(manifest.clips)  # rank 0 counts only its own share
    with (progress if shard.is_main else no_progress)(description, total) as advance:
        cache, report = extract(model, manifest, cache_path, options, on_progress=advance,
                                on_notice=notify if shard.is_main else None)
    return Embedding(model, manifest, cache, report)


def cached(encoder: str | EncoderDescription, task: str | Manifest, *, protocol: str | None = None,
           data_root: Path | str | None = None, cache_dir: Path | str | None = None, weights: str | None = None,
           random_init: bool = False, device: str = "auto", dtype: str = "auto", skip_bad: bool = False,
           window: str | None = None, trim_multiple: int = TRIM_MULTIPLE, trust_remote_code: bool = False,
           notify: Callable[[str], None] | None = None) -> Embedding:
    """The embeddings a finished ``embed`` left in the cache; never encodes (``CacheError`` if
    clips are missing), and builds the encoder only when no earlier build recorded its
    description. With ``dtype="auto"`` embeddings made in any precision are found."""
    from audiobench.extraction import cached as lookup

    check_options(encoder, task, device, dtype, window=window, trim_multiple=trim_multiple)
    manifest = task if not isinstance(task, str) else load_manifest(task, protocol, data_root)
    cache_path = Path(cache_dir or default_cache_dir())
    model = describe_encoder(encoder, weights, random_init, window, trim_multiple, trust_remote_code, cache_path,
                             notify)
    cache, report = lookup(model, manifest, cache_path, dtype, device, skip_bad)
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


def probe(encoder: str | EncoderDescription, task: str | Manifest, *, protocol: str | None = None,
          probe: str = "logistic", layer: str | int = "last", pooling: str = "masked-mean", seed: int = 0,
          seeds: int = 1, device: str = "auto", dtype: str = "auto", data_root: Path | str | None = None,
          cache_dir: Path | str | None = None,
          results_dir: Path | str | None = DEFAULT_RESULTS_DIR, weights: str | None = None,
          random_init: bool = False, skip_bad: bool = False, window: str | None = None,
          trim_multiple: int = TRIM_MULTIPLE, trust_remote_code: bool = False, progress: Progress = no_progress,
          notify: Callable[[str], None] | None = None) -> list[Result]:
    """Probe embeddings already in the cache (``embed`` first); never encodes, and builds the
    encoder only when no earlier build recorded its description."""
    check_options(encoder, task, device, dtype, pooling, probe, window, trim_multiple)
    refuse_ranks("probe")
    if results_dir is not None:
        ensure_writable(Path(results_dir), "--results-dir")
    model = _with_layer(describe_encoder(encoder, weights, random_init, window, trim_multiple, trust_remote_code,
                                         cache_dir, notify), layer)
    embedding = cached(model, task, protocol=protocol, data_root=data_root, cache_dir=cache_dir, device=device,
                       dtype=dtype, skip_bad=skip_bad, window=window, trim_multiple=trim_multiple)
    return probe_embedding(embedding, probe=probe, layer=layer, pooling=pooling, seed=seed, seeds=seeds,
                           device=device,
                           results_dir=results_dir, random_init=random_init, progress=progress)


def run(encoder: str | EncoderDescription, task: str | Manifest, *, protocol: str | None = None,
        probe: str = "logistic", layer: str | int = "last", pooling: str = "masked-mean", seed: int = 0,
        seeds: int = 1, device: str = "auto", dtype: str = "auto", batch_size: int | None = None,
        workers: int | None = None,
        data_root: Path | str | None = None,
        cache_dir: Path | str | None = None, results_dir: Path | str | None = DEFAULT_RESULTS_DIR,
        weights: str | None = None, random_init: bool = False, skip_bad: bool = False, window: str | None = None,
        trim_multiple: int = TRIM_MULTIPLE, trust_remote_code: bool = False, compile: bool = False,
        progress: Progress = no_progress, notify: Callable[[str], None] | None = None) -> list[Result]:
    """Embed (cached) and probe: one ``Result`` per layer, written to ``results_dir``."""
    check_options(encoder, task, device, dtype, pooling, probe, window, trim_multiple)
    refuse_ranks("run")
    if results_dir is not None:  # checked before the embedding work, not after it
        ensure_writable(Path(results_dir), "--results-dir")
    ensure_writable(Path(cache_dir or default_cache_dir()), "--cache-dir")
    manifest = task if not isinstance(task, str) else load_manifest(task, protocol, data_root)
    from audiobench.encoders.description import EncoderCard

    model = _with_layer(describe_encoder(encoder, weights, random_init, window, trim_multiple, trust_remote_code,
                                         cache_dir, notify), layer)
    # A recorded description goes back as the name: embed builds the encoder if clips are missing.
    embedding = embed(encoder if isinstance(model, EncoderCard) else model, manifest, cache_dir=cache_dir,
                      weights=weights, random_init=random_init, device=device, dtype=dtype, batch_size=batch_size,
                      workers=workers, skip_bad=skip_bad, window=window, trim_multiple=trim_multiple,
                      trust_remote_code=trust_remote_code, compile=compile, progress=progress, notify=notify)
    return probe_embedding(embedding, probe=probe, layer=layer, pooling=pooling, seed=seed, seeds=seeds,
                           device=device,
                           results_dir=results_dir, random_init=random_init, progress=progress)


def _with_layer(model: EncoderDescription, layer: str | int) -> EncoderDescription:
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
