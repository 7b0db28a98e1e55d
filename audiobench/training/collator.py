"""From samples to model inputs: audio -> waveform batches, text -> prompted decoder targets.

Workers only decode and resample (``make_item``); the log-mel is computed batched on the
training device by the trainer, with the same ``LogMel`` as extraction, in float32.

Every target is ``prompt + " " + text + <|endoftext|>`` (prompts in ``tokenizer.py``). The
decoder reads the sequence without its last token and is trained to predict it shifted by one;
the prompt tokens are given, not predicted, so their labels are -100 like the padding, and the
loss is on the text and the end token only.

A sample that cannot be used keeps its slot in the batch with silent audio and every label
-100, so it adds nothing to the loss or the token count, and its reason is passed on to be
counted: ``bad`` (undecodable, empty or malformed), ``too_long`` (prompt + text over the
decoder's 448 positions), ``over_30s`` (speech longer than Whisper's window: its transcript
cannot be cut with it). Sound and music over 30 s are cut to their first 30 s (``cut``).
Keeping the slot keeps every batch and every stream position the same on a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from audiobench.encoders.features import SAMPLE_RATE
from audiobench.errors import DataError
from audiobench.training.datalist import Row, load_row_audio
from audiobench.training.tokenizer import CAPTION, NO_TIMESTAMPS, SOT, TRANSCRIBE, language_token

IGNORE = -100
WINDOW_SAMPLES = 30 * SAMPLE_RATE


@dataclass
class TargetEncoder:
    """Tokenizes targets with their prompts; ``max_positions`` is the decoder's length limit."""

    tokenizer: PreTrainedTokenizerFast
    max_positions: int = 448

    def prompt(self, domain: str, language: str | None) -> list[int]:
        if domain == "speech":
            tokens = [SOT, language_token(language), TRANSCRIBE, NO_TIMESTAMPS]
        else:
            tokens = [SOT, CAPTION, NO_TIMESTAMPS]
        return self.tokenizer.convert_tokens_to_ids(tokens)

    def knows_language(self, language: str) -> bool:
        return language_token(language) in self.tokenizer.get_vocab()

    def text_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer([" " + t for t in texts], add_special_tokens=False)["input_ids"]

    def sequence(self, domain: str, language: str | None, text_ids: list[int]) -> list[int]:
        return self.prompt(domain, language) + text_ids + [self.tokenizer.eos_token_id]

    def fits(self, sequence: list[int]) -> bool:
        # The decoder reads all but the last token, so that is what must fit its positions.
        return len(sequence) - 1 <= self.max_positions


def check_rows(rows: Sequence[Row], tokenizer: PreTrainedTokenizerFast, default_language: str | None) -> None:
    """Speech rows need a language with a Whisper token (or the recipe's ``default_language``)."""
    vocab = tokenizer.get_vocab()
    for row in rows:
        if row.domain != "speech":
            continue
        language = row.language or default_language
        if not language:
            raise DataError(f"{row.source}: speech row without 'language'",
                            "add \"language\": \"en\" (a Whisper code) to the row, or default_language=en")
        if language_token(language) not in vocab:
            raise DataError(f"{row.source}: language {language!r} has no {language_token(language)} token",
                            "use a Whisper language code such as 'en'")


def make_item(key: str, domain: str, text: str, language: str | None, decode: Callable[[], np.ndarray],
              problem: str | None = None) -> dict[str, Any]:
    """One training item: the decoded clip (at most 30 s) or the reason it cannot be used."""
    waveform, status, reason = np.zeros(0, dtype=np.float32), "ok", problem
    if problem is not None:
        status = "bad"
    else:
        try:
            waveform = decode()
        except DataError as err:
            status, reason = "bad", err.message
        else:
            if waveform.shape[0] > WINDOW_SAMPLES:
                if domain == "speech":
                    waveform, status = np.zeros(0, dtype=np.float32), "over_30s"
                else:
                    waveform, status = waveform[:WINDOW_SAMPLES], "cut"
    return {"key": key, "waveform": waveform, "text": text, "domain": domain, "language": language,
            "status": status, "reason": reason}


class DataListDataset(torch.utils.data.Dataset):
    """Data list row ``i`` -> its training item (for small runs of loose files)."""

    def __init__(self, rows: list[Row], default_language: str | None = None) -> None:
        self.rows = rows
        self.default_language = default_language

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def domains(self) -> list[str]:
        return [r.domain for r in self.rows]

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows[index]
        language = row.language or (self.default_language if row.domain == "speech" else None)
        return make_item(row.key, row.domain, row.text, language, lambda: load_row_audio(row, SAMPLE_RATE))


class WhisperCollator:
    """Batches items: waveforms zero-padded to the longest clip (the log-mel is made on the
    training device), prompted and padded targets, and each item's key, domain and status."""

    def __init__(self, encoder: TargetEncoder) -> None:
        self.encoder = encoder

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        items = [self._check_target(item) for item in items]
        usable = [i for i, item in enumerate(items) if item["status"] in ("ok", "cut")]
        texts = self.encoder.text_ids([items[i]["text"] for i in usable])
        sequences: dict[int, list[int]] = {}
        for i, ids in zip(usable, texts):
            sequence = self.encoder.sequence(items[i]["domain"], items[i]["language"], ids)
            if self.encoder.fits(sequence):
                sequences[i] = sequence
            else:
                items[i] = {**items[i], "status": "too_long", "waveform": np.zeros(0, dtype=np.float32)}
        width = max([len(s) - 1 for s in sequences.values()] + [1])
        pad = self.encoder.tokenizer.pad_token_id
        decoder_input_ids = torch.full((len(items), width), pad, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
        for i, sequence in sequences.items():
            n = len(sequence) - 1
            decoder_input_ids[i, :n] = torch.tensor(sequence[:-1])
            labels[i, :n] = torch.tensor(sequence[1:])
            prompt = len(self.encoder.prompt(items[i]["domain"], items[i]["language"]))
            labels[i, :prompt - 1] = IGNORE
        samples = max([item["waveform"].shape[0] for item in items] + [1])
        waveforms = torch.zeros(len(items), samples, dtype=torch.float32)
        for i, item in enumerate(items):
            waveforms[i, :item["waveform"].shape[0]] = torch.from_numpy(item["waveform"])
        return {"waveform": waveforms, "decoder_input_ids": decoder_input_ids, "labels": labels,
                "keys": [item["key"] for item in items], "domains": [item["domain"] for item in items],
                "status": [item["status"] for item in items], "reasons": [item["reason"] for item in items]}

    def _check_target(self, item: dict[str, Any]) -> dict[str, Any]:
        if item["status"] in ("ok", "cut") and item["domain"] == "speech" \
                and not self.encoder.knows_language(item["language"]):
            return {**item, "status": "bad", "waveform": np.zeros(0, dtype=np.float32),
                    "reason": f"language {item['language']!r} has no Whisper token"}
        return item
