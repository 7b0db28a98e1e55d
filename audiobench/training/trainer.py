"""``audiobench train``: the Whisper-AuT recipe on Hugging Face ``Seq2SeqTrainer``.

The engine does the heavy lifting (DDP, DeepSpeed ZeRO-2 or FSDP through accelerate, bf16,
gradient checkpointing, checkpoints with optimizer, scheduler and RNG state); this module only
wires the recipe to it: data validation and the mixture sampler, the prompted targets, the
effective batch, throughput logging. Launch it once per process (``torchrun`` or
``accelerate launch``); every process builds the same run from the same arguments.

A run folder holds ``config.yaml`` (the resolved recipe), ``data_report.json`` (rows read and
dropped), ``tokenizer/``, ``checkpoint-N/`` folders, ``log.jsonl`` and, when finished,
``final/`` (the full model and its tokenizer; ``audiobench export`` keeps its encoder).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import (AutoTokenizer, PreTrainedTokenizerFast, Seq2SeqTrainer, Seq2SeqTrainingArguments,
                          TrainerCallback, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration)
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from audiobench.encoders.whisper import shipped_config
from audiobench.errors import ConfigError, DataError
from audiobench.files import atomic_write_text
from audiobench.training.collator import IGNORE, ClipDataset, TargetEncoder, WhisperCollator, drop_long_targets
from audiobench.training.config import TrainConfig, shipped_deepspeed_config
from audiobench.training.manifest import Row
from audiobench.training.sampler import MixtureSampler
from audiobench.training.shards import read_data
from audiobench.training.tokenizer import build_tokenizer, special_ids

TOKENIZER_DIR = "tokenizer"
FINAL_DIR = "final"


def world_size() -> int:
    """Processes of this run, as set by torchrun / accelerate launch."""
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class DataReport:
    """What was read and what was dropped, printed and saved before training starts."""

    train_rows: int
    eval_rows: int
    domains: dict[str, int]
    dropped_long: dict[str, int] = field(default_factory=dict)
    dropped_long_eval: dict[str, int] = field(default_factory=dict)
    samples_per_epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_arguments(config: TrainConfig, out: Path, has_eval: bool) -> Seq2SeqTrainingArguments:
    """The recipe in the engine's terms. Accumulation is derived from the effective batch."""
    on_gpu = torch.cuda.is_available()
    strategy: dict[str, Any] = {}
    checkpointing = config.gradient_checkpointing
    if config.strategy == "deepspeed":
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("strategy=deepspeed but DeepSpeed is not installed",
                              "pip install 'audiobench[deepspeed]', or pass strategy=ddp or strategy=fsdp")
        strategy["deepspeed"] = shipped_deepspeed_config(config.deepspeed_config)
    elif config.strategy == "fsdp":
        # FSDP recomputes activations itself, which avoids an extra all-gather in the backward pass.
        strategy["fsdp"] = True
        strategy["fsdp_config"] = {"version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                                   "transformer_layer_cls_to_wrap": ["WhisperEncoderLayer", "WhisperDecoderLayer"],
                                   "activation_checkpointing": checkpointing, "state_dict_type": "FULL_STATE_DICT"}
        checkpointing = False
    return Seq2SeqTrainingArguments(
        output_dir=str(out), seed=config.seed,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation(world_size()),
        learning_rate=config.learning_rate, adam_beta1=config.adam_beta1, adam_beta2=config.adam_beta2,
        weight_decay=config.weight_decay, lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a value below 1 is a fraction of the total steps
        max_grad_norm=config.max_grad_norm, num_train_epochs=config.epochs, max_steps=config.max_steps,
        bf16=config.bf16, activation_checkpointing=checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        logging_steps=config.logging_steps, save_strategy="steps", save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if has_eval else "no", eval_steps=config.eval_steps,
        dataloader_num_workers=config.num_workers, dataloader_pin_memory=on_gpu,
        remove_unused_columns=False, label_names=["labels"], report_to="none", disable_tqdm=True,
        use_cpu=not on_gpu, ddp_backend="gloo" if world_size() > 1 and not on_gpu else None,
        predict_with_generate=False,
        **strategy)


