"""Recorded encoder descriptions (``encoders.description``): a repeated ``embed`` whose clips are
all cached, and ``probe``, answer without building the model (on the CPU without importing
torch, transformers or numpy) and record exactly what a built encoder records; changed weights are
built and encoded again."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import torch
from transformers import WhisperModel

import audiobench
from audiobench.encoders.description import EncoderCard, card_key
from audiobench.encoders.whisper import shipped_config

REPEAT = """
import json, sys
import audiobench
embedding = audiobench.embed("logmel", "esc50", data_root=sys.argv[1], cache_dir=sys.argv[2], device="cpu")
print(json.dumps({"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                  "numpy": "numpy" in sys.modules,
                  "described_by": type(embedding.encoder).__name__, "encoded": embedding.report.encoded,
                  "hits": embedding.report.cache_hits, "cache": str(embedding.cache.directory)}))
"""


def save_weights(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    WhisperModel(shipped_config("whisper-micro")).save_pretrained(folder)
    return folder


def test_a_repeated_embed_answers_from_the_cache_without_torch(synth_root: Path, tmp_path: Path) -> None:
    where = dict(data_root=synth_root / "esc50", cache_dir=tmp_path / "cache")
    first = audiobench.embed("logmel", "esc50", device="cpu", **where)
    assert first.report.encoded == len(first.manifest.clips)
    done = subprocess.run([sys.executable, "-c", REPEAT, str(where["data_root"]), str(where["cache_dir"])],
                          capture_output=True, text=True, check=True)
    again = json.loads(done.stdout)
    assert again == {"torch": False, "transformers": False, "numpy": False, "described_by": "EncoderCard", "encoded": 0,
                     "hits": len(first.manifest.clips), "cache": str(first.cache.directory)}


def test_weights_are_read_once_and_new_weights_in_the_same_folder_are_encoded_again(synth_root: Path,
                                                                                   tmp_path: Path) -> None:
    weights = save_weights(tmp_path / "weights", seed=0)
    manifest = audiobench.load_manifest("esc50", data_root=synth_root / "esc50")
    manifest = dataclasses.replace(manifest, clips=manifest.clips[:4])
    where = dict(weights=str(weights), cache_dir=tmp_path / "cache", device="cpu")
    first = audiobench.embed("whisper-micro", manifest, **where)
    repeated = audiobench.embed("whisper-micro", manifest, **where)
    assert isinstance(repeated.encoder, EncoderCard) and repeated.report.cache_hits == 4
    assert repeated.encoder.fingerprint == first.encoder.fingerprint
    save_weights(weights, seed=1)  # same files, new numbers: their sizes stay, their times change
    again = audiobench.embed("whisper-micro", manifest, **where)
    assert not isinstance(again.encoder, EncoderCard)
    assert again.report.encoded == 4
    assert again.encoder.fingerprint != first.encoder.fingerprint
    assert again.cache.directory != first.cache.directory


def test_probe_from_a_recorded_description_records_what_a_built_encoder_does(synth_root: Path,
                                                                              tmp_path: Path) -> None:
    where = dict(data_root=synth_root / "esc50", cache_dir=tmp_path / "cache")
    built = audiobench.embed("logmel", "esc50", **where)
    [from_card] = audiobench.probe("logmel", "esc50", results_dir=None, **where)
    cards = tmp_path / "cache" / "encoders"
    for card in cards.iterdir():
        card.unlink()  # no card: probe builds the encoder (and records it again)
    [from_model] = audiobench.probe("logmel", "esc50", results_dir=None, **where)
    assert list(cards.iterdir())
    assert from_card.encoder == from_model.encoder
    assert from_card.encoder.fingerprint == built.encoder.fingerprint
    assert from_card.extraction == from_model.extraction and from_card.scores == from_model.scores


def test_only_local_weights_and_random_init_have_cards(tmp_path: Path) -> None:
    weights = save_weights(tmp_path / "weights", seed=0)
    local = card_key("whisper-micro", {}, str(weights), random_init=False)
    assert local is not None and local == card_key("whisper-micro", {}, str(weights), random_init=False)
    assert card_key("whisper-micro", {}, "openai/whisper-base", random_init=False) is None  # a hub id
    assert card_key("whisper-micro", {}, "openai/whisper-base", random_init=True) is not None  # weights unused
    (weights / "config.json").write_text((weights / "config.json").read_text() + "\n")
    assert card_key("whisper-micro", {}, str(weights), random_init=False) not in (None, local)
