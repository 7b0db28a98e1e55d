"""Real-file quirks of the benchmark datasets, each decoded the way embedding decodes it:
stereo, other sample rates, 8/24-bit and float WAV, FLAC, AU, unreadable and empty files,
excerpts, and clips shorter or longer than nominal (the crop/pad rule and Whisper's window)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiobench.audio import fit_to_length, load_audio
from audiobench.encoders import build_encoder
from audiobench.errors import AudioReadError

RATE = 16_000


def tone(seconds: float = 0.5, rate: int = RATE, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_stereo_is_down_mixed_by_averaging_the_channels(tmp_path: Path) -> None:
    left, right = tone(), np.zeros(int(0.5 * RATE), dtype=np.float32)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), RATE, subtype="FLOAT")
    audio = load_audio(tmp_path / "stereo.wav", RATE)
    assert audio.ndim == 1 and audio.dtype == np.float32
    np.testing.assert_allclose(audio, left / 2, atol=1e-6)


@pytest.mark.parametrize("native", [44_100, 22_050, 8_000, 48_000])
def test_other_sample_rates_are_resampled_keeping_pitch(tmp_path: Path, native: int) -> None:
    sf.write(tmp_path / "clip.wav", tone(1.0, native, freq=1000.0), native)
    audio = load_audio(tmp_path / "clip.wav", RATE)
    assert len(audio) == RATE
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over one second


@pytest.mark.parametrize("suffix, fmt, subtype, atol", [
    (".wav", "WAV", "PCM_U8", 1 / 64),  # 8-bit WAV is unsigned
    (".wav", "WAV", "PCM_16", 1e-4),
    (".wav", "WAV", "PCM_24", 1e-6),
    (".wav", "WAV", "PCM_32", 1e-6),
    (".wav", "WAV", "FLOAT", 1e-7),
    (".wav", "WAV", "DOUBLE", 1e-7),
    (".flac", "FLAC", "PCM_16", 1e-4),
    (".flac", "FLAC", "PCM_24", 1e-6),
    (".au", "AU", "PCM_16", 1e-4),  # the original GTZAN distribution
    (".au", "AU", "ULAW", 0.02),
])
def test_every_encoding_decodes_to_the_same_float_waveform(tmp_path: Path, suffix: str, fmt: str, subtype: str,
                                                           atol: float) -> None:
    path = tmp_path / f"clip{suffix}"
    sf.write(path, tone(), RATE, format=fmt, subtype=subtype)
    audio = load_audio(path, RATE)
    assert audio.dtype == np.float32
    np.testing.assert_allclose(audio, tone(), atol=atol)


def test_an_unreadable_file_names_itself(tmp_path: Path) -> None:
    """The shape of GTZAN's jazz.00054.wav: a .wav name on bytes libsndfile cannot parse."""
    path = tmp_path / "jazz.00054.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(64))
    with pytest.raises(AudioReadError) as err:
        load_audio(path, RATE)
    assert str(path) in str(err.value) and "--skip-bad" in str(err.value)


def test_an_empty_file_is_an_error_not_a_silent_zero_clip(tmp_path: Path) -> None:
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), RATE)
    with pytest.raises(AudioReadError, match="holds no samples"):
        load_audio(tmp_path / "empty.wav", RATE)


def test_excerpts_read_only_their_window(tmp_path: Path) -> None:
    """How the SUPERB _silence_ crops are cut from the long background-noise files."""
    ramp = np.arange(3 * RATE, dtype=np.float32) / (3 * RATE)
    sf.write(tmp_path / "noise.wav", ramp, RATE, subtype="FLOAT")
    crop = load_audio(tmp_path / "noise.wav", RATE, start=1.0, duration=1.0)
    np.testing.assert_array_equal(crop, ramp[RATE: 2 * RATE])
    tail = load_audio(tmp_path / "noise.wav", RATE, start=2.5, duration=1.0)
    assert len(tail) == RATE // 2  # a crop past the end is short, never wrapped


def test_fit_to_length_keeps_the_start_of_long_clips_and_zero_pads_short_ones_at_the_end() -> None:
    wave = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(fit_to_length(wave, 4), [1, 2, 3, 4])
    np.testing.assert_array_equal(fit_to_length(wave, 12), [*range(1, 11), 0, 0])
    np.testing.assert_array_equal(fit_to_length(wave, 10), wave)


def test_whisper_crops_and_pads_to_its_30_second_window_and_counts_only_real_frames() -> None:
    """A 1 s keyword fills 50 of Whisper's 1,500 positions; a 40 s clip is cut to the first
    30 s (all 1,500); the hidden states always span the whole window."""
    encoder = build_encoder("whisper-micro", random_init=True)
    assert encoder.window_seconds == 30.0 and encoder.window_samples == 30 * RATE
    waves = torch.zeros(2, 40 * RATE)
    waves[0, :RATE] = torch.from_numpy(tone(1.0))
    waves[1] = torch.randn(40 * RATE) * 0.1
    with torch.inference_mode():
        output = encoder(waves, torch.tensor([RATE, 40 * RATE]))
    assert output.frame_lengths.tolist() == [50, 1500]
    assert output.hidden_states[-1].shape[:2] == (2, 1500)
    with torch.inference_mode():
        cropped = encoder(waves[1:, : 30 * RATE], torch.tensor([30 * RATE]))
    torch.testing.assert_close(output.hidden_states[-1][1], cropped.hidden_states[-1][0])
