"""``audiobench data synth --task mixture``, ``train``, ``export`` and ``run`` end to end through
``audiobench.cli.main`` on the tiny recipe (CPU). One 24-step run is shared: its loss must
fall, a resume from its step-20 checkpoint must reproduce its last 4 losses, and its exported
encoder must equal the trained model's encoder and run through ``audiobench run``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds
from transformers import WhisperForConditionalGeneration

from audiobench.cli import main
from audiobench.encoders import build_encoder

# 16 steps per epoch, so the step-20 checkpoint is inside the second epoch.
SHORT = ["per_device_batch_size=2", "effective_batch_size=2", "samples_per_epoch=32", "max_steps=24",
         "save_steps=10", "eval_steps=12"]


def losses(run: Path, key: str = "loss") -> dict[int, float]:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {line["step"]: line[key] for line in lines if key in line}


@pytest.fixture(scope="module")
def mixture(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    assert main(["data", "synth", "--out", str(root), "--task", "mixture"]) == 0
    return root / "mixture"


def train(mixture: Path, out: Path, *extra: str) -> int:
    return main(["train", "--recipe", "whisper-aut-tiny", "--data", str(mixture / "train.jsonl"),
                 "--eval-data", str(mixture / "eval.jsonl"), "--out", str(out), *SHORT, *extra])


@pytest.fixture(scope="module")
def trained(mixture: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert train(mixture, run) == 0
    return run


def test_tiny_recipe_trains_and_its_loss_falls(trained: Path) -> None:
    loss = losses(trained)
    assert sorted(loss) == list(range(1, 25))
    first, last = np.mean([loss[s] for s in range(1, 5)]), np.mean([loss[s] for s in range(21, 25)])
    assert last < first - 0.8, loss
    eval_loss = losses(trained, "eval_loss")
    assert sorted(eval_loss) == [12, 24] and eval_loss[24] < eval_loss[12]
    data_line, step_line = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()[:2]]
    assert data_line["data"]["samples_per_epoch"] == 32
    assert {"learning_rate", "samples_per_second", "tokens_per_second", "grad_norm"} <= set(step_line)
    report = json.loads((trained / "data_report.json").read_text())
    assert report["domains"] == {"music": 8, "sound": 8, "speech": 32}
    # Counted on the fly: 24 steps x 2 samples, none dropped.
    assert sum(sum(c.values()) for c in report["counts"].values()) == 48 and report["bad"] == []
    assert report["dropped"] == {"bad": {}, "too_long": {}, "over_30s": {}}
    assert (trained / "final" / "model.safetensors").is_file() and (trained / "tokenizer").is_dir()


def test_resume_reproduces_the_uninterrupted_run(trained: Path, mixture: Path, tmp_path: Path, capsys) -> None:
    # A run killed while writing its step-22 checkpoint leaves this folder behind; step 20 is
    # inside epoch 2.
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    shutil.copytree(trained / "checkpoint-20", interrupted / "checkpoint-20")
    shutil.copytree(trained / "checkpoint-20", interrupted / "checkpoint-22")
    (interrupted / "checkpoint-22" / "complete.json").unlink()
    (interrupted / "checkpoint-22" / "optimizer.pt").unlink()
    assert train(mixture, interrupted) == 0  # --resume auto is the default
    err = capsys.readouterr().err
    assert "checkpoint-22 is incomplete (no complete.json)" in err and "resuming from" in err
    assert (interrupted / "incomplete" / "checkpoint-22").is_dir()
    resumed, reference = losses(interrupted), losses(trained)
    assert sorted(resumed) == list(range(21, 25))
    assert [resumed[s] for s in resumed] == pytest.approx([reference[s] for s in resumed], rel=1e-5)
    assert losses(interrupted, "eval_loss")[24] == pytest.approx(losses(trained, "eval_loss")[24], rel=1e-5)


def test_resume_never_refuses_a_folder_with_checkpoints(trained: Path, mixture: Path, capsys) -> None:
    assert train(mixture, trained, "--resume", "never") == 2
    assert "already holds checkpoint-24" in capsys.readouterr().err


def test_export_equals_the_trained_encoder_and_runs(trained: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "aut-tiny"
    assert main(["export", str(trained), "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["WhisperEncoder"] and config["d_model"] == 64
    assert json.loads((out / "preprocessor_config.json").read_text())["feature_size"] == 80
    assert (out / "model.safetensors").is_file()

    encoder = build_encoder("whisper-aut", weights=str(out))
    full = WhisperForConditionalGeneration.from_pretrained(trained / "final").eval()
    waveforms = torch.randn(2, 16_000 * 3) * 0.1
    lengths = torch.tensor([48_000, 20_000])
    with torch.no_grad():
        ours = encoder(waveforms, lengths).hidden_states
        features = encoder.logmel(torch.nn.functional.pad(waveforms, (0, 16_000 * 27)))
        reference = full.get_encoder()(features, output_hidden_states=True).hidden_states
    assert len(ours) == len(reference) == 3
    for a, b in zip(ours, reference):
        assert torch.equal(a, b)

    synth = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(synth), "--task", "esc50"]) == 0
    capsys.readouterr()
    code = main(["run", "--encoder", "whisper-aut", "--weights", str(out), "--task", "esc50", "--protocol", "paper",
                 "--data-root", str(synth / "esc50"), "--cache-dir", str(tmp_path / "cache"),
                 "--results-dir", str(tmp_path / "results"), "--workers", "0"])
    assert code == 0, capsys.readouterr().err
    results = list((tmp_path / "results").rglob("*.json"))
    assert results and all("whisper-aut" in r.read_text() for r in results)


def corrupt_first_clip(shard: Path) -> None:
    """Rewrite a shard with its first sample's audio replaced by bytes no decoder reads."""
    samples = list(wds.WebDataset(str(shard), shardshuffle=False))
    samples[0]["wav"] = b"RIFF" + b"\x00" * 60
    with wds.TarWriter(str(shard), encoder=False) as sink:
        for sample in samples:
            sink.write({k: v for k, v in sample.items() if k != "__url__"})


