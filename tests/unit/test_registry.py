from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from audiobench.encoders import ENCODERS, EncoderSpec
from audiobench.errors import UnknownNameError
from audiobench.registry import Registry


def test_lazy_entries_are_imported_on_first_use() -> None:
    registry: Registry[object] = Registry("thing")
    registry.register("json-dumps", "json:dumps")
    assert registry.names() == ["json-dumps"]
    import json
    assert registry.get("json-dumps") is json.dumps


def test_decorator_registers_and_duplicates_are_refused() -> None:
    registry: Registry[type] = Registry("thing")

    @registry.register("a")
    class A:
        pass

    assert registry.get("a") is A
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", int)


def test_unknown_name_suggests_the_closest_and_lists_all() -> None:
    with pytest.raises(UnknownNameError) as err:
        ENCODERS.get("whisper-larg-v3")
    assert "did you mean 'whisper-large-v3'" in str(err.value)
    assert "logmel" in str(err.value)


def write_plugin_distribution(site: Path) -> None:
    """A throw-away installed distribution: a module plus a dist-info with entry points, found
    by the real importlib.metadata machinery through sys.path."""
    (site / "tinyplugin.py").write_text(textwrap.dedent('''
        import torch
        from audiobench.encoders import Encoder, EncoderOutput, EncoderSpec

        class RMSEncoder(Encoder):
            """Frame RMS energy over 20 ms frames."""

            def __init__(self, name, weights=None, random_init=False):
                super().__init__()
                self.name, self.sample_rate, self.num_layers, self.dim = name, 16000, 1, 1

            def fingerprint_fields(self):
                return {"frame": 320}

            def forward(self, waveforms, lengths):
                frames = waveforms[:, : waveforms.shape[1] // 320 * 320].reshape(len(waveforms), -1, 320)
                rms = frames.square().mean(-1, keepdim=True).sqrt()
                return EncoderOutput([rms], (lengths // 320).clamp(min=1))

        spec = EncoderSpec(name="rms", builder=RMSEncoder, description="frame RMS (plug-in)")
    '''))
    dist = site / "tinyplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[audiobench.encoders]\nrms = tinyplugin:spec\n")


def test_entry_point_plugin_is_listed_and_runs(tmp_path: Path, synth_root: Path, run_cli,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[EncoderSpec] = Registry("encoder", entry_point_group="audiobench.encoders")
    assert "rms" in registry
    spec = registry.get("rms")
    assert spec.build().dim == 1
    # The CLI's own registry reads entry points lazily, so a fresh one sees the plug-in too.
    monkeypatch.setattr(ENCODERS, "_entries", dict(ENCODERS._entries))
    monkeypatch.setattr(ENCODERS, "_entry_points_loaded", False)
    code, out, _ = run_cli("list", "encoders")
    assert code == 0 and "rms" in out
    code, out, err = run_cli("run", "--encoder", "rms", "--task", "esc50", "--data-root", synth_root / "esc50",
                             "--cache-dir", tmp_path / "cache", "--results-dir", tmp_path / "results")
    assert code == 0, err
    assert list((tmp_path / "results").glob("rms-*__esc50.5fold__*.json"))
    monkeypatch.delitem(sys.modules, "tinyplugin")


def test_a_broken_plugin_is_named_not_a_traceback(tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "brokenplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[audiobench.encoders]\nghost = no_such_module:spec\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(ENCODERS, "_entries", dict(ENCODERS._entries))
    monkeypatch.setattr(ENCODERS, "_entry_points_loaded", False)
    code, out, _ = run_cli("list", "encoders")
    assert code == 0 and "ghost" in out and "broken" in out and "logmel" in out
    code, _, err = run_cli("run", "--encoder", "ghost", "--task", "esc50", "--data-root", tmp_path)
    assert code == 2 and "error: encoder 'ghost' (no_such_module:spec) cannot be imported" in err
