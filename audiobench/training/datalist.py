"""Training data lists (WeNet's term; a task's clips and folds are its ``Manifest``): JSON
Lines, one clip with its text per line, validated before any training starts.

A row is ``{"audio": PATH_OR_URL, "text": str, "domain": "speech"|"sound"|"music"}`` plus
optional ``duration`` (seconds) and ``language`` (a Whisper language code such as ``en``).
Relative paths are resolved against the data list's folder. A bad row is a ``DataError`` that
names the file and line: training never starts on a silently shrunken dataset.
"""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audiobench.audio import load_audio, resample
from audiobench.errors import AudioReadError, DataError

DOMAINS = ("speech", "sound", "music")
URL_SCHEMES = ("http://", "https://")


@dataclass(slots=True)
class Row:
    """One (audio, text) pair. ``source`` is ``file:line`` (or the corpus file) for messages."""

    key: str
    text: str
    domain: str
    source: str
    audio: str | None = None
    language: str | None = None
    duration: float | None = None


def is_url(audio: str) -> bool:
    return audio.startswith(URL_SCHEMES)


def parse_row(record: object, source: str, base: Path, key: str) -> Row:
    """Check one decoded JSON line and turn it into a ``Row``."""
    if not isinstance(record, dict):
        raise DataError(f"{source}: expected a JSON object, got {type(record).__name__}",
                        'write one {"audio": ..., "text": ..., "domain": ...} object per line')
    audio = record.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        raise DataError(f"{source}: missing 'audio'", "give the path or URL of the clip")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{source}: empty 'text'", "give the transcript or caption, or delete the row")
    domain = record.get("domain")
    if domain not in DOMAINS:
        raise DataError(f"{source}: unknown domain {domain!r}", f"use one of {', '.join(DOMAINS)}")
    language = record.get("language")
    if language is not None and (not isinstance(language, str) or not language.strip()):
        raise DataError(f"{source}: 'language' must be a language code such as 'en'", "or leave it out")
    duration = record.get("duration")
    if duration is not None and (not isinstance(duration, (int, float)) or duration <= 0):
        raise DataError(f"{source}: 'duration' must be a positive number of seconds", "or leave it out")
    if not is_url(audio):
        path = Path(audio).expanduser()
        audio = str(path if path.is_absolute() else base / path)
    return Row(key=key, text=text.strip(), domain=domain, source=source, audio=audio,
               language=language.strip() if language else None,
               duration=float(duration) if duration is not None else None)


def check_audio_file(row: Row) -> None:
    """Fail on a missing or undecodable local file (headers only: cheap enough for millions)."""
    if row.audio is None or is_url(row.audio):
        return
    path = Path(row.audio)
    if not path.is_file():
        raise DataError(f"{row.source}: audio file {path} does not exist", "fix the path or delete the row")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise DataError(f"{row.source}: cannot read audio file {path}: {str(err).strip()}",
                        "replace the file or delete the row") from err
    if info.frames == 0:
        raise DataError(f"{row.source}: audio file {path} holds no samples", "replace the file or delete the row")


def read_data_list(path: str | Path, check_audio: bool = True,
                  advance: Callable[[int], None] | None = None) -> list[Row]:
    """Read and validate every row of a data list (JSONL). ``advance(n)`` reports progress."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data list {path} does not exist", "pass a .jsonl data list or a shard directory")
    rows: list[Row] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            source = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{source}: not valid JSON ({err.msg})", "write one JSON object per line") from err
            row = parse_row(record, source, path.parent, key=f"{path.stem}-{number:09d}")
            if check_audio:
                check_audio_file(row)
            rows.append(row)
            if advance is not None:
                advance(1)
    if not rows:
        raise DataError(f"data list {path} has no rows", "write one JSON object per line")
    return rows


def count_lines(path: str | Path) -> int:
    with Path(path).open("rb") as f:
        return sum(1 for line in f if line.strip())


def decode_audio_bytes(data: bytes, sample_rate: int, name: str) -> np.ndarray:
    """Decode an in-memory file (shard member or downloaded URL) to mono float32 at ``sample_rate``."""
    try:
        waveform, native_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        raise AudioReadError(name, str(err).strip() or type(err).__name__) from err
    if waveform.shape[0] == 0:
        raise AudioReadError(name, "the file holds no samples")
    mono = waveform.mean(axis=1) if waveform.shape[1] > 1 else waveform[:, 0]
    return resample(np.ascontiguousarray(mono, dtype=np.float32), native_rate, sample_rate)


def read_bytes(row: Row) -> bytes:
    """The encoded audio file of ``row``, from its URL or path."""
    assert row.audio is not None
    if is_url(row.audio):
        with urllib.request.urlopen(row.audio, timeout=60) as response:
            return response.read()
    return Path(row.audio).read_bytes()


def load_row_audio(row: Row, sample_rate: int) -> np.ndarray:
    """Decode the clip of ``row``; errors name the data list row, not only the file."""
    try:
        if row.audio is not None and not is_url(row.audio):
            return load_audio(row.audio, sample_rate)
        return decode_audio_bytes(read_bytes(row), sample_rate, str(row.audio))
    except AudioReadError as err:
        raise DataError(f"{row.source}: {err.message}", "replace the file or delete the row") from err
    except OSError as err:
        raise DataError(f"{row.source}: cannot read {row.audio}: {err}",
                        "fix the path or delete the row") from err
