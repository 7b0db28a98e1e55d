from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audiobench.errors import DataError
from audiobench.training.collator import IGNORE, DataListDataset, TargetEncoder, WhisperCollator, check_rows, make_item
from audiobench.training.datalist import Row, read_data_list
from audiobench.training.tokenizer import train_bpe


@pytest.fixture
def tokenizer(small_corpus: Path):
    rows = read_data_list(small_corpus)
    return train_bpe([r.text for r in rows], ["de"], vocab_size=300)


def tokens(tokenizer, ids) -> list[str]:
    return tokenizer.convert_ids_to_tokens(ids)


def test_prompts_transcribe_speech_and_caption_sound_and_music(tokenizer) -> None:
    encoder = TargetEncoder(tokenizer)
    # Whisper's own special tokens (openai/whisper's tokenizer), spelled out; <|caption|> is ours.
    assert tokens(tokenizer, encoder.prompt("speech", "en")) == [
        "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
    assert tokens(tokenizer, encoder.prompt("speech", "de")) == [
        "<|startoftranscript|>", "<|de|>", "<|transcribe|>", "<|notimestamps|>"]
    assert tokens(tokenizer, encoder.prompt("music", "de")) == ["<|startoftranscript|>", "<|caption|>", "<|notimestamps|>"]
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.pad_token == "<|endoftext|>"


def test_batch_has_waveforms_shifted_targets_and_masked_labels(small_corpus: Path, tokenizer) -> None:
    rows = read_data_list(small_corpus)
    encoder = TargetEncoder(tokenizer)
    batch = WhisperCollator(encoder)([DataListDataset(rows)[i] for i in (0, 4)])
    # Workers only decode and resample: 1 s clips at 16 kHz, the log-mel is made on the device.
    assert batch["waveform"].shape == (2, 16_000) and batch["waveform"].dtype == torch.float32
    assert batch["keys"] == [rows[0].key, rows[4].key] and batch["status"] == ["ok", "ok"]
    inputs, labels = batch["decoder_input_ids"], batch["labels"]
    assert inputs.shape == labels.shape
    for row, ids, lab in zip((rows[0], rows[4]), inputs.tolist(), labels.tolist()):
        sequence = encoder.sequence(row.domain, row.language, encoder.text_ids([row.text])[0])
        n, prompt = len(sequence) - 1, len(encoder.prompt(row.domain, row.language))
        assert ids[:n] == sequence[:-1] and all(t == tokenizer.pad_token_id for t in ids[n:])
        # Prompt tokens are given, not predicted; padding is ignored; text and <|endoftext|> are learned.
        assert lab[:prompt - 1] == [IGNORE] * (prompt - 1)
        assert lab[prompt - 1:n] == sequence[prompt:] and lab[n - 1] == tokenizer.eos_token_id
        assert all(t == IGNORE for t in lab[n:])


def test_dropped_samples_keep_their_slot_silent_and_unlabelled(tokenizer) -> None:
    good = make_item("a", "sound", "clip", None, lambda: np.ones(16_000, dtype=np.float32))
    long_text = make_item("b", "speech", "clip " * 40, "de", lambda: np.ones(100, dtype=np.float32))
    undecodable = make_item("c", "music", "clip", None, lambda: (_ for _ in ()).throw(DataError("x.wav: broken")))
    long_speech = make_item("d", "speech", "clip", "de", lambda: np.ones(31 * 16_000, dtype=np.float32))
    long_music = make_item("e", "music", "clip", None, lambda: np.ones(31 * 16_000, dtype=np.float32))
    batch = WhisperCollator(TargetEncoder(tokenizer, max_positions=20))(
        [good, long_text, undecodable, long_speech, long_music])
    assert batch["status"] == ["ok", "too_long", "bad", "over_30s", "cut"]
    assert batch["reasons"][2] == "x.wav: broken"
    labelled = (batch["labels"] != IGNORE).sum(dim=1).tolist()
    assert labelled[0] > 0 and labelled[4] > 0 and labelled[1:4] == [0, 0, 0]
    # Sound and music over 30 s are cut to 30 s; the dropped ones are silent.
    assert batch["waveform"].shape == (5, 30 * 16_000)
    assert batch["waveform"][1:4].abs().sum() == 0 and batch["waveform"][4].abs().sum() == 30 * 16_000


def test_speech_rows_need_a_language_with_a_token(tokenizer) -> None:
    row = Row(key="0", text="hallo", domain="speech", source="m.jsonl:7", language="xx")
    with pytest.raises(DataError, match="m.jsonl:7: language 'xx' has no <|xx|> token"):
        check_rows([row], tokenizer, None)
    unnamed = Row(key="1", text="hallo", domain="speech", source="m.jsonl:8")
    with pytest.raises(DataError, match="m.jsonl:8: speech row without 'language'"):
        check_rows([unnamed], tokenizer, None)
    check_rows([unnamed], tokenizer, "de")  # the recipe's default_language
