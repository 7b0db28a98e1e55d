"""The ``Result`` model: migration of the committed schema-1 files, validation on read and
write, file names derived from the run's identity, and the JSON Schema in docs/."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from support.results import make_result, predictions

from audiobench.errors import ResultsError
from audiobench.results import (SCHEMA_VERSION, Result, json_schemas, load_reference, load_result, parse_result,
                                write_result)

REPO = Path(__file__).resolve().parents[2]
# The demo results as first committed (schema 1), kept as migration fixtures.
SCHEMA_1_FILES = sorted((REPO / "tests" / "data" / "results-schema1").glob("*.json"))


@pytest.mark.parametrize("path", SCHEMA_1_FILES, ids=lambda p: p.name)
def test_committed_schema_1_results_migrate(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 1
    result = load_result(path)
    assert result.schema_version == SCHEMA_VERSION == 2
    assert result.scores.per_fold == raw["scores"]["per_fold"] and result.scores.mean == raw["scores"]["mean"]
    # Schema 1 never recorded how the embeddings were made: unknown, not guessed.
    assert result.extraction.dtype is None and result.extraction.cache_key is None
    assert result.extraction.sample_rate == raw["encoder"]["sample_rate"]
    assert result.created.isoformat() == raw["created"]


def test_committed_reference_file_loads() -> None:
    reference = load_reference(REPO / "results" / "reference" / "whisper-aut-paper.json")
    assert reference.kind == "reported" and len(reference.rows) == 6


def test_written_result_reads_back_equal(tmp_path: Path) -> None:
    result = Result.model_validate(make_result(predictions=predictions({"1": [True, False], "2": [True, True]})))
    path = write_result(result, tmp_path)
    assert path.name == result.filename
    assert load_result(path) == result
    assert json.loads(path.read_text())["created"] == "2026-11-01T00:00:00+00:00"


def _set(dotted: str, value: Any) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = dotted.split(".")
        for key in parents:
            data = data[key]
        data[last] = value
    return change


BAD = {
    "edited mean": (_set("scores.mean", 0.95), "scores: Value error, mean 0.95 is not the mean of per_fold"),
    "true as mean": (_set("scores.mean", True), "scores.mean: Input should be a valid number"),
    "negative std": (_set("scores.std", -0.1), "scores.std: Input should be greater than or equal to 0"),
    "percent score": (_set("scores.per_fold", {"1": 80.0, "2": 80.0}), "scores.per_fold.1: .*fraction"),
    "NaN score": (_set("scores.std", float("nan")), "scores.std"),
    "schema_version 0": (_set("schema_version", 0), "schema_version: 0 is not a schema version"),
    "schema_version -7": (_set("schema_version", -7), "schema_version: -7"),
    "schema_version true": (_set("schema_version", True), "schema_version: True"),
    "schema_version text": (_set("schema_version", "2"), "schema_version: '2'"),
    "unknown kind": (_set("kind", "simulated"), "field kind: unknown kind 'simulated'"),
    "layer past the encoder": (_set("layer", 7), "layer 7 but the encoder has layers 0..6"),
    "string layer": (_set("layer", "6"), "field layer: Input should be a valid integer"),
    "unknown pooling": (_set("pooling", "max"), "field pooling"),
    "unknown dtype": (_set("extraction.dtype", "int8"), "field extraction.dtype"),
    "bad manifest hash": (_set("task.manifest_sha256", "xyz"), "field task.manifest_sha256"),
    "a typo'd field": (_set("scores.maen", 0.8), "field scores.maen: Extra inputs are not permitted"),
    "predictions disagree with the fold score":
        (_set("predictions", predictions({"1": [True, False]})), "predictions of fold '1' give accuracy 0.5"),
    "predictions of different lengths":
        (_set("predictions", {"1": {"ids": ["a"], "y_true": [1, 1], "y_pred": [1]}}), "field predictions.1"),
    "predictions of a fold without a score":
        (_set("predictions", predictions({"9": [True]})), "predictions for fold '9', which has no score"),
}


@pytest.mark.parametrize("name", BAD)
def test_invalid_result_is_refused_naming_file_and_field(tmp_path: Path, name: str) -> None:
    change, message = BAD[name]
    data = make_result(accuracy=1.0)
    change(data)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=message) as err:
        load_result(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


@pytest.mark.parametrize("content, needle", [
    ("{broken", "not a readable JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"some": "other tool"}', "not an audiobench result"),
    (json.dumps({"schema_version": SCHEMA_VERSION + 1}), "newer than this audiobench"),
    (json.dumps({"schema_version": 1, "encoder": {}}), "field "),
])
def test_unreadable_files_are_named(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=needle) as err:
        load_result(path)
    assert str(path) in str(err.value)


IDENTITY_CHANGES = {
    "dtype": _set("extraction.dtype", "bfloat16"),
    "window": _set("extraction.window", "trim"),
    "cache key": _set("extraction.cache_key", "d" * 24),
    "sample rate": _set("extraction.sample_rate", 24000),
    "encoder config": _set("encoder.identity", {"activation_function": "relu"}),
    "fingerprint": _set("encoder.fingerprint", "e" * 64),
    "manifest": _set("task.manifest_sha256", "b" * 64),
    "probe settings": _set("probe.settings", {"max_iter": 10}),
    "seed": _set("probe.seed", 1),
    "layer": _set("layer", 3),
    "pooling": _set("pooling", "padded-mean"),
}


def test_runs_that_differ_in_anything_that_changes_the_numbers_never_share_a_file_name() -> None:
    base = make_result()
    names = {parse_result(base, Path("base")).filename}
    for name, change in IDENTITY_CHANGES.items():
        data = copy.deepcopy(base)
        change(data)
        names.add(parse_result(data, Path(name)).filename)
    assert len(names) == len(IDENTITY_CHANGES) + 1
    # ...while timing and environment are not identity: a rerun replaces its file.
    rerun = copy.deepcopy(base)
    rerun["timing"]["embed_seconds"], rerun["env"]["device"], rerun["created"] = 9.0, "cuda", "2027-01-01T00:00:00Z"
    assert parse_result(rerun, Path("rerun")).filename == parse_result(base, Path("base")).filename


def test_json_schema_in_docs_is_current() -> None:
    for name, schema in json_schemas().items():
        committed = json.loads((REPO / "docs" / name).read_text())
        assert committed == schema, f"docs/{name} is stale: run `python -m audiobench.results docs/`"
