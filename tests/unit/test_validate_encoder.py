"""``audiobench validate-encoder``: the README's example plug-in passes; broken ones fail with
one line per failed check; wrong types and names shadowing built-ins are reported."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from audiobench.cli.common import console
from audiobench.encoders import ENCODERS

README = Path(__file__).resolve().parents[2] / "README.md"

BROKEN = '''
import time
import torch
from audiobench.encoders import Encoder, EncoderOutput, EncoderSpec

class Broken(Encoder):
    """Averages batch padding into every frame, adds noise, claims too many frames."""

    def __init__(self, name, weights=None, random_init=False):
        super().__init__()
        self.name, self.sample_rate, self.num_layers, self.dim = name, 16000, 1, 2

    def fingerprint_fields(self):
        return {"built": time.time_ns()}

    def forward(self, waveforms, lengths):
        frames = waveforms[:, : waveforms.shape[1] // 320 * 320].reshape(len(waveforms), -1, 320)
        energy = frames.square().mean(-1, keepdim=True) + waveforms.mean()
        noisy = torch.cat([energy, torch.rand_like(energy)], -1)
        return EncoderOutput([noisy], lengths // 320 + 5)

spec = EncoderSpec(name="broken", builder=Broken, description="broken on purpose")
not_a_spec = 42
'''


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's example as ``my_encoders.py`` and a broken plug-in, importable, with a
    distribution whose entry points register a wrong type and shadow ``logmel``."""
    example = re.search(r"```python\n# my_encoders.py\n(.*?)```", README.read_text(), re.DOTALL)
    assert example, "README lost its example plug-in"
    (tmp_path / "my_encoders.py").write_text(example.group(1))
    (tmp_path / "broken_encoders.py").write_text(textwrap.dedent(BROKEN))
    dist = tmp_path / "zooplugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zooplugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[audiobench.encoders]\nnumber = broken_encoders:not_a_spec\n"
                                           "logmel = broken_encoders:spec\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(ENCODERS, "_entries", dict(ENCODERS._entries))
    monkeypatch.setattr(ENCODERS, "_entry_points_loaded", False)
    monkeypatch.setattr(ENCODERS, "shadowing", {})
    yield tmp_path
    for module in ("my_encoders", "broken_encoders"):
        sys.modules.pop(module, None)


def test_readme_example_passes(plugins: Path, run_cli) -> None:
    code, out, err = run_cli("validate-encoder", "my_encoders:spec")
    assert code == 0, err
    assert "FAIL" not in err and re.search(r"(\d+) of \1 checks passed", out)


def test_broken_plugin_fails_one_line_per_check(plugins: Path, run_cli) -> None:
    code, out, err = run_cli("validate-encoder", "broken_encoders:spec")
    assert code == 1
    failures = [line for line in err.splitlines() if line.startswith("FAIL")]
    assert {line.split(":")[0] for line in failures} >= {"FAIL entry point", "FAIL frame counts"}
    assert "Traceback" not in err and "checks passed" in out
    code, out, err = run_cli("validate-encoder", "broken_encoders:not_a_spec")
    assert code == 1 and "FAIL import: broken_encoders:not_a_spec is a int, not an EncoderSpec" in err


def test_leaks_noise_and_unstable_fingerprints_are_caught(plugins: Path) -> None:
    from broken_encoders import Broken, spec

    from audiobench.encoders import EncoderOutput
    from audiobench.validate import validate_encoder

    class Countable(Broken):  # valid frame counts, so the later checks run
        def forward(self, waveforms, lengths):
            out = super().forward(waveforms, lengths)
            return EncoderOutput(out.hidden_states, (lengths // 320).clamp(min=1))

    report = validate_encoder("broken_encoders:spec")
    assert report.failures and not report.passed
    sys.modules["broken_encoders"].spec = type(spec)(name="countable", builder=Countable, description="")
    report = validate_encoder("broken_encoders:spec")
    checks = {failure.split(":")[0] for failure in report.failures}
    assert checks == {"determinism", "batch invariance", "fingerprint"}


def test_list_marks_wrong_types_and_shadowing(plugins: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 240)  # one table row per line
    code, out, _ = run_cli("list", "encoders")
    assert code == 0
    assert re.search(r"number.*broken plug-in", out)
    assert "broken_encoders:spec registers 'logmel'" in " ".join(out.split())
    code, _, err = run_cli("run", "--encoder", "number", "--task", "esc50", "--data-root", plugins)
    assert code == 2 and "registers a int, not an EncoderSpec" in err and "Traceback" not in err
