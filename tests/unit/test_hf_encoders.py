"""Every transformers family through ``--encoder hf --weights DIR`` gives the hidden states its
own model gives when called the way its model card calls it (feature extractor + model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as tf
from support.hf_checkpoints import PUBLISHED, write_checkpoint

from audiobench.encoders import build_encoder
from audiobench.encoders.base import Encoder, EncoderOutput, pool
from audiobench.errors import ConfigError

FAMILIES = list(PUBLISHED)
SECONDS = (1.6, 0.7)  # two clip lengths in one batch


def clips(sample_rate: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(int(s * sample_rate))).astype(np.float32) for s in SECONDS]


def batch(audio: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(a) for a in audio])
    waveforms = torch.zeros(len(audio), int(lengths.max()))
    for row, a in enumerate(audio):
        waveforms[row, : len(a)] = torch.from_numpy(a)
    return waveforms, lengths


def reference(micro: str, directory: Path, audio: list[np.ndarray]) -> list[torch.Tensor]:
    """transformers' own per-layer hidden states, called as each model card does."""
    extractor = tf.AutoFeatureExtractor.from_pretrained(directory)
    rate = extractor.sampling_rate
    model = PUBLISHED[micro].from_pretrained(directory).eval()
    if micro in ("wav2vec2", "hubert", "wavlm", "data2vec-audio"):
        base = model.base_model
        if extractor.return_attention_mask:
            inputs = extractor(audio, sampling_rate=rate, padding=True, return_attention_mask=True, return_tensors="pt")
            return list(base(**inputs, output_hidden_states=True).hidden_states)
        # group-norm checkpoints: each clip normalised alone, zero-padded, no attention mask
        values = [extractor(a, sampling_rate=rate, return_tensors="pt").input_values[0] for a in audio]
        padded = torch.nn.utils.rnn.pad_sequence(values, batch_first=True)
        return list(base(padded, output_hidden_states=True).hidden_states)
    if micro == "ast":
        inputs = extractor(audio, sampling_rate=rate, return_tensors="pt")
        states = model.audio_spectrogram_transformer(**inputs, output_hidden_states=True).hidden_states
        config = model.config
        f = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
        # tokens are frequency-major; audiobench orders them by time
        return [s[:, 2:].reshape(len(audio), f, -1, s.shape[-1]).transpose(1, 2).flatten(1, 2) for s in states]
    if micro == "pe-audio":  # the CLS token first, then one token per codec hop
        inputs = extractor(audio, sampling_rate=rate, return_tensors="pt")
        states = model.audio_encoder(**inputs, output_hidden_states=True).hidden_states
        return [s[:, 1:] for s in states[:-1]] + [states[-1]]
    if micro == "clap":
        inputs = extractor(audio, sampling_rate=rate, return_tensors="pt")
        return list(model.audio_model(**inputs, output_hidden_states=True).hidden_states)  # [b, c, h, w]
    inputs = extractor(audio, sampling_rate=rate, padding="max_length", return_attention_mask=True, return_tensors="pt")
    if micro == "af-whisper":
        return list(model.get_audio_features(inputs.input_features, inputs.attention_mask,
                                             output_hidden_states=True).hidden_states)
    if micro == "voxtral":
        return list(model.get_audio_features(inputs.input_features, output_hidden_states=True).hidden_states)
    # Qwen2-Audio: the attention mask its forward builds from the feature mask
    tower = next(module for name, module in model.named_modules() if name.endswith("audio_tower"))
    conv, _ = tower._get_feat_extract_output_lengths(inputs.attention_mask.sum(-1))
    frames = (inputs.input_features.shape[-1] - 2) // 2 + 1
    mask = torch.arange(frames)[None, :] < conv[:, None]
    additive = torch.zeros(len(audio), 1, frames, frames).masked_fill(~mask[:, None, None, :], torch.finfo(torch.float32).min)
    return list(tower(inputs.input_features, attention_mask=additive, output_hidden_states=True).hidden_states)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {micro: write_checkpoint(micro, root / micro) for micro in FAMILIES}


@pytest.fixture(scope="module")
def encoded(checkpoints: dict[str, Path]) -> dict[str, tuple[Encoder, EncoderOutput]]:
    """Each checkpoint loaded through ``--encoder hf --weights DIR`` and run on the two clips."""
    loaded = {}
    for micro, directory in checkpoints.items():
        encoder = build_encoder("hf", weights=str(directory))
        with torch.inference_mode():
            loaded[micro] = encoder, encoder(*batch(clips(encoder.sample_rate)))
    return loaded