def load_or_build_tokenizer(config: TrainConfig, out: Path, rows: list[Row], checkpoint: str | None,
                            is_main: bool) -> PreTrainedTokenizerFast:
    """The main process builds and saves the tokenizer, the others load what it saved; a resumed
    run loads the one saved with its checkpoint."""
    if checkpoint is not None:
        return AutoTokenizer.from_pretrained(checkpoint)
    target = out / TOKENIZER_DIR
    if not is_main:
        return AutoTokenizer.from_pretrained(target)
    tokenizer = build_tokenizer(config.tokenizer, config.base_model, (r.text for r in rows),
                                {r.language for r in rows if r.language}, config.bpe_vocab_size)
    tmp = out / f".{TOKENIZER_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return tokenizer


def build_model(config: TrainConfig, tokenizer: PreTrainedTokenizerFast) -> WhisperForConditionalGeneration:
    """The pretrained base, or its architecture untrained; the embeddings grow to the tokenizer
    (Whisper's vocabulary plus ``<|caption|>``)."""
    if config.random_init:
        values = {**shipped_config(config.architecture).to_dict(), **config.model_config,
                  **special_ids(tokenizer), "vocab_size": len(tokenizer)}
        torch.manual_seed(config.seed)
        model = WhisperForConditionalGeneration(WhisperConfig(**values))
    else:
        try:
            # float32 master weights whatever the checkpoint stores (large-v3 ships float16);
            # bf16 is autocast by the engine.
            model = WhisperForConditionalGeneration.from_pretrained(config.base_model, dtype=torch.float32)
        except OSError as err:
            raise ConfigError(f"cannot load base_model={config.base_model}: {err}",
                              "pass a local checkpoint folder, or random_init=true") from err
        if len(tokenizer) > model.config.vocab_size:
            model.resize_token_embeddings(len(tokenizer))
    model.config.use_cache = False  # no generation while training; the cache conflicts with checkpointing
    return model


def token_mean_loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
    """Cross-entropy summed over target tokens and divided by the target tokens of the whole
    optimizer step (every micro-batch of the accumulation, every process), as the engine counts
    them. Whisper's own loss is a per-micro-batch mean that ignores that count, which the engine
    would then scale by the world size and not divide by the accumulation steps."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    total = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.to(logits.device).flatten(),
                                              ignore_index=IGNORE, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (labels != IGNORE).sum()
    return total / count


class AudioSeq2SeqTrainer(Seq2SeqTrainer):
    """``Seq2SeqTrainer`` with the mixture sampler, samples/s and tokens/s in every training log
    line (summed over processes) and, optionally, a per-rank record of the samples it trained on."""

    def __init__(self, *args: Any, mixture_sampler: MixtureSampler, keys: list[str],
                 sample_log: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mixture_sampler = mixture_sampler
        self.keys = keys
        self.sample_log = sample_log
        self._window = [0, 0]  # samples, target tokens since the last training log
        self._window_start = time.perf_counter()

    def _get_train_sampler(self, train_dataset: Any = None) -> MixtureSampler:
        return self.mixture_sampler

    def _run_epoch(self, *args: Any, epoch: int, **kwargs: Any) -> Any:
        # Set the epoch on the sampler itself: on a multi-process resume accelerate wraps it one
        # level deeper than the Trainer's own set_epoch reaches, which would replay epoch 0's order.
        self.mixture_sampler.set_epoch(epoch)
        return super()._run_epoch(*args, epoch=epoch, **kwargs)

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        indices = inputs.pop("sample_index")
        if model.training:
            self._window[0] += len(indices)
            self._window[1] += int((inputs["labels"] != IGNORE).sum())
            if self.sample_log is not None:
                record = {"step": self.state.global_step, "epoch": self.mixture_sampler.epoch,
                          "keys": [self.keys[i] for i in indices.tolist()]}
                with self.sample_log.open("a") as f:
                    f.write(json.dumps(record) + "\n")
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log line: every process gets here, so the sum is collective
            counts = torch.tensor(self._window, dtype=torch.float64, device=self.args.device)
            counts = self.accelerator.reduce(counts, reduction="sum")
            elapsed = max(time.perf_counter() - self._window_start, 1e-9)
            logs["samples_per_second"] = round(float(counts[0]) / elapsed, 3)
            logs["tokens_per_second"] = round(float(counts[1]) / elapsed, 1)
            self._window = [0, 0]
            self._window_start = time.perf_counter()
        elif "eval_runtime" in logs:  # evaluation time is not training throughput
            self._window_start += logs["eval_runtime"]
        super().log(logs, start_time)


class JsonlLog(TrainerCallback):
    """Appends every log line (loss, learning rate, throughput, eval loss) to ``log.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            with self.path.open("a") as f:
                f.write(json.dumps({"step": state.global_step, **logs}) + "\n")


