"""Result files: the typed ``Result`` model (the schema's single source), and its file I/O.

One JSON file per run of (encoder, extraction settings, task manifest, probe, pooling, layer).
Every file is validated on write and on read: types, ranges, the mean equal to the mean of
the per-fold scores, and per-fold predictions consistent with the per-fold scores. Older
schema versions are migrated forward on read (``migrate``); files from a newer audiobench are
refused. ``docs/result.schema.json`` is the JSON Schema export of ``Result`` (kept current by
a test; regenerate with ``python -m audiobench.results docs/``).

Reference files hold numbers copied from papers (``ReferenceFile``): never measured results,
shown only on request, never ranked, never a baseline, never used by the gate.

Adding a field: add it to the sub-model it belongs to with a default, so files written
before it still validate; a change of meaning or a removal bumps ``SCHEMA_VERSION`` and adds a
step to ``migrate``.

(Longer than most modules on purpose: the models and the code that reads, migrates and writes
them change together, and one file is the schema a reader needs to see.)
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, model_validator

from audiobench import __version__
from audiobench.choices import POOLINGS, PRECISIONS, WINDOWS
from audiobench.errors import ResultsError
from audiobench.files import atomic_write_text
from audiobench.stats import fold_mean

SCHEMA_VERSION = 2
#: Versions ``migrate`` can read.
READABLE_VERSIONS = (1, 2)
KINDS = ("measured", "reported")
REFERENCE_FORMAT = "audiobench-reported-rows"
PACKAGES = ("torch", "transformers", "numpy", "scikit-learn", "soundfile", "soxr")
#: Scores are stored as float64 fractions; anything closer than this is the same score.
SCORE_TOLERANCE = 1e-6

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0.0)]


class Model(BaseModel):
    """Strict: ``true`` is not a number, a string is not a list; no NaN or infinity; unknown
    fields are errors (a typo must not vanish)."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class EncoderInfo(Model):
    name: str = Field(min_length=1)
    #: sha256 of ``identity``: what the cache key hashes.
    fingerprint: str = Field(pattern=r"^[0-9a-f]{16,64}$")
    weights: str | None = None
    revision: str | None = None
    random_init: bool = False
    num_layers: int = Field(ge=1)
    dim: int = Field(ge=1)
    sample_rate: int = Field(gt=0)
    #: The fields the fingerprint hashes (wrapper class and version, weights identity, full model
    #: configuration); None in files migrated from schema 1, which did not record them.
    identity: dict[str, Any] | None = None


class Extraction(Model):
    """How the embeddings were made: everything besides the encoder that changes the numbers."""

    #: ``float32`` | ``bfloat16`` | ``float16``, as resolved (never ``auto``); None: unknown (schema 1).
    dtype: Literal[PRECISIONS] | None
    sample_rate: int = Field(gt=0)
    #: The encoder's fixed input window, None for encoders that see each clip at its length.
    window_seconds: float | None = Field(default=None, gt=0)
    #: ``full``: the whole fixed window; ``trim``: only the positions covering each clip,
    #: rounded up to ``trim_multiple`` positions (``--window trim``): other numbers than full.
    window: Literal[WINDOWS] = "full"
    trim_multiple: int | None = Field(default=None, ge=1)
    #: The embedding cache directory's key (``<cache>/<cache_key>/``); None: unknown (schema 1).
    cache_key: str | None = None


class SplitSize(Model):
    train: Count
    valid: Count
    test: Count


class SkippedClip(Model):
    id: str
    reason: str


class TaskInfo(Model):
    name: str = Field(min_length=1)
    protocol: str = Field(min_length=1)
    protocol_id: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    split_sizes: dict[str, SplitSize] = {}
    num_classes: int = Field(ge=1)
    label_names: list[str]
    clips: Count
    skipped: list[SkippedClip] = []
    missing: Count = 0

    @model_validator(mode="after")
    def _consistent(self) -> TaskInfo:
        if self.protocol_id != f"{self.name}/{self.protocol}":
            raise ValueError(f"protocol_id {self.protocol_id!r} is not {self.name}/{self.protocol}")
        if self.label_names and len(self.label_names) != self.num_classes:
            raise ValueError(f"num_classes {self.num_classes} but {len(self.label_names)} label_names")
        return self


