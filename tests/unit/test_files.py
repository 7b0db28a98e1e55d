from __future__ import annotations

import stat
from pathlib import Path

import pytest

from audiobench.files import atomic_path, atomic_write_bytes


def test_atomic_write_leaves_no_temp_file_and_a_shareable_mode(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "plot.png"
    atomic_write_bytes(target, b"\x89PNG")
    assert target.read_bytes() == b"\x89PNG"
    assert [p.name for p in target.parent.iterdir()] == ["plot.png"]
    assert stat.S_IMODE(target.stat().st_mode) & 0o044 == 0o044  # group and others may read


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["result.json"]
