"""Encoders beyond Whisper through the CLI: ``--encoder hf --weights DIR`` on a CLAP checkpoint
whose layers differ in width and token count, end to end (cache, --npz, probe, --layer all)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from support.hf_checkpoints import write_checkpoint


def small_esc50(root: Path, classes: int = 3, per_fold: int = 2, seconds: float = 1.0) -> Path:
    """An ESC-50 tree (official layout) of short tones, one pitch per class: 30 clips."""
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 16_000)) / 16_000
    for fold in range(1, 6):
        for target in range(classes):
            for take in range(per_fold):
                name = f"{fold}-{target}{take}{fold}-A-{target}.wav"
                tone = 0.3 * np.sin(2 * np.pi * 300 * (target + 1) * t) + 0.02 * rng.standard_normal(len(t))
                sf.write(root / "audio" / name, tone.astype(np.float32), 16_000)
                rows.append(f"{name},{fold},{target},class{target},False,{target}{take}{fold},A")
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    return root


def test_clap_layers_of_different_widths_end_to_end(tmp_path: Path, run_cli) -> None:
    checkpoint = write_checkpoint("clap", tmp_path / "clap")
    data = small_esc50(tmp_path / "esc50")
    cache = ["--cache-dir", tmp_path / "cache"]
    dirs = [*cache, "--results-dir", tmp_path / "results"]
    base = ["--encoder", "hf", "--weights", checkpoint, "--task", "esc50", "--data-root", data, "--protocol", "paper"]
    code, _, err = run_cli("run", *base, "--layer", "all", *dirs)
    assert code == 0, err
    assert "skipped" in err and "text tower" in err  # only audio_model.* was read
    [result] = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert result["layer"] in (0, 1, 2) and 0 <= result["scores"]["mean"] <= 1  # the best layer on validation
    assert sorted(point["layer"] for point in result["layer_curve"]) == [0, 1, 2]  # every width probed
    code, _, err = run_cli("embed", *base, "--npz", tmp_path / "clap.npz", *cache)
    assert code == 0, err
    assert "16/32/32" in err
    written = np.load(tmp_path / "clap.npz")
    assert written["layer_dims"].tolist() == [16, 32, 32]
    assert written["embeddings"].shape[1:] == (3, 32)
    assert not written["embeddings"][:, 0, 16:].any() and written["embeddings"][:, 0, :16].any()
    code, _, err = run_cli("probe", *base, "--layer", "0", "--pooling", "padded-mean", *dirs)
    assert code == 0, err
    results = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    [padded] = [r for r in results if r["pooling"] == "padded-mean"]
    assert padded["layer"] == 0 and padded["timing"]["clips_encoded"] == 0
