"""Write the tiny ``--random-init`` configs shipped in audiobench/encoders/configs/micro/.

Each entry is a directory as ``save_pretrained`` writes it (``config.json`` +
``preprocessor_config.json``), two layers and width 32, with the family's real front end
(conv strides, patch sizes, mel layout) scaled down only where the window must shrink.
Run from the repository root: ``python scripts/micro_configs.py``.
"""

from __future__ import annotations

from pathlib import Path

import transformers as tf

OUT = Path("audiobench/encoders/configs/micro")
BLOCK = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
CONV = {"conv_dim": (32,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}
TEXT = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1}
WHISPER_TOWER = {"num_mel_bins": 16, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                 "d_model": 32, "max_source_positions": 100}


def ssl_extractor(attention_mask: bool) -> tf.Wav2Vec2FeatureExtractor:
    return tf.Wav2Vec2FeatureExtractor(return_attention_mask=attention_mask, do_normalize=True)


def whisper_extractor() -> tf.WhisperFeatureExtractor:
    # 100 positions after the stride-2 conv = 200 mel frames = a 2 s window
    return tf.WhisperFeatureExtractor(feature_size=16, chunk_length=2)


ENTRIES = {
    "wav2vec2": (tf.Wav2Vec2Config(**BLOCK, **CONV, feat_extract_norm="group"), ssl_extractor(False)),
    "hubert": (tf.HubertConfig(**BLOCK, **CONV, feat_extract_norm="group"), ssl_extractor(False)),
    "wavlm": (tf.WavLMConfig(**BLOCK, **CONV, feat_extract_norm="layer", num_buckets=32, max_bucket_distance=100),
              ssl_extractor(True)),
    "data2vec-audio": (tf.Data2VecAudioConfig(**BLOCK, conv_dim=(32,) * 7, num_conv_pos_embeddings=5,
                                              num_conv_pos_embedding_groups=2), ssl_extractor(True)),
    "ast": (tf.ASTConfig(**BLOCK, num_mel_bins=32, max_length=256, frequency_stride=16, time_stride=16),
            tf.ASTFeatureExtractor(num_mel_bins=32, max_length=256)),
    "clap": (tf.ClapAudioConfig(spec_size=64, num_mel_bins=16, patch_embeds_hidden_size=16, depths=[1, 1],
                                num_attention_heads=[2, 2], window_size=4, hidden_size=32, projection_dim=16,
                                mlp_ratio=2.0, enable_fusion=False),
             tf.ClapFeatureExtractor(feature_size=16, sampling_rate=16_000, hop_length=160, max_length_s=2,
                                     fft_window_size=400, frequency_max=8000, truncation="rand_trunc")),
    "pe-audio": (tf.PeAudioConfig(
        audio_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                      "head_dim": 16, "dac_config": {"downsampling_ratios": [2, 4, 5], "encoder_hidden_size": 4,
                                                     "codebook_dim": 8}},
        text_config={**TEXT, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "cls_token_id": 1,
                     "sep_token_id": 2}),
        tf.PeAudioFeatureExtractor(sampling_rate=16_000, hop_length=40)),
    "qwen2-audio": (tf.Qwen2AudioConfig(audio_config=WHISPER_TOWER, text_config=dict(model_type="qwen2", **TEXT)),
                    whisper_extractor()),
    "voxtral": (tf.VoxtralConfig(audio_config=dict(WHISPER_TOWER, num_attention_heads=2, num_hidden_layers=2,
                                                   num_key_value_heads=2, hidden_size=32, intermediate_size=64),
                                 text_config=dict(model_type="llama", **TEXT)), whisper_extractor()),
    "af-whisper": (tf.AudioFlamingo3Config(audio_config=WHISPER_TOWER, text_config=dict(model_type="qwen2", **TEXT)),
                   whisper_extractor()),
}

if __name__ == "__main__":
    for name, (config, extractor) in ENTRIES.items():
        config.save_pretrained(OUT / name)
        extractor.save_pretrained(OUT / name)
