"""A small captioned speech / sound / music mixture, so the recipe runs offline.

Audio comes from the procedural generators of ``audiobench.synth``: speech is a few
formant-synthesised keywords in a row (transcript: the words), sound is an ESC-50-style event
texture (caption: what it is and how busy it is), music is a GTZAN-style excerpt (caption: its
genre and character). Texts follow templates, so a tiny model can learn them in a few dozen
steps. Writes ``train.jsonl`` and ``eval.jsonl`` (paths relative to the folder) and
``audio/{split}/*.wav``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiobench.audio import write_wav
from audiobench.errors import ConfigError
from audiobench.files import atomic_write_text
from audiobench.synth import (ESC50_CATEGORIES, SC_WORDS_V1, esc50_clip, gtzan_clip, rng_for, speaker_ids,
                              word_clip)
from audiobench.tasks.gtzan import GENRES


@dataclass(frozen=True)
class MixtureScale:
    train: tuple[int, int, int]  # speech, sound, music clips
    eval: tuple[int, int, int]


MIXTURE_SCALES = {"tiny": MixtureScale((32, 8, 8), (4, 2, 2)),
                  "small": MixtureScale((640, 80, 80), (64, 16, 16))}
SOUND_CLASSES = ESC50_CATEGORIES[:10]
BUSY = ("a few sparse", "several", "many dense")


def speech_clip(seed: int, split: str, i: int) -> tuple[np.ndarray, str]:
    r = rng_for("mixture-speech", seed, split, i)
    words = [SC_WORDS_V1[k] for k in r.integers(0, 10, size=int(r.integers(2, 5)))]
    speaker = speaker_ids("mixture", 8)[int(r.integers(0, 8))]
    audio = np.concatenate([word_clip(w, speaker, take=i) for w in words])
    return audio, " ".join(words)


def sound_clip(seed: int, split: str, i: int) -> tuple[np.ndarray, str]:
    r = rng_for("mixture-sound", seed, split, i)
    target = int(r.integers(0, len(SOUND_CLASSES)))
    seconds = float(r.uniform(2.0, 4.0))
    audio = esc50_clip(target, f"{seed}-{split}-{i}", sr=16_000, seconds=seconds)
    name = SOUND_CLASSES[target].replace("_", " ")
    density = BUSY[min(2, int(seconds - 2.0) + int(r.integers(0, 2)))]
    return audio, f"{density} {name} sounds recorded outdoors"


def music_clip(seed: int, split: str, i: int) -> tuple[np.ndarray, str]:
    r = rng_for("mixture-music", seed, split, i)
    genre = int(r.integers(0, len(GENRES)))
    audio = gtzan_clip(genre, f"{seed}-{split}-{i}", seconds=float(r.uniform(3.0, 5.0)), sr=16_000)
    mood = ("calm", "lively")[int(r.integers(0, 2))]
    return audio, f"a {mood} {GENRES[genre]} track with drums and a bass line"


GENERATORS = {"speech": speech_clip, "sound": sound_clip, "music": music_clip}


def write_split(out: Path, split: str, counts: tuple[int, int, int], seed: int) -> int:
    lines = []
    for domain, count in zip(GENERATORS, counts):
        for i in range(count):
            audio, text = GENERATORS[domain](seed, split, i)
            relative = f"audio/{split}/{domain}-{i:05d}.wav"
            write_wav(out / relative, audio, 16_000)
            row = {"audio": relative, "text": text, "domain": domain, "duration": round(len(audio) / 16_000, 3)}
            if domain == "speech":
                row["language"] = "en"
            lines.append(json.dumps(row))
    atomic_write_text(out / f"{split}.jsonl", "\n".join(lines) + "\n")
    return len(lines)


def write_mixture(out: Path, scale: str = "tiny", seed: int = 0) -> dict:
    """Write the mixture under ``out``; returns a summary for the CLI."""
    if scale not in MIXTURE_SCALES:
        raise ConfigError(f"unknown scale '{scale}'", f"use one of {', '.join(MIXTURE_SCALES)}")
    out = Path(out)
    settings = MIXTURE_SCALES[scale]
    train = write_split(out, "train", settings.train, seed)
    held_out = write_split(out, "eval", settings.eval, seed)
    return {"clips": train + held_out, "train": train, "eval": held_out,
            "data_list": str(out / "train.jsonl"), "eval_data_list": str(out / "eval.jsonl")}
