"""Synthetic datasets in the real on-disk layouts, so the whole pipeline runs offline.

Audio is procedurally generated from seeded parameters so that classes are learnable:
sound-event textures for ESC-50 (noise band, tonal component, event rhythm per class), rhythm,
tempo and timbre for GTZAN genres, and formant-synthesised syllables for Speech Commands
keywords, each speaker with its own pitch and speaking rate. The trees use the real naming
patterns and metadata files and are read by the same task loaders as real data.

Scales: ``tiny`` (seconds to write; used by the demo and tests) and ``small``. Synthetic GTZAN
clips are shorter than the real 30 s at both scales; the crop/pad rule handles any length.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import fft as sp_fft
from scipy.signal import lfilter

from audiobench.audio import write_wav
from audiobench.errors import ConfigError
from audiobench.registry import import_object
from audiobench.files import atomic_write_text
from audiobench.tasks.gtzan import GENRES, filtered_list
from audiobench.tasks.speechcommands import NOISE_DIR, SILENCE, SUPERB_WORDS, UNKNOWN

#: Task name -> "module:function" writing that task's synthetic tree.
SYNTHESIZERS: dict[str, str] = {
    "esc50": "audiobench.synth:write_esc50",
    "gtzan": "audiobench.synth:write_gtzan",
    "speechcommands": "audiobench.synth:write_speechcommands",
    "mixture": "audiobench.training.mixture:write_mixture",
}
SCALES = ("tiny", "small")

ESC50_CATEGORIES = (
    "dog rooster pig cow frog cat hen insects sheep crow rain sea_waves crackling_fire crickets "
    "chirping_birds water_drops wind pouring_water toilet_flush thunderstorm crying_baby sneezing "
    "clapping breathing coughing footsteps laughing brushing_teeth snoring drinking_sipping "
    "door_wood_knock mouse_click keyboard_typing door_wood_creaks can_opening washing_machine "
    "vacuum_cleaner clock_alarm clock_tick glass_breaking helicopter chainsaw siren car_horn engine "
    "train church_bells airplane fireworks hand_saw").split()
SC_WORDS_V2 = (
    "backward bed bird cat dog down eight five follow forward four go happy house learn left marvin "
    "nine no off on one right seven sheila six stop three tree two up visual wow yes zero").split()
SC_WORDS_V1 = [w for w in SC_WORDS_V2 if w not in ("backward", "follow", "forward", "learn", "visual")]
NOISE_FILES = ("white_noise", "pink_noise", "dude_miaowing", "exercise_bike", "running_tap", "doing_the_dishes")


@dataclass(frozen=True)
class Scale:
    esc50_classes: int
    esc50_per_fold: int
    gtzan_per_genre: tuple[int, int, int]  # train, valid, test ids taken from the filtered lists
    gtzan_seconds: float
    sc_speakers: int  # speakers per word: 4 -> 2 train, 1 valid, 1 test
    noise_seconds: float


SCALE_SETTINGS = {
    "tiny": Scale(esc50_classes=10, esc50_per_fold=2, gtzan_per_genre=(5, 2, 3), gtzan_seconds=6.0,
                  sc_speakers=6, noise_seconds=6.0),
    "small": Scale(esc50_classes=50, esc50_per_fold=4, gtzan_per_genre=(15, 6, 9), gtzan_seconds=10.0,
                   sc_speakers=16, noise_seconds=30.0),
}


def synthesize(task: str, out: Path, scale: str = "tiny", seed: int = 0) -> dict:
    """Write ``task``'s synthetic tree under ``out``; returns a summary (clip counts)."""
    if task not in SYNTHESIZERS:
        raise ConfigError(f"no synthetic generator for '{task}'", f"available: {', '.join(SYNTHESIZERS)}")
    if scale not in SCALES:
        raise ConfigError(f"unknown scale '{scale}'", f"use one of {', '.join(SCALES)}")
    writer: Callable[..., dict] = import_object(SYNTHESIZERS[task])
    return writer(Path(out), scale=scale, seed=seed)


