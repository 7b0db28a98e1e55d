"""Suite files: the shipped suites, and one-line errors naming file, line and key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from support.results import make_result

from audiobench.errors import ConfigError
from audiobench.results import parse_result
from audiobench.suites import Suite, load_suite, shipped_suite_names, shipped_suite_path
from audiobench.tasks import get_task


def test_every_shipped_suite_loads_under_its_file_name() -> None:
    assert {"whisper-aut-paper", "audiobench-default", "demo"} <= set(shipped_suite_names())
    for name in shipped_suite_names():
        suite = load_suite(name)
        assert suite.name == name and suite.description
        assert suite.path == shipped_suite_path(name)


def test_paper_suite_is_the_papers_table_with_both_poolings_and_its_reference_rows() -> None:
    suite = load_suite("whisper-aut-paper")
    assert suite.protocol_ids == ["esc50/paper", "gtzan/paper", "speechcommands/paper"]
    assert {(e.protocol_id, e.pooling) for e in suite.entries} == {
        (pid, pooling) for pid in suite.protocol_ids for pooling in ("masked-mean", "padded-mean")}
    assert {(e.probe, e.layer, e.window) for e in suite.entries} == {("paper", "last", "full")}
    [reference] = suite.reference_paths()
    rows = json.loads(reference.read_text())["rows"]
    assert {row["protocol_id"] for row in rows} == set(suite.protocol_ids)


def test_default_suite_uses_each_tasks_default_protocol() -> None:
    suite = load_suite("audiobench-default")
    assert [(e.task, e.protocol) for e in suite.entries] == [
        (task, get_task(task).default_protocol) for task in ("esc50", "gtzan", "speechcommands")]
    assert {(e.probe, e.pooling, e.layer) for e in suite.entries} == {("logistic", "masked-mean", "all")}


def test_a_user_suite_by_path_gets_defaults_filled_in(tmp_path: Path) -> None:
    path = write(tmp_path, "name: mine\nentries:\n  - task: gtzan\n  - {task: esc50, layer: 3, pooling: padded-mean}\n")
    suite = load_suite(path)
    assert [e.describe() for e in suite.entries] == [
        "gtzan/filtered: logistic probe, masked-mean, last layer",
        "esc50/5fold: logistic probe, padded-mean, layer 3"]
    assert suite.restricted(["esc50"]).tasks == ["esc50"]
    with pytest.raises(ConfigError, match="--task speechcommands: not in suite mine"):
        suite.restricted(["speechcommands"])


ENTRY_ERRORS = {
    "task: esc51": (4, r"entries\[1\]\.task: unknown task 'esc51' \(did you mean 'esc50'\?"),
    "task: esc50\n    protocol: 6fold": (5, r"entries\[1\]\.protocol: unknown protocol '6fold' for task esc50"),
    "task: gtzan\n    probe: papr": (5, r"entries\[1\]\.probe: unknown probe 'papr' \(did you mean 'paper'\?"),
    "task: gtzan\n    protocl: paper": (5, r"entries\[1\]\.protocl: unknown key \(did you mean 'protocol'\?\)"),
    "task: gtzan\n    pooling: mean": (5, r"entries\[1\]\.pooling: unknown pooling 'mean'"),
    "task: gtzan\n    layer: yes": (5, r"entries\[1\]\.layer: True is not a layer"),
    "task: gtzan\n    window: crop": (5, r"entries\[1\]\.window: unknown window 'crop' \(use one of full, trim\)"),
    "probe: paper": (4, r"entries\[1\]\.task: required key missing"),
    "task: esc50\n    protocol: 5fold": (4, r"entries\[1\]: esc50/5fold: .* repeats entries\[0\]"),
}


@pytest.mark.parametrize("second_entry", sorted(ENTRY_ERRORS))
def test_a_bad_entry_is_one_line_naming_file_line_and_key(tmp_path: Path, second_entry: str) -> None:
    line, expected = ENTRY_ERRORS[second_entry]
    path = write(tmp_path, f"name: mine\nentries:\n  - task: esc50\n  - {second_entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_suite(path)
    message = str(caught.value)
    assert "\n" not in message
    assert re.match(re.escape(f"{path}:{line}: ") + expected, message), message


@pytest.mark.parametrize(("text", "expected"), [
    ("name: mine\ncolour: red\nentries: [{task: esc50}]\n", r":2: colour: unknown key; allowed: name, description"),
    ("name: mine\nentries: [{task: esc50}]\nname: other\n", r":3: name: key repeated"),
    ("name: mine\nentries: [\n", r":3: not valid YAML"),
    ("- task: esc50\n", r":1: a suite file is a mapping"),
    ("name: mine\nreference: [missing.json]\nentries: [{task: esc50}]\n",
     r":2: reference\[0\]: reference file missing.json not found"),
    ("name: mine\nentries: []\n", r":2: entries: Tuple should have at least 1 item"),
])
def test_a_bad_suite_file_is_one_line_naming_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(str(path)) + expected):
        load_suite(path)


def test_unknown_suite_names_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="unknown suite 'whisper-aut-papr'.*did you mean 'whisper-aut-paper'"):
        load_suite("whisper-aut-papr")
    with pytest.raises(ConfigError, match="suite file nowhere.yaml does not exist"):
        load_suite("nowhere.yaml")


def test_the_json_schema_describes_every_shipped_suite_file_and_allows_nothing_else() -> None:
    schema = Suite.model_json_schema()
    entry = schema["$defs"]["SuiteEntry"]
    assert schema["additionalProperties"] is False and entry["additionalProperties"] is False
    for name in shipped_suite_names():
        data = yaml.safe_load(shipped_suite_path(name).read_text())
        assert set(schema["required"]) <= set(data) <= set(schema["properties"]), name
        for item in data["entries"]:
            assert set(entry["required"]) <= set(item) <= set(entry["properties"]), (name, item)


def test_list_suites_shows_every_shipped_suite(run_cli) -> None:
    code, out, err = run_cli("list", "suites")
    assert code == 0, err
    for name in shipped_suite_names():
        assert name in out


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_layer_all_selects_best_layer_results_and_last_selects_the_last_layer() -> None:
    fixed = parse_result(make_result("whisper-base", "esc50/5fold", folds=1), Path("fixed.json"))
    curve = make_result("whisper-base", "esc50/5fold", folds=1, layer=3)
    curve["layer_curve"] = [{"layer": layer, "valid": 0.5, "test": 0.8, "per_fold": {"1": 0.8}} for layer in range(7)]
    best = parse_result(curve, Path("best.json"))
    assert load_suite("audiobench-default").selects(best) and not load_suite("audiobench-default").selects(fixed)
    assert load_suite("demo").selects(fixed) and not load_suite("demo").selects(best)
