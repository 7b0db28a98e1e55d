"""``audiobench export``: keep the encoder of a trained run, drop the decoder.

The output is what ``audiobench run --encoder whisper-aut --weights DIR`` loads: the
``WhisperEncoder`` weights (safetensors) and its config (``architectures: ["WhisperEncoder"]``),
plus a ``WhisperFeatureExtractor`` config with the model's mel bins, and ``export.json``
saying where it came from. Written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration
from transformers.trainer_utils import get_last_checkpoint

from audiobench.encoders.whisper import checked_load
from audiobench.errors import ConfigError
from audiobench.files import atomic_write_text
from audiobench.training.trainer import FINAL_DIR


def checkpoint_to_export(source: str | Path) -> Path:
    """A run folder means its ``final/`` model, or its latest checkpoint if it never finished."""
    source = Path(source)
    if (source / "config.json").is_file():
        return source
    if (source / FINAL_DIR / "config.json").is_file():
        return source / FINAL_DIR
    last = get_last_checkpoint(str(source)) if source.is_dir() else None
    if last is None:
        raise ConfigError(f"{source} is neither a run folder nor a checkpoint",
                          "pass the --out folder of `audiobench train` or one of its checkpoint-N folders")
    return Path(last)


def export_encoder(source: str | Path, out: str | Path) -> dict:
    """Write the encoder-only checkpoint of ``source`` to ``out``; returns a summary."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out} exists and is not empty", "pass a new folder")
    checkpoint = checkpoint_to_export(source)
    model = checked_load(WhisperForConditionalGeneration, checkpoint, "model.encoder.", option="export")
    encoder = model.get_encoder()
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    encoder.save_pretrained(tmp)
    WhisperFeatureExtractor(feature_size=model.config.num_mel_bins).save_pretrained(tmp)
    summary = {"source": str(checkpoint.resolve()), "d_model": model.config.d_model,
               "encoder_layers": model.config.encoder_layers, "num_mel_bins": model.config.num_mel_bins,
               "parameters": sum(p.numel() for p in encoder.parameters())}
    atomic_write_text(tmp / "export.json", json.dumps(summary, indent=2) + "\n")
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    return {**summary, "out": str(out)}
