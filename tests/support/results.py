"""Fabricated results built through the ``Result`` model (so they follow the schema by
construction), and result files, for the compare, report and CLI tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audiobench.results import (EncoderInfo, Environment, Extraction, ProbeInfo, Result, Scores, TaskInfo, Timing,
                                parse_result)

MANIFEST = "a" * 64
OTHER_MANIFEST = "b" * 64


def make_result(encoder: str = "whisper-base", protocol_id: str = "esc50/5fold", accuracy: float = 0.8,
                std: float = 0.01, *, layer: int | None = None, num_layers: int = 7, pooling: str = "masked-mean",
                probe: str = "logistic", manifest: str = MANIFEST, created: str = "2026-11-01T00:00:00+00:00",
                predictions: dict | None = None, clips_per_second: float = 40.0, clips_encoded: int = 100,
                device: str = "cpu", random_init: bool = False, folds: int = 2,
                dtype: str = "float32") -> dict[str, Any]:
    """A valid result as the JSON dict a file holds; ``layer`` defaults to the encoder's last
    layer. With ``predictions`` the per-fold scores are their accuracies (the schema requires
    it), otherwise every fold scores ``accuracy``."""
    task, protocol = protocol_id.split("/")
    if predictions:
        per_fold = {fold: sum(t == p for t, p in zip(b["y_true"], b["y_pred"])) / len(b["ids"])
                    for fold, b in predictions.items()}
    else:
        per_fold = {str(fold): accuracy for fold in range(1, folds + 1)}
    result = Result(
        created=created, audiobench_version="0.1.0",
        encoder=EncoderInfo(name=encoder, fingerprint="f" * 64, random_init=random_init, num_layers=num_layers,
                            dim=8, sample_rate=16000),
        extraction=Extraction(dtype=dtype, sample_rate=16000, cache_key="c" * 24),
        task=TaskInfo(name=task, protocol=protocol, protocol_id=protocol_id, manifest_sha256=manifest,
                      num_classes=2, label_names=["a", "b"], clips=10),
        probe=ProbeInfo(name=probe),
        layer=num_layers - 1 if layer is None else layer, pooling=pooling,
        scores=Scores(per_fold=per_fold, mean=sum(per_fold.values()) / len(per_fold), std=std),
        predictions=predictions or {},
        timing=Timing(embed_seconds=clips_encoded / clips_per_second if clips_per_second else 0.0, probe_seconds=1.0,
                      clips_encoded=clips_encoded, clips_per_second=clips_per_second or None),
        env=Environment(device=device, python="3.11", platform="test"),
    )
    return json.loads(result.to_json())


def write(directory: Path, result: dict[str, Any], name: str | None = None) -> Path:
    """Write ``result`` as given (possibly made invalid on purpose) under its schema file name."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or parse_result(result, directory).filename)
    path.write_text(json.dumps(result))
    return path


def predictions(correct: dict[str, list[bool]]) -> dict[str, dict[str, list]]:
    """Per-fold predictions where clip ``f{fold}-{i}`` is right exactly when ``correct[fold][i]``."""
    return {fold: {"ids": [f"f{fold}-{i}" for i in range(len(flags))], "y_true": [1] * len(flags),
                   "y_pred": [1 if ok else 0 for ok in flags]} for fold, flags in correct.items()}