def test_streamed_shards_skip_count_and_list_bad_clips(mixture: Path, tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    assert main(["data", "shard", str(mixture / "train.jsonl"), "--out", str(shards), "--shard-size", "4"]) == 0
    for shard in shards.glob("speech-*.tar"):
        corrupt_first_clip(shard)
    stream = ["train", "--recipe", "whisper-aut-tiny", "--data", f"speech={shards}/speech-{{000000..000007}}.tar",
              *SHORT[:2], "samples_per_epoch=8", "domain_weights.sound=0", "domain_weights.music=0", "max_steps=2",
              "num_workers=0"]
    # The reader starts at the top of a shard, so its first sample is a bad one.
    assert main([*stream, "--out", str(tmp_path / "tolerant"), "max_bad_fraction=0.5"]) == 0
    report = json.loads((tmp_path / "tolerant" / "data_report.json").read_text())
    assert report["counts"]["speech"]["bad"] == 1 and report["counts"]["speech"]["ok"] == 3
    assert report["bad"][0]["key"].startswith("speech-") and "cannot read audio" in report["bad"][0]["reason"]
    assert len(losses(tmp_path / "tolerant")) == 2


@pytest.mark.parametrize("row, message", [
    ({"audio": "audio/train/speech-00000.wav", "text": "", "domain": "speech"}, "bad.jsonl:3: empty 'text'"),
    ({"audio": "audio/train/speech-00000.wav", "text": "hi", "domain": "noise"}, "bad.jsonl:3: unknown domain"),
    ({"audio": "audio/train/missing.wav", "text": "hi", "domain": "sound"}, "bad.jsonl:3: audio file"),
])
def test_a_bad_row_stops_before_training_with_one_line(mixture: Path, tmp_path: Path, capsys, row: dict,
                                                       message: str) -> None:
    lines = (mixture / "train.jsonl").read_text().splitlines()[:2] + [json.dumps(row)]
    bad = mixture / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    try:
        assert main(["train", "--recipe", "whisper-aut-tiny", "--data", str(bad), "--out", str(tmp_path / "r")]) == 2
    finally:
        bad.unlink()
    err = capsys.readouterr().err
    assert message in err and len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert not (tmp_path / "r").exists()  # nothing was started


def test_an_unknown_key_is_one_line(mixture: Path, tmp_path: Path, capsys) -> None:
    assert train(mixture, tmp_path / "r", "learning_rat=1e-3") == 2
    assert "unknown config key 'learning_rat'" in capsys.readouterr().err


def test_the_deepspeed_launchers_local_rank_is_accepted(tmp_path: Path, capsys, monkeypatch) -> None:
    # setenv first: delenv of an unset variable records nothing, so the LOCAL_RANK the CLI sets
    # would leak into later tests (a trainer test then starts torch.distributed).
    monkeypatch.setenv("LOCAL_RANK", "")
    monkeypatch.delenv("LOCAL_RANK")
    # deepspeed --no_python runs `audiobench --local_rank=N train ...`: the argument reaches the
    # command line before `train`, and the recipe is then read as usual.
    assert main(["--local_rank=0", "train", "--recipe", "no-such-recipe", "--data", "x.jsonl",
                 "--out", str(tmp_path / "r")]) == 2
    assert "unknown recipe 'no-such-recipe'" in capsys.readouterr().err
    assert os.environ["LOCAL_RANK"] == "0"
