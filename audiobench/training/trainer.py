"""``audiobench train``: the Whisper-AuT recipe on Hugging Face ``Seq2SeqTrainer``.

The engine does the heavy lifting (DDP, DeepSpeed ZeRO-2 or FSDP through accelerate, bf16,
gradient checkpointing, checkpoints with optimizer, scheduler and RNG state); this module only
wires the recipe to it: the data (a streamed shard mixture, or a data list of loose files for
small runs), the prompted targets, log-mel on the training device, the effective batch,
dropped-sample counts and throughput logging. Launch it once per process (``torchrun``,
``deepspeed`` or ``accelerate launch``); every process builds the same run from the same
arguments.

A run folder holds ``config.yaml`` (the resolved recipe), ``data_report.json`` (samples per
domain, what was dropped and why, the bad clips), ``tokenizer/``, ``checkpoint-N/`` folders
(complete once ``complete.json`` is in them), ``log.jsonl`` and, when finished, ``final/`` (the
full model and its tokenizer; ``audiobench export`` keeps its encoder).

One module (about 450 lines) on purpose: the ``Seq2SeqTrainer`` subclass and the run set-up
it needs (data, batch derivation, resume) are read together when the engine's hooks change.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import (AutoTokenizer, PreTrainedTokenizerFast, Seq2SeqTrainer, Seq2SeqTrainingArguments,
                          TrainerCallback, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration)
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from audiobench.encoders.features import SAMPLE_RATE, LogMel
from audiobench.encoders.whisper import shipped_config
from audiobench.errors import AudiobenchError, ConfigError, DataError
from audiobench.files import atomic_write_text
from audiobench.training.resume import ResumePoint, check_identity, find_resume_point, mark_complete
from audiobench.training.collator import (IGNORE, WINDOW_SAMPLES, DataListDataset, TargetEncoder, WhisperCollator,
                                          check_rows, make_item)
from audiobench.training.config import TrainConfig, shipped_deepspeed_config
from audiobench.training.datareport import DataReport
from audiobench.training.datalist import Row, read_data_list
from audiobench.training.sampler import MixtureSampler, normalise_weights
from audiobench.training.stream import ShardList, ShardStream, check_source, resolve_sources, sample_texts
from audiobench.training.tokenizer import build_tokenizer, special_ids

TOKENIZER_DIR = "tokenizer"
FINAL_DIR = "final"
REPORT = "data_report.json"
DATA_STATE = "data_state.json"


def world_size() -> int:
    """Processes of this run, as set by torchrun, the deepspeed launcher or accelerate launch."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_data_list(data: Sequence[str]) -> bool:
    return len(data) == 1 and data[0].endswith(".jsonl")


def training_arguments(config: TrainConfig, out: Path, has_eval: bool, streaming: bool) -> Seq2SeqTrainingArguments:
    """The recipe in the engine's terms. Per-device batch and accumulation are derived from the
    effective batch and the world size."""
    on_gpu = torch.cuda.is_available()
    strategy: dict[str, Any] = {}
    checkpointing = config.gradient_checkpointing
    if config.strategy == "deepspeed":
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("strategy=deepspeed but DeepSpeed is not installed",
                              "pip install 'audiobench[train]', or pass strategy=ddp or strategy=fsdp")
        strategy["deepspeed"] = shipped_deepspeed_config(config.deepspeed_config)
    elif config.strategy == "fsdp":
        # FSDP recomputes activations itself, which avoids an extra all-gather in the backward pass.
        strategy["fsdp"] = True
        strategy["fsdp_config"] = {"version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                                   "transformer_layer_cls_to_wrap": ["WhisperEncoderLayer", "WhisperDecoderLayer"],
                                   "activation_checkpointing": checkpointing, "state_dict_type": "FULL_STATE_DICT"}
        checkpointing = False
    per_device, accumulation = config.batch_plan(world_size())
    return Seq2SeqTrainingArguments(
        output_dir=str(out), seed=config.seed,
        per_device_train_batch_size=per_device,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=accumulation,
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
        # A stream positions itself on resume (no batches are read to be skipped).
        ignore_data_skip=streaming,
        remove_unused_columns=False, label_names=["labels"], report_to="none", disable_tqdm=True,
        use_cpu=not on_gpu, ddp_backend="gloo" if world_size() > 1 and not on_gpu else None,
        predict_with_generate=False,
        **strategy)


