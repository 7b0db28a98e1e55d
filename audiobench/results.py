"""Result files: one JSON per (encoder, task/protocol, probe, pooling, layer) run.

The schema is versioned (``schema_version``); ``load_result`` validates the fields every
consumer relies on and migrates older versions forward. Writes are atomic.

Schema (version 1)::

    schema_version   1
    kind             "measured" (run by audiobench) or "reported" (copied from a paper)
    created          ISO-8601 UTC time
    audiobench_version
    encoder          {name, fingerprint, weights, random_init, num_layers, dim, sample_rate}
    task             {name, protocol, protocol_id ("task/protocol"), manifest_sha256,
                      split_sizes {fold: {train, valid, test}}, num_classes, label_names,
                      clips, skipped [{id, reason}], missing}
    probe            {name, settings {...}, seed, selected {fold: {...}}}
    layer            int, 0 = the encoder's input embeddings, num_layers - 1 = last
    pooling          "masked-mean" | "padded-mean"
    scores           {metric: "accuracy", per_fold {fold: float}, mean, std}
                     accuracy is a fraction in [0, 1]; std is the sample std (ddof=1) over
                     folds, 0.0 for one fold
    predictions      {fold: {ids [...], y_true [...], y_pred [...]}} (test items, for paired tests)
    timing           {embed_seconds, probe_seconds, clips_encoded, cache_hits, clips_per_second}
    env              {device, python, platform, git_commit, packages {name: version}}
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from audiobench import __version__
from audiobench.errors import ResultsError
from audiobench.files import atomic_write_text

SCHEMA_VERSION = 1
REQUIRED = ("encoder", "task", "scores")
PACKAGES = ("torch", "transformers", "numpy", "scikit-learn", "soundfile", "soxr")


def environment(device: str) -> dict[str, Any]:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"device": device, "python": sys.version.split()[0], "platform": platform.platform(),
            "git_commit": git_commit(), "packages": {"audiobench": __version__, **packages}}


def git_commit() -> str | None:
    """The commit of the audiobench checkout this code runs from; None for an installed copy
    (which may sit inside some other repository)."""
    checkout = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=checkout,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != checkout:
        return None
    return lines[1]


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def result_filename(result: dict[str, Any]) -> str:
    task = result["task"]
    # The fingerprint keeps runs of one encoder name with other weights (or random init) apart.
    encoder = f"{result['encoder']['name']}-{result['encoder']['fingerprint'][:8]}"
    parts = [encoder, f"{task['name']}.{task['protocol']}", result["probe"]["name"], result["pooling"],
             f"L{result['layer']}"]
    seed = result["probe"].get("seed", 0)
    return "__".join(parts + ([f"seed{seed}"] if seed else [])) + ".json"


def write_result(result: dict[str, Any], results_dir: Path) -> Path:
    path = Path(results_dir) / result_filename(result)
    try:
        atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    except OSError as err:
        raise ResultsError(f"cannot write {path}: {err.strerror or err}", "pass a writable --results-dir") from err
    return path


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older result forward to ``SCHEMA_VERSION`` (only version 1 exists so far)."""
    return data


def load_result(path: Path) -> dict[str, Any]:
    """Read and validate one result file; ``ResultsError`` names the file and what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: not a readable JSON file ({err})", "delete or regenerate it") from err
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ResultsError(f"{path}: not an audiobench result (no schema_version)", "remove it from the results directory")
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsError(f"{path}: schema_version {version!r} is newer than this audiobench supports "
                           f"({SCHEMA_VERSION})", "upgrade audiobench")
    data = migrate(data)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ResultsError(f"{path}: missing field(s) {', '.join(missing)}", "regenerate it with audiobench run")
    data.setdefault("kind", "measured")
    return data
