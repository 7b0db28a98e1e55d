"""The Python API: the README's notebook example runs as written, and the calls return typed,
validated objects."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import audiobench
from audiobench.errors import ConfigError
from audiobench.results import Result, load_result

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## In Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_notebook_example_runs_and_the_api_returns_typed_results(synth_root: Path, tmp_path: Path,
                                                                        monkeypatch, capsys) -> None:
    shutil.copytree(synth_root / "esc50", tmp_path / "data" / "esc50")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDIOBENCH_CACHE", str(tmp_path / "cache"))
    code = readme_example()
    assert len(code.strip().splitlines()) <= 5
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"^\d+\.\d% on esc50/5fold$", out, re.M), out
    assert "| encoder | esc50/5fold |" in out and "| logmel |" in out
    [path] = (tmp_path / "results").glob("logmel-*.json")

    # The same defaults ($AUDIOBENCH_CACHE, ./results) serve the other calls: all cache hits.
    embedding = audiobench.embed("logmel", "esc50", data_root="data/esc50")
    assert embedding.report.cache_hits == len(embedding.manifest.clips) == 100 and embedding.report.encoded == 0
    assert embedding.save_npz(tmp_path / "new.npz") == 100
    with pytest.warns(DeprecationWarning, match="renamed save_npz"):  # the name earlier READMEs showed
        assert embedding.export_npz(tmp_path / "old.npz") == 100
    assert (tmp_path / "new.npz").read_bytes() == (tmp_path / "old.npz").read_bytes()
    [again] = audiobench.probe("logmel", "esc50", data_root="data/esc50", results_dir=None)
    assert isinstance(again, Result) and again.extraction.dtype == "float32"
    assert again.scores == load_result(path).scores and again.filename == path.name


def test_bad_options_fail_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--pooling max"):
        audiobench.run("logmel", "esc50", pooling="max", data_root=tmp_path / "absent")
