"""Decoding and resampling: every clip becomes a mono float32 waveform at the encoder's rate.

soundfile (libsndfile) reads WAV of any bit depth, float WAV, FLAC, AU/SND and OGG; soxr
resamples with its high-quality filter. Multi-channel audio is down-mixed by averaging the
channels.
"""

from __future__ import annotations

import os
import struct
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
    length = wav_seconds(path)
    if length is None:
        try:
            # Not sf.info: it also reads the format's descriptions and the file's log, 1.4x the time a file.
            with sf.SoundFile(str(path)) as f:
                length = f.frames / f.samplerate
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
            return 0.0
    available = max(0.0, length - start)
    return available if duration is None else min(available, duration)


#: WAV format tags whose frames are the data chunk's bytes over the block size: PCM, IEEE float.
LINEAR_WAV_TAGS = (0x0001, 0x0003)
EXTENSIBLE_WAV_TAG = 0xFFFE
#: Bytes read from the start of a WAV file: its ``fmt `` and ``data`` chunk headers are there,
#: unless a large metadata chunk comes first (then libsndfile reads it).
WAV_HEADER_BYTES = 4096


def wav_seconds(path: str | Path) -> float | None:
    """Length of a PCM or float WAV file from its RIFF chunks, as libsndfile counts it (the data
    chunk, cut short where the file is); None for any other file, or a WAV this does not read
    (compressed, RF64, a data chunk of unknown size or beyond the first 4 KiB). A quarter of
    the time of opening the file with libsndfile: ``--window trim`` reads every clip's length
    before encoding (Speech Commands: 105k headers)."""
    try:
        with open(path, "rb") as f:
            head = f.read(WAV_HEADER_BYTES)
            size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position, rate, block = 12, 0, 0
    while position + 8 <= len(head):
        chunk, length = head[position:position + 4], int.from_bytes(head[position + 4:position + 8], "little")
        body = position + 8
        if chunk == b"fmt " and length >= 16 and body + 16 <= len(head):
            tag, channels, rate, _, block, bits = struct.unpack_from("<HHIIHH", head, body)
            if tag == EXTENSIBLE_WAV_TAG and length >= 40 and body + 26 <= len(head):
                tag = int.from_bytes(head[body + 24:body + 26], "little")  # the sub-format GUID's first two bytes
            # libsndfile counts frames in channels x whole bytes per sample, whatever the block size says.
            if tag not in LINEAR_WAV_TAGS or block != channels * ((bits + 7) // 8):
                return None
        elif chunk == b"data":
            if not rate or not block or length in (0, 0xFFFFFFFF):
                return None
            return (min(length, size - body) // block) / rate
        position = body + length + (length & 1)  # chunks are padded to an even size
    return None


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