def rng_for(*key: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(map(str, key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def band_noise(rng: np.random.Generator, n: int, sr: int, center: float, octaves: float) -> np.ndarray:
    """White noise shaped by a Gaussian bump in log-frequency."""
    size = sp_fft.next_fast_len(n, real=True)
    spectrum = sp_fft.rfft(rng.standard_normal(size).astype(np.float32))
    freqs = np.fft.rfftfreq(size, 1 / sr)
    distance = np.log2(np.maximum(freqs, 1.0) / center) / octaves
    shaped = sp_fft.irfft(spectrum * np.exp(-0.5 * distance**2), size)[:n]
    return shaped / (np.abs(shaped).max() + 1e-9)


def normalise(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    return (peak * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


# ----- ESC-50: sound-event textures -----------------------------------------------------------

def esc50_clip(target: int, clip_seed: str, sr: int = 44_100, seconds: float = 5.0) -> np.ndarray:
    p = rng_for("esc50-class", target)
    center, octaves = 150 * 2 ** p.uniform(0, 6), p.uniform(0.3, 1.5)
    tone, harmonics = 100 * 2 ** p.uniform(0, 4.5), int(p.integers(1, 6))
    rate, decay, tonal_mix = 2 ** p.uniform(-1, 3.5), p.uniform(5, 60), p.uniform(0, 1)
    r = rng_for("esc50-clip", target, clip_seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    jitter = r.uniform(0.9, 1.1)
    texture = band_noise(r, n, sr, center * jitter, octaves)
    partials = sum(np.sin(2 * np.pi * tone * jitter * k * t + r.uniform(0, 6.3)) / k for k in range(1, harmonics + 1))
    onsets = np.cumsum(r.exponential(1 / (rate * jitter), size=int(rate * seconds * 3) + 2))
    impulses = np.zeros(n)
    impulses[(onsets[onsets < seconds] * sr).astype(int)] = 1.0
    envelope = lfilter([1.0], [1.0, -np.exp(-decay / sr)], impulses)  # exponentially decaying events
    signal = ((1 - tonal_mix) * texture + tonal_mix * partials / harmonics) * np.minimum(envelope, 1.5)
    floor = r.uniform(0.002, 0.01) * r.standard_normal(n)
    return normalise(signal + floor, peak=r.uniform(0.3, 0.8))


def write_esc50(out: Path, scale: str = "tiny", seed: int = 0) -> dict:
    settings = SCALE_SETTINGS[scale]
    rows = []
    for target in range(settings.esc50_classes):
        for fold in range(1, 6):
            for k in range(settings.esc50_per_fold):
                src = 100_000 + 1000 * target + 10 * fold + k
                take = "ABCDEFGH"[k % 8]
                name = f"{fold}-{src}-{take}-{target}.wav"
                write_wav(out / "audio" / name, esc50_clip(target, f"{seed}:{src}"), 44_100)
                rows.append([name, fold, target, ESC50_CATEGORIES[target], str(target < 10 and target % 2 == 0),
                             src, take])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
    writer.writerows(rows)
    atomic_write_text(out / "meta" / "esc50.csv", buffer.getvalue())
    return {"clips": len(rows), "classes": settings.esc50_classes}


# ----- GTZAN: tempo, rhythm and timbre per genre ----------------------------------------------

def gtzan_clip(genre: int, clip_seed: str, seconds: float, sr: int = 22_050) -> np.ndarray:
    p = rng_for("gtzan-genre", genre)
    bpm, brightness = p.uniform(60, 180), p.uniform(0.2, 0.9)
    root, pattern = 55 * 2 ** p.uniform(0, 2.5), p.integers(0, 2, size=8)
    drum_center, noise_mix = 80 * 2 ** p.uniform(0, 6), p.uniform(0, 0.6)
    r = rng_for("gtzan-clip", genre, clip_seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    beat = 60 / (bpm * r.uniform(0.96, 1.04))
    music = np.zeros(n)
    scale = np.array([0, 2, 3, 5, 7, 9, 10, 12])
    step = 0
    for start in np.arange(r.uniform(0, beat), seconds, beat / 2):
        i, length = int(start * sr), int(beat * sr)
        seg = t[: min(length, n - i)]
        pitch = root * r.uniform(0.98, 1.02) * 2 ** (scale[r.integers(0, 8)] / 12 + r.integers(0, 2))
        note = sum(brightness ** k * np.sin(2 * np.pi * pitch * (k + 1) * seg) for k in range(6))
        music[i: i + len(seg)] += note * np.exp(-3 * seg / beat)
        if pattern[step % 8]:
            hit = band_noise(r, len(seg), sr, drum_center, 0.7) * np.exp(-25 * seg)
            music[i: i + len(seg)] += 2 * hit
        step += 1
    music += noise_mix * band_noise(r, n, sr, 3000, 3)
    return normalise(music, peak=r.uniform(0.4, 0.8))


def write_gtzan(out: Path, scale: str = "tiny", seed: int = 0) -> dict:
    """A subset of the real clip ids, taken from each role of the fault-filtered split."""
    settings = SCALE_SETTINGS[scale]
    written = 0
    for role, count in zip(("train", "valid", "test"), settings.gtzan_per_genre):
        ids = filtered_list(role)
        for g, genre in enumerate(GENRES):
            for clip_id in [c for c in ids if c.startswith(f"{genre}.")][:count]:
                audio = gtzan_clip(g, f"{seed}:{clip_id}", settings.gtzan_seconds)
                write_wav(out / "genres_original" / genre / f"{clip_id}.wav", audio, 22_050)
                written += 1
    return {"clips": written, "classes": len(GENRES)}


# ----- Speech Commands: formant-synthesised syllables -----------------------------------------

def resonator(signal: np.ndarray, freq: float, bandwidth: float, sr: int) -> np.ndarray:
    """Second-order all-pole resonance (one formant)."""
    radius = np.exp(-np.pi * bandwidth / sr)
    a = [1.0, -2 * radius * np.cos(2 * np.pi * freq / sr), radius**2]
    return lfilter([1 - radius], a, signal)


def word_clip(word: str, speaker_id: str, take: int, sr: int = 16_000) -> np.ndarray:
    w = rng_for("sc-word", word)
    burst_center, burst_len = 500 * 2 ** w.uniform(0, 3.5), w.uniform(0.02, 0.12)
    vowels = [(w.uniform(280, 850), w.uniform(850, 2600)) for _ in range(int(w.integers(1, 3)))]
    s = rng_for("sc-speaker", speaker_id)
    f0, rate, tract = s.uniform(90, 260), s.uniform(0.8, 1.25), s.uniform(0.9, 1.12)
    r = rng_for("sc-take", word, speaker_id, take)
    n = sr
    vowel_len = 0.22 / rate
    parts = [band_noise(r, int(burst_len * sr / rate), sr, burst_center * tract, 0.6) * 0.3]
    for f1, f2 in vowels:
        m = int(vowel_len * sr)
        phase = np.cumsum(np.full(m, f0 * r.uniform(0.95, 1.05) / sr))
        source = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
        voiced = resonator(resonator(resonator(source, f1 * tract, 90, sr), f2 * tract, 110, sr), 2800 * tract, 150, sr)
        parts.append(voiced / (np.abs(voiced).max() + 1e-9) * np.hanning(m))
    utterance = np.concatenate(parts)[: int(0.9 * n)]
    clip = np.zeros(n)
    offset = int(r.integers(0, n - len(utterance) + 1))
    clip[offset: offset + len(utterance)] = utterance
    clip += r.uniform(0.002, 0.02) * r.standard_normal(n)
    return normalise(clip, peak=r.uniform(0.3, 0.9))


def speaker_ids(word: str, count: int) -> list[str]:
    return [hashlib.sha256(f"speaker:{word}:{k}".encode()).hexdigest()[:8] for k in range(count)]


def write_sc_tree(tree: Path, words: list[str], speakers: int, noise_seconds: float, seed: int) -> dict:
    """One release folder: word folders, lists split by speaker (as the official hashing does),
    and ``_background_noise_``."""
    lists: dict[str, list[str]] = {"validation": [], "testing": []}
    clips = 0
    for word in words:
        for k, spk in enumerate(speaker_ids(word, speakers)):
            rel = f"{word}/{spk}_nohash_0.wav"
            write_wav(tree / rel, word_clip(word, spk, seed), 16_000)
            clips += 1
            role = ("validation", "testing", None, None, None, None)[k % 6]
            if role:
                lists[role].append(rel)
    for role, paths in lists.items():
        atomic_write_text(tree / f"{role}_list.txt", "".join(f"{p}\n" for p in paths))
    for i, name in enumerate(NOISE_FILES):
        r = rng_for("noise", name, seed)
        n = int(noise_seconds * 16_000)
        write_wav(tree / NOISE_DIR / f"{name}.wav", normalise(band_noise(r, n, 16_000, 200 * 2 ** i, 2.0), 0.3), 16_000)
    return {"clips": clips, "validation": len(lists["validation"]), "testing": len(lists["testing"])}


def write_speechcommands(out: Path, scale: str = "tiny", seed: int = 0) -> dict:
    settings = SCALE_SETTINGS[scale]
    summary = {"v0.02": write_sc_tree(out / "v0.02", SC_WORDS_V2, settings.sc_speakers, settings.noise_seconds, seed),
               "v0.01": write_sc_tree(out / "v0.01", SC_WORDS_V1, settings.sc_speakers, settings.noise_seconds, seed)}
    test_dir = out / "test_set_v0.01"
    per_label = max(2, settings.sc_speakers // 2)
    others = [w for w in SC_WORDS_V1 if w not in SUPERB_WORDS]
    count = 0
    for word in SUPERB_WORDS:
        for spk in speaker_ids(f"test:{word}", per_label):
            write_wav(test_dir / word / f"{spk}_nohash_0.wav", word_clip(word, spk, seed), 16_000)
            count += 1
    for k, spk in enumerate(speaker_ids("test:unknown", per_label)):
        word = others[k % len(others)]
        write_wav(test_dir / UNKNOWN / f"{spk}_nohash_{k}.wav", word_clip(word, spk, seed), 16_000)
        count += 1
    for k in range(per_label):
        r = rng_for("test-silence", k, seed)
        noise = normalise(band_noise(r, 16_000, 16_000, 200 * 2 ** (k % 6), 2.0), r.uniform(0.05, 0.3))
        write_wav(test_dir / SILENCE / f"silence_{k}.wav", noise, 16_000)
        count += 1
    summary["test_set_v0.01"] = {"clips": count}
    summary["clips"] = summary["v0.02"]["clips"] + summary["v0.01"]["clips"] + count
    return summary
