"""The run/embed/probe commands end to end on the synthetic suite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

from audiobench.encoders import build_encoder
from audiobench.evaluate import load_embeddings
from audiobench.extraction import EmbedOptions, embed, usable_mask
from audiobench.probes import LogisticProbe
from audiobench.results import SCHEMA_VERSION
from audiobench.tasks import get_task

CHANCE = {"esc50": 1 / 10, "gtzan": 1 / 10, "speechcommands": 1 / 35}


def dirs(tmp_path: Path) -> list[str]:
    return ["--cache-dir", str(tmp_path / "cache"), "--results-dir", str(tmp_path / "results")]


@pytest.mark.parametrize("task", sorted(CHANCE))
def test_logmel_learns_every_synthetic_task(task: str, synth_root: Path, tmp_path: Path, run_cli) -> None:
    code, out, err = run_cli("run", "--encoder", "logmel", "--task", task, "--data-root", synth_root / task,
                             "--seeds", "2", *dirs(tmp_path))
    assert code == 0, err
    [path] = (tmp_path / "results").glob("*.json")
    result = json.loads(path.read_text())
    assert result["scores"]["mean"] >= 3 * CHANCE[task], result["scores"]
    assert result["schema_version"] == SCHEMA_VERSION and result["kind"] == "measured"
    assert result["task"]["protocol_id"] == get_task(task).manifest(synth_root / task).protocol_id
    assert len(result["task"]["manifest_sha256"]) == 64
    assert 0.0 <= result["scores"]["mean"] <= 1.0 and result["timing"]["clips_encoded"] == result["task"]["clips"]
    assert set(result["env"]["packages"]) >= {"torch", "transformers", "audiobench"}
    assert_sklearn_solver_agrees(task, synth_root / task, tmp_path / "cache", result)
    scores = result["scores"]  # two seeds: per-seed scores, their per-fold mean, a bootstrap interval
    assert result["probe"]["seeds"] == [0, 1] and set(scores["per_seed"]) == {"0", "1"}
    for fold, score in scores["per_fold"].items():
        assert abs(score - (scores["per_seed"]["0"][fold] + scores["per_seed"]["1"][fold]) / 2) < 1e-9
    assert scores["ci95"][0] <= scores["mean"] <= scores["ci95"][1] and scores["seed_std"] >= 0
    assert result["env"]["device"] == "cpu" and result["env"]["packages"]["scikit-learn"]


def assert_sklearn_solver_agrees(task: str, root: Path, cache_dir: Path, result: dict) -> None:
    """The run's probe (torch L-BFGS) and scikit-learn's lbfgs, on the same cached features of
    the first fold, reach the same test accuracy within half a point."""
    manifest = get_task(task).manifest(root)
    encoder = build_encoder("logmel")
    cache, report = embed(encoder, manifest, cache_dir, EmbedOptions(num_workers=0))
    assert report.encoded == 0  # the run's cache, read back
    X = load_embeddings(cache, report, usable_mask(manifest, report), "masked-mean", 0, encoder.dim)
    y = np.array([clip.label for clip in manifest.clips])
    fold = manifest.folds[0]
    train, valid, test = (np.array(getattr(fold, role), dtype=int) for role in ("train", "valid", "test"))
    groups = np.array([clip.group or clip.id for clip in manifest.clips])[train]
    reference = LogisticProbe(solver="sklearn").fit(X[train], y[train], X[valid], y[valid], groups)
    assert result["probe"]["selected"][fold.name]["solver"] == "torch"
    seed_scores = result["scores"]["per_seed"].get("0", result["scores"]["per_fold"])
    assert abs((reference.predict(X[test]) == y[test]).mean() - seed_scores[fold.name]) <= 0.005


def embed_to_npz(run_cli, tmp_path: Path, root: Path, *extra: str, cache: str = "cache", name: str = "out.npz",
                 option: str = "--npz"):
    code, _, err = run_cli("embed", "--task", "esc50", "--data-root", root, "--cache-dir", tmp_path / cache,
                           option, tmp_path / name, *extra)
    assert code == 0, err
    return np.load(tmp_path / name), err


def test_repeated_run_is_a_cache_hit_with_identical_embeddings(synth_root: Path, tmp_path: Path, run_cli) -> None:
    args = ("--encoder", "whisper-micro", "--random-init")
    first, err = embed_to_npz(run_cli, tmp_path, synth_root / "esc50", *args, name="first.npz")
    assert "0 cached, 100 encoded" in err
    second, err = embed_to_npz(run_cli, tmp_path, synth_root / "esc50", *args, name="second.npz", option="--export")
    assert "100 cached, 0 encoded" in err and "--export is renamed --npz" in err  # earlier READMEs' option works
    fresh, _ = embed_to_npz(run_cli, tmp_path, synth_root / "esc50", *args, cache="fresh", name="fresh.npz")
    np.testing.assert_array_equal(first["embeddings"], second["embeddings"])
    np.testing.assert_array_equal(first["embeddings"], fresh["embeddings"])
    assert first["embeddings"].shape == (100, 3, 128)
    assert list(first["ids"][:1]) and first["ids"][0].startswith("audio/")
    assert first["split"].shape == (100, 5) and set(first["split"][:, 0]) == {"train", "test"}


def test_interrupted_extraction_resumes_to_the_same_embeddings(synth_root: Path, tmp_path: Path) -> None:
    manifest = get_task("gtzan").manifest(synth_root / "gtzan")
    encoder = build_encoder("whisper-micro", random_init=True)
    options = EmbedOptions(batch_size=4, chunk_size=8, num_workers=0)
    seen = []

    def interrupt_after_three_batches(n: int) -> None:
        seen.append(n)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed(encoder, manifest, tmp_path / "resumed", options, on_progress=interrupt_after_three_batches)
    cache, report = embed(encoder, manifest, tmp_path / "resumed", options)
    assert report.cache_hits == 8 and report.encoded == len(manifest.clips) - 8  # the finished chunk was kept
    reference, reference_report = embed(encoder, manifest, tmp_path / "straight", options)
    for layer in range(encoder.num_layers):
        np.testing.assert_array_equal(cache.load(report.keys, "masked-mean", layer),
                                      reference.load(reference_report.keys, "masked-mean", layer))


def test_weights_dir_embeddings_equal_the_transformers_encoder(synth_root: Path, tmp_path: Path, run_cli) -> None:
    weights = tmp_path / "tiny-whisper"
    torch.manual_seed(0)
    config = WhisperConfig(d_model=48, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=96,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=96, num_mel_bins=80,
                           vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=1, decoder_start_token_id=2)
    WhisperModel(config).save_pretrained(weights)
    masked, _ = embed_to_npz(run_cli, tmp_path, synth_root / "esc50", "--encoder", "whisper-aut", "--weights", weights,
                       name="masked.npz")
    padded, _ = embed_to_npz(run_cli, tmp_path, synth_root / "esc50", "--encoder", "whisper-aut", "--weights", weights,
                       "--pooling", "padded-mean", name="padded.npz")
    from audiobench.audio import load_audio
    model = WhisperModel.from_pretrained(weights).encoder.eval()
    extractor = WhisperFeatureExtractor(feature_size=80)
    for row in (0, 37):
        audio = load_audio(synth_root / "esc50" / str(masked["ids"][row]), 16_000)
        features = extractor(audio, sampling_rate=16_000, return_tensors="pt").input_features
        with torch.no_grad():
            hidden = model(features, output_hidden_states=True).hidden_states
        valid = -(-len(audio) // 320)  # 5 s -> 250 frames
        for layer, states in enumerate(hidden):
            np.testing.assert_allclose(masked["embeddings"][row, layer], states[0, :valid].mean(0).numpy(),
                                       rtol=2e-2, atol=2e-3)
            np.testing.assert_allclose(padded["embeddings"][row, layer], states[0].mean(0).numpy(),
                                       rtol=2e-2, atol=2e-3)
    assert not np.allclose(masked["embeddings"], padded["embeddings"], atol=1e-2)


def test_layer_all_writes_one_curve_result_headed_by_the_best_layer_on_validation(synth_root: Path, tmp_path: Path,
                                                                                 run_cli) -> None:
    base = ("--encoder", "whisper-micro", "--random-init", "--task", "gtzan", "--data-root", synth_root / "gtzan")
    code, out, err = run_cli("run", *base, "--layer", "all", *dirs(tmp_path))
    assert code == 0, err
    [path] = (tmp_path / "results").glob("*.json")
    result = json.loads(path.read_text())
    curve = result["layer_curve"]
    assert [point["layer"] for point in curve] == [0, 1, 2] and "__Lbest__" in path.name
    best = max(curve, key=lambda point: point["valid"])  # chosen on validation, never on test
    assert result["layer"] == best["layer"] and result["scores"]["per_fold"] == best["per_fold"]
    code, out, err = run_cli("probe", *base, "--layer", "1", "--pooling", "padded-mean", "--probe", "paper",
                             *dirs(tmp_path))
    assert code == 0, err
    [paper] = (tmp_path / "results").glob("*__paper__padded-mean__L1__float32__*.json")
    result = json.loads(paper.read_text())
    assert result["probe"]["settings"] == {"epochs": 50, "lr": 0.001, "batch_size": 64, "balanced": False, "seed": 0}
    assert result["timing"]["clips_encoded"] == 0
    code, out, err = run_cli("compare", tmp_path / "results", "--layer", "1", "--format", "csv")
    assert code == 0, err
    assert f"{curve[1]['test'] * 100:.2f}" in out  # the curve's layer-1 point in the fixed-layer view
    code, out, err = run_cli("plot", "layers", tmp_path / "results", "--out", tmp_path / "layers.png")
    assert code == 0, err
    assert (tmp_path / "layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in errors[0], err


@pytest.mark.parametrize("args, needles", [
    (["run", "--encoder", "nope", "--task", "esc50"], ["unknown encoder 'nope'"]),
    (["run", "--encoder", "logmel", "--task", "esc5O"], ["unknown task 'esc5O'", "did you mean 'esc50'"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--data-root", "/no/such/dir"], ["/no/such/dir",
                                                                                      "does not exist"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--protocol", "6fold"], ["unknown protocol '6fold'"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--layer", "7"], ["--layer 7", "0..0"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--pooling", "max"], ["'--pooling'", "'max' is not one of"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--batch-size", "0"], ["--batch-size"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--device", "cuda:7"], ["--device cuda:7"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--device", "gpu"], ["'--device'", "'gpu' is not a device"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--device", "cuda"], ["--device cuda", "not available"]),
    (["run", "--encoder", "logmel", "--task", "esc50", "--window", "trim"], ["--window trim", "'logmel' cannot trim"]),
    (["run", "--encoder", "whisper-micro", "--task", "esc50", "--window", "wide"], ["'--window'", "'wide' is not one of"]),
    (["run", "--encoder", "logmel"], ["--task"]),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], needles: list[str], synth_root: Path, tmp_path: Path,
                                          run_cli) -> None:
    if "--data-root" not in args:
        args = [*args, "--data-root", str(synth_root / "esc50")]
    code, _, err = run_cli(*args, *dirs(tmp_path))
    one_line_error(code, err, *needles)


def test_debug_shows_the_traceback(tmp_path: Path, run_cli) -> None:
    with pytest.raises(Exception, match="does not exist"):
        run_cli("--debug", "run", "--encoder", "logmel", "--task", "esc50", "--data-root", tmp_path / "none")


def test_probe_without_embeddings_says_to_embed_first(synth_root: Path, tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("probe", "--encoder", "logmel", "--task", "gtzan", "--data-root", synth_root / "gtzan",
                           *dirs(tmp_path))
    one_line_error(code, err, "not cached", "audiobench embed")


def test_unreadable_clip_aborts_unless_skip_bad(synth_root: Path, tmp_path: Path, run_cli) -> None:
    root = tmp_path / "gtzan"
    shutil.copytree(synth_root / "gtzan", root)
    broken = next(root.glob("genres_original/jazz/*.wav"))
    broken.write_bytes(b"RIFF\x00\x00garbage")
    args = ("run", "--encoder", "logmel", "--task", "gtzan", "--data-root", root, *dirs(tmp_path))
    code, _, err = run_cli(*args)
    one_line_error(code, err, broken.name, "--skip-bad")
    code, _, err = run_cli(*args, "--skip-bad")
    assert code == 0, err
    assert "skipped 1 unreadable clip" in err
    [path] = (tmp_path / "results").glob("*.json")
    result = json.loads(path.read_text())
    assert [s["id"] for s in result["task"]["skipped"]] == [broken.relative_to(root).as_posix()]
    sizes = result["task"]["split_sizes"]["filtered"]
    assert sum(len(p["ids"]) for p in result["predictions"].values()) <= sizes["test"]
    # The probe half alone finds the failure recorded by the embed half.
    probe = ("probe", "--encoder", "logmel", "--task", "gtzan", "--data-root", root, *dirs(tmp_path))
    code, _, err = run_cli(*probe)
    one_line_error(code, err, broken.name, "--skip-bad")
    code, _, err = run_cli(*probe, "--skip-bad")
    assert code == 0 and "skipping 1 clip" in err, err
