"""From manifest rows to model inputs: audio -> log-mel, text -> prompted decoder targets.

Every target is ``prompt + " " + text + <|endoftext|>`` (prompts in ``tokenizer.py``). The
decoder reads the sequence without its last token and is trained to predict it shifted by one;
the prompt tokens are given, not predicted, so their labels are -100 like the padding, and the
loss is on the text and the end token only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from audiobench.audio import fit_to_length
from audiobench.encoders.features import SAMPLE_RATE, LogMel
from audiobench.errors import DataError
from audiobench.training.manifest import Row, load_row_audio
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
            tokens = [SOT, language_token(language or "en"), TRANSCRIBE, NO_TIMESTAMPS]
        else:
            tokens = [SOT, CAPTION, NO_TIMESTAMPS]
        return self.tokenizer.convert_tokens_to_ids(tokens)

    def text_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer([" " + t for t in texts], add_special_tokens=False)["input_ids"]

    def sequence(self, domain: str, language: str | None, text_ids: list[int]) -> list[int]:
        return self.prompt(domain, language) + text_ids + [self.tokenizer.eos_token_id]

    def fits(self, sequence: list[int]) -> bool:
        # The decoder reads all but the last token, so that is what must fit its positions.
        return len(sequence) - 1 <= self.max_positions


def check_languages(rows: Sequence[Row], tokenizer: PreTrainedTokenizerFast) -> None:
    vocab = tokenizer.get_vocab()
    for row in rows:
        if row.domain == "speech" and row.language and language_token(row.language) not in vocab:
            raise DataError(f"{row.source}: language {row.language!r} has no {language_token(row.language)} token",
                            "use a Whisper language code such as 'en'")


def drop_long_targets(rows: list[Row], encoder: TargetEncoder, batch: int = 4096) -> tuple[list[Row], Counter]:
    """Rows whose prompted target fits the decoder, and how many were dropped per domain."""
    check_languages(rows, encoder.tokenizer)
    kept: list[Row] = []
    dropped: Counter = Counter()
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        for row, ids in zip(chunk, encoder.text_ids([r.text for r in chunk])):
            if encoder.fits(encoder.sequence(row.domain, row.language, ids)):
                kept.append(row)
            else:
                dropped[row.domain] += 1
    return kept, dropped


class ClipDataset(torch.utils.data.Dataset):
    """Row ``i`` -> its 30 s waveform (cropped or zero-padded) and target fields."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def domains(self) -> list[str]:
        return [r.domain for r in self.rows]

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows[index]
        waveform = fit_to_length(load_row_audio(row, SAMPLE_RATE), WINDOW_SAMPLES)
        return {"index": index, "waveform": waveform, "text": row.text, "domain": row.domain,
                "language": row.language}


class WhisperCollator:
    """Batches ``ClipDataset`` items: log-mel with the model's mel bins, padded targets."""

    def __init__(self, encoder: TargetEncoder, num_mel_bins: int) -> None:
        self.encoder = encoder
        self.logmel = LogMel(num_mel_bins)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        waveforms = torch.from_numpy(np.stack([item["waveform"] for item in items]))
        with torch.no_grad():
            features = self.logmel(waveforms)
        texts = self.encoder.text_ids([item["text"] for item in items])
        sequences = [self.encoder.sequence(item["domain"], item["language"], ids) for item, ids in zip(items, texts)]
        width = max(len(s) for s in sequences) - 1
        pad = self.encoder.tokenizer.pad_token_id
        decoder_input_ids = torch.full((len(items), width), pad, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
        for i, (item, sequence) in enumerate(zip(items, sequences)):
            n = len(sequence) - 1
            decoder_input_ids[i, :n] = torch.tensor(sequence[:-1])
            labels[i, :n] = torch.tensor(sequence[1:])
            prompt = len(self.encoder.prompt(item["domain"], item["language"]))
            labels[i, :prompt - 1] = IGNORE
        return {"input_features": features, "decoder_input_ids": decoder_input_ids, "labels": labels,
                "sample_index": torch.tensor([item["index"] for item in items], dtype=torch.long)}
