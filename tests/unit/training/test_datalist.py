from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiobench.errors import DataError
from audiobench.training.datalist import load_row_audio, read_data_list


def test_rows_are_read_with_paths_resolved_against_the_data_list(small_corpus: Path) -> None:
    rows = read_data_list(small_corpus)
    assert [r.domain for r in rows] == ["speech", "speech", "speech", "sound", "music", "music"]
    assert rows[0].language == "de" and rows[1].language is None
    assert Path(rows[0].audio) == small_corpus.parent / "clips" / "0.wav"
    assert rows[2].source == f"{small_corpus}:3"
    audio = load_row_audio(rows[4], 16_000)  # 44.1 kHz stereo -> 16 kHz mono
    assert audio.dtype == np.float32 and audio.ndim == 1 and abs(len(audio) - 16_000) <= 1


@pytest.mark.parametrize("row, message", [
    ({"audio": "clips/0.wav", "text": "  ", "domain": "speech"}, "empty 'text'"),
    ({"audio": "clips/0.wav", "text": "hi", "domain": "noise"}, "unknown domain 'noise'"),
    ({"audio": "clips/nope.wav", "text": "hi", "domain": "speech"}, "does not exist"),
    ({"text": "hi", "domain": "speech"}, "missing 'audio'"),
    ({"audio": "clips/bad.wav", "text": "hi", "domain": "music"}, "cannot read audio file"),
])
def test_a_bad_row_is_one_error_naming_file_and_line(small_corpus: Path, row: dict, message: str) -> None:
    (small_corpus.parent / "clips" / "bad.wav").write_bytes(b"RIFF but not really a wav file")
    good = {"audio": "clips/1.wav", "text": "fine", "domain": "speech"}
    data_list = small_corpus.parent / "bad.jsonl"
    data_list.write_text("".join(json.dumps(r) + "\n" for r in [good, good, row]))
    with pytest.raises(DataError) as err:
        read_data_list(data_list)
    assert f"{data_list}:3" in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    data_list = tmp_path / "m.jsonl"
    data_list.write_text('{"audio": "a.wav", "text": "x", "domain": "speech"}\n{oops\n')
    with pytest.raises(DataError, match=r"m.jsonl:2: not valid JSON"):
        read_data_list(data_list, check_audio=False)
