"""A six-clip data list over the three domains, for the training unit tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiobench.audio import write_wav


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """Six short clips over the three domains, one of them at 44.1 kHz stereo."""
    rng = np.random.default_rng(0)
    rows = []
    for i, domain in enumerate(["speech", "speech", "speech", "sound", "music", "music"]):
        rate = 44_100 if i == 4 else 16_000
        audio = 0.1 * rng.standard_normal((rate, 2) if i == 4 else rate).astype(np.float32)
        write_wav(tmp_path / "clips" / f"{i}.wav", audio, rate)
        rows.append({"audio": f"clips/{i}.wav", "text": f"clip number {i}", "domain": domain})
    rows[0]["language"] = "de"
    data_list = tmp_path / "train.jsonl"
    data_list.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data_list
