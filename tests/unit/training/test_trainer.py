"""The paper recipe's own path, offline: a "pretrained" base checkpoint in a local folder with a
Whisper tokenizer that has no ``<|caption|>`` token."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizer

from audiobench.encoders.whisper import shipped_config
from audiobench.training.config import load_config
from audiobench.training.datalist import read_data_list
from audiobench.training.tokenizer import CAPTION, EOT, NO_TIMESTAMPS, SOT, TRANSCRIBE, TRANSLATE
from audiobench.training.trainer import build_run


def local_base(folder: Path, texts: list[str]) -> Path:
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator([" " + t for t in texts], trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOT, SOT, "<|en|>", "<|de|>", TRANSLATE, TRANSCRIBE, NO_TIMESTAMPS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = WhisperTokenizer(tokenizer_object=core, bos_token=EOT, eos_token=EOT, pad_token=EOT, unk_token=EOT)
    values = {**shipped_config("whisper-tiny").to_dict(), "d_model": 32, "encoder_layers": 1, "decoder_layers": 1,
              "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
              "decoder_ffn_dim": 64, "vocab_size": len(tokenizer), "pad_token_id": 0, "bos_token_id": 0,
              "eos_token_id": 0, "decoder_start_token_id": 1}
    torch.manual_seed(1)
    # Stored in float16, as openai/whisper-large-v3 is.
    WhisperForConditionalGeneration(WhisperConfig(**values)).half().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_pretrained_base_gets_the_caption_token_and_trains(small_corpus: Path, tmp_path: Path) -> None:
    base = local_base(tmp_path / "base", [r.text for r in read_data_list(small_corpus)])
    config = load_config("whisper-aut", None, [f"base_model={base}", "strategy=ddp", "bf16=false", "num_workers=0",
                                              "per_device_batch_size=2", "effective_batch_size=2", "max_steps=2",
                                              "domain_weights.sound=0.2", "save_steps=100",
                                              "default_language=en"])
    run = build_run(config, str(small_corpus), tmp_path / "run")
    model = run.trainer.model
    tokenizer = run.trainer.processing_class
    assert tokenizer.convert_tokens_to_ids(CAPTION) == len(tokenizer) - 1
    pretrained = WhisperForConditionalGeneration.from_pretrained(base)
    assert model.config.vocab_size == len(tokenizer) == pretrained.config.vocab_size + 1
    assert torch.equal(model.get_encoder().conv1.weight, pretrained.get_encoder().conv1.weight.float())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights, bf16 is autocast
    assert run.trainer.args.gradient_accumulation_steps == 1 and run.trainer.args.activation_checkpointing
    metrics = run.train()
    assert metrics["train_loss"] > 0 and (tmp_path / "run" / "final" / "model.safetensors").is_file()
