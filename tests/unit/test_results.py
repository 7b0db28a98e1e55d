from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from audiobench.errors import ResultsError
from audiobench.results import SCHEMA_VERSION, atomic_write_bytes, load_result


def test_atomic_write_leaves_no_temp_file_and_a_shareable_mode(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "plot.png"
    atomic_write_bytes(target, b"\x89PNG")
    assert target.read_bytes() == b"\x89PNG"
    assert [p.name for p in target.parent.iterdir()] == ["plot.png"]
    assert stat.S_IMODE(target.stat().st_mode) & 0o044 == 0o044  # group and others may read


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