class ProbeInfo(Model):
    name: str = Field(min_length=1)
    settings: dict[str, Any] = {}
    seed: int = 0
    #: fold -> the hyper-parameters chosen on that fold's validation data (of ``seed``).
    selected: dict[str, dict[str, Any]] = {}
    #: ``--seeds N``: every seed the probe ran with (``seed`` first); empty for one run.
    seeds: list[int] = []


class Scores(Model):
    metric: Literal["accuracy"] = "accuracy"
    per_fold: dict[str, Fraction] = Field(min_length=1)
    mean: Fraction
    #: Sample standard deviation (ddof=1) over folds; 0.0 for one fold.
    std: float = Field(ge=0.0)
    #: 95% bootstrap interval of ``mean`` (test clips resampled within each fold); None in
    #: files written before it was recorded.
    ci95: list[Fraction] | None = Field(default=None, min_length=2, max_length=2)
    #: ``--seeds N``: seed -> fold -> accuracy; ``per_fold`` is then the mean over seeds.
    per_seed: dict[str, dict[str, Fraction]] = {}
    #: Sample standard deviation (ddof=1) of the per-seed means; None for one seed.
    seed_std: float | None = Field(default=None, ge=0.0)

    @model_validator(mode="after")
    def _mean_of_folds(self) -> Scores:
        expected = fold_mean(list(self.per_fold.values()))
        if abs(self.mean - expected) > SCORE_TOLERANCE:
            raise ValueError(f"mean {self.mean!r} is not the mean of per_fold ({expected!r})")
        for fold, score in self.per_fold.items() if self.per_seed else ():
            over_seeds = fold_mean([folds.get(fold, -1.0) for folds in self.per_seed.values()])
            if abs(score - over_seeds) > SCORE_TOLERANCE:
                raise ValueError(f"per_fold[{fold!r}] {score!r} is not the mean over per_seed ({over_seeds!r})")
        if self.ci95 is not None and not self.ci95[0] <= self.ci95[1]:
            raise ValueError(f"ci95 {self.ci95!r} is not an interval")
        return self


class FoldPredictions(Model):
    """The test clips of one fold, in order, with true and predicted class indices."""

    ids: list[str]
    y_true: list[int]
    y_pred: list[int]

    @model_validator(mode="after")
    def _aligned(self) -> FoldPredictions:
        if not len(self.ids) == len(self.y_true) == len(self.y_pred):
            raise ValueError(f"ids, y_true and y_pred have lengths {len(self.ids)}, {len(self.y_true)}, "
                             f"{len(self.y_pred)}")
        return self

    @property
    def accuracy(self) -> float:
        return sum(t == p for t, p in zip(self.y_true, self.y_pred)) / len(self.ids) if self.ids else 0.0


class LayerScore(Model):
    """One layer of a ``--layer all`` run: mean validation accuracy (what the layer is chosen
    on), mean test accuracy, and the test accuracy of every fold."""

    layer: Count
    valid: Fraction
    test: Fraction
    per_fold: dict[str, Fraction] = Field(min_length=1)


class Timing(Model):
    embed_seconds: Seconds = 0.0
    probe_seconds: Seconds = 0.0
    clips_encoded: Count = 0
    cache_hits: Count = 0
    clips_per_second: Annotated[float, Field(gt=0.0)] | None = None


class Environment(Model):
    device: str
    python: str
    platform: str
    git_commit: str | None = None
    packages: dict[str, str | None] = {}


