"""Tiny transformers checkpoints of every family, written with ``save_pretrained`` in the layout
the hub publishes them (full models with their heads; audio-LLMs whole and sharded)."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers as tf

from audiobench.encoders.hf import micro_directory

TEXT = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
# micro config -> the class the hub checkpoint is published as
PUBLISHED = {
    "wav2vec2": tf.Wav2Vec2ForCTC, "hubert": tf.HubertModel, "wavlm": tf.WavLMModel,
    "data2vec-audio": tf.Data2VecAudioModel, "ast": tf.ASTForAudioClassification, "clap": tf.ClapModel, "pe-audio": tf.PeAudioModel,
    "qwen2-audio": tf.Qwen2AudioForConditionalGeneration, "voxtral": tf.VoxtralForConditionalGeneration,
    "af-whisper": tf.AudioFlamingo3ForConditionalGeneration,
}
AUDIO_LLMS = ("qwen2-audio", "voxtral", "af-whisper")


def write_checkpoint(micro: str, directory: Path, seed: int = 0) -> Path:
    """A random-init model of the micro config's family saved to ``directory``."""
    source = micro_directory(micro)
    config = tf.AutoConfig.from_pretrained(source)
    if micro == "clap":  # published as the whole contrastive model: audio and text towers
        config = tf.ClapConfig(audio_config=config.to_dict(), text_config=dict(TEXT, max_position_embeddings=40),
                               projection_dim=16)
    if micro == "wav2vec2":
        config.vocab_size = 12
    torch.manual_seed(seed)
    model = PUBLISHED[micro](config).eval()
    model.save_pretrained(directory, max_shard_size="20KB" if micro in AUDIO_LLMS else "1GB")
    tf.AutoFeatureExtractor.from_pretrained(source).save_pretrained(directory)
    return directory
