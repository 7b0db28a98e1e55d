"""Probing cached embeddings fold by fold, and the result record of a run.

Reads forward only: manifest (tasks) + cache (embed) -> probe -> ``Result`` (results).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiobench import __version__
from audiobench.cache import EmbeddingCache, EmbedReport
from audiobench.encoders.description import EncoderDescription
from audiobench.errors import ConfigError, DataError
from audiobench.probes import make_probe, select
from audiobench.results import (EncoderInfo, Extraction, FoldPredictions, LayerScore, ProbeInfo, Result, Scores,
                                SkippedClip, SplitSize, TaskInfo, Timing, environment, now)
from audiobench.stats import bootstrap_ci, fold_mean, fold_std
from audiobench.tasks.base import Manifest


def parse_layers(spec: str, num_layers: int) -> list[int]:
    """``last`` | ``all`` | an index (negative counts from the end)."""
    if spec == "last":
        return [num_layers - 1]
    if spec == "all":
        return list(range(num_layers))
    try:
        index = int(spec)
    except ValueError:
        raise ConfigError(f"--layer {spec}: not a layer", "use last, all or an integer index") from None
    if not -num_layers <= index < num_layers:
        raise ConfigError(f"--layer {spec}: out of range", f"this encoder has layers 0..{num_layers - 1}")
    return [index % num_layers]


@dataclass
class ProbeOutcome:
    per_fold: dict[str, float]
    predictions: dict[str, dict[str, list]]
    selected: dict[str, dict[str, Any]]
    seconds: float
    #: Several seeds: seed -> fold -> accuracy (``per_fold`` is their mean; the predictions and
    #: selections are the first seed's).
    per_seed: dict[str, dict[str, float]] = field(default_factory=dict)
    ci95: tuple[float, float] | None = None

    @property
    def seed_std(self) -> float | None:
        return fold_std([fold_mean(list(f.values())) for f in self.per_seed.values()]) if self.per_seed else None

    @property
    def mean(self) -> float:
        return fold_mean(list(self.per_fold.values()))

    @property
    def std(self) -> float:
        return fold_std(list(self.per_fold.values()))

    @property
    def valid_mean(self) -> float | None:
        """Mean over folds of the validation accuracy; None when a fold had no validation data."""
        scores = [chosen.get("valid_accuracy") for chosen in self.selected.values()]
        return None if None in scores else fold_mean(scores)


def best_layer(outcomes: dict[int, ProbeOutcome], protocol_id: str, probe_name: str) -> int:
    """The layer with the best mean validation accuracy, never the best test accuracy; ties
    (within the probes' tie tolerance) go to the shallower layer."""
    valid = {layer: outcome.valid_mean for layer, outcome in outcomes.items()}
    if None in valid.values():
        raise ConfigError(f"--layer all picks the layer on validation data, and the {probe_name} probe on "
                          f"{protocol_id} has none", "use --probe logistic or mlp, or a fixed --layer")
    return select(valid, sorted(valid))


def probe_folds(manifest: Manifest, embeddings: np.ndarray, usable: np.ndarray, probe_name: str, seed: int,
                device: str = "cpu", on_fold: Callable[[int], None] | None = None) -> ProbeOutcome:
    """Fit a fresh probe per fold on ``embeddings`` (one row per manifest clip); clips with
    ``usable`` False (skipped as unreadable) are left out of every split."""
    labels = np.array([clip.label for clip in manifest.clips])
    groups = np.array([clip.group or clip.id for clip in manifest.clips])
    start = time.perf_counter()
    per_fold, predictions, selected = {}, {}, {}
    for fold in manifest.folds:
        train, valid, test = (np.array([i for i in getattr(fold, role) if usable[i]], dtype=int)
                              for role in ("train", "valid", "test"))
        if len(test) == 0:
            raise ConfigError(f"fold {fold.name} of {manifest.protocol_id} has no test clips",
                              "check the data tree with `audiobench data info`")
        check_fold(manifest, fold.name, embeddings, labels, {"train": train, "valid": valid, "test": test})
        probe = make_probe(probe_name, seed, device, manifest.balanced)
        probe.fit(embeddings[train], labels[train], embeddings[valid], labels[valid], groups[train],
                  n_classes=len(manifest.label_names))
        if "valid_accuracy" not in probe.selected_ and len(valid):  # a probe that does not validate (paper)
            probe.selected_["valid_accuracy"] = float((probe.predict(embeddings[valid]) == labels[valid]).mean())
        predicted = probe.predict(embeddings[test])
        per_fold[fold.name] = float((predicted == labels[test]).mean())
        predictions[fold.name] = {"ids": [manifest.clips[i].id for i in test],
                                  "y_true": labels[test].tolist(), "y_pred": predicted.tolist()}
        selected[fold.name] = probe.selected_
        if on_fold:
            on_fold(1)
    return ProbeOutcome(per_fold, predictions, selected, time.perf_counter() - start)


def probe_seeds(manifest: Manifest, embeddings: np.ndarray, usable: np.ndarray, probe_name: str, seeds: list[int],
                device: str = "cpu", on_fold: Callable[[int], None] | None = None) -> ProbeOutcome:
    """``probe_folds`` once per seed, merged: per-fold scores averaged over seeds, per-seed
    scores kept, and a 95% bootstrap interval over test clips (fold structure kept; each clip
    counts by its correctness averaged over the seeds)."""
    runs = [probe_folds(manifest, embeddings, usable, probe_name, seed, device, on_fold) for seed in seeds]
    first = runs[0]
    correct = {fold: np.mean([np.equal(run.predictions[fold]["y_true"], run.predictions[fold]["y_pred"])
                              for run in runs], axis=0) for fold in first.per_fold}
    per_fold = {fold: fold_mean([run.per_fold[fold] for run in runs]) for fold in first.per_fold}
    per_seed = {str(seed): run.per_fold for seed, run in zip(seeds, runs)} if len(runs) > 1 else {}
    return ProbeOutcome(per_fold, first.predictions, first.selected, sum(run.seconds for run in runs), per_seed,
                        bootstrap_ci(correct))


def check_fold(manifest: Manifest, fold: str, embeddings: np.ndarray, labels: np.ndarray,
               splits: dict[str, np.ndarray]) -> None:
    """Refuse a fold that cannot be probed honestly: non-finite features, a training split of
    one class, or a class to validate or test on that training never saw. One line naming the
    task, fold, split and class."""
    where = f"{manifest.protocol_id}, fold {fold}"
    for role, rows in splits.items():
        bad = rows[~np.isfinite(embeddings[rows]).all(axis=1)]
        if len(bad):
            clip = manifest.clips[bad[0]]
            raise DataError(f"{where}, {role} split: {len(bad)} clip(s) have NaN or inf features, e.g. {clip.id} "
                            f"(class {manifest.label_names[clip.label]})",
                            "check the audio (audiobench data info) and re-embed; no result was written")
    trained = set(labels[splits["train"]].tolist())
    if len(trained) < 2:
        only = ", ".join(manifest.label_names[c] for c in sorted(trained)) or "none"
        raise DataError(f"{where}, train split: only one class ({only}); a probe needs at least two",
                        "check the data tree and protocol (audiobench data info); no result was written")
    for role in ("valid", "test"):
        unseen = sorted(set(labels[splits[role]].tolist()) - trained)
        if unseen:
            raise DataError(f"{where}, {role} split: class {manifest.label_names[unseen[0]]} has no training clips"
                            + (f" (and {len(unseen) - 1} more)" if len(unseen) > 1 else ""),
                            "check the data tree and protocol (audiobench data info); no result was written")


def load_embeddings(cache: EmbeddingCache, report: EmbedReport, usable: np.ndarray, pooling: str,
                    layer: int, width: int) -> np.ndarray:
    """One row per manifest clip; rows of skipped clips stay zero and are never used."""
    embeddings = np.zeros((len(report.keys), width), dtype=np.float32)
    rows = np.flatnonzero(usable)
    embeddings[rows] = cache.load([report.keys[i] for i in rows], pooling, layer)
    return embeddings


def make_result(encoder: EncoderDescription, random_init: bool, manifest: Manifest, cache: EmbeddingCache,
                report: EmbedReport, probe_name: str, probe_settings: dict[str, Any], seed: int, layer: int,
                pooling: str, outcome: ProbeOutcome, curve: dict[int, ProbeOutcome] | None = None) -> Result:
    """The validated record of one probe run on cached embeddings; ``curve`` (``--layer all``)
    holds every probed layer's outcome, ``layer`` being the best on validation."""
    settings = cache.settings
    return Result(
        created=now(), audiobench_version=__version__,
        encoder=EncoderInfo(name=encoder.name, fingerprint=encoder.fingerprint, **encoder.provenance,
                            random_init=random_init, num_layers=encoder.num_layers, dim=encoder.dim,
                            sample_rate=encoder.sample_rate, identity=json_safe(encoder.identity())),
        extraction=Extraction(dtype=settings.dtype, sample_rate=settings.sample_rate,
                              window_seconds=settings.window_seconds, window=encoder.window.mode,
                              trim_multiple=encoder.window.multiple if encoder.window.mode == "trim" else None,
                              cache_key=settings.key),
        task=TaskInfo(name=manifest.task, protocol=manifest.protocol, protocol_id=manifest.protocol_id,
                      manifest_sha256=manifest.sha256,
                      split_sizes={fold: SplitSize(**sizes) for fold, sizes in manifest.split_sizes().items()},
                      num_classes=len(manifest.label_names), label_names=list(manifest.label_names),
                      clips=len(manifest.clips), skipped=[SkippedClip(id=i, reason=r) for i, r in report.skipped],
                      missing=len(manifest.missing)),
        probe=ProbeInfo(name=probe_name, settings=json_safe(probe_settings), seed=seed,
                        selected=json_safe(outcome.selected),
                        seeds=[int(s) for s in outcome.per_seed]),
        layer=layer, pooling=pooling,
        scores=Scores(per_fold=outcome.per_fold, mean=outcome.mean, std=outcome.std,
                      ci95=list(outcome.ci95) if outcome.ci95 else None, per_seed=outcome.per_seed,
                      seed_std=outcome.seed_std),
        predictions={fold: FoldPredictions(**block) for fold, block in outcome.predictions.items()},
        timing=Timing(embed_seconds=round(report.seconds, 3), probe_seconds=round(outcome.seconds, 3),
                      clips_encoded=report.encoded, cache_hits=report.cache_hits,
                      clips_per_second=report.clips_per_second),
        env=environment(report.device),
        layer_curve=[LayerScore(layer=index, valid=run.valid_mean, test=run.mean, per_fold=run.per_fold)
                     for index, run in sorted((curve or {}).items())],
    )


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types (numpy scalars, tuples and paths become numbers, lists, text)."""
    return json.loads(json.dumps(value, default=_plain))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)
