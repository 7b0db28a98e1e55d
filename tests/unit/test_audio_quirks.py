"""Real-file quirks of the benchmark datasets, each decoded the way embedding decodes it:
stereo, other sample rates, 8/24-bit and float WAV, FLAC, AU, unreadable and empty files,
excerpts, and clips shorter or longer than nominal (the crop/pad rule and Whisper's window)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiobench.audio import WAV_HEADER_BYTES, audio_seconds, fit_to_length, load_audio, wav_seconds
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


def soundfile_seconds(path: Path) -> float:
    with sf.SoundFile(path) as f:
        return f.frames / f.samplerate


def riff(*chunks: tuple[bytes, bytes]) -> bytes:
    """A RIFF/WAVE file of ``(id, body)`` chunks, each padded to an even size."""
    body = b"WAVE" + b"".join(cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
                              for cid, data in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pcm16_fmt(rate: int = RATE, channels: int = 1) -> bytes:
    return struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)


@pytest.mark.parametrize("fmt", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("channels", [1, 2])
def test_wav_headers_give_the_length_libsndfile_gives(tmp_path: Path, fmt: str, subtype: str, channels: int) -> None:
    path = tmp_path / "clip.wav"
    sf.write(path, np.tile(tone(0.37, 22_050)[:, None], (1, channels)), 22_050, format=fmt, subtype=subtype)
    assert wav_seconds(path) == soundfile_seconds(path) == pytest.approx(0.37, abs=1e-4)


def test_wav_chunks_before_the_data_and_odd_sizes_are_walked(tmp_path: Path) -> None:
    samples = (tone(0.25) * 32767).astype("<i2").tobytes()
    path = tmp_path / "clip.wav"
    path.write_bytes(riff((b"fmt ", pcm16_fmt()), (b"LIST", b"INFOISFT\x03\0\0\0ab\0"), (b"data", samples),
                          (b"id3 ", b"trailing")))
    assert wav_seconds(path) == soundfile_seconds(path) == 0.25


@pytest.mark.parametrize("cut", [RATE, 3 * RATE + 5])
def test_a_wav_cut_short_counts_the_whole_frames_it_still_holds(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "clip.wav"
    sf.write(path, np.stack([tone(1.0)] * 2, axis=1), RATE, subtype="PCM_24")  # 6-byte frames
    path.write_bytes(path.read_bytes()[:-cut])  # a sixth of a second gone, or half a second and part of a frame
    assert wav_seconds(path) == soundfile_seconds(path) == pytest.approx(1 - cut / (6 * RATE), abs=1 / RATE)


@pytest.mark.parametrize("case", ["flac", "au", "ulaw wav", "adpcm wav", "metadata before fmt", "no data size",
                                  "odd block size", "not wave", "garbage", "missing"])
def test_other_files_are_left_to_libsndfile(tmp_path: Path, case: str) -> None:
    path = tmp_path / "clip"
    if case in ("flac", "au"):
        sf.write(path, tone(), RATE, format=case.upper(), subtype="PCM_16")
    elif case.endswith("wav"):
        sf.write(path, tone(), RATE, format="WAV", subtype={"ulaw wav": "ULAW", "adpcm wav": "IMA_ADPCM"}[case])
    elif case == "metadata before fmt":  # the fmt and data chunks lie beyond the bytes read
        path.write_bytes(riff((b"JUNK", bytes(WAV_HEADER_BYTES)), (b"fmt ", pcm16_fmt()), (b"data", bytes(RATE))))
    elif case == "no data size":  # a streamed file whose writer never filled in the size
        path.write_bytes(riff((b"fmt ", pcm16_fmt()), (b"data", b"")) + bytes(RATE))
    elif case == "odd block size":  # 16-bit mono in 4-byte blocks: libsndfile counts 2-byte frames
        fmt = struct.pack("<HHIIHH", 1, 1, RATE, 4 * RATE, 4, 16)
        path.write_bytes(riff((b"fmt ", fmt), (b"data", bytes(RATE))))
    elif case == "not wave":
        path.write_bytes(riff((b"fmt ", pcm16_fmt()), (b"data", bytes(RATE))).replace(b"WAVE", b"AVI ", 1))
    elif case == "garbage":
        path.write_bytes(b"RIFF\x10\0\0\0WAVEfmt ")
    assert wav_seconds(path) is None
    expected = 0.0 if case in ("not wave", "garbage", "missing") else soundfile_seconds(path)
    assert audio_seconds(path) == expected
