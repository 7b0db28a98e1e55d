"""Option values with a fixed set of choices are CLI types: ``--help`` lists them and a bad value
is a one-line usage error (exit 2) before any encoder is built."""

from __future__ import annotations

import pytest

import audiobench.encoders

BAD = [("--probe", "lgistic", "'lgistic' is not one of 'logistic', 'mlp', 'paper'"),
       ("--pooling", "max", "'max' is not one of 'masked-mean', 'padded-mean'"),
       ("--dtype", "fp8", "'fp8' is not one of 'auto', 'float32', 'bfloat16', 'float16'"),
       ("--layer", "first", "'first' is not a layer"),
       ("--device", "gpu", "'gpu' is not a device")]


@pytest.fixture
def no_models(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an encoder was built before the options were checked")
    monkeypatch.setattr(audiobench.encoders, "build_encoder", refuse)


@pytest.mark.parametrize("command", ["run", "probe", "embed"])
@pytest.mark.parametrize("option, value, message", BAD, ids=[b[0] for b in BAD])
def test_bad_choice_fails_in_one_line_before_any_model(run_cli, no_models, command, option, value, message):
    if command == "embed" and option in ("--probe", "--layer"):
        pytest.skip("embed has no such option")
    code, out, err = run_cli(command, "--encoder", "whisper-tiny", "--task", "esc50", option, value)
    assert code == 2 and "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("error: ") and f"'{option}'" in line and message in line


def test_help_lists_the_choices(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = run_cli("run", "--help")
    assert code == 0
    for choices in ("logistic|mlp|paper", "masked-mean|padded-mean", "auto|float32|bfloat16|float16"):
        assert choices in out, choices
    assert "last|all|N" in out
