"""``--window trim``: Whisper encodes only the positions covering each clip."""

from __future__ import annotations

import pytest
import torch
from transformers import WhisperConfig

from audiobench.cache import EmbeddingCache
from audiobench.extraction import batch_limits, extraction_settings, plan_batches
from audiobench.sharding import Shard
from audiobench.encoders import Window, build_encoder
from audiobench.encoders.base import pool
from audiobench.errors import ConfigError
from audiobench.flops import encoder_flops

SR = 16_000


@pytest.fixture(scope="module")
def micro():
    return build_encoder("whisper-micro", random_init=True)


def noise(*seconds: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded batch of noise clips of the given lengths."""
    lengths = torch.tensor([int(s * SR) for s in seconds])
    generator = torch.Generator().manual_seed(0)
    waveforms = torch.zeros(len(seconds), int(lengths.max()))
    for row, length in enumerate(lengths.tolist()):
        waveforms[row, :length] = 0.1 * torch.randn(length, generator=generator)
    return waveforms, lengths


def run(encoder, window: Window, waveforms: torch.Tensor, lengths: torch.Tensor):
    encoder.set_window(window)
    try:
        with torch.inference_mode():
            output = encoder(waveforms, lengths)
            return output, pool(output, fixed_window=True)
    finally:
        encoder.set_window(Window())


def test_trim_on_clips_filling_the_window_equals_full_bit_for_bit(micro) -> None:
    waveforms, lengths = noise(30.5)  # cropped to the window, as under full
    full, full_pooled = run(micro, Window("full"), waveforms, lengths)
    trim, trim_pooled = run(micro, Window("trim", 50), waveforms, lengths)
    assert len(trim.hidden_states) == micro.num_layers
    for a, b in zip(full.hidden_states, trim.hidden_states):
        assert torch.equal(a, b)
    assert torch.equal(full_pooled, trim_pooled)


def test_trimmed_clip_in_a_mixed_batch_matches_its_slice_run_alone(micro) -> None:
    seconds = (0.7, 1.0, 2.9)  # windows of 50, 50 and 150 positions
    waveforms, lengths = noise(*seconds)
    batch, batch_pooled = run(micro, Window("trim", 50), waveforms, lengths)
    assert batch.hidden_states[0].shape[1] == 150
    assert batch.window_lengths.tolist() == [50, 50, 150] and batch.frame_lengths.tolist() == [35, 50, 145]
    for row, length in enumerate(lengths.tolist()):
        alone, alone_pooled = run(micro, Window("trim", 50), waveforms[row:row + 1, :length], lengths[row:row + 1])
        window = int(batch.window_lengths[row])
        assert alone.hidden_states[0].shape[1] == window
        for a, b in zip(batch.hidden_states, alone.hidden_states):
            torch.testing.assert_close(a[row, :window], b[0], atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(batch_pooled[row], alone_pooled[0], atol=2e-5, rtol=1e-5)


def test_trim_rounds_windows_up_to_the_chosen_multiple(micro) -> None:
    waveforms, lengths = noise(0.7, 2.9)
    output, _ = run(micro, Window("trim", 16), waveforms, lengths)
    assert output.window_lengths.tolist() == [48, 160]
    output, _ = run(micro, Window("trim", 1), waveforms, lengths)
    assert output.window_lengths.tolist() == output.frame_lengths.tolist() == [35, 145]


TOWERS = ("qwen2-audio-micro", "voxtral-micro", "af-whisper-micro")  # 2 s windows of 100 positions


@pytest.fixture(scope="module")
def towers():
    return {name: build_encoder(name, random_init=True).eval() for name in TOWERS}


@pytest.mark.parametrize("name", TOWERS)
def test_audio_llm_tower_trim_on_a_clip_filling_the_window_equals_full_bit_for_bit(towers, name) -> None:
    tower = towers[name]
    waveforms, lengths = noise(2.3)  # cropped to the 2 s window
    full, full_pooled = run(tower, Window("full"), waveforms, lengths)
    trim, trim_pooled = run(tower, Window("trim", 50), waveforms, lengths)
    assert [s.shape for s in trim.hidden_states] == [s.shape for s in full.hidden_states]
    for a, b in zip(full.hidden_states, trim.hidden_states):
        assert torch.equal(a, b)
    assert torch.equal(full_pooled, trim_pooled)


@pytest.mark.parametrize("name", ["qwen2-audio-micro", "voxtral-micro"])
def test_audio_llm_tower_trimmed_clip_in_a_mixed_batch_matches_its_slice_run_alone(towers, name) -> None:
    tower = towers[name]
    waveforms, lengths = noise(0.7, 1.9)  # windows of 50 and 100 positions
    batch, batch_pooled = run(tower, Window("trim", 50), waveforms, lengths)
    windows = batch.layer_window_lengths()
    assert windows[0].tolist() == [50, 100]
    # Qwen2-Audio's last state is average-pooled to 40 ms frames: half the positions, half the window
    assert windows[-1].tolist() == ([25, 50] if name.startswith("qwen2") else [50, 100])
    for row, length in enumerate(lengths.tolist()):
        alone, alone_pooled = run(tower, Window("trim", 50), waveforms[row:row + 1, :length], lengths[row:row + 1])
        for a, b, window in zip(batch.hidden_states, alone.hidden_states, windows):
            assert b.shape[1] == int(window[row])
            torch.testing.assert_close(a[row, : b.shape[1]], b[0], atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(batch_pooled[row], alone_pooled[0], atol=2e-5, rtol=1e-5)


def test_a_tower_that_pools_its_last_state_trims_to_whole_pairs_of_positions(towers) -> None:
    """Qwen2-Audio's average pool takes positions in pairs: a 1-position window (10 ms clip,
    ``--trim-multiple 1``) becomes 2, so every clip keeps at least one pooled frame."""
    tower = towers["qwen2-audio-micro"]
    waveforms, lengths = noise(0.01, 0.05)  # 1 and 3 positions
    output, pooled = run(tower, Window("trim", 1), waveforms, lengths)
    assert output.layer_window_lengths()[0].tolist() == [2, 4]
    assert output.layer_window_lengths()[-1].tolist() == [1, 2]
    assert torch.isfinite(pooled).all()
    alone, _ = run(tower, Window("trim", 1), waveforms[:1, :160], lengths[:1])  # alone: a batch of 2 positions
    assert alone.hidden_states[-1].shape[1] == 1
    tower.set_window(Window("trim", 1))
    try:  # FLOPs count the positions encoded: the even window
        assert tower.flops_per_clip(0.01) == sum(encoder_flops(tower.model.config, 2))
    finally:
        tower.set_window(Window())


def test_voxtral_keeps_its_positional_table_in_float32_under_half_precision() -> None:
    tower = build_encoder("voxtral-micro", random_init=True).eval()
    tower.set_precision(torch.bfloat16)
    assert tower.model.embed_positions.weight.dtype == torch.float32  # as transformers loads Voxtral
    assert tower.model.layers[0].fc1.weight.dtype == torch.bfloat16
    waveforms, lengths = noise(0.7, 2.0)
    for window in (Window("full"), Window("trim", 50)):
        output, pooled = run(tower, window, waveforms, lengths)
        assert output.hidden_states[0].dtype == torch.bfloat16 and torch.isfinite(pooled).all()


@pytest.mark.parametrize("name", ["qwen2-audio-micro", "af-whisper-micro"])
def test_towers_that_mask_padding_give_the_same_masked_mean_trimmed_or_full(towers, name) -> None:
    """Qwen2-Audio and AF3 never attend to the window's padding under ``full`` either, so a
    trimmed window changes only what ``padded-mean`` averages (clips not ending on their
    window's last position: there the stride-2 convolution would see zeros, not padding)."""
    tower = towers[name]
    waveforms, lengths = noise(0.7, 1.3)  # 35 and 65 positions in windows of 50 and 100
    _, full = run(tower, Window("full"), waveforms, lengths)
    _, trim = run(tower, Window("trim", 50), waveforms, lengths)
    torch.testing.assert_close(trim[:, 0], full[:, 0], atol=1e-6, rtol=1e-5)  # masked-mean
    assert not torch.allclose(trim[0, 1], full[0, 1], atol=1e-3)  # padded-mean over 50 positions, not 100
    torch.testing.assert_close(trim[1, 1], full[1, 1], atol=1e-6, rtol=1e-5)  # its window is the whole one


def test_trim_counts_the_flops_of_the_positions_encoded(micro) -> None:
    config = micro.model.config
    assert micro.flops_per_clip(1.0) == sum(encoder_flops(config))  # full: the whole window
    micro.set_window(Window("trim", 50))
    try:
        assert micro.flops_per_clip(1.0) == sum(encoder_flops(config, 50))
        assert micro.flops_per_clip(1.01) == sum(encoder_flops(config, 100))
        assert micro.flops_per_clip(60.0) == sum(encoder_flops(config))
    finally:
        micro.set_window(Window())


def test_large_v3_window_cost_follows_the_published_formula() -> None:
    config = WhisperConfig(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                           num_mel_bins=128, max_source_positions=1500)
    for positions in (50, 250, 1500):  # protocols.md: 2 * 629.6M * T + 32 * 4 * T^2 * 1280
        linear, attention, _ = encoder_flops(config, positions)
        formula = 2 * 629.6e6 * positions + 32 * 4 * positions**2 * 1280
        assert linear + attention == pytest.approx(formula, rel=1e-3)


def test_only_encoders_with_a_trimmable_window_trim() -> None:
    logmel = build_encoder("logmel")
    assert not logmel.can_trim
    with pytest.raises(ConfigError, match="--window trim: encoder 'logmel' cannot trim"):
        logmel.set_window(Window("trim"))
    with pytest.raises(ConfigError, match="--window wide"):
        Window("wide")
    with pytest.raises(ConfigError, match="--trim-multiple 0"):
        Window("trim", 0)


def test_window_mode_is_part_of_the_cache_key(micro, tmp_path) -> None:
    full_key = extraction_settings(micro, "float32").key
    micro.set_window(Window("trim", 50))
    try:
        trim = extraction_settings(micro, "float32")
    finally:
        micro.set_window(Window())
    assert trim.window == "trim50" and trim.key != full_key
    assert Window.from_label(trim.window) == Window("trim", 50) and Window.from_label("full") == Window()
    assert EmbeddingCache(tmp_path, trim, {}).directory != EmbeddingCache(tmp_path, extraction_settings(micro, "float32"),
                                                                          {}).directory


def test_batches_group_clips_of_similar_length_longest_first() -> None:
    lengths = [1.0, 5.0, 1.0, 30.0, 5.0, 2.0, 1.0]
    assert plan_batches(lengths, len(lengths), 3) == [[3, 1, 4], [5, 0, 2], [6]]
    assert plan_batches(None, 5, 2) == [[0, 1], [2, 3], [4]]


def test_a_default_gpu_batch_holds_16_full_windows_worth_of_encoder_input(micro) -> None:
    cuda = batch_limits(None, torch.device("cuda"), 100_000)
    assert cuda == (512, 480.0) and batch_limits(None, torch.device("cpu"), 100_000) == (16, 30.0)
    assert batch_limits(64, torch.device("cuda"), 10) == batch_limits(64, torch.device("cpu"), 10) == (64, None)
    # Full windows: 16 a batch whatever the clips' length; trimmed 1 s clips: 480; 0.5 s: 512 at most.
    assert [len(b) for b in plan_batches(None, 40, *cuda, window_seconds=30.0)] == [16, 16, 8]
    assert [len(b) for b in plan_batches([1.0] * 1000, 1000, *cuda, window_seconds=30.0)] == [480, 480, 40]
    assert [len(b) for b in plan_batches([0.5] * 600, 600, *cuda, window_seconds=30.0)] == [512, 88]
    # A batch is padded to its first (longest) clip: the last four 30 s clips take twelve 5 s ones.
    assert [len(b) for b in plan_batches([30.0] * 20 + [5.0] * 100, 120, *cuda)] == [16, 4 + 12, 88]
    # Trimmed clips count the window they run: 1.01 s clips encode 2 s (100 positions), 240 a batch.
    micro.set_window(Window("trim", 50))
    try:
        sizes = micro.encoded_seconds(torch.tensor([1.01] * 500 + [0.2] * 500, dtype=torch.float64)).tolist()
    finally:
        micro.set_window(Window())
    assert sizes[0] == 2.0 and sizes[-1] == 1.0
    assert [len(b) for b in plan_batches(sizes, 1000, *cuda, window_seconds=2.0)] == [240, 240, 20 + 220, 280]


def test_ranks_get_rounds_of_batches_to_share() -> None:
    """torchrun's ranks take whole batches in turn: 2,000 1 s clips on 8 ranks in 480-clip
    batches would leave three ranks without work."""
    cuda = torch.device("cuda")
    limits = batch_limits(None, cuda, 2000, ranks=8)
    assert limits == (63, 480.0)  # 4 rounds of 8 batches
    batches = plan_batches([1.0] * 2000, 2000, *limits)
    shares = [sum(len(batch) for batch in Shard(rank, 8).take(batches)) for rank in range(8)]
    assert min(shares) >= 200 and max(shares) <= 252
    assert batch_limits(None, cuda, 10**6, ranks=8) == (512, 480.0)  # enough clips: the usual batches


def test_a_cpu_batch_holds_at_most_30_seconds_of_encoder_input() -> None:
    lengths = [1.0, 5.0, 1.0, 30.0, 5.0, 2.0, 1.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    # 30 s alone; six 5 s clips (a seventh would make 35 s); the last 5 s clip with the four shorter
    # ones, all padded to 5 s (25 s).
    assert plan_batches(lengths, len(lengths), 16, max_seconds=30.0) == [[3], [1, 4, 7, 8, 9, 10], [11, 5, 0, 2, 6]]
    # A whole fixed window per clip: one clip per batch; and the clip cap still holds.
    assert plan_batches(None, 3, 16, max_seconds=30.0, window_seconds=30.0) == [[0], [1], [2]]
    assert plan_batches([1.0] * 5, 5, 2, max_seconds=30.0) == [[0, 1], [2, 3], [4]]
