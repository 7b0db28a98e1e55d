from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiobench.errors import ResultsError
from audiobench.results import SCHEMA_VERSION, load_result


@pytest.mark.parametrize("content, needle", [
    ("{broken", "not a readable JSON"),
    ('{"some": "other tool"}', "not an audiobench result"),
    (json.dumps({"schema_version": SCHEMA_VERSION + 1}), "newer than this audiobench"),
    (json.dumps({"schema_version": 1, "encoder": {}}), "missing field(s) task, scores"),
])
def test_bad_result_files_are_named(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ResultsError) as err:
        load_result(path)
    assert str(path) in str(err.value) and needle in str(err.value)