class Result(Model):
    """One measured (or, in old files, reported) score with everything that identifies it."""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["measured", "reported"] = "measured"
    created: Annotated[datetime, Field(strict=False)]
    audiobench_version: str
    encoder: EncoderInfo
    extraction: Extraction
    task: TaskInfo
    probe: ProbeInfo
    #: 0 = the encoder's input embeddings, ``encoder.num_layers - 1`` = the last layer.
    layer: Count
    pooling: Literal[POOLINGS]
    scores: Scores
    #: fold -> test predictions, for paired tests; may be empty.
    predictions: dict[str, FoldPredictions] = {}
    timing: Timing = Timing()
    env: Environment
    #: ``--layer all``: every probed layer in order. ``layer`` is then the best on validation
    #: (never on test) and ``scores`` and ``predictions`` are its test results. Empty for a
    #: fixed layer.
    layer_curve: list[LayerScore] = []

    @field_serializer("created")
    def _iso(self, created: datetime) -> str:
        return created.isoformat()

    @model_validator(mode="after")
    def _consistent(self) -> Result:
        if self.created.tzinfo is None:
            raise ValueError("created has no time zone")
        if self.layer >= self.encoder.num_layers:
            raise ValueError(f"layer {self.layer} but the encoder has layers 0..{self.encoder.num_layers - 1}")
        if self.layer_curve:
            chosen = [point for point in self.layer_curve if point.layer == self.layer]
            if len({point.layer for point in self.layer_curve}) != len(self.layer_curve) or len(chosen) != 1:
                raise ValueError(f"layer_curve must list each layer once, including layer {self.layer}")
            if chosen[0].per_fold != self.scores.per_fold:
                raise ValueError(f"layer_curve's layer {self.layer} scores differ from scores.per_fold")
        # Predictions are of the first seed's run.
        predicted_scores = self.scores.per_seed.get(str(self.probe.seed), self.scores.per_fold)
        for fold, block in self.predictions.items():
            if fold not in predicted_scores:
                raise ValueError(f"predictions for fold {fold!r}, which has no score")
            if abs(block.accuracy - predicted_scores[fold]) > SCORE_TOLERANCE:
                raise ValueError(f"predictions of fold {fold!r} give accuracy {block.accuracy!r}, "
                                 f"per_fold says {predicted_scores[fold]!r}")
        return self

    @property
    def identity(self) -> str:
        """sha256 of everything that makes two runs' numbers differ (not their timing or
        environment): results with different identities never share a file name."""
        fields = self.model_dump(mode="json", include={"encoder", "extraction", "task", "probe", "layer", "pooling"})
        fields["probe"].pop("selected", None)  # an outcome, not a setting
        fields["task"] = {key: fields["task"][key] for key in ("protocol_id", "manifest_sha256")}
        if self.layer_curve:  # the layer is an outcome (best on validation), the layer set is the setting
            fields["layer"] = [point.layer for point in self.layer_curve]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    @property
    def filename(self) -> str:
        """``<encoder>-<fp8>__<task>.<protocol>__<probe>__<pooling>__L<layer>__<dtype>__<id8>.json``
        (``Lbest`` for a ``--layer all`` run): readable parts first, then a hash of the whole identity."""
        parts = [f"{self.encoder.name}-{self.encoder.fingerprint[:8]}", f"{self.task.name}.{self.task.protocol}",
                 self.probe.name, self.pooling, "Lbest" if self.layer_curve else f"L{self.layer}",
                 self.extraction.dtype or "unknown-dtype",
                 self.identity[:8]]
        return "__".join(parts) + ".json"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


class Citation(Model):
    """Where a reference file's published numbers come from."""

    title: str | None = None
    arxiv: str | None = None
    url: str | None = None
    section: str | None = None

    @model_validator(mode="after")
    def _named(self) -> Citation:
        if not (self.title or self.url):
            raise ValueError("needs a title or a url: say where the numbers come from")
        return self

    @property
    def text(self) -> str:
        parts = [self.title, f"arXiv {self.arxiv}" if self.arxiv else None, self.section]
        return ", ".join(p for p in parts if p)


class ReferenceRow(Model):
    encoder: str = Field(min_length=1)
    protocol_id: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    #: A fraction in [0, 1] like every ``scores.mean`` (0.775 for 77.5%).
    accuracy: Fraction
    std: Annotated[float, Field(ge=0.0)] | None = None
    test_clips: Count | None = None
    notes: str | None = None


