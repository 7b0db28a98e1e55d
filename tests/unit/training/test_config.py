from __future__ import annotations

from pathlib import Path

import pytest

from audiobench.errors import ConfigError
from audiobench.training.config import load_config, recipe_names


def test_the_paper_recipe() -> None:
    """The hyper-parameter table of the Whisper-AuT paper (arXiv 2604.10438), number by number."""
    config = load_config("whisper-aut")
    assert (config.base_model, config.learning_rate, config.weight_decay) == ("openai/whisper-large-v3", 1e-5, 0.01)
    assert (config.lr_scheduler, config.warmup_ratio, config.epochs) == ("cosine", 0.05, 2.0)
    assert (config.adam_beta1, config.adam_beta2, config.bf16, config.gradient_checkpointing) == (0.9, 0.999, True, True)
    assert config.domain_weights == {"speech": 0.8, "sound": 0.1, "music": 0.1}
    assert config.strategy == "deepspeed" and config.deepspeed_config == "zero2"
    # 128 = 8 per GPU x 8 GPUs x 2; per-device batch (at most 8) and accumulation follow the world size.
    assert config.batch_plan(8) == (8, 2) and config.batch_plan(1) == (8, 16) and config.batch_plan(16) == (8, 1)


def test_every_world_size_up_to_128_keeps_the_effective_batch_or_says_what_to_change() -> None:
    config = load_config("whisper-aut")
    for world in range(1, 129):
        try:
            per_device, accumulation = config.batch_plan(world)
        except ConfigError as err:
            assert 128 % world and f"cannot be split evenly over {world} processes" in err.message
            assert f"use effective_batch_size={128 // world * world}" in err.hint
            continue
        assert per_device * accumulation * world == 128 and per_device <= 8
    assert config.batch_plan(32) == (4, 1) and config.batch_plan(128) == (1, 1)
    with pytest.raises(ConfigError, match="use effective_batch_size=120 or 144"):
        config.batch_plan(24)


def test_both_recipes_ship() -> None:
    assert {"whisper-aut", "whisper-aut-tiny"} <= set(recipe_names())
    tiny = load_config("whisper-aut-tiny")
    assert tiny.random_init and tiny.tokenizer == "bpe" and tiny.model_config["d_model"] == 64


def test_overrides_layer_over_the_recipe_and_a_config_file(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("learning_rate: 2.0e-5\nsave_steps: 500\n")
    config = load_config("whisper-aut", extra, ["learning_rate=3e-5", "domain_weights.music=0.2",
                                                "random_init=true", "model_config.dropout=0.1", "eval_data=held/out.jsonl",
                                                "save_total_limit=null"])
    assert config.learning_rate == 3e-5 and config.save_steps == 500 and config.save_total_limit is None
    assert config.domain_weights == {"speech": 0.8, "sound": 0.1, "music": 0.2}
    assert config.model_config == {"dropout": 0.1} and config.eval_data == "held/out.jsonl"


@pytest.mark.parametrize("override, message", [
    ("learning_rat=1e-4", "unknown config key 'learning_rat'"),
    ("per_device_batch_size=2.5", "per_device_batch_size=2.5 does not fit"),
    ("bf16=maybe", "bf16='maybe' does not fit"),
    ("domain_weights.noise=0.5", "domain_weights.noise: unknown domain"),
    ("model_config.d_model=8", "model_config only shapes a random-init model"),
    ("strategy=horovod", "strategy=horovod: unknown"),
    ("lr", "expected key=value"),
])
def test_bad_overrides_are_one_line_errors_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config("whisper-aut", None, [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_recipe() -> None:
    with pytest.raises(ConfigError, match="unknown recipe 'whisper-aut-huge'"):
        load_config("whisper-aut-huge")


def test_model_config_keys_are_whisper_config_fields() -> None:
    with pytest.raises(ConfigError, match="model_config.d_modle: not a WhisperConfig field"):
        load_config("whisper-aut", None, ["random_init=true", "model_config.d_modle=8"])
