from __future__ import annotations

from pathlib import Path

import pytest

from audiobench.errors import ConfigError
from audiobench.training.resume import check_identity, find_resume_point, mark_complete


def checkpoint(out: Path, step: int, complete: bool) -> Path:
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    if complete:
        mark_complete(folder, {"step": step, "world_size": 2})
    return folder


def test_auto_resumes_from_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    assert find_resume_point(tmp_path / "new", "auto", move=True).checkpoint is None  # fresh
    checkpoint(tmp_path, 10, complete=True)
    checkpoint(tmp_path, 20, complete=True)
    checkpoint(tmp_path, 30, complete=False)  # killed while writing it
    point = find_resume_point(tmp_path, "auto", move=True)
    assert point.checkpoint == tmp_path / "checkpoint-20" and point.set_aside == ["checkpoint-30"]
    assert not (tmp_path / "checkpoint-30").exists() and (tmp_path / "incomplete" / "checkpoint-30").is_dir()
    with pytest.raises(ConfigError, match="already holds checkpoint-20"):
        find_resume_point(tmp_path, "never", move=True)
    with pytest.raises(ConfigError, match="not a complete checkpoint"):
        find_resume_point(tmp_path, str(tmp_path / "incomplete" / "checkpoint-30"), move=True)


def test_a_stream_resumes_only_with_the_same_launch(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path, 10, complete=True)
    check_identity(folder, {"world_size": 2})
    with pytest.raises(ConfigError, match="written with world_size=2, this run has 4"):
        check_identity(folder, {"world_size": 4})