class ReferenceFile(Model):
    """Published numbers (``format: "audiobench-reported-rows"``), e.g. results/reference/."""

    schema_version: Literal[1] = 1
    format: Literal["audiobench-reported-rows"] = REFERENCE_FORMAT
    kind: Literal["reported"] = "reported"
    #: Shown after the encoder name: "whisper-aut (paper)".
    label: str = "reported"
    source: Citation
    notes: str | None = None
    rows: list[ReferenceRow] = Field(min_length=1)


# ----------------------------------------------------------------------------- building


def environment(device: str) -> Environment:
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return Environment(device=device, python=sys.version.split()[0], platform=platform.platform(),
                       git_commit=git_commit(), packages={"audiobench": __version__, **packages})


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


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def now_iso() -> str:
    return now().isoformat()


# ----------------------------------------------------------------------------- reading and writing


def write_result(result: Result, results_dir: Path) -> Path:
    """Validate ``result`` again (it may have been built with ``model_construct``) and write it
    atomically to ``results_dir/result.filename``."""
    path = Path(results_dir) / result.filename
    text = Result.model_validate_json(result.to_json()).to_json()
    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise ResultsError(f"cannot write {path}: {err.strerror or err}", "pass a writable --results-dir") from err
    return path


def read_json(path: Path) -> Any:
    """Parsed JSON, or ``ResultsError`` naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else err
        raise ResultsError(f"{path}: not a readable JSON file ({reason})", "delete or regenerate it") from None


def is_reference(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == REFERENCE_FORMAT


def load_result(path: Path) -> Result:
    """Read, migrate and validate one result file; ``ResultsError`` names the file and field."""
    return parse_result(read_json(path), path)


def parse_result(data: Any, path: Path) -> Result:
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ResultsError(f"{path}: not an audiobench result (no schema_version)",
                           "remove it from the results directory")
    version = data["schema_version"]
    if type(version) is not int or version < 1:
        raise ResultsError(f"{path}: field schema_version: {version!r} is not a schema version",
                           "regenerate it with audiobench run")
    if version > SCHEMA_VERSION:
        raise ResultsError(f"{path}: schema_version {version} is newer than this audiobench supports "
                           f"({SCHEMA_VERSION})", "upgrade audiobench")
    kind = data.get("kind", "measured")
    if kind not in KINDS:
        raise ResultsError(f"{path}: field kind: unknown kind {kind!r} (known: {', '.join(KINDS)})",
                           "regenerate it with audiobench run")
    return validated(Result, migrate(data), path)


def load_reference(path: Path, data: Any = None) -> ReferenceFile:
    return validated(ReferenceFile, read_json(path) if data is None else data, path)


def validated(model: type[Model], data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ResultsError(f"{path}: {describe(err)}", "regenerate it with audiobench run") from None


def describe(err: ValidationError) -> str:
    """The first problem of a ``ValidationError`` in one line: the field path and what is wrong."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    hint = ""
    if first["type"] == "less_than_equal" and first["loc"][-2:-1] != ("std",) and first.get("ctx", {}).get("le") == 1.0:
        hint = " (accuracy is stored as a fraction, e.g. 0.775 for 77.5%)"
    return f"field {where}: {first['msg']}{hint}{more}"


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a result of any readable ``schema_version`` forward to ``SCHEMA_VERSION``."""
    if data["schema_version"] == 1:
        data = _v1_to_v2(data)
    return data


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 added ``extraction`` (dtype, window, cache key) and ``encoder.identity``;
    schema 1 did not record them, so they are unknown (None), never guessed."""
    out = {**data, "schema_version": 2, "kind": data.get("kind", "measured")}
    encoder = out.get("encoder")
    if isinstance(encoder, dict):
        out["extraction"] = {"dtype": None, "sample_rate": encoder.get("sample_rate"), "cache_key": None}
    return out


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for ``docs/``."""
    return {"result.schema.json": Result.model_json_schema(mode="serialization"),
            "reference.schema.json": ReferenceFile.model_json_schema(mode="serialization")}


def write_json_schemas(directory: Path) -> list[Path]:
    paths = []
    for name, schema in json_schemas().items():
        path = Path(directory) / name
        atomic_write_text(path, json.dumps(schema, indent=2) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":  # python -m audiobench.results docs/
    for written in write_json_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(written)
