"""The decoder's tokenizer, behind one function, with the captioning task token added.

Prompts (the paper names none; these are audiobench's choice):

* speech: Whisper's own ``<|startoftranscript|><|en|><|transcribe|><|notimestamps|>`` (the row's
  ``language`` replaces ``en`` when given), so transcription starts where the pretrained
  decoder already is;
* sound and music: ``<|startoftranscript|><|caption|><|notimestamps|>``, with ``<|caption|>`` a
  new special token, so the decoder is told which job it does and a caption is never mistaken
  for a transcript.

``tokenizer="pretrained"`` loads Whisper's tokenizer from the base checkpoint (a hub id or a
local folder); ``tokenizer="bpe"`` trains a small byte-level BPE on the training texts with the
same special tokens, for random-init models that must work offline.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, WhisperConfig, WhisperTokenizerFast

from audiobench.errors import ConfigError

SOT = "<|startoftranscript|>"
EOT = "<|endoftext|>"
TRANSCRIBE = "<|transcribe|>"
TRANSLATE = "<|translate|>"
NO_TIMESTAMPS = "<|notimestamps|>"
CAPTION = "<|caption|>"


def language_token(language: str) -> str:
    return f"<|{language}|>"


def train_bpe(texts: Iterable[str], languages: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE (the same scheme as Whisper's GPT-2 vocabulary) trained on ``texts``."""
    specials = [EOT, SOT, *(language_token(lang) for lang in sorted(set(languages) | {"en"})),
                TRANSLATE, TRANSCRIBE, NO_TIMESTAMPS, CAPTION]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # Targets are encoded with a leading space (as Whisper's are), so train on that form.
    core.train_from_iterator((" " + t for t in texts), trainer)
    # Whisper names <|endoftext|> its bos, eos and pad token; decoding starts from <|startoftranscript|>.
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=EOT, eos_token=EOT, pad_token=EOT,
                                   additional_special_tokens=specials[2:])


def load_pretrained(source: str) -> PreTrainedTokenizerFast:
    """Whisper's tokenizer from ``source`` with ``<|caption|>`` added under a fresh id: one that
    no token of the vocabulary and no row of the model's embedding already has."""
    try:
        tokenizer = WhisperTokenizerFast.from_pretrained(source)
        rows = WhisperConfig.from_pretrained(source).vocab_size
    except OSError as err:
        raise ConfigError(f"cannot load Whisper's tokenizer from {source}: {err}",
                          "pass a local checkpoint folder as base_model, or tokenizer=bpe") from err
    before = tokenizer.get_vocab()
    if CAPTION not in before:
        tokenizer.add_tokens([CAPTION], special_tokens=True)
        check_fresh_id(tokenizer.convert_tokens_to_ids(CAPTION), set(before.values()), rows, source)
    return tokenizer


def check_fresh_id(token_id: int, used_ids: set[int], embedding_rows: int, source: str) -> None:
    """``<|caption|>`` must not share an id with another token nor land on a trained embedding row."""
    if token_id in used_ids or token_id < embedding_rows:
        raise ConfigError(f"{CAPTION} would get id {token_id}, which {source} already uses "
                          f"(tokenizer {len(used_ids)} ids, embedding {embedding_rows} rows)",
                          "use a checkpoint whose tokenizer and embedding sizes agree")


def build_tokenizer(kind: str, base_model: str, texts: Iterable[str], languages: Iterable[str],
                    vocab_size: int) -> PreTrainedTokenizerFast:
    """``kind`` is ``pretrained`` (Whisper's, from ``base_model``) or ``bpe`` (trained here)."""
    if kind == "bpe":
        return train_bpe(texts, languages, vocab_size)
    if kind == "pretrained":
        return load_pretrained(base_model)
    raise ConfigError(f"tokenizer={kind}: unknown tokenizer", "use tokenizer=pretrained or tokenizer=bpe")


def special_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """Ids the model config must agree with."""
    vocab = tokenizer.get_vocab()
    return {"decoder_start_token_id": vocab[SOT], "bos_token_id": vocab[EOT], "eos_token_id": vocab[EOT],
            "pad_token_id": vocab[EOT]}
