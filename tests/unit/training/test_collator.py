from __future__ import annotations

from pathlib import Path

import pytest

from audiobench.errors import DataError
from audiobench.training.collator import IGNORE, ClipDataset, TargetEncoder, WhisperCollator, drop_long_targets
from audiobench.training.manifest import Row, read_manifest
from audiobench.training.tokenizer import CAPTION, EOT, NO_TIMESTAMPS, SOT, TRANSCRIBE, train_bpe


@pytest.fixture
def tokenizer(small_corpus: Path):
    rows = read_manifest(small_corpus)
    return train_bpe([r.text for r in rows], ["de"], vocab_size=300)


def tokens(tokenizer, ids) -> list[str]:
    return tokenizer.convert_ids_to_tokens(ids)


def test_prompts_transcribe_speech_and_caption_sound_and_music(tokenizer) -> None:
    encoder = TargetEncoder(tokenizer)
    assert tokens(tokenizer, encoder.prompt("speech", None)) == [SOT, "<|en|>", TRANSCRIBE, NO_TIMESTAMPS]
    assert tokens(tokenizer, encoder.prompt("speech", "de")) == [SOT, "<|de|>", TRANSCRIBE, NO_TIMESTAMPS]
    assert tokens(tokenizer, encoder.prompt("music", "de")) == [SOT, CAPTION, NO_TIMESTAMPS]
    assert tokenizer.eos_token == EOT and tokenizer.pad_token == EOT


def test_batch_has_mel_features_shifted_targets_and_masked_labels(small_corpus: Path, tokenizer) -> None:
    rows = read_manifest(small_corpus)
    encoder = TargetEncoder(tokenizer)
    batch = WhisperCollator(encoder, num_mel_bins=80)([ClipDataset(rows)[i] for i in (0, 4)])
    assert batch["input_features"].shape == (2, 80, 3000)
    assert batch["sample_index"].tolist() == [0, 4]
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
    assert WhisperCollator(encoder, 128)([ClipDataset(rows)[1]])["input_features"].shape == (1, 128, 3000)


def test_targets_over_the_decoder_limit_are_dropped_and_counted(tokenizer) -> None:
    rows = [Row(key=str(i), text=text, domain=domain, source=f"m:{i}")
            for i, (text, domain) in enumerate([("clip number 1", "speech"), ("clip " * 40, "speech"),
                                                ("number " * 40, "sound"), ("clip", "music")])]
    kept, dropped = drop_long_targets(rows, TargetEncoder(tokenizer, max_positions=20))
    assert [r.key for r in kept] == ["0", "3"]
    assert dropped == {"speech": 1, "sound": 1}


def test_a_language_without_a_token_names_the_row(tokenizer) -> None:
    row = Row(key="0", text="hallo", domain="speech", source="m.jsonl:7", language="xx")
    with pytest.raises(DataError, match="m.jsonl:7: language 'xx' has no <|xx|> token"):
        drop_long_targets([row], TargetEncoder(tokenizer))
