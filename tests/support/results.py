"""Fabricated, schema-valid result dicts and result files, for the compare, report and CLI tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audiobench.results import result_filename

MANIFEST = "a" * 64
OTHER_MANIFEST = "b" * 64


def make_result(encoder: str = "whisper-base", protocol_id: str = "esc50/5fold", accuracy: float = 0.8,
                std: float = 0.01, *, layer: int | None = None, num_layers: int = 7, pooling: str = "masked-mean",
                probe: str = "logistic", manifest: str = MANIFEST, created: str = "2026-11-01T00:00:00+00:00",
                predictions: dict | None = None, clips_per_second: float = 40.0, clips_encoded: int = 100,
                device: str = "cpu", random_init: bool = False, folds: int = 2) -> dict[str, Any]:
    """A valid schema-1 result; ``layer`` defaults to the encoder's last layer."""
    task, protocol = protocol_id.split("/")
    per_fold = {str(fold): accuracy for fold in range(1, folds + 1)}
    return {
        "schema_version": 1, "kind": "measured", "created": created, "audiobench_version": "0.1.0",
        "encoder": {"name": encoder, "fingerprint": "f" * 64, "weights": None, "random_init": random_init,
                    "num_layers": num_layers, "dim": 8, "sample_rate": 16000},
        "task": {"name": task, "protocol": protocol, "protocol_id": protocol_id, "manifest_sha256": manifest,
                 "split_sizes": {}, "num_classes": 2, "label_names": ["a", "b"], "clips": 10, "skipped": [],
                 "missing": 0},
        "probe": {"name": probe, "settings": {}, "seed": 0, "selected": {}},
        "layer": num_layers - 1 if layer is None else layer,
        "pooling": pooling,
        "scores": {"metric": "accuracy", "per_fold": per_fold, "mean": accuracy, "std": std},
        "predictions": predictions or {},
        "timing": {"embed_seconds": clips_encoded / clips_per_second if clips_per_second else 0.0,
                   "probe_seconds": 1.0, "clips_encoded": clips_encoded, "cache_hits": 0,
                   "clips_per_second": clips_per_second},
        "env": {"device": device, "python": "3.11", "platform": "test", "git_commit": None, "packages": {}},
    }


def write(directory: Path, result: dict[str, Any], name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or result_filename(result))
    path.write_text(json.dumps(result))
    return path


def predictions(correct: dict[str, list[bool]]) -> dict[str, dict[str, list]]:
    """Per-fold predictions where clip ``f{fold}-{i}`` is right exactly when ``correct[fold][i]``."""
    return {fold: {"ids": [f"f{fold}-{i}" for i in range(len(flags))], "y_true": [1] * len(flags),
                   "y_pred": [1 if ok else 0 for ok in flags]} for fold, flags in correct.items()}