def load_or_build_tokenizer(config: TrainConfig, out: Path, texts: Callable[[], Any], languages: set[str],
                            checkpoint: Path | None, is_main: bool) -> PreTrainedTokenizerFast:
    """The main process builds and saves the tokenizer, the others load what it saved; a resumed
    run loads the one saved with its checkpoint."""
    if checkpoint is not None:
        return AutoTokenizer.from_pretrained(checkpoint)
    target = out / TOKENIZER_DIR
    if not is_main:
        return AutoTokenizer.from_pretrained(target)
    tokenizer = build_tokenizer(config.tokenizer, config.base_model, texts(), languages, config.bpe_vocab_size)
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
        # The embedding has at least a row per token (more when model_config.vocab_size asks,
        # e.g. Whisper's 51,866 rows for a throughput check with a small offline tokenizer).
        rows = max(len(tokenizer), int(config.model_config.get("vocab_size", 0)))
        values = {**shipped_config(config.architecture).to_dict(), **config.model_config,
                  **special_ids(tokenizer), "vocab_size": rows}
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
    would then scale by the world size and not divide by the accumulation steps. A step whose
    samples were all dropped has no tokens and a zero loss."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    total = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.to(logits.device).flatten(),
                                              ignore_index=IGNORE, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (labels != IGNORE).sum()
    return total / torch.clamp(torch.as_tensor(count, device=total.device), min=1)


def worker_error(err: AudiobenchError) -> AudiobenchError:
    """A DataLoader worker's error arrives with the worker's traceback as its message; keep the
    one line the worker raised."""
    last = err.message.strip().splitlines()[-1]
    return type(err)(last.split(": ", 1)[1] if "Error: " in last else last) if "Traceback" in err.message else err


