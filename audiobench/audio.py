"""Decoding and resampling: every clip becomes a mono float32 waveform at the encoder's rate.

soundfile (libsndfile) reads WAV of any bit depth, float WAV, FLAC, AU/SND and OGG; soxr
resamples with its high-quality filter. Multi-channel audio is down-mixed by averaging the
channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiobench.errors import AudioReadError


def load_audio(path: str | Path, sample_rate: int, start: float = 0.0,
               duration: float | None = None) -> np.ndarray:
    """Read ``path`` (optionally the excerpt ``[start, start + duration)`` seconds), down-mix to
    mono and resample to ``sample_rate``. Raises ``AudioReadError`` for an unreadable file, one
    holding NaN or infinite samples (they would poison every statistic downstream), or one
    with no samples left after resampling."""
    try:
        with sf.SoundFile(str(path)) as f:
            native_rate = f.samplerate
            first = int(round(start * native_rate))
            if first:
                f.seek(min(first, f.frames))
            count = -1 if duration is None else int(round(duration * native_rate))
            data = f.read(frames=count, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        raise AudioReadError(str(path), str(err).strip() or type(err).__name__) from err
    if data.shape[0] == 0:
        raise AudioReadError(str(path), "the file holds no samples")
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise AudioReadError(str(path), f"{bad:,} NaN or infinite sample(s)")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    waveform = resample(np.ascontiguousarray(mono, dtype=np.float32), native_rate, sample_rate)
    if waveform.shape[0] == 0:
        raise AudioReadError(str(path), f"{data.shape[0]} sample(s) at {native_rate} Hz leave none at {sample_rate} Hz")
    return waveform


def audio_seconds(path: str | Path, start: float = 0.0, duration: float | None = None) -> float:
    """Length of a clip (or its excerpt) from the file header, without decoding; 0.0 for a
    file that cannot be read (decoding it reports the error)."""
    try:
        # Not sf.info: it also reads the format's descriptions and the file's log, 1.4x the time a file.
        with sf.SoundFile(str(path)) as f:
            frames, rate = f.frames, f.samplerate
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
        return 0.0
    available = max(0.0, frames / rate - start)
    return available if duration is None else min(available, duration)


def resample(waveform: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return waveform
    return soxr.resample(waveform, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def fit_to_length(waveform: np.ndarray, num_samples: int) -> np.ndarray:
    """The crop/pad rule used everywhere: keep the first ``num_samples`` samples of a longer
    clip; zero-pad a shorter one at the end."""
    if waveform.shape[0] >= num_samples:
        return waveform[:num_samples]
    return np.pad(waveform, (0, num_samples - waveform.shape[0]))


def write_wav(path: str | Path, waveform: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write a mono or (frames, channels) waveform; used by the synthetic data generators."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), waveform, sample_rate, subtype=subtype)