@dataclass
class TrainingRun:
    """A prepared run: everything is built and validated, ``train()`` starts the engine."""

    config: TrainConfig
    out: Path
    trainer: AudioSeq2SeqTrainer
    report: DataReport
    checkpoint: str | None

    @property
    def is_main(self) -> bool:
        return self.trainer.is_world_process_zero()

    def train(self) -> dict[str, float]:
        result = self.trainer.train(resume_from_checkpoint=self.checkpoint)
        self.save_final()
        return result.metrics

    def save_final(self) -> None:
        tmp = self.out / f".{FINAL_DIR}.tmp"
        if self.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        self.trainer.save_model(str(tmp))  # collective under DeepSpeed / FSDP; writes on the main process
        if self.is_main:
            num_mel_bins = self.trainer.model.config.num_mel_bins
            WhisperFeatureExtractor(feature_size=num_mel_bins).save_pretrained(tmp)
            shutil.rmtree(self.out / FINAL_DIR, ignore_errors=True)
            os.replace(tmp, self.out / FINAL_DIR)


def prepare(config: TrainConfig, data: str, out: str | Path, resume: bool = False,
            callbacks: list[TrainerCallback] = (), advance: Callable[[int], None] | None = None) -> TrainingRun:
    """Validate the data, build tokenizer, model and engine; nothing is trained yet."""
    out = Path(out)
    checkpoint = get_last_checkpoint(str(out)) if out.is_dir() else None
    if resume and checkpoint is None:
        raise ConfigError(f"--resume: {out} holds no checkpoint-N folder", "drop --resume to start a new run")
    if not resume and checkpoint is not None:
        raise ConfigError(f"{out} already holds {Path(checkpoint).name}",
                          "pass --resume to continue it, or a new --out folder")
    args = training_arguments(config, out, has_eval=config.eval_data is not None)
    train_rows = read_data(data, check_audio=config.check_audio, advance=advance)
    eval_rows = read_data(config.eval_data, check_audio=config.check_audio, advance=advance) if config.eval_data else []
    out.mkdir(parents=True, exist_ok=True)  # only once the data is known to be good
    with args.main_process_first(local=False, desc="tokenizer"):
        tokenizer = load_or_build_tokenizer(config, out, train_rows, checkpoint, args.process_index == 0)
    model = build_model(config, tokenizer)
    encoder = TargetEncoder(tokenizer, max_positions=model.config.max_target_positions)
    train_rows, dropped = drop_long_targets(train_rows, encoder)
    eval_rows, dropped_eval = drop_long_targets(eval_rows, encoder)
    # Whole micro-batches on every rank, so accelerate never pads an epoch with repeated samples.
    micro = config.per_device_batch_size * world_size()
    samples = (config.samples_per_epoch or len(train_rows)) // micro * micro
    if samples == 0:
        raise DataError(f"{data}: {len(train_rows)} usable rows, fewer than one batch of {micro}",
                        "add data or lower per_device_batch_size")
    dataset = ClipDataset(train_rows)
    sampler = MixtureSampler(dataset.domains, config.domain_weights, samples, seed=config.seed)
    report = DataReport(train_rows=len(train_rows), eval_rows=len(eval_rows),
                        domains={d: dataset.domains.count(d) for d in sorted(set(dataset.domains))},
                        dropped_long=dict(dropped), dropped_long_eval=dict(dropped_eval), samples_per_epoch=samples)
    sample_log = None
    if config.record_samples:
        (out / "samples").mkdir(exist_ok=True)
        sample_log = out / "samples" / f"rank{args.process_index}.jsonl"
    trainer = AudioSeq2SeqTrainer(
        model=model, args=args, train_dataset=dataset, eval_dataset=ClipDataset(eval_rows) if eval_rows else None,
        data_collator=WhisperCollator(encoder, model.config.num_mel_bins), processing_class=tokenizer,
        compute_loss_func=token_mean_loss, callbacks=[JsonlLog(out / "log.jsonl"), *callbacks], mixture_sampler=sampler,
        keys=[r.key for r in train_rows], sample_log=sample_log)
    trainer.remove_callback(PrinterCallback)  # the CLI owns output
    if args.process_index == 0:
        atomic_write_text(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        atomic_write_text(out / "data_report.json", json.dumps(report.to_dict(), indent=2) + "\n")
        with (out / "log.jsonl").open("a") as f:  # the log says what the run trained on, dropped rows included
            f.write(json.dumps({"data": report.to_dict()}) + "\n")
    return TrainingRun(config, out, trainer, report, checkpoint)