@pytest.mark.parametrize("micro", FAMILIES)
def test_hidden_states_match_transformers(micro: str, checkpoints: dict[str, Path],
                                          encoded: dict[str, tuple[Encoder, EncoderOutput]]) -> None:
    encoder, ours = encoded[micro]
    with torch.inference_mode():
        theirs = reference(micro, checkpoints[micro], clips(encoder.sample_rate))
    assert len(ours.hidden_states) == len(theirs) == encoder.num_layers
    for layer, (mine, ref) in enumerate(zip(ours.hidden_states, theirs)):
        assert mine.shape[-1] == encoder.widths[layer]
        if micro == "clap":  # the same tokens, ordered by time instead of row-major
            ref = ref.flatten(2).transpose(1, 2)
            assert mine.shape == ref.shape
            torch.testing.assert_close(mine.sort(dim=1).values, ref.sort(dim=1).values, atol=1e-5, rtol=0)
        else:
            torch.testing.assert_close(mine, ref, atol=1e-5, rtol=0)
    lengths = ours.layer_frame_lengths()
    for layer, valid in zip(ours.hidden_states, lengths):
        assert valid[0] > valid[1] >= 1 and valid[0] <= layer.shape[1]
    pooled = pool(ours, encoder.window_seconds is not None)
    assert pooled.shape == (2, 2, encoder.num_layers, encoder.dim)


def test_valid_frames_follow_each_family_rule(encoded: dict[str, tuple[Encoder, EncoderOutput]]) -> None:
    """wav2vec2: conv strides (20 ms); AST: 16-frame patch columns x 2 frequency rows; CLAP:
    tokens of the clip's first copy in a 2 s window; Whisper towers: ceil(n / 320), halved by
    the average pool."""
    valid = {micro: [v.tolist() for v in out.layer_frame_lengths()] for micro, (_, out) in encoded.items()}
    assert valid["wav2vec2"] == [[79, 34]] * 3
    assert valid["ast"] == [[2 * 10, 2 * 5]] * 3  # fbank frames 158, 68 -> columns ceil(/16)
    assert valid["clap"] == [[204, 92], [52, 24], [52, 24]]  # 160, 70 of 201 mel frames, stretched to 256
    assert valid["qwen2-audio"] == [[80, 35], [80, 35], [40, 17]]
    assert valid["voxtral"] == [[80, 35]] * 3
    assert valid["pe-audio"] == [[640, 280]] * 3  # 40-sample hops


def test_audio_llm_tower_reads_only_its_tensors(checkpoints: dict[str, Path],
                                                encoded: dict[str, tuple[Encoder, EncoderOutput]]) -> None:
    directory = checkpoints["qwen2-audio"]
    encoder = encoded["qwen2-audio"][0]
    index = json.loads((directory / "model.safetensors.index.json").read_text())["weight_map"]
    tower = [name for name in index if name.startswith("audio_tower.")]
    assert encoder.tower_load.tensors_read == len(tower)
    assert encoder.tower_load.tensors_skipped == len(index) - len(tower) > 0
    assert encoder.tower_load.shards_skipped > 0
    assert not any("language_model" in name for name, _ in encoder.named_modules())
    assert "skipped" in encoder.load_report


def test_fingerprints_differ_between_families_and_weights(checkpoints: dict[str, Path], tmp_path: Path,
                                                         encoded: dict[str, tuple[Encoder, EncoderOutput]]) -> None:
    prints = {micro: encoder.fingerprint for micro, (encoder, _) in encoded.items()}
    assert len(set(prints.values())) == len(prints)
    other = write_checkpoint("hubert", tmp_path / "hubert-seed1", seed=1)
    assert build_encoder("hf", weights=str(other)).fingerprint != prints["hubert"]
    again = build_encoder("hf", weights=str(checkpoints["hubert"])).fingerprint
    assert again == prints["hubert"]


def test_bad_checkpoints_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # no retries against a dead network
    (tmp_path / "bert").mkdir()
    tf.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(
        tmp_path / "bert")
    with pytest.raises(ConfigError, match="model_type 'bert'.*wav2vec2, hubert"):
        build_encoder("hf", weights=str(tmp_path / "bert"))
    with pytest.raises(ConfigError, match="offline or unreachable.*--weights DIR"):
        build_encoder("hf", weights="nobody-here/no-such-model")
    with pytest.raises(ConfigError, match="--trust-remote-code"):
        config = json.loads((tmp_path / "bert" / "config.json").read_text())
        (tmp_path / "bert" / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "x.Y"}}))
        build_encoder("hf", weights=str(tmp_path / "bert"))


def test_a_tower_whose_front_end_is_not_whispers_log_mel_is_refused(checkpoints: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    """The towers' torch log-mel is Whisper's (25 ms window, 10 ms hop, 16 kHz): another front
    end would be computed wrongly, so it is one line naming what differs."""
    directory = tmp_path / "qwen2-audio"
    shutil.copytree(checkpoints["qwen2-audio"], directory)
    preprocessor = directory / "preprocessor_config.json"
    preprocessor.write_text(json.dumps({**json.loads(preprocessor.read_text()), "hop_length": 200}))
    with pytest.raises(ConfigError, match=r"not Whisper's log-mel front end \(n_fft, hop, sampling rate: 400, 200, "
                                          r"16000\)"):
        build_encoder("hf", weights=str(directory))