class AudioSeq2SeqTrainer(Seq2SeqTrainer):
    """``Seq2SeqTrainer`` with the recipe's data: the mixture sampler (data list) or the shard
    stream, log-mel computed on the training device, dropped-sample counts, a complete marker
    written last into every checkpoint, samples/s and tokens/s in every training log line
    (summed over processes) and, optionally, a per-rank record of the samples it trained on."""

    def __init__(self, *args: Any, mixture_sampler: MixtureSampler | None, report: DataReport, out: Path,
                 identity: dict, max_bad_fraction: float, sample_log: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mixture_sampler = mixture_sampler
        self.report = report
        self.out = out
        self.identity = identity
        self.max_bad_fraction = max_bad_fraction
        self.sample_log = sample_log
        self.logmel = LogMel(self.model.config.num_mel_bins).to(self.args.device)
        self._pending = DataReport([], {}, 0, 0)  # this process's counts since the last sum over processes
        self._window = [0, 0]  # samples, target tokens since the last training log
        self._window_start = time.perf_counter()

    @property
    def stream(self) -> ShardStream | None:
        return self.train_dataset if isinstance(self.train_dataset, ShardStream) else None

    def _get_train_sampler(self, train_dataset: Any = None) -> MixtureSampler | None:
        return self.mixture_sampler

    def get_train_dataloader(self) -> torch.utils.data.DataLoader:
        if self.stream is None:
            return super().get_train_dataloader()
        # Each process reads its own part of the stream: not through accelerate, which would
        # either read everything on rank 0 and send it (dispatch) or make every rank read it all.
        workers = self.args.dataloader_num_workers
        return torch.utils.data.DataLoader(self.stream, batch_size=self._train_batch_size,
                                           collate_fn=self.data_collator, num_workers=workers,
                                           pin_memory=self.args.dataloader_pin_memory,
                                           prefetch_factor=self.args.dataloader_prefetch_factor if workers else None)

    def _run_epoch(self, *args: Any, epoch: int, **kwargs: Any) -> Any:
        if self.stream is not None:
            start = 0
            if kwargs.get("resume_from_checkpoint") is not None and epoch == kwargs.get("epochs_trained"):
                per_epoch = kwargs["num_update_steps_per_epoch"]
                start = self.state.global_step % per_epoch * self.args.gradient_accumulation_steps
            self.stream.set_position(epoch, start)
        else:
            # Set the epoch on the sampler itself: on a multi-process resume accelerate wraps it one
            # level deeper than the Trainer's own set_epoch reaches, which would replay epoch 0's order.
            self.mixture_sampler.set_epoch(epoch)
        return super()._run_epoch(*args, epoch=epoch, **kwargs)

    def _prepare_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        waveform = inputs.pop("waveform", None)
        if waveform is not None:
            inputs["input_features"] = self.features(waveform)
        return super()._prepare_inputs(inputs)

    def features(self, waveform: torch.Tensor) -> torch.Tensor:
        """Whisper log-mel of a batch of clips, zero-padded to 30 s, on the training device in float32."""
        waveform = waveform.to(self.args.device, non_blocking=True)
        waveform = torch.nn.functional.pad(waveform, (0, WINDOW_SAMPLES - waveform.shape[1]))
        with torch.no_grad(), torch.autocast(self.args.device.type, enabled=False):
            return self.logmel(waveform)

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        keys, domains, statuses, reasons = (inputs.pop(k) for k in ("keys", "domains", "status", "reasons"))
        if model.training:
            self._pending.add(domains, statuses)
            self._pending.bad.extend({"key": k, "domain": d, "reason": r}
                                     for k, d, s, r in zip(keys, domains, statuses, reasons) if s == "bad")
            self._window[0] += len(keys)
            self._window[1] += int((inputs["labels"] != IGNORE).sum())
            if self.sample_log is not None:
                epoch = self.stream.epoch if self.stream is not None else self.mixture_sampler.epoch
                with self.sample_log.open("a") as f:
                    f.write(json.dumps({"step": self.state.global_step, "epoch": epoch, "keys": keys}) + "\n")
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def sync_report(self) -> None:
        """Sum every process's new counts into the report (collective: every process calls it),
        write it on the main process, and stop the run when too many clips are bad."""
        pending = torch.tensor(self._pending.as_vector(), dtype=torch.float64, device=self.args.device)
        total = self.accelerator.reduce(pending, reduction="sum").tolist()
        new_bad = self._pending.bad
        if self.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            new_bad = gather_object(new_bad)
        self.report.set_from_vector([a + b for a, b in zip(self.report.as_vector(), total)])
        self.report.bad.extend(new_bad)
        self._pending = DataReport([], {}, 0, 0)
        if self.is_world_process_zero():
            atomic_write_text(self.out / REPORT, json.dumps(self.report.to_dict(), indent=2) + "\n")
        self.report.check_bad_fraction(self.max_bad_fraction, str(self.out / REPORT))

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        self.sync_report()
        self.accelerator.wait_for_everyone()  # every process has written its part
        if self.is_world_process_zero():
            folder = Path(self._get_output_dir(trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            atomic_write_text(folder / DATA_STATE, json.dumps(self.report.to_dict()) + "\n")
            mark_complete(folder, {"step": self.state.global_step, **self.identity})
        self.accelerator.wait_for_everyone()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log line: every process gets here, so the sums are collective
            counts = torch.tensor(self._window, dtype=torch.float64, device=self.args.device)
            counts = self.accelerator.reduce(counts, reduction="sum")
            elapsed = max(time.perf_counter() - self._window_start, 1e-9)
            logs["samples_per_second"] = round(float(counts[0]) / elapsed, 3)
            logs["tokens_per_second"] = round(float(counts[1]) / elapsed, 1)
            self._window = [0, 0]
            self._window_start = time.perf_counter()
            self.sync_report()
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
    resume: ResumePoint

    @property
    def checkpoint(self) -> str | None:
        return str(self.resume.checkpoint) if self.resume.checkpoint is not None else None

    @property
    def is_main(self) -> bool:
        return self.trainer.is_world_process_zero()

    def train(self) -> dict[str, float]:
        try:
            result = self.trainer.train(resume_from_checkpoint=self.checkpoint)
        except AudiobenchError as err:
            raise worker_error(err) from err
        self.trainer.sync_report()
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


@dataclass
class TrainData:
    """The training data: data list rows (small runs) or per-domain shard lists (streaming)."""

    spec: list[str]
    rows: list[Row] | None = None
    sources: list[ShardList] | None = None

    @property
    def domains(self) -> dict[str, int | None]:
        if self.rows is not None:
            return {d: sum(r.domain == d for r in self.rows) for d in sorted({r.domain for r in self.rows})}
        return {s.domain: s.total for s in self.sources}

    def size(self) -> int | None:
        counts = list(self.domains.values())
        return None if None in counts else sum(counts)

    def texts(self, limit: int = 10_000) -> Any:
        """Texts to train a BPE tokenizer on (a stream: the first ``limit`` of each domain)."""
        if self.rows is not None:
            return (r.text for r in self.rows)
        return sample_texts(self.sources, limit)

    def languages(self, default: str | None) -> set[str]:
        found = {r.language for r in self.rows or [] if r.language}
        return found | ({default} if default else set())


def read_training_data(data: Sequence[str], config: TrainConfig,
                       advance: Callable[[int], None] | None) -> TrainData:
    """Validate a data list fully (small runs); for shards, read only their lists."""
    if is_data_list(data):
        return TrainData(list(data), rows=read_data_list(data[0], check_audio=config.check_audio, advance=advance))
    return TrainData(list(data), sources=resolve_sources(data))


def stream_dataset(data: TrainData, config: TrainConfig, args: Seq2SeqTrainingArguments,
                   samples: int) -> ShardStream:
    consumers = args.world_size * max(1, config.num_workers)
    for source in data.sources:
        check_source(source, consumers)
    probabilities = normalise_weights(config.domain_weights, {s.domain for s in data.sources})
    return ShardStream(data.sources, probabilities, sorted(config.domain_weights),
                       batch_size=args.per_device_train_batch_size,
                       batches=samples // (args.per_device_train_batch_size * args.world_size),
                       rank=args.process_index, world=args.world_size, seed=config.seed,
                       sample_rate=SAMPLE_RATE, default_language=config.default_language, make_item=make_item)


def build_run(config: TrainConfig, data: str | Sequence[str], out: str | Path, resume: str = "auto",
            callbacks: list[TrainerCallback] = (), advance: Callable[[int], None] | None = None) -> TrainingRun:
    """Validate the data, build tokenizer, model and engine; nothing is trained yet."""
    out = Path(out)
    data = [data] if isinstance(data, str) else [str(d) for d in data]
    streaming = not is_data_list(data)
    args = training_arguments(config, out, has_eval=config.eval_data is not None, streaming=streaming)
    train_data = read_training_data(data, config, advance)
    eval_rows = read_data_list(config.eval_data, check_audio=config.check_audio, advance=advance) \
        if config.eval_data else []
    micro = args.per_device_train_batch_size * args.world_size
    # Whole micro-batches on every rank, so no rank pads an epoch with repeated samples.
    samples = (config.samples_per_epoch or train_data.size() or 0) // micro * micro
    if config.samples_per_epoch is None and train_data.size() is None:
        raise ConfigError("the shard pattern does not say how many samples it holds",
                          "set samples_per_epoch=N (or train from a folder written by `audiobench data shard`)")
    if samples == 0:
        raise DataError(f"{data[0]}: {train_data.size()} samples, fewer than one batch of {micro}",
                        "add data or lower per_device_batch_size")
    with args.main_process_first(local=False, desc="resume point"):
        resume_point = find_resume_point(out, resume, move=args.process_index == 0)
    out.mkdir(parents=True, exist_ok=True)  # only once the data is known to be good
    with args.main_process_first(local=False, desc="tokenizer"):
        languages = train_data.languages(config.default_language)
        tokenizer = load_or_build_tokenizer(config, out, train_data.texts, languages, resume_point.checkpoint,
                                            args.process_index == 0)
    model = build_model(config, tokenizer)
    for rows in (train_data.rows or [], eval_rows):
        check_rows(rows, tokenizer, config.default_language)
    encoder = TargetEncoder(tokenizer, max_positions=model.config.max_target_positions)
    planned = config.max_steps * config.effective_batch_size if config.max_steps > 0 \
        else int(config.epochs * samples)
    report = DataReport(source=data, domains=train_data.domains, samples_per_epoch=samples,
                        planned_samples=planned, eval_rows=len(eval_rows))
    identity = {"world_size": args.world_size, "num_workers": config.num_workers,
                "per_device_batch_size": args.per_device_train_batch_size, "samples_per_epoch": samples,
                "seed": config.seed}
    if resume_point.checkpoint is not None:
        check_identity(resume_point.checkpoint, identity)
        state = resume_point.checkpoint / DATA_STATE
        if state.is_file():
            report.restore(json.loads(state.read_text()))
    if streaming:
        dataset, sampler = stream_dataset(train_data, config, args, samples), None
    else:
        dataset = DataListDataset(train_data.rows, config.default_language)
        sampler = MixtureSampler(dataset.domains, config.domain_weights, samples, seed=config.seed)
    sample_log = None
    if config.record_samples:
        (out / "samples").mkdir(exist_ok=True)
        sample_log = out / "samples" / f"rank{args.process_index}.jsonl"
    trainer = AudioSeq2SeqTrainer(
        model=model, args=args, train_dataset=dataset,
        eval_dataset=DataListDataset(eval_rows, config.default_language) if eval_rows else None,
        data_collator=WhisperCollator(encoder), processing_class=tokenizer,
        compute_loss_func=token_mean_loss, callbacks=[JsonlLog(out / "log.jsonl"), *callbacks],
        mixture_sampler=sampler, report=report, out=out, identity=identity,
        max_bad_fraction=config.max_bad_fraction, sample_log=sample_log)
    trainer.remove_callback(PrinterCallback)  # the CLI owns output
    if args.process_index == 0:
        atomic_write_text(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        atomic_write_text(out / REPORT, json.dumps(report.to_dict(), indent=2) + "\n")
        with (out / "log.jsonl").open("a") as f:  # the log says what the run trains on
            f.write(json.dumps({"data": {k: v for k, v in report.to_dict().items() if k != "bad"}}) + "\n")
    return TrainingRun(config, out, trainer, report, resume_point)
